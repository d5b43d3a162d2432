//! [`AlignedBytesMut`]: an exclusive, writable, aligned view of an allocation.

use std::alloc::{Layout, handle_alloc_error};
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::owner::{Owner, RawBuf};
use crate::{AlignedBytes, DEFAULT_ALIGN, Error, Head, Result, align_at_offset, dangling};

/// Exclusive, writable, aligned buffer.
///
/// `len` counts the initialised bytes (the only ones [`Deref`] exposes); `capacity` counts the
/// allocated bytes this view may write. The buffer **never reallocates** while it is being
/// filled ([`extend_from_slice`](Self::extend_from_slice) panics instead), so
/// [`as_mut_ptr`](Self::as_mut_ptr) stays valid for in-flight I/O. Only
/// [`unsplit`](Self::unsplit) may move the data, and only when it has to copy.
///
/// Several `AlignedBytesMut` (after [`split_to`](Self::split_to) /
/// [`split_off`](Self::split_off)) and [`AlignedBytes`] (after [`freeze`](Self::freeze)) may
/// share one allocation; each covers a disjoint range of it, and the memory is freed (or
/// returned to its [`BufferPool`](crate::BufferPool)) when the last of them drops.
pub struct AlignedBytesMut {
    /// Start of this view. Valid for writes of `cap` bytes; the first `len` are initialised.
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
    /// Guaranteed alignment of `ptr` (a power of two).
    align: usize,
    /// `None` only for views that own no memory (then `cap == 0`).
    owner: Option<Arc<Owner>>,
}

// SAFETY: an `AlignedBytesMut` is the only handle that may access `[ptr, ptr + cap)`: the
// ranges of views sharing an owner are disjoint. Sending it moves that exclusive access, like
// sending a `Vec<u8>`; the `Arc<Owner>` is itself `Send + Sync`.
unsafe impl Send for AlignedBytesMut {}
// SAFETY: `&AlignedBytesMut` only allows reading the initialised prefix (like `&Vec<u8>`);
// writing needs `&mut`.
unsafe impl Sync for AlignedBytesMut {}

impl AlignedBytesMut {
    /// An empty buffer of zero capacity. Does not allocate.
    pub const fn new() -> Self {
        Self {
            ptr: NonNull::without_provenance(std::num::NonZeroUsize::new(DEFAULT_ALIGN).expect("non-zero")),
            len: 0,
            cap: 0,
            align: DEFAULT_ALIGN,
            owner: None,
        }
    }

    /// An empty buffer of at least `capacity` bytes aligned to [`DEFAULT_ALIGN`] (capacity
    /// rounded up to a multiple of it). The memory is not initialised.
    ///
    /// # Panics
    /// Like `Vec::with_capacity`: if the rounded capacity exceeds `isize::MAX`; aborts through
    /// [`handle_alloc_error`] if the allocator fails.
    pub fn with_capacity(capacity: usize) -> Self {
        match Self::with_capacity_aligned(capacity, DEFAULT_ALIGN) {
            Ok(buf) => buf,
            Err(Error::AllocationFailed { size, align }) => {
                handle_alloc_error(Layout::from_size_align(size, align).expect("layout was valid for the allocator"))
            }
            Err(e) => panic!("AlignedBytesMut::with_capacity: {e}"),
        }
    }

    /// An empty buffer whose start address **and** capacity are multiples of `align`:
    /// `capacity` is rounded up to the next multiple of `align`. The memory is not
    /// initialised. A capacity of zero does not allocate.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`] unless `align` is a power of two,
    /// [`Error::CapacityOverflow`] if the rounded capacity exceeds `isize::MAX`,
    /// [`Error::AllocationFailed`] if the allocator fails.
    pub fn with_capacity_aligned(capacity: usize, align: usize) -> Result<Self> {
        let Some(layout) = layout_for(capacity, align)? else {
            return Ok(Self::empty(align));
        };
        let buf = RawBuf::alloc(layout).ok_or(Error::AllocationFailed { size: layout.size(), align })?;
        Ok(Self::from_owner(Owner::Heap(buf), align))
    }

    /// A buffer of `len` zero bytes (`len() == len`), start and capacity aligned to `align` as in
    /// [`with_capacity_aligned`](Self::with_capacity_aligned). This is the only constructor that
    /// initialises memory (with `alloc_zeroed`, which is free for fresh pages).
    ///
    /// # Errors
    /// As [`with_capacity_aligned`](Self::with_capacity_aligned).
    pub fn zeroed(len: usize, align: usize) -> Result<Self> {
        let Some(layout) = layout_for(len, align)? else {
            return Ok(Self::empty(align));
        };
        let buf = RawBuf::alloc_zeroed(layout).ok_or(Error::AllocationFailed { size: layout.size(), align })?;
        let mut this = Self::from_owner(Owner::Heap(buf), align);
        // SAFETY: `len <= layout.size() == capacity`, and `alloc_zeroed` initialised every byte.
        unsafe { this.set_len(len) };
        Ok(this)
    }

    /// A view of zero capacity that owns nothing, aligned to `align`.
    pub(crate) fn empty(align: usize) -> Self {
        Self { ptr: dangling(align), len: 0, cap: 0, align, owner: None }
    }

    /// A view of the whole (writable) allocation of `owner`, with `len == 0`.
    ///
    /// # Panics
    /// If `owner` is read-only (a memory map).
    pub(crate) fn from_owner(owner: Owner, align: usize) -> Self {
        let (ptr, cap, owner_align) = owner.writable_region().expect("AlignedBytesMut needs writable memory");
        debug_assert!(owner_align >= align);
        Self { ptr, len: 0, cap, align, owner: Some(Arc::new(owner)) }
    }

    /// Reassembles a view from parts. The caller guarantees that `ptr` is aligned to `align`,
    /// that it is valid for writes of `cap` bytes of `owner`'s memory whose first `len` are
    /// initialised, and that no other view accesses that range.
    pub(crate) fn from_parts(
        ptr: NonNull<u8>,
        len: usize,
        cap: usize,
        align: usize,
        owner: Option<Arc<Owner>>,
    ) -> Self {
        debug_assert!(len <= cap);
        debug_assert!(ptr.as_ptr().addr().is_multiple_of(align));
        Self { ptr, len, cap, align, owner }
    }

    /// Number of initialised (readable) bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `len() == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of bytes this view may write, initialised or not.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// `capacity() - len()`: how many more bytes fit without reallocating.
    #[inline]
    pub fn remaining_capacity(&self) -> usize {
        self.cap - self.len
    }

    /// The guaranteed alignment of [`as_ptr`](Self::as_ptr) (a power of two). The pointer may
    /// happen to be more aligned. A view split off at offset `k` of an `a`-aligned buffer
    /// guarantees `min(a, largest power of two dividing k)`.
    #[inline]
    pub fn alignment(&self) -> usize {
        self.align
    }

    /// Start of the buffer.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Start of the buffer, valid for writes of [`capacity`](Self::capacity) bytes (e.g. by
    /// the kernel, for `pread` / io_uring), until this view is dropped, split or unsplit.
    /// After writing, publish the bytes with [`set_len`](Self::set_len).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The not-yet-initialised tail `[len, capacity)`. Write it, then call
    /// [`set_len`](Self::set_len).
    #[inline]
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `[ptr + len, ptr + cap)` lies inside the allocation, is accessed by no other
        // view, and `&mut self` makes this borrow exclusive. `MaybeUninit<u8>` needs no
        // initialisation.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.as_ptr().add(self.len).cast::<MaybeUninit<u8>>(),
                self.cap - self.len,
            )
        }
    }

    /// Sets the number of initialised bytes.
    ///
    /// # Safety
    /// `len <= capacity()`, and the bytes `[0, len)` have been initialised (e.g. through
    /// [`spare_capacity_mut`](Self::spare_capacity_mut) or [`as_mut_ptr`](Self::as_mut_ptr)).
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap, "set_len({len}) beyond capacity {}", self.cap);
        self.len = len;
    }

    /// Appends `data`.
    ///
    /// # Panics
    /// If `data` does not fit in the [remaining capacity](Self::remaining_capacity): this
    /// buffer never reallocates.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let room = self.remaining_capacity();
        assert!(
            data.len() <= room,
            "AlignedBytesMut::extend_from_slice: {} bytes do not fit in the remaining capacity of {room} bytes",
            data.len()
        );
        // SAFETY: the destination `[ptr + len, ptr + len + data.len())` is within capacity
        // (checked above), exclusively ours, and cannot overlap `data`, which is borrowed
        // shared while we hold `&mut self`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(self.len), data.len());
        }
        self.len += data.len();
    }

    /// Sets `len` to 0; keeps the capacity.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens to `len` bytes; no effect if `len >= self.len()`.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Splits off and returns `[0, at)`; `self` keeps `[at, capacity)`. Zero-copy: both halves
    /// share the allocation.
    ///
    /// # Panics
    /// If `at > len()`.
    pub fn split_to(&mut self, at: usize) -> AlignedBytesMut {
        assert!(at <= self.len, "AlignedBytesMut::split_to out of bounds: {at} > len {}", self.len);
        let head = Self { ptr: self.ptr, len: at, cap: at, align: self.align, owner: self.owner.clone() };
        self.advance_start(at);
        head
    }

    /// Splits off and returns `[at, capacity)`; `self` keeps `[0, at)`. The tail has
    /// capacity `capacity() - at` and length `len().saturating_sub(at)`. Zero-copy.
    ///
    /// # Panics
    /// If `at > capacity()`.
    pub fn split_off(&mut self, at: usize) -> AlignedBytesMut {
        assert!(at <= self.cap, "AlignedBytesMut::split_off out of bounds: {at} > capacity {}", self.cap);
        let mut tail =
            Self { ptr: self.ptr, len: self.len, cap: self.cap, align: self.align, owner: self.owner.clone() };
        tail.advance_start(at);
        self.cap = at;
        self.len = self.len.min(at);
        tail
    }

    /// Drops the first `at <= cap` bytes of the view.
    fn advance_start(&mut self, at: usize) {
        debug_assert!(at <= self.cap);
        // SAFETY: `at <= cap`, so the result stays within (or one past the end of) the range
        // this view may access.
        self.ptr = unsafe { self.ptr.add(at) };
        self.cap -= at;
        self.len = self.len.saturating_sub(at);
        self.align = align_at_offset(self.align, at);
    }

    /// Appends `other`'s initialised bytes to `self`.
    ///
    /// * O(1) when `other` starts right where `self`'s capacity ends in the same allocation
    ///   (as after `split_off` / `split_to`) and `self` is full (`len() == capacity()`):
    ///   the views are merged and the capacity becomes the sum.
    /// * If `self` has zero capacity, it becomes `other`.
    /// * Otherwise the bytes are copied: into the spare capacity if they fit, else into a new
    ///   heap buffer (aligned to at least the old guarantee and [`DEFAULT_ALIGN`]). Only this
    ///   last case moves `self`'s data.
    pub fn unsplit(&mut self, other: AlignedBytesMut) {
        if self.cap == 0 {
            *self = other;
            return;
        }
        let contiguous = self.len == self.cap
            && self.ptr.as_ptr().wrapping_add(self.cap) == other.ptr.as_ptr()
            && match (&self.owner, &other.owner) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            };
        if contiguous {
            self.len += other.len;
            self.cap += other.cap;
            // `other`'s reference to the shared owner drops here.
            return;
        }
        if other.len <= self.remaining_capacity() {
            self.extend_from_slice(&other);
            return;
        }
        let needed = self.len.checked_add(other.len).expect("AlignedBytesMut::unsplit: capacity overflow");
        let align = self.align.max(DEFAULT_ALIGN);
        let mut grown = match Self::with_capacity_aligned(needed, align) {
            Ok(buf) => buf,
            Err(Error::AllocationFailed { size, align }) => {
                handle_alloc_error(Layout::from_size_align(size, align).expect("layout was valid for the allocator"))
            }
            Err(e) => panic!("AlignedBytesMut::unsplit: {e}"),
        };
        grown.extend_from_slice(self);
        grown.extend_from_slice(&other);
        *self = grown;
    }

    /// Converts the initialised part into an immutable, shareable [`AlignedBytes`].
    /// Zero-copy; the spare capacity is not reachable any more (it is reused only once the
    /// whole allocation is freed or recycled).
    pub fn freeze(self) -> AlignedBytes {
        AlignedBytes::from_parts(self.ptr, self.len, self.owner)
    }
}

/// Layout of a `capacity`-byte buffer aligned to `align`, capacity rounded up to `align`;
/// `None` if that is zero bytes (no allocation).
pub(crate) fn layout_for(capacity: usize, align: usize) -> Result<Option<Layout>> {
    if !align.is_power_of_two() {
        return Err(Error::InvalidAlignment { align });
    }
    let overflow = Error::CapacityOverflow { capacity, align };
    let size = capacity.checked_next_multiple_of(align).ok_or(overflow.clone())?;
    let layout = Layout::from_size_align(size, align).map_err(|_| overflow)?;
    Ok((size > 0).then_some(layout))
}

impl Default for AlignedBytesMut {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for AlignedBytesMut {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes at `ptr` are initialised (invariant kept by every
        // constructor and `set_len`'s contract), inside memory kept alive by `owner` (or zero
        // bytes at a non-null aligned dangling pointer), and only this view can write them,
        // which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBytesMut {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBytesMut {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBytesMut {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for AlignedBytesMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBytesMut")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .field("alignment", &self.align)
            .field("head", &Head(self))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DIRECT_IO_ALIGN;

    fn filled(cap: usize, align: usize, n: usize) -> AlignedBytesMut {
        let mut b = AlignedBytesMut::with_capacity_aligned(cap, align).unwrap();
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        b.extend_from_slice(&data);
        b
    }

    #[test]
    fn with_capacity_default_alignment() {
        let b = AlignedBytesMut::with_capacity(100);
        assert_eq!(b.len(), 0);
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 128);
        assert_eq!(b.remaining_capacity(), 128);
        assert_eq!(b.alignment(), DEFAULT_ALIGN);
        assert_eq!(b.as_ptr() as usize % DEFAULT_ALIGN, 0);
        assert!(b.is_empty());
    }

    #[test]
    fn with_capacity_aligned_rounds_capacity_up() {
        for align in [1, 2, 8, 64, 4096, 1 << 16] {
            for cap in [1, 63, 64, 65, 4095, 4096, 4097, 10_000] {
                let b = AlignedBytesMut::with_capacity_aligned(cap, align).unwrap();
                assert_eq!(b.capacity(), cap.next_multiple_of(align), "cap {cap} align {align}");
                assert_eq!(b.as_ptr() as usize % align, 0);
                assert_eq!(b.alignment(), align);
            }
        }
        let b = AlignedBytesMut::with_capacity_aligned(1, DIRECT_IO_ALIGN).unwrap();
        assert_eq!(b.capacity(), 4096);
    }

    #[test]
    fn invalid_alignment() {
        for align in [0, 3, 6, 100, 4095, usize::MAX] {
            assert_eq!(
                AlignedBytesMut::with_capacity_aligned(10, align).unwrap_err(),
                Error::InvalidAlignment { align }
            );
            assert_eq!(AlignedBytesMut::zeroed(10, align).unwrap_err(), Error::InvalidAlignment { align });
            // Even without allocating.
            assert!(AlignedBytesMut::with_capacity_aligned(0, align).is_err());
        }
        let msg = Error::InvalidAlignment { align: 3 }.to_string();
        assert!(msg.contains('3'), "{msg}");
    }

    #[test]
    fn capacity_overflow() {
        let e = AlignedBytesMut::with_capacity_aligned(usize::MAX, 64).unwrap_err();
        assert_eq!(e, Error::CapacityOverflow { capacity: usize::MAX, align: 64 });
        assert!(e.to_string().contains(&usize::MAX.to_string()));
        let e = AlignedBytesMut::with_capacity_aligned(isize::MAX as usize, 4096).unwrap_err();
        assert!(matches!(e, Error::CapacityOverflow { .. }));
        let e = AlignedBytesMut::zeroed(usize::MAX - 10, 64).unwrap_err();
        assert!(matches!(e, Error::CapacityOverflow { .. }));
    }

    #[test]
    #[should_panic(expected = "capacity")]
    fn with_capacity_overflow_panics() {
        let _ = AlignedBytesMut::with_capacity(usize::MAX);
    }

    #[test]
    fn allocation_failure_is_an_error() {
        let e = AlignedBytesMut::with_capacity_aligned(1 << 62, 64).unwrap_err();
        assert_eq!(e, Error::AllocationFailed { size: 1 << 62, align: 64 });
        assert!(e.to_string().contains(&(1usize << 62).to_string()));
    }

    #[test]
    fn zero_capacity_does_not_allocate() {
        for align in [1, 64, 4096] {
            let mut b = AlignedBytesMut::with_capacity_aligned(0, align).unwrap();
            assert_eq!(b.capacity(), 0);
            assert_eq!(b.len(), 0);
            assert!(b.owner.is_none());
            assert_eq!(b.as_ptr() as usize % align, 0);
            assert_eq!(&b[..], b"");
            assert_eq!(b.spare_capacity_mut().len(), 0);
            b.extend_from_slice(&[]);
            let z = AlignedBytesMut::zeroed(0, align).unwrap();
            assert!(z.owner.is_none());
            assert!(z.freeze().is_empty());
        }
        let b = AlignedBytesMut::new();
        assert_eq!(b.capacity(), 0);
        assert_eq!(b.alignment(), DEFAULT_ALIGN);
        assert_eq!(AlignedBytesMut::default().capacity(), 0);
        assert_eq!(AlignedBytesMut::with_capacity(0).capacity(), 0);
    }

    #[test]
    fn zeroed_is_initialised() {
        let z = AlignedBytesMut::zeroed(5000, DIRECT_IO_ALIGN).unwrap();
        assert_eq!(z.len(), 5000);
        assert_eq!(z.capacity(), 8192);
        assert!(z.iter().all(|&b| b == 0));
        assert_eq!(z.as_ptr() as usize % DIRECT_IO_ALIGN, 0);
    }

    #[test]
    fn extend_and_spare_capacity() {
        let mut b = AlignedBytesMut::with_capacity(64);
        b.extend_from_slice(b"hello");
        assert_eq!(&b[..], b"hello");
        assert_eq!(b.remaining_capacity(), 59);
        let spare = b.spare_capacity_mut();
        assert_eq!(spare.len(), 59);
        spare[0].write(b' ');
        spare[1].write(b'w');
        // SAFETY: the two bytes after `len` were just written.
        unsafe { b.set_len(7) };
        assert_eq!(&b[..], b"hello w");
        // Raw pointer writes, as a kernel would do.
        // SAFETY: 3 bytes fit in the capacity; we own the buffer exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(b"orl".as_ptr(), b.as_mut_ptr().add(7), 3);
            b.set_len(10);
        }
        assert_eq!(b.as_ref(), b"hello worl");
        b.as_mut()[0] = b'H';
        b[1] = b'E';
        assert_eq!(&b[..2], b"HE");
        b.truncate(100);
        assert_eq!(b.len(), 10);
        b.truncate(4);
        assert_eq!(&b[..], b"HEll");
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 64);
    }

    #[test]
    fn extend_exactly_to_capacity() {
        let mut b = AlignedBytesMut::with_capacity(64);
        b.extend_from_slice(&[7; 64]);
        assert_eq!(b.remaining_capacity(), 0);
        b.extend_from_slice(&[]);
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn extend_beyond_capacity_panics() {
        let mut b = AlignedBytesMut::with_capacity(64);
        b.extend_from_slice(&[7; 65]);
    }

    #[test]
    fn split_to_shares_allocation() {
        let mut b = filled(256, 64, 100);
        let base = b.as_ptr();
        let head = b.split_to(64);
        assert_eq!(head.as_ptr(), base);
        assert_eq!(head.len(), 64);
        assert_eq!(head.capacity(), 64);
        assert_eq!(head.alignment(), 64);
        assert_eq!(b.as_ptr(), base.wrapping_add(64));
        assert_eq!(b.len(), 36);
        assert_eq!(b.capacity(), 192);
        assert_eq!(b.alignment(), 64);
        assert_eq!(b[0], 64);
        let h2 = b.split_to(3);
        assert_eq!(&h2[..], &[64, 65, 66]);
        assert_eq!(b.alignment(), 1);
        assert_eq!(b.as_ptr() as usize % b.alignment(), 0);
        let h3 = b.split_to(0);
        assert_eq!(h3.len(), 0);
        assert_eq!(h3.capacity(), 0);
        assert_eq!(b.len(), 33);
        let all = b.split_to(33);
        assert_eq!(all.len(), 33);
        assert_eq!(b.len(), 0);
        assert_eq!(b.capacity(), 256 - 100);
    }

    #[test]
    #[should_panic(expected = "split_to out of bounds")]
    fn split_to_past_len_panics() {
        let mut b = filled(256, 64, 10);
        let _ = b.split_to(11);
    }

    #[test]
    fn split_off_lengths() {
        let mut b = filled(256, 64, 100);
        let tail = b.split_off(128);
        assert_eq!(tail.len(), 0);
        assert_eq!(tail.capacity(), 128);
        assert_eq!(tail.alignment(), 64);
        assert_eq!(b.len(), 100);
        assert_eq!(b.capacity(), 128);
        let tail2 = b.split_off(40);
        assert_eq!(tail2.len(), 60);
        assert_eq!(tail2.capacity(), 88);
        assert_eq!(tail2.alignment(), 8);
        assert_eq!(tail2[0], 40);
        assert_eq!(b.len(), 40);
        assert_eq!(b.capacity(), 40);
        let end = b.split_off(40);
        assert_eq!(end.capacity(), 0);
        let all = b.split_off(0);
        assert_eq!(all.len(), 40);
        assert_eq!(b.capacity(), 0);
    }

    #[test]
    #[should_panic(expected = "split_off out of bounds")]
    fn split_off_past_capacity_panics() {
        let mut b = filled(64, 64, 10);
        let _ = b.split_off(65);
    }

    #[test]
    fn unsplit_is_o1_when_contiguous_and_full() {
        let mut b = filled(256, 64, 200);
        let base = b.as_ptr();
        let tail = b.split_off(64);
        b.unsplit(tail);
        assert_eq!(b.as_ptr(), base);
        assert_eq!(b.len(), 200);
        assert_eq!(b.capacity(), 256);
        assert_eq!(b[199], 199);

        // split_to + unsplit restores too.
        let mut rest = b;
        let mut head = rest.split_to(128);
        head.unsplit(rest);
        assert_eq!(head.as_ptr(), base);
        assert_eq!(head.capacity(), 256);
        assert_eq!(head.len(), 200);
    }

    #[test]
    fn unsplit_copies_into_spare_capacity() {
        let mut a = filled(256, 64, 10);
        let base = a.as_ptr();
        let b = filled(64, 64, 5);
        a.unsplit(b);
        assert_eq!(a.as_ptr(), base);
        assert_eq!(a.capacity(), 256);
        assert_eq!(&a[..], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);

        // Contiguous but self not full: copies (the tail's bytes move next to ours).
        let mut a = filled(256, 64, 10);
        let base = a.as_ptr();
        let mut t = a.split_off(64);
        t.extend_from_slice(b"xyz");
        a.unsplit(t);
        assert_eq!(a.as_ptr(), base);
        assert_eq!(a.len(), 13);
        assert_eq!(&a[10..], b"xyz");
        assert_eq!(a.capacity(), 64);
    }

    #[test]
    fn unsplit_reallocates_when_needed() {
        let mut a = filled(64, 4096, 64);
        let b = filled(64, 64, 10);
        a.unsplit(b);
        assert_eq!(a.len(), 74);
        assert_eq!(a.alignment(), 4096);
        assert_eq!(a.as_ptr() as usize % 4096, 0);
        assert_eq!(a.capacity(), 4096);
        assert_eq!(&a[64..], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        // Odd-offset self gets at least DEFAULT_ALIGN after reallocating.
        let mut x = filled(64, 64, 64);
        let mut odd = x.split_off(3);
        assert_eq!(odd.alignment(), 1);
        odd.unsplit(filled(64, 64, 64));
        assert_eq!(odd.alignment(), DEFAULT_ALIGN);
        assert_eq!(odd.len(), 61 + 64);
    }

    #[test]
    fn unsplit_with_empty_sides() {
        let mut a = AlignedBytesMut::new();
        let b = filled(64, 64, 3);
        let p = b.as_ptr();
        a.unsplit(b);
        assert_eq!(a.as_ptr(), p);
        assert_eq!(&a[..], &[0, 1, 2]);
        a.unsplit(AlignedBytesMut::new());
        assert_eq!(&a[..], &[0, 1, 2]);
        assert_eq!(a.capacity(), 64);
    }

    #[test]
    fn freeze_keeps_initialised_part() {
        let b = filled(4096, 4096, 100);
        let p = b.as_ptr();
        let f = b.freeze();
        assert_eq!(f.len(), 100);
        assert_eq!(f.as_ptr(), p);
        assert_eq!(f.alignment(), 4096);
        assert_eq!(f[99], 99);
        let empty = AlignedBytesMut::with_capacity(64).freeze();
        assert!(empty.is_empty());
    }

    #[test]
    fn debug_prints_len_and_head() {
        let b = filled(64, 64, 20);
        let s = format!("{b:?}");
        assert!(s.contains("len: 20"), "{s}");
        assert!(s.contains("capacity: 64"), "{s}");
        assert!(s.contains("00 01 02"), "{s}");
        assert!(s.contains(".."), "{s}");
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AlignedBytesMut>();
        let b = filled(64, 64, 10);
        let h = std::thread::spawn(move || b.len());
        assert_eq!(h.join().unwrap(), 10);
    }
}
