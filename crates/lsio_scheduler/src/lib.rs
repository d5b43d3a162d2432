#![doc = include_str!("../README.md")]

mod error;
mod latch;
mod loom;
mod pipeline;
mod poller;
mod pool;
mod scope;
mod sleep;

#[cfg(feature = "scenario")]
pub mod scenario;

pub use error::{Error, Result};
pub use pipeline::{Pipeline, PipelineConfig, PipelineStats, PipelineStream};
pub use pool::{PoolConfig, TaskHandle, ThreadPool};
pub use scope::Scope;

/// The hand-written synchronisation protocols, exposed to the loom model tests (`tests/loom.rs`)
/// only when built with `--cfg loom`.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::latch::Latch;
    pub use crate::poller::RunFlag;
    pub use crate::sleep::Sleep;
}
