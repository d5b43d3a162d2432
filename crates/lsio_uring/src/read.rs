//! The read side: a batch shared by the rings, the jobs (planned reads) they take from it, and
//! how the pieces of one job become results.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lsio_aligned::AlignedBytes;
use lsio_io::{Chunk, CompletionSender, Error};

use crate::file::FileHandle;

/// A read batch as the rings see it: where results go, and one queue of planned reads per ring.
#[derive(Debug)]
pub(crate) struct ReadBatchShared {
    pub(crate) tx: CompletionSender<Chunk>,
    queues: Box<[Mutex<VecDeque<ReadJob>>]>,
    /// Bit `w` is set once ring `w` was given jobs (whom to wake when budget frees up).
    interested: AtomicU64,
}

impl ReadBatchShared {
    pub(crate) fn new(tx: CompletionSender<Chunk>, rings: usize) -> Self {
        ReadBatchShared {
            tx,
            queues: (0..rings).map(|_| Mutex::new(VecDeque::new())).collect(),
            interested: AtomicU64::new(0),
        }
    }

    /// Ring `w`'s queue of this batch.
    pub(crate) fn queue(&self, w: usize) -> MutexGuard<'_, VecDeque<ReadJob>> {
        // A panic while holding the lock leaves a `VecDeque` push or pop done or not done,
        // never half done, so a poisoned queue is still usable.
        self.queues[w].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives ring `w` jobs.
    pub(crate) fn push_jobs(&self, w: usize, jobs: impl IntoIterator<Item = ReadJob>) {
        self.queue(w).extend(jobs);
        self.interested.fetch_or(1 << w, Ordering::AcqRel);
    }

    /// The rings that were ever given jobs of this batch.
    pub(crate) fn interested(&self) -> u64 {
        self.interested.load(Ordering::Acquire)
    }
}

/// One planned read of one file, waiting in a batch queue.
#[derive(Debug)]
pub(crate) struct ReadJob {
    pub(crate) file: Arc<FileHandle>,
    /// What to read (widened to the alignment for `O_DIRECT`).
    pub(crate) physical: Range<u64>,
    /// Bytes the members need; a read that stops at end of file after this is complete.
    pub(crate) needed_end: u64,
    /// `(tag, absolute range)` of the requests served.
    pub(crate) members: Vec<(u64, Range<u64>)>,
    /// The first read of an `O_DIRECT` file: index of its probe on the opening ring.
    pub(crate) probe: Option<usize>,
}

impl ReadJob {
    /// Bytes the job allocates: what it is charged against the batch's budget.
    pub(crate) fn charge(&self) -> u64 {
        self.physical.end - self.physical.start
    }

    /// Sends one error per member, splitting `charge` among them.
    pub(crate) fn fail(self, tx: &CompletionSender<Chunk>, charge: u64, err: impl Fn(u64, &Range<u64>) -> Error) {
        let mut split = ChargeSplit::new(charge, self.members.len());
        for (tag, range) in &self.members {
            tx.send(Err(err(*tag, range)), split.next(range));
        }
    }
}

/// Splits a job's charge among its members: each gets at most its own length, the last gets the
/// rest, so the parts add up to the whole.
pub(crate) struct ChargeSplit {
    left: u64,
    remaining_members: usize,
}

impl ChargeSplit {
    pub(crate) fn new(charge: u64, members: usize) -> Self {
        ChargeSplit { left: charge, remaining_members: members }
    }

    pub(crate) fn next(&mut self, range: &Range<u64>) -> u64 {
        self.remaining_members = self.remaining_members.saturating_sub(1);
        let c = if self.remaining_members == 0 { self.left } else { (range.end - range.start).min(self.left) };
        self.left -= c;
        c
    }
}

/// How a piece of a read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PieceEnd {
    /// In flight.
    Running,
    /// Every byte the members need was read.
    Complete,
    /// End of file before the bytes the members need.
    Eof,
    /// The kernel answered with this errno.
    Failed(i32),
}

/// One read operation (SQE) of a job: `len` bytes at absolute offset `start`, into the job's
/// buffer at `start - physical.start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) start: u64,
    pub(crate) len: u64,
    /// Bytes read so far (short reads are resubmitted for the rest).
    pub(crate) done: u64,
    pub(crate) end: PieceEnd,
}

/// What the kernel said to one read operation, and what to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PieceStep {
    /// Resubmit for the rest after a short read.
    Short,
    /// Resubmit the same operation (`EINTR`, `EAGAIN`).
    Retry,
    /// The piece ended (see [`Piece::end`]).
    Done,
}

impl Piece {
    /// Applies a CQE result. `needed_end` is where the members' bytes end: reading stops there
    /// happily at end of file (the rest of the piece is alignment padding).
    pub(crate) fn apply(&mut self, res: i32, needed_end: u64) -> PieceStep {
        let need = needed_end.min(self.start + self.len).saturating_sub(self.start);
        if res < 0 {
            return match -res {
                libc::EINTR | libc::EAGAIN => PieceStep::Retry,
                errno => {
                    self.end = PieceEnd::Failed(errno);
                    PieceStep::Done
                }
            };
        }
        if res == 0 {
            self.end = if self.done >= need { PieceEnd::Complete } else { PieceEnd::Eof };
            return PieceStep::Done;
        }
        self.done = (self.done + res as u64).min(self.len);
        if self.done == self.len || self.done >= need {
            self.end = PieceEnd::Complete;
            PieceStep::Done
        } else {
            PieceStep::Short
        }
    }
}

/// Splits `physical` into pieces of at most `piece_len` bytes (no pieces when it is empty).
pub(crate) fn split_pieces(physical: &Range<u64>, piece_len: u64) -> Vec<Piece> {
    let step = piece_len.max(1);
    let mut out = Vec::with_capacity(((physical.end - physical.start).div_ceil(step)) as usize);
    let mut s = physical.start;
    while s < physical.end {
        let e = physical.end.min(s.saturating_add(step));
        out.push(Piece { start: s, len: e - s, done: 0, end: PieceEnd::Running });
        s = e;
    }
    out
}

/// Where the valid bytes of a finished job end, and why they end there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Bytes from the start of the buffer that the kernel filled, contiguously.
    pub(crate) valid: u64,
    /// Why the valid bytes stop short of a failing member: `Eof` or `Failed`.
    pub(crate) stop: PieceEnd,
}

/// The contiguous prefix of a finished job's pieces that was read.
pub(crate) fn outcome(pieces: &[Piece]) -> Outcome {
    let mut valid = 0;
    for p in pieces {
        valid += p.done;
        if p.done < p.len {
            return Outcome { valid, stop: p.end };
        }
    }
    Outcome { valid, stop: PieceEnd::Complete }
}

/// The answer for one member of a finished job whose buffer is `buf` (holding the `valid`
/// bytes read from `physical.start`).
pub(crate) fn member_result(
    file: &FileHandle,
    physical: &Range<u64>,
    buf: &AlignedBytes,
    out: Outcome,
    tag: u64,
    range: &Range<u64>,
) -> Result<Chunk, Error> {
    let got_end = physical.start + out.valid;
    if range.end <= got_end {
        let off = (range.start - physical.start) as usize..(range.end - physical.start) as usize;
        return Ok(Chunk { tag, range: range.clone(), bytes: buf.slice(off) });
    }
    let source = match out.stop {
        PieceEnd::Failed(errno) => io::Error::from_raw_os_error(errno),
        // The file shrank after its size was read (or a piece stopped early).
        _ => io::Error::new(io::ErrorKind::UnexpectedEof, format!("file ends at byte {got_end}")),
    };
    Err(Error::from_io(source, &file.location, Some(range.clone()), Some(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range() {
        let p = split_pieces(&(10..35), 10);
        assert_eq!(p.iter().map(|p| (p.start, p.len)).collect::<Vec<_>>(), vec![(10, 10), (20, 10), (30, 5)]);
        assert!(split_pieces(&(5..5), 10).is_empty());
        assert_eq!(split_pieces(&(0..3), 0).len(), 3);
    }

    #[test]
    fn short_reads_resubmit_until_needed() {
        let mut p = Piece { start: 0, len: 4096, done: 0, end: PieceEnd::Running };
        assert_eq!(p.apply(1000, 4000), PieceStep::Short);
        assert_eq!(p.apply(-libc::EINTR, 4000), PieceStep::Retry);
        assert_eq!(p.apply(-libc::EAGAIN, 4000), PieceStep::Retry);
        // The bytes past 4000 are alignment padding: a short read reaching 4000 completes.
        assert_eq!(p.apply(3000, 4000), PieceStep::Done);
        assert_eq!(p.end, PieceEnd::Complete);

        let mut p = Piece { start: 0, len: 100, done: 0, end: PieceEnd::Running };
        assert_eq!(p.apply(40, 100), PieceStep::Short);
        assert_eq!(p.apply(0, 100), PieceStep::Done);
        assert_eq!(p.end, PieceEnd::Eof);

        let mut p = Piece { start: 0, len: 100, done: 0, end: PieceEnd::Running };
        assert_eq!(p.apply(-libc::EIO, 100), PieceStep::Done);
        assert_eq!(p.end, PieceEnd::Failed(libc::EIO));
    }

    #[test]
    fn outcome_is_the_contiguous_prefix() {
        let mut ps = split_pieces(&(0..30), 10);
        ps[0].done = 10;
        ps[1].done = 4;
        ps[1].end = PieceEnd::Eof;
        ps[2].done = 10;
        assert_eq!(outcome(&ps), Outcome { valid: 14, stop: PieceEnd::Eof });
        ps[1].done = 10;
        assert_eq!(outcome(&ps).valid, 30);
    }

    #[test]
    fn charges_add_up() {
        let mut s = ChargeSplit::new(100, 3);
        let parts = [s.next(&(0..10)), s.next(&(0..200)), s.next(&(0..5))];
        assert_eq!(parts, [10, 90, 0]);
    }
}
