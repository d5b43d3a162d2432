//! The shared I/O-request trait, and the conveniences every backend gets for free.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use futures_core::Stream;
use lsio_aligned::AlignedBytes;

use crate::completion::Completions;
use crate::error::{Error, Result};
use crate::types::{ByteRange, Chunk, Location, ReadRequest, WriteDone, WriteRequest};

/// The results of a batch of reads, in completion order.
pub type ReadBatch = Completions<Chunk>;
/// The results of a batch of writes, in completion order.
pub type WriteBatch = Completions<WriteDone>;

/// A backend that reads and writes many byte ranges: io_uring, a pread pool, an object store, memory.
///
/// Submitting returns at once; results arrive through the returned batch, one per request, in
/// completion order, blocking ([`Iterator`]) or async ([`Stream`]). Dropping a batch cancels what
/// has not started. Each backend bounds the bytes it holds for a batch that the caller has not
/// yet taken, so a batch of a million requests does not allocate a million buffers at once.
pub trait IoBackend: Send + Sync + fmt::Debug {
    /// A short name for logs and benchmark tables.
    fn name(&self) -> &str;

    /// Submits reads.
    fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch;

    /// Submits writes (see [`crate::WriteOp`] for the order they run in).
    fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch;
}

macro_rules! forward_backend {
    ($($ty:ty),*) => {$(
        impl<T: IoBackend + ?Sized> IoBackend for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch {
                (**self).read(requests)
            }
            fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch {
                (**self).write(requests)
            }
        }
    )*};
}
forward_backend!(Arc<T>, Box<T>, &T);

/// Conveniences on top of [`IoBackend`]; implemented for every backend, not by them.
pub trait IoBackendExt: IoBackend {
    /// Reads one range, blocking.
    fn read_range(&self, location: &Location, range: impl Into<ByteRange>) -> Result<AlignedBytes> {
        let mut batch = self.read(vec![ReadRequest::new(location.clone(), range, 0)]);
        first(batch.next())
    }

    /// Reads a whole object, blocking.
    fn read_whole(&self, location: &Location) -> Result<AlignedBytes> {
        self.read_range(location, ByteRange::Whole)
    }

    /// Reads several ranges of one object, blocking; the buffers come in the order of `ranges`.
    fn read_ranges(&self, location: &Location, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>> {
        let batch = self.read(ranges_requests(location, ranges));
        in_request_order(batch, ranges.len())
    }

    /// Reads one range.
    fn read_range_async(
        &self,
        location: &Location,
        range: impl Into<ByteRange>,
    ) -> impl Future<Output = Result<AlignedBytes>> + Send + 'static {
        let mut batch = self.read(vec![ReadRequest::new(location.clone(), range, 0)]);
        async move { first(std::future::poll_fn(|cx| std::pin::Pin::new(&mut batch).poll_next(cx)).await) }
    }

    /// Reads a whole object.
    fn read_whole_async(&self, location: &Location) -> impl Future<Output = Result<AlignedBytes>> + Send + 'static {
        self.read_range_async(location, ByteRange::Whole)
    }

    /// Reads several ranges of one object; the buffers come in the order of `ranges`.
    fn read_ranges_async(
        &self,
        location: &Location,
        ranges: &[Range<u64>],
    ) -> impl Future<Output = Result<Vec<AlignedBytes>>> + Send + 'static {
        let n = ranges.len();
        let mut batch = self.read(ranges_requests(location, ranges));
        async move {
            let mut out: Vec<Option<AlignedBytes>> = vec![None; n];
            while let Some(r) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut batch).poll_next(cx)).await {
                let chunk = r?;
                out[chunk.tag as usize] = Some(chunk.bytes);
            }
            out.into_iter().map(|b| b.ok_or(Error::Closed { outstanding: 1 })).collect()
        }
    }

    /// Creates (truncating) a file and writes `data` into it; with `sync`, also `fsync`s it.
    fn write_whole(&self, location: &Location, data: AlignedBytes, sync: bool) -> Result<()> {
        let mut reqs = vec![
            WriteRequest::create(location.clone(), true, 0),
            WriteRequest::write_at(location.clone(), 0, vec![data], 1),
        ];
        if sync {
            reqs.push(WriteRequest::sync(location.clone(), false, 2));
        }
        for r in self.write(reqs) {
            r?;
        }
        Ok(())
    }
}

impl<T: IoBackend + ?Sized> IoBackendExt for T {}

fn first(result: Option<Result<Chunk>>) -> Result<AlignedBytes> {
    match result {
        Some(r) => r.map(|c| c.bytes),
        None => Err(Error::Closed { outstanding: 1 }),
    }
}

fn ranges_requests(location: &Location, ranges: &[Range<u64>]) -> Vec<ReadRequest> {
    ranges.iter().enumerate().map(|(i, r)| ReadRequest::new(location.clone(), r.clone(), i as u64)).collect()
}

fn in_request_order(batch: ReadBatch, n: usize) -> Result<Vec<AlignedBytes>> {
    let mut out: Vec<Option<AlignedBytes>> = vec![None; n];
    for r in batch {
        let chunk = r?;
        out[chunk.tag as usize] = Some(chunk.bytes);
    }
    out.into_iter().map(|b| b.ok_or(Error::Closed { outstanding: 1 })).collect()
}
