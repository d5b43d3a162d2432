//! Cross-crate integration tests of lsio live in `tests/`; this library is empty on purpose.
