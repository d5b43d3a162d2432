//! The io_uring backend (`lsio_uring::UringBackend`), where the kernel allows it.
//!
//! Setting `LSIO_DISABLE_URING=1` makes lsio treat io_uring as unavailable (to see, or test, the
//! fallback to the pread pool); fio still uses io_uring when the kernel has it.

use lsio_io::IoBackend;
use lsio_uring::{UringBackend, UringConfig};

use crate::bench::backends::BackendOptions;

/// The variable that turns lsio's io_uring backend off.
pub const DISABLE_VAR: &str = "LSIO_DISABLE_URING";

/// Whether the kernel lets this process use io_uring, and if not, why.
pub fn kernel_availability() -> Result<(), String> {
    lsio_uring::io_uring_available().map_err(|e| e.to_string())
}

/// Whether lsio's io_uring backend can be used here, and if not, why.
pub fn availability() -> Result<(), String> {
    match std::env::var(DISABLE_VAR) {
        Ok(v) if !v.is_empty() && v != "0" => Err(format!("io_uring is turned off by {DISABLE_VAR}={v}")),
        _ => kernel_availability(),
    }
}

/// The ring settings for `options`: the default number of rings (at most one per read in
/// flight), sharing `qd` reads in flight between them, so the backend keeps as many reads in
/// flight as the pread pool and fio.
pub fn config(options: &BackendOptions) -> UringConfig {
    let defaults = UringConfig::default();
    let rings = defaults.rings.clamp(1, options.qd.max(1));
    UringConfig {
        rings,
        queue_depth: options.qd.max(1).div_ceil(rings) as u32,
        planner: options.planner,
        direct_io: options.direct,
        ..defaults
    }
}

/// An io_uring backend for `options`, or why there is none.
pub fn open(options: &BackendOptions) -> Result<Box<dyn IoBackend>, String> {
    availability()?;
    match UringBackend::with_config(config(options)) {
        Ok(b) => Ok(Box::new(b)),
        Err(e) => Err(format!("the io_uring backend could not start: {e}")),
    }
}
