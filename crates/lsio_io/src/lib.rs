#![doc = include_str!("../README.md")]

mod backend;
mod completion;
mod error;
mod memory;
pub mod planner;
mod pread;
mod types;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::{IoBackend, IoBackendExt, ReadBatch, WriteBatch};
pub use completion::{ByteBudget, CompletionSender, Completions, DEFAULT_BYTES_IN_FLIGHT, batch};
pub use error::{Error, Result, copy_io};
pub use memory::MemoryBackend;
pub use planner::{Plan, PlannedRead, PlannerConfig, plan};
pub use pread::{PreadBackend, PreadConfig, PreadStats, default_pool, group_by_location, resolve_requests};
pub use types::{ByteRange, Chunk, Location, ReadRequest, WriteDone, WriteOp, WriteRequest};

/// Re-exported so that backends and users name one buffer type.
pub use lsio_aligned::{AlignedBytes, AlignedBytesMut};
