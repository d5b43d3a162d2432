//! Test helpers shared by the integration tests: a backend that answers out of order, late, from
//! its own thread, and counts the bytes the pipeline has submitted and not yet consumed.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use lsio_io::{
    AlignedBytes, ByteRange, IoBackend, IoBackendExt, Location, MemoryBackend, ReadBatch, ReadRequest, WriteBatch,
    WriteRequest,
};

/// Wraps a [`MemoryBackend`]: each batch is answered by a thread of its own, in a shuffled order,
/// with a pause every few results, like a real device.
#[derive(Debug, Clone)]
pub struct SlowBackend {
    pub inner: MemoryBackend,
    pub delay: Duration,
    pub seed: u64,
    /// Bytes of bounded requests submitted; the consumer subtracts what it received.
    pub outstanding: Arc<AtomicU64>,
    pub peak_outstanding: Arc<AtomicU64>,
    pub batches: Arc<AtomicUsize>,
    pub live_batches: Arc<AtomicUsize>,
}

impl SlowBackend {
    pub fn new(inner: MemoryBackend, delay: Duration, seed: u64) -> Self {
        SlowBackend {
            inner,
            delay,
            seed,
            outstanding: Arc::default(),
            peak_outstanding: Arc::default(),
            batches: Arc::default(),
            live_batches: Arc::default(),
        }
    }

    /// The consumer got a result for a request of `len` bytes.
    pub fn consumed(&self, len: u64) {
        self.outstanding.fetch_sub(len, Ordering::SeqCst);
    }
}

struct LiveGuard(Arc<AtomicUsize>);
impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl IoBackend for SlowBackend {
    fn name(&self) -> &str {
        "slow-memory"
    }

    fn read(&self, mut requests: Vec<ReadRequest>) -> ReadBatch {
        let bytes: u64 = requests.iter().filter_map(|r| r.range.as_bounded()).map(|r| r.end - r.start).sum();
        let now = self.outstanding.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak_outstanding.fetch_max(now, Ordering::SeqCst);
        let n = self.batches.fetch_add(1, Ordering::SeqCst) as u64;
        self.live_batches.fetch_add(1, Ordering::SeqCst);
        let live = LiveGuard(self.live_batches.clone());
        let (tx, rx) = lsio_io::batch(requests.len(), 1 << 30);
        let inner = self.inner.clone();
        let delay = self.delay;
        let mut state = (self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
        // Shuffle.
        for i in (1..requests.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            requests.swap(i, (state % (i as u64 + 1)) as usize);
        }
        std::thread::spawn(move || {
            let _live = live;
            for (i, r) in requests.into_iter().enumerate() {
                if tx.is_cancelled() {
                    return;
                }
                if !delay.is_zero() && i % 3 == 0 {
                    std::thread::sleep(delay);
                }
                let mut b = inner.read(vec![r]);
                let res = b.next().expect("one result");
                if !tx.send(res, 0) {
                    return;
                }
            }
        });
        rx
    }

    fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch {
        self.inner.write(requests)
    }
}

/// A memory backend holding `objects` objects of the given lengths, with bytes `(i + j) % 251`.
pub fn memory_with(lens: &[usize]) -> (MemoryBackend, Vec<Location>) {
    let m = MemoryBackend::new();
    let mut locs = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let loc = Location::object(format!("mem://obj/{i}"));
        let data: Vec<u8> = (0..len).map(|j| ((i + j) % 251) as u8).collect();
        m.put(loc.clone(), AlignedBytes::copy_from_slice(&data));
        locs.push(loc);
    }
    (m, locs)
}

/// The bytes a request should read from [`memory_with`]'s objects.
pub fn expected(backend: &MemoryBackend, r: &ReadRequest) -> Option<Vec<u8>> {
    backend.read_range(&r.location, r.range.clone()).ok().map(|b| b.to_vec())
}

pub fn len_of(r: &ReadRequest) -> u64 {
    match &r.range {
        ByteRange::Bounded(b) => b.end - b.start,
        _ => 0,
    }
}
