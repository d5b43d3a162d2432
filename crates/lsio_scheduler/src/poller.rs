//! The run flag of a batch poller: a waker schedules at most one poll job at a time.
//!
//! A backend completes reads on its own threads and wakes the batch's [`std::task::Waker`]; the
//! waker calls [`RunFlag::request`], and only the call that turns the flag on schedules a poll job
//! on the pool. The job calls [`RunFlag::begin`] (turning it off) *before* it polls the batch, so a
//! wake that comes while it polls schedules another job; one that came before is covered by this
//! poll. A result the poll misses was sent after the poll registered its waker, and the stream
//! contract guarantees a wake for it, which then finds the flag off. Polls of one batch are
//! serialised by the mutex around the batch. Modelled with loom in `tests/loom.rs`.

// `pub` (not `pub(crate)`) so that `--cfg loom` builds can re-export these to the model tests.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::loom::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct RunFlag(AtomicBool);

impl RunFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// A wake: `true` if the caller must schedule a poll job.
    #[inline]
    pub fn request(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// The start of a poll job, before it polls.
    #[inline]
    pub fn begin(&self) {
        self.0.store(false, Ordering::Release);
    }
}
