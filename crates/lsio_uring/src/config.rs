//! [`UringConfig`]: the settings of a [`UringBackend`](crate::UringBackend).

use lsio_aligned::DEFAULT_ALIGN;
use lsio_io::{DEFAULT_BYTES_IN_FLIGHT, PlannerConfig};

/// Settings of a [`UringBackend`](crate::UringBackend).
///
/// The defaults were chosen by measurement on the project's 2-core machine; the figures and the
/// command that reproduces them are in the crate README.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UringConfig {
    /// Worker threads, each with its own ring (1..=64). Files of a batch are spread over them,
    /// and a file with many reads has its reads shared between them.
    pub rings: usize,
    /// Operations each ring keeps in flight at once (1..=32768; the kernel rejects more). The ring
    /// is created with this many submission entries.
    pub queue_depth: u32,
    /// Bound on bytes read for a batch and not yet taken by its consumer.
    pub bytes_in_flight: u64,
    /// How the ranges of one file are merged and split; pieces of a split read are separate SQEs
    /// into one buffer.
    pub planner: PlannerConfig,
    /// Open files for reading with `O_DIRECT` (bypassing the page cache). Reads are widened to
    /// the alignment the filesystem reports through `statx(STATX_DIOALIGN)` and sliced back
    /// zero-copy. A file whose filesystem refuses `O_DIRECT` (`EINVAL` on open or on the first
    /// read) is read buffered, counted in [`UringStats::direct_io_fallbacks`](crate::UringStats).
    /// Writes are always buffered.
    pub direct_io: bool,
    /// Read into buffers registered with the ring (`IORING_OP_READ_FIXED`): each ring registers
    /// `queue_depth` buffers of [`FIXED_BUFFER_LEN`](crate::FIXED_BUFFER_LEN) bytes taken from a
    /// [`BufferPool`](lsio_aligned::BufferPool); reads that do not fit, or that find every
    /// registered buffer still held by the caller, use ordinary buffers.
    pub register_buffers: bool,
    /// Open files straight into the ring's registered-file table (`IORING_OP_OPENAT` with a
    /// fixed slot), so reads skip the per-operation file-table lookup. Such a file is read by
    /// the ring that opened it only.
    pub register_files: bool,
    /// Create the rings with a kernel submission-queue polling thread (`IORING_SETUP_SQPOLL`)
    /// that sleeps after this many idle milliseconds. Costs a CPU per ring while busy.
    pub sqpoll: Option<u32>,
    /// Alignment of read buffers (a power of two; raised to the filesystem's `O_DIRECT` memory
    /// alignment for direct reads).
    pub alignment: usize,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            rings: 2,
            queue_depth: 128,
            bytes_in_flight: DEFAULT_BYTES_IN_FLIGHT,
            planner: PlannerConfig::LOCAL,
            direct_io: false,
            register_buffers: false,
            register_files: false,
            sqpoll: None,
            alignment: DEFAULT_ALIGN,
        }
    }
}

/// Most rings a backend may have (a batch keeps one bit per ring).
pub(crate) const MAX_RINGS: usize = 64;
