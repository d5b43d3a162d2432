//! The in-memory reference backend: the simplest correct implementation of the trait, used to
//! test everything above the backends without a disk.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lsio_aligned::{AlignedBytes, AlignedBytesMut};

use crate::backend::{IoBackend, ReadBatch, WriteBatch};
use crate::completion::{DEFAULT_BYTES_IN_FLIGHT, batch};
use crate::error::Error;
use crate::types::{Chunk, Location, ReadRequest, WriteDone, WriteOp, WriteRequest};

/// Objects kept in memory. Reads are zero-copy slices of the stored objects; writes copy.
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    objects: Arc<RwLock<HashMap<Location, AlignedBytes>>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an object (replacing any previous one).
    pub fn put(&self, location: Location, data: AlignedBytes) {
        self.objects.write().unwrap_or_else(|p| p.into_inner()).insert(location, data);
    }

    /// The stored object, if any.
    pub fn get(&self, location: &Location) -> Option<AlignedBytes> {
        self.objects.read().unwrap_or_else(|p| p.into_inner()).get(location).cloned()
    }

    fn read_one(&self, req: ReadRequest) -> Result<Chunk, Error> {
        let data = self.get(&req.location).ok_or_else(|| Error::NotFound {
            location: req.location.clone(),
            tag: Some(req.tag),
            source: None,
        })?;
        let len = data.len() as u64;
        let range = req.range.resolve(len).ok_or_else(|| Error::OutOfRange {
            location: req.location.clone(),
            range: req.range.clone(),
            object_len: len,
            tag: Some(req.tag),
        })?;
        let bytes = data.slice(range.start as usize..range.end as usize);
        Ok(Chunk { tag: req.tag, range, bytes })
    }

    fn apply(&self, objects: &mut HashMap<Location, AlignedBytes>, req: &WriteRequest) -> Result<WriteDone, Error> {
        let not_found = || Error::NotFound { location: req.location.clone(), tag: Some(req.tag), source: None };
        match &req.op {
            WriteOp::Create { truncate } => {
                let entry = objects.entry(req.location.clone()).or_default();
                if *truncate {
                    *entry = AlignedBytes::new();
                }
                Ok(WriteDone { tag: req.tag, bytes_written: 0 })
            }
            WriteOp::WriteAt { offset, bufs } => {
                let old = objects.get(&req.location).ok_or_else(not_found)?;
                let n: usize = bufs.iter().map(|b| b.len()).sum();
                let offset = usize::try_from(*offset).map_err(|_| Error::InvalidRequest {
                    location: req.location.clone(),
                    reason: format!("offset {offset} does not fit in memory"),
                    tag: Some(req.tag),
                })?;
                let new_len = old.len().max(offset + n);
                let mut buf = AlignedBytesMut::with_capacity(new_len);
                buf.extend_from_slice(&old[..old.len().min(offset)]);
                if offset > old.len() {
                    // A write past the end leaves a hole that reads as zeros, as in a sparse file.
                    let zeros = vec![0u8; offset - old.len()];
                    buf.extend_from_slice(&zeros);
                }
                for b in bufs {
                    buf.extend_from_slice(b);
                }
                if old.len() > offset + n {
                    buf.extend_from_slice(&old[offset + n..]);
                }
                objects.insert(req.location.clone(), buf.freeze());
                Ok(WriteDone { tag: req.tag, bytes_written: n as u64 })
            }
            WriteOp::Sync { .. } => {
                objects.get(&req.location).ok_or_else(not_found)?;
                Ok(WriteDone { tag: req.tag, bytes_written: 0 })
            }
        }
    }
}

impl IoBackend for MemoryBackend {
    fn name(&self) -> &str {
        "memory"
    }

    fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch {
        let (tx, rx) = batch(requests.len(), DEFAULT_BYTES_IN_FLIGHT);
        for req in requests {
            // Slices of stored objects allocate nothing, so they are charged nothing.
            tx.send(self.read_one(req), 0);
        }
        rx
    }

    fn write(&self, mut requests: Vec<WriteRequest>) -> WriteBatch {
        let (tx, rx) = batch(requests.len(), DEFAULT_BYTES_IN_FLIGHT);
        // The documented phases: creates, then writes, then syncs (a stable sort keeps the rest in order).
        requests.sort_by_key(|r| match r.op {
            WriteOp::Create { .. } => 0,
            WriteOp::WriteAt { .. } => 1,
            WriteOp::Sync { .. } => 2,
        });
        let mut objects = self.objects.write().unwrap_or_else(|p| p.into_inner());
        for req in &requests {
            tx.send(self.apply(&mut objects, req), 0);
        }
        rx
    }
}
