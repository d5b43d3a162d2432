#![doc = include_str!("../README.md")]
//! Cross-crate integration tests of lsio live in `tests/`; this library is empty on purpose.
