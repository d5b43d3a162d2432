//! The write side: one location's requests of a batch, in phases (open with create/truncate,
//! then every vectored write, then every sync), and the iovec bookkeeping of short writes.

use std::ffi::CString;
use std::ops::Range;

use lsio_aligned::AlignedBytes;
use lsio_io::{CompletionSender, Location, WriteDone};

use crate::file::FileHandle;

/// At most this many iovecs go into one `IORING_OP_WRITEV` (the kernel's `UIO_MAXIOV`).
pub(crate) const IOV_MAX: usize = 1024;

/// One `WriteAt` request in flight.
#[derive(Debug)]
pub(crate) struct VecWrite {
    pub(crate) tag: u64,
    pub(crate) offset: u64,
    pub(crate) total: u64,
    pub(crate) written: u64,
    /// The iovecs point into these buffers, which stay alive (and unmoved: their memory is on
    /// the heap) until the write's last CQE.
    _bufs: Vec<AlignedBytes>,
    /// The iovecs, advanced in place after short writes; not resized while a write is in flight.
    iov: Vec<libc::iovec>,
    /// First iovec not yet fully written.
    first: usize,
}

impl VecWrite {
    pub(crate) fn new(tag: u64, offset: u64, bufs: Vec<AlignedBytes>) -> Self {
        let iov: Vec<libc::iovec> = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() })
            .collect();
        let total = iov.iter().map(|v| v.iov_len as u64).sum();
        VecWrite { tag, offset, total, written: 0, _bufs: bufs, iov, first: 0 }
    }

    /// The absolute range this request writes.
    pub(crate) fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.total
    }

    /// Where the next `WRITEV` starts: iovec pointer, iovec count (at most [`IOV_MAX`]) and file
    /// offset. The pointer stays valid while `self` lives and is not advanced.
    pub(crate) fn next_op(&self) -> (*const libc::iovec, u32, u64) {
        let rest = &self.iov[self.first.min(self.iov.len())..];
        (rest.as_ptr(), rest.len().min(IOV_MAX) as u32, self.offset + self.written)
    }

    /// Records `n` bytes written; `true` when everything is written.
    pub(crate) fn advance(&mut self, n: u64) -> bool {
        self.written += n;
        let mut n = n as usize;
        while n > 0 && self.first < self.iov.len() {
            let v = &mut self.iov[self.first];
            if n >= v.iov_len {
                n -= v.iov_len;
                self.first += 1;
            } else {
                // `n < iov_len`: the advanced pointer stays inside the same buffer.
                v.iov_base = v.iov_base.cast::<u8>().wrapping_add(n).cast();
                v.iov_len -= n;
                n = 0;
            }
        }
        self.written >= self.total
    }
}

/// Which phase a location's writes are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Opening,
    Writing,
    Syncing,
}

/// One location's write requests of one batch, on the ring that handles them.
#[derive(Debug)]
pub(crate) struct WriteFile {
    pub(crate) tx: CompletionSender<WriteDone>,
    pub(crate) location: Location,
    pub(crate) path: CString,
    pub(crate) file: Option<FileHandle>,
    pub(crate) creates: Vec<u64>,
    pub(crate) writes: Vec<VecWrite>,
    /// `(tag, data_only)`.
    pub(crate) syncs: Vec<(u64, bool)>,
    pub(crate) phase: Phase,
    /// Operations of the current phase not yet completed.
    pub(crate) outstanding: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_through_iovecs() {
        let bufs: Vec<AlignedBytes> =
            vec![AlignedBytes::copy_from_slice(&[1; 10]), AlignedBytes::new(), AlignedBytes::copy_from_slice(&[2; 5])];
        let mut w = VecWrite::new(7, 100, bufs);
        assert_eq!(w.total, 15);
        assert_eq!(w.range(), 100..115);
        let (_, n, off) = w.next_op();
        assert_eq!((n, off), (2, 100));
        assert!(!w.advance(4));
        let (p, n, off) = w.next_op();
        assert_eq!((n, off), (2, 104));
        // SAFETY: `p` points at two live iovecs.
        let first = unsafe { *p };
        assert_eq!(first.iov_len, 6);
        assert!(!w.advance(8));
        let (p, n, off) = w.next_op();
        assert_eq!((n, off), (1, 112));
        // SAFETY: as above.
        assert_eq!(unsafe { *p }.iov_len, 3);
        assert!(w.advance(3));
    }

    #[test]
    fn at_most_iov_max_per_op() {
        let bufs: Vec<AlignedBytes> = (0..2500).map(|_| AlignedBytes::copy_from_slice(&[0; 2])).collect();
        let mut w = VecWrite::new(0, 0, bufs);
        assert_eq!(w.next_op().1, 1024);
        assert!(!w.advance(2048));
        assert_eq!(w.next_op().1, 1024);
        assert!(!w.advance(2048));
        assert_eq!(w.next_op().1, 452);
        assert!(w.advance(904));
    }
}
