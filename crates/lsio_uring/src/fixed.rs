//! Registered (fixed) buffers: each ring registers a set of buffers from a
//! [`BufferPool`](lsio_aligned::BufferPool) once, reads into them with `IORING_OP_READ_FIXED`, and
//! lends the filled buffer to the caller zero-copy.
//!
//! A registered buffer must never be freed and reused while the kernel has it registered: the
//! kernel pinned its pages, and memory freed and mapped again at the same address would not be
//! those pages. So the ring keeps an *anchor* — a clone of every buffer it lent — and reuses a
//! buffer only once [`AlignedBytes::try_into_mut`] proves the caller dropped every view of it. The
//! memory goes back to the pool only after the ring (and with it the registration) is gone.

use lsio_aligned::{AlignedBytes, AlignedBytesMut, BufferPool};

/// Bytes of each registered buffer. Reads longer than this use ordinary buffers.
pub const FIXED_BUFFER_LEN: usize = 256 << 10;

#[derive(Debug)]
enum Slot {
    /// Idle, ready for a read.
    Free(AlignedBytesMut),
    /// A read is in flight into it.
    Busy,
    /// Handed to a caller; `AlignedBytes` is the anchor (a view of the whole filled part).
    Lent(AlignedBytes),
}

/// One ring's registered buffers.
#[derive(Debug)]
pub(crate) struct FixedBuffers {
    slots: Vec<Slot>,
    len: usize,
    cursor: usize,
}

impl FixedBuffers {
    /// Takes `count` buffers of [`FIXED_BUFFER_LEN`] from `pool`; the iovecs to register come
    /// with them.
    pub(crate) fn new(pool: &BufferPool, count: usize) -> (FixedBuffers, Vec<libc::iovec>) {
        let mut slots = Vec::with_capacity(count);
        let mut iovecs = Vec::with_capacity(count);
        for _ in 0..count.min(u16::MAX as usize) {
            let mut buf = pool.get(FIXED_BUFFER_LEN);
            iovecs.push(libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.capacity() });
            slots.push(Slot::Free(buf));
        }
        (FixedBuffers { slots, len: FIXED_BUFFER_LEN, cursor: 0 }, iovecs)
    }

    /// An empty registered buffer for a read of `len` bytes, and its index, if one is idle.
    pub(crate) fn take(&mut self, len: usize) -> Option<(u16, AlignedBytesMut)> {
        if len > self.len || self.slots.is_empty() {
            return None;
        }
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let buf = match std::mem::replace(&mut self.slots[i], Slot::Busy) {
                Slot::Free(buf) => buf,
                Slot::Lent(anchor) => match anchor.try_into_mut() {
                    // The anchor starts at the buffer's start and was the last view: the whole
                    // registered buffer is ours again.
                    Ok(mut buf) => {
                        buf.clear();
                        buf
                    }
                    Err(anchor) => {
                        self.slots[i] = Slot::Lent(anchor);
                        continue;
                    }
                },
                Slot::Busy => continue,
            };
            self.cursor = (i + 1) % n;
            return Some((i as u16, buf));
        }
        None
    }

    /// A buffer whose read delivered nothing comes back idle.
    pub(crate) fn put_back(&mut self, index: u16, buf: AlignedBytesMut) {
        self.slots[index as usize] = Slot::Free(buf);
    }

    /// A filled buffer handed to the caller: the ring keeps `anchor` (the frozen buffer, which
    /// starts at the registered address) until the caller's views are gone.
    pub(crate) fn lend(&mut self, index: u16, anchor: AlignedBytes) {
        self.slots[index as usize] = Slot::Lent(anchor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsio_aligned::PoolConfig;

    #[test]
    fn buffers_come_back_only_when_the_caller_let_go() {
        let pool =
            BufferPool::new(PoolConfig { alignment: 4096, size_classes: vec![FIXED_BUFFER_LEN], max_bytes: 1 << 30 })
                .unwrap();
        let (mut fixed, iov) = FixedBuffers::new(&pool, 2);
        assert_eq!(iov.len(), 2);
        assert!(fixed.take(FIXED_BUFFER_LEN + 1).is_none());
        let (i, mut a) = fixed.take(10).unwrap();
        assert_eq!(a.as_mut_ptr().cast(), iov[i as usize].iov_base);
        a.extend_from_slice(b"hello");
        let frozen = a.freeze();
        fixed.lend(i, frozen.clone());
        let user = frozen.slice(1..3);
        drop(frozen);
        let (j, b) = fixed.take(10).unwrap();
        assert_ne!(i, j);
        // Both busy or lent: nothing idle.
        assert!(fixed.take(10).is_none());
        fixed.put_back(j, b);
        drop(user);
        // Now slot `i` is reusable, at the same address.
        let (_, mut again) = fixed.take(10).unwrap();
        let (k, mut again2) = fixed.take(10).unwrap();
        let ptrs = [again.as_mut_ptr().cast::<libc::c_void>(), again2.as_mut_ptr().cast()];
        assert!(ptrs.contains(&iov[i as usize].iov_base));
        assert!(again.is_empty() && again.capacity() >= FIXED_BUFFER_LEN);
        fixed.put_back(k, again2);
    }
}
