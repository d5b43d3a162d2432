#![doc = include_str!("../README.md")]
//! The crate's modules: `backend` (direction 1), `store` and `confine` (direction 2), `open` (URL
//! parsing), `config`, `error`.

mod backend;
mod config;
mod confine;
mod error;
mod open;
mod store;

pub use backend::{BACKEND, ObjectStoreBackend};
pub use config::{BridgeConfig, RuntimeChoice};
pub use error::{BridgeError, Result};
pub use store::{LsioStore, default_backend};

/// Re-exported: the crate whose stores and trait this bridges.
pub use object_store;
