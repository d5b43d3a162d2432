//! Open files: a handle shared by the reads of one file in one batch, closed through a ring when
//! the last read lets go of it.
//!
//! A handle is dropped wherever its last job ends. On a ring thread (the usual case) the drop
//! only queues the descriptor in that thread's *close sink*; the ring then submits
//! `IORING_OP_CLOSE` with its next batch. Off a ring thread (a batch dropped after the backend
//! stopped) the descriptor is closed with `close(2)` so that nothing leaks.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::Arc;

use lsio_io::Location;

use crate::stats::{Counters, bump};

/// How operations name a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// An ordinary file descriptor, usable from every ring.
    Fd(RawFd),
    /// A slot of one ring's registered-file table, usable from that ring only.
    Fixed(u32),
}

/// An open file, as the reads (or writes) of one batch see it.
#[derive(Debug)]
pub(crate) struct FileHandle {
    pub(crate) target: Target,
    /// The ring that opened the file (the only one that may use a fixed slot).
    pub(crate) ring: usize,
    pub(crate) location: Location,
    /// Opened with `O_DIRECT`.
    pub(crate) direct: bool,
    /// Alignment of read buffers for this file.
    pub(crate) mem_align: usize,
    /// Read offsets and lengths are multiples of this (1 unless `direct`).
    pub(crate) off_align: u64,
    /// Longest single read operation (a multiple of `off_align`).
    pub(crate) piece_len: u64,
    /// The opening ring's counters (`files_closed` is counted there).
    pub(crate) counters: Arc<Counters>,
}

/// Descriptors a ring thread must close, queued by [`FileHandle`]'s drop.
#[derive(Debug)]
pub(crate) struct CloseSink {
    pub(crate) ring: usize,
    pub(crate) pending: Vec<(Target, Arc<Counters>)>,
}

thread_local! {
    static CLOSE_SINK: RefCell<Option<CloseSink>> = const { RefCell::new(None) };
}

/// Makes the current thread ring `ring`'s thread: dropped handles queue their descriptor here.
pub(crate) fn install_close_sink(ring: usize) {
    CLOSE_SINK.with(|s| *s.borrow_mut() = Some(CloseSink { ring, pending: Vec::new() }));
}

/// Takes the descriptors queued since the last call.
pub(crate) fn take_pending_closes() -> Vec<(Target, Arc<Counters>)> {
    CLOSE_SINK.with(|s| s.borrow_mut().as_mut().map(|s| std::mem::take(&mut s.pending)).unwrap_or_default())
}

/// Whether descriptors are queued.
pub(crate) fn closes_pending() -> bool {
    CLOSE_SINK.with(|s| s.borrow().as_ref().is_some_and(|s| !s.pending.is_empty()))
}

/// Ends the thread's role as a ring thread; later drops close with `close(2)`.
pub(crate) fn remove_close_sink() -> Vec<(Target, Arc<Counters>)> {
    CLOSE_SINK.with(|s| s.borrow_mut().take().map(|s| s.pending).unwrap_or_default())
}

/// Closes a descriptor with `close(2)` (the fallback when no ring can take it).
pub(crate) fn close_now(target: Target, counters: &Counters) {
    if let Target::Fd(fd) = target {
        // SAFETY: `fd` was opened by a ring for this handle alone and is closed exactly once:
        // here, or by the ring through the close sink, never both.
        unsafe { libc::close(fd) };
        bump(&counters.files_closed, 1);
    }
    // A fixed slot can only be closed by its ring; when that ring is gone, the kernel closed the
    // slot's file with the ring.
}

impl Drop for FileHandle {
    fn drop(&mut self) {
        let target = self.target;
        let queued = CLOSE_SINK
            .try_with(|sink| {
                let Ok(mut sink) = sink.try_borrow_mut() else { return false };
                match sink.as_mut() {
                    Some(s) if matches!(target, Target::Fd(_)) || s.ring == self.ring => {
                        s.pending.push((target, self.counters.clone()));
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false);
        if !queued {
            close_now(target, &self.counters);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn handle(fd: RawFd, counters: &Arc<Counters>) -> FileHandle {
        FileHandle {
            target: Target::Fd(fd),
            ring: 0,
            location: Location::local("/dev/null"),
            direct: false,
            mem_align: 64,
            off_align: 1,
            piece_len: 1 << 20,
            counters: counters.clone(),
        }
    }

    #[test]
    fn dropped_handles_queue_on_ring_threads_and_close_elsewhere() {
        let counters = Arc::new(Counters::default());
        std::thread::scope(|s| {
            s.spawn(|| {
                install_close_sink(3);
                let fd = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
                drop(handle(fd, &counters));
                assert!(closes_pending());
                let pending = take_pending_closes();
                assert_eq!(pending.len(), 1);
                assert_eq!(pending[0].0, Target::Fd(fd));
                close_now(pending[0].0, &pending[0].1);
                assert!(remove_close_sink().is_empty());
            });
        });
        let fd = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
        drop(handle(fd, &counters));
        assert_eq!(counters.files_closed.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
