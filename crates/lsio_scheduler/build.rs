//! Declares `cfg(loom)` (the loom model tests) so that it does not warn as an unexpected cfg.
//!
//! A crate cannot add its own `[lints]` next to `lints.workspace = true`, so the build script says it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
