//! The library half of the `lsio` command-line tool: human sizes and the benchmark harness.
#![doc = include_str!("../README.md")]

pub mod bench;
pub mod error;
pub mod size;

pub use error::{Error, Result};
