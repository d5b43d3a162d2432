//! Counters of a backend: one cache-line-aligned set per ring, summed by [`UringStats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`UringBackend`](crate::UringBackend) since it was made, summed over its rings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringStats {
    /// `io_uring_enter` calls (submit, or submit and wait). With SQPOLL some of these return
    /// without entering the kernel.
    pub submits: u64,
    /// Submission-queue entries submitted (every operation, resubmissions included).
    pub sqes: u64,
    /// Read operations submitted (resubmissions included).
    pub reads: u64,
    /// Bytes read from files (including merged gaps and alignment padding).
    pub bytes_read: u64,
    /// Reads resubmitted for the rest of a range after a short read.
    pub short_read_resubmits: u64,
    /// Writes resubmitted for the rest after a short write.
    pub short_write_resubmits: u64,
    /// Operations resubmitted after `EINTR` or `EAGAIN`.
    pub retries: u64,
    /// Files opened (`IORING_OP_OPENAT`).
    pub files_opened: u64,
    /// Files closed (`IORING_OP_CLOSE`, or `close(2)` for a file released off its ring).
    pub files_closed: u64,
    /// Files read buffered because their filesystem refused `O_DIRECT`.
    pub direct_io_fallbacks: u64,
    /// Reads into registered buffers (`IORING_OP_READ_FIXED`).
    pub fixed_buffer_reads: u64,
    /// Files opened into a registered-file slot.
    pub fixed_file_opens: u64,
    /// Write operations submitted (`IORING_OP_WRITEV`, resubmissions included).
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// `IORING_OP_FSYNC` operations submitted.
    pub syncs: u64,
}

impl UringStats {
    /// Files open now (opened and not yet closed).
    pub fn files_open(&self) -> u64 {
        self.files_opened.saturating_sub(self.files_closed)
    }

    /// Average SQEs per `io_uring_enter` call.
    pub fn sqes_per_submit(&self) -> f64 {
        if self.submits == 0 { 0.0 } else { self.sqes as f64 / self.submits as f64 }
    }
}

/// One ring's counters. Aligned to keep rings off each other's cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    pub(crate) submits: AtomicU64,
    pub(crate) sqes: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) short_read_resubmits: AtomicU64,
    pub(crate) short_write_resubmits: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) files_opened: AtomicU64,
    pub(crate) files_closed: AtomicU64,
    pub(crate) direct_io_fallbacks: AtomicU64,
    pub(crate) fixed_buffer_reads: AtomicU64,
    pub(crate) fixed_file_opens: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) syncs: AtomicU64,
}

/// Adds `n` to a counter (each counter has one writer thread, so this is uncontended).
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn add_to(&self, s: &mut UringStats) {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.submits += l(&self.submits);
        s.sqes += l(&self.sqes);
        s.reads += l(&self.reads);
        s.bytes_read += l(&self.bytes_read);
        s.short_read_resubmits += l(&self.short_read_resubmits);
        s.short_write_resubmits += l(&self.short_write_resubmits);
        s.retries += l(&self.retries);
        s.files_opened += l(&self.files_opened);
        s.files_closed += l(&self.files_closed);
        s.direct_io_fallbacks += l(&self.direct_io_fallbacks);
        s.fixed_buffer_reads += l(&self.fixed_buffer_reads);
        s.fixed_file_opens += l(&self.fixed_file_opens);
        s.writes += l(&self.writes);
        s.bytes_written += l(&self.bytes_written);
        s.syncs += l(&self.syncs);
    }
}
