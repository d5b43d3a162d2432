//! [`AlignedBytes`]: a shared, immutable, cheaply cloneable and sliceable view.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Bound, Deref, Range, RangeBounds};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::owner::Owner;
use crate::{AlignedBytesMut, DEFAULT_ALIGN, DIRECT_IO_ALIGN, Head, Result, align_at_offset};

/// Shared, immutable bytes: `clone` is a reference-count bump and [`slice`](Self::slice) is
/// zero-copy.
///
/// The memory comes from an [`AlignedBytesMut`] (heap or [`BufferPool`](crate::BufferPool))
/// or from a memory map, and is released when the last view of it drops, including
/// `bytes::Bytes` and `arrow_buffer::Buffer` made by [`into_bytes`](Self::into_bytes) /
/// [`into_arrow_buffer`](Self::into_arrow_buffer).
///
/// An empty `AlignedBytes` owns nothing: its pointer is a dangling address of 4096.
#[derive(Clone)]
pub struct AlignedBytes {
    /// Start of the view: valid for reads of `len` initialised bytes that nobody writes while
    /// `owner` lives. Dangling (address [`DIRECT_IO_ALIGN`]) when `len == 0`.
    ptr: NonNull<u8>,
    len: usize,
    /// `None` exactly when `len == 0`.
    owner: Option<Arc<Owner>>,
}

// SAFETY: the bytes are immutable for as long as any view holds the owner, and the
// `Arc<Owner>` is `Send + Sync`: sharing or sending the view is like sharing an `Arc<[u8]>`.
unsafe impl Send for AlignedBytes {}
// SAFETY: see `Send`.
unsafe impl Sync for AlignedBytes {}

impl AlignedBytes {
    /// Empty bytes. Does not allocate.
    pub const fn new() -> Self {
        Self {
            ptr: NonNull::without_provenance(std::num::NonZeroUsize::new(DIRECT_IO_ALIGN).expect("non-zero")),
            len: 0,
            owner: None,
        }
    }

    /// Builds a view; normalises empty views to [`AlignedBytes::new`] (dropping the owner).
    /// The caller guarantees `ptr` is valid for reads of `len` initialised bytes that nobody
    /// writes while `owner` lives.
    pub(crate) fn from_parts(ptr: NonNull<u8>, len: usize, owner: Option<Arc<Owner>>) -> Self {
        if len == 0 {
            return Self::new();
        }
        debug_assert!(owner.is_some());
        Self { ptr, len, owner }
    }

    /// Copies `data` into a fresh buffer aligned to [`DEFAULT_ALIGN`].
    ///
    /// # Panics
    /// Like [`AlignedBytesMut::with_capacity`].
    pub fn copy_from_slice(data: &[u8]) -> Self {
        let mut buf = AlignedBytesMut::with_capacity(data.len());
        buf.extend_from_slice(data);
        buf.freeze()
    }

    /// Copies `data` into a fresh buffer aligned to `align` (a power of two).
    ///
    /// # Errors
    /// As [`AlignedBytesMut::with_capacity_aligned`].
    pub fn copy_from_slice_aligned(data: &[u8], align: usize) -> Result<Self> {
        let mut buf = AlignedBytesMut::with_capacity_aligned(data.len(), align)?;
        buf.extend_from_slice(data);
        Ok(buf.freeze())
    }

    /// Zero-copy view of a whole memory map (page aligned). The map lives until the last view
    /// of it drops.
    pub fn from_mmap(map: memmap2::Mmap) -> Self {
        let len = map.len();
        Self::from_mmap_range(Arc::new(map), 0..len).expect("the whole map is in bounds")
    }

    /// Zero-copy view of `map[range]`; `None` if `range` is out of bounds or decreasing.
    pub fn from_mmap_range(map: Arc<memmap2::Mmap>, range: Range<usize>) -> Option<Self> {
        let bytes: &[u8] = map.get(range)?;
        let ptr = NonNull::from(bytes).cast::<u8>();
        let len = bytes.len();
        Some(Self::from_parts(ptr, len, Some(Arc::new(Owner::Mmap(map)))))
    }

    /// Number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `len() == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the bytes (a dangling, 4096-aligned address when empty).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for reads of `len` initialised bytes kept alive by `owner`
        // and written by nobody while it lives (struct invariant); when `len == 0` it is a
        // non-null aligned dangling pointer, valid for an empty slice.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Zero-copy sub-view, like `bytes::Bytes::slice`.
    ///
    /// # Panics
    /// If the range is decreasing or ends past `len()` (a programmer error; for lengths read
    /// from untrusted input use [`try_slice`](Self::try_slice)).
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        let start = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("range start overflows usize"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("range end overflows usize"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.len,
        };
        assert!(start <= end, "AlignedBytes::slice: range start {start} is greater than range end {end}");
        assert!(end <= self.len, "AlignedBytes::slice: range end {end} is out of bounds for length {}", self.len);
        self.slice_unchecked(start..end)
    }

    /// Zero-copy sub-view; `None` if `range` is decreasing or ends past `len()`.
    pub fn try_slice(&self, range: Range<usize>) -> Option<Self> {
        (range.start <= range.end && range.end <= self.len).then(|| self.slice_unchecked(range))
    }

    /// `range` must be in bounds (checked by the callers).
    fn slice_unchecked(&self, range: Range<usize>) -> Self {
        debug_assert!(range.start <= range.end && range.end <= self.len);
        if range.start == range.end {
            return Self::new();
        }
        // SAFETY: `range.start < range.end <= len`, so the new start lies inside this view.
        let ptr = unsafe { self.ptr.add(range.start) };
        Self::from_parts(ptr, range.end - range.start, self.owner.clone())
    }

    /// The largest power of two, at most 4096 ([`DIRECT_IO_ALIGN`]), that divides
    /// [`as_ptr`](Self::as_ptr); 4096 for empty bytes.
    #[inline]
    pub fn alignment(&self) -> usize {
        if self.len == 0 {
            return DIRECT_IO_ALIGN;
        }
        align_at_offset(DIRECT_IO_ALIGN, self.ptr.as_ptr().addr())
    }

    /// Whether [`as_ptr`](Self::as_ptr) is a multiple of `align` (any `align > 0`; `false` for 0).
    /// Empty bytes are aligned to every alignment up to 4096.
    #[inline]
    pub fn is_aligned_to(&self, align: usize) -> bool {
        align != 0 && self.ptr.as_ptr().addr().is_multiple_of(align)
    }

    /// Zero-copy conversion into `bytes::Bytes`; the memory is released (or returned to its
    /// pool) when the last `Bytes` clone drops.
    pub fn into_bytes(self) -> bytes::Bytes {
        if self.is_empty() {
            return bytes::Bytes::new();
        }
        bytes::Bytes::from_owner(self)
    }

    /// Zero-copy conversion into an Arrow buffer; the memory is released (or returned to its
    /// pool) when the last clone or slice of the `Buffer` drops.
    pub fn into_arrow_buffer(self) -> arrow_buffer::Buffer {
        let Some(owner) = self.owner else {
            // Not `Buffer::from_vec(Vec::new())`: its dangling pointer is only 1-aligned, which
            // typed views (`ScalarBuffer<u64>`) reject even when empty.
            return arrow_buffer::MutableBuffer::new(0).into();
        };
        let allocation: Arc<dyn arrow_buffer::alloc::Allocation> = owner;
        // SAFETY: `ptr` is valid for reads of `len` initialised bytes that nobody writes while
        // the owner lives, and the `Buffer` keeps the owner alive through `allocation`.
        unsafe { arrow_buffer::Buffer::from_custom_allocation(self.ptr, self.len, allocation) }
    }

    /// Turns the bytes back into a writable buffer without copying, if this is the only view
    /// of its allocation (no clones, slices, `Bytes`, `Buffer`s or `AlignedBytesMut` halves
    /// alive) and the memory is heap or pool memory (not a memory map). The result starts at
    /// [`as_ptr`](Self::as_ptr), has `len() == self.len()`, and its capacity runs to the end
    /// of the allocation. Empty bytes give an empty zero-capacity buffer.
    ///
    /// # Errors
    /// Gives `self` back when the conditions do not hold.
    pub fn try_into_mut(mut self) -> Result<AlignedBytesMut, AlignedBytes> {
        let Some(arc) = self.owner.as_mut() else {
            return Ok(AlignedBytesMut::empty(DEFAULT_ALIGN));
        };
        // `get_mut` succeeds only for the unique strong reference (and synchronises with the
        // drops of the others), so no other view can read or write the memory any more.
        let Some((base, size, align)) = Arc::get_mut(arc).and_then(|o| o.writable_region()) else {
            return Err(self);
        };
        let offset = self.ptr.as_ptr().addr() - base.as_ptr().addr();
        let owner = self.owner.take();
        Ok(AlignedBytesMut::from_parts(self.ptr, self.len, size - offset, align_at_offset(align, offset), owner))
    }
}

impl Default for AlignedBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for AlignedBytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for AlignedBytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for AlignedBytes {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<AlignedBytesMut> for AlignedBytes {
    fn from(buf: AlignedBytesMut) -> Self {
        buf.freeze()
    }
}

impl From<Vec<u8>> for AlignedBytes {
    /// Copies into [`DEFAULT_ALIGN`]-aligned memory.
    fn from(v: Vec<u8>) -> Self {
        Self::copy_from_slice(&v)
    }
}

impl From<&[u8]> for AlignedBytes {
    /// Copies into [`DEFAULT_ALIGN`]-aligned memory.
    fn from(s: &[u8]) -> Self {
        Self::copy_from_slice(s)
    }
}

impl<const N: usize> From<&[u8; N]> for AlignedBytes {
    /// Copies into [`DEFAULT_ALIGN`]-aligned memory.
    fn from(s: &[u8; N]) -> Self {
        Self::copy_from_slice(s)
    }
}

impl PartialEq for AlignedBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for AlignedBytes {}

impl PartialEq<[u8]> for AlignedBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for AlignedBytes {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for AlignedBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<AlignedBytes> for [u8] {
    fn eq(&self, other: &AlignedBytes) -> bool {
        self == other.as_slice()
    }
}

impl PartialEq<AlignedBytes> for &[u8] {
    fn eq(&self, other: &AlignedBytes) -> bool {
        *self == other.as_slice()
    }
}

impl PartialEq<AlignedBytes> for Vec<u8> {
    fn eq(&self, other: &AlignedBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Hash for AlignedBytes {
    /// Hashes like `[u8]`, consistent with `Borrow<[u8]>`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBytes")
            .field("len", &self.len)
            .field("alignment", &self.alignment())
            .field("head", &Head(self))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::Write;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn new_and_default_are_empty() {
        for b in [AlignedBytes::new(), AlignedBytes::default()] {
            assert!(b.is_empty());
            assert_eq!(b.len(), 0);
            assert_eq!(b.as_slice(), b"");
            assert_eq!(b.alignment(), 4096);
            assert!(b.is_aligned_to(4096));
            assert!(b.owner.is_none());
            assert_eq!(b.as_ptr() as usize, 4096);
        }
    }

    #[test]
    fn copy_from_slice_aligns() {
        let data = sample(1000);
        let b = AlignedBytes::copy_from_slice(&data);
        assert_eq!(b, data);
        assert!(b.is_aligned_to(DEFAULT_ALIGN));
        assert!(b.alignment() >= DEFAULT_ALIGN);
        let b = AlignedBytes::copy_from_slice_aligned(&data, DIRECT_IO_ALIGN).unwrap();
        assert_eq!(b.as_slice(), &data[..]);
        assert_eq!(b.alignment(), 4096);
        assert!(b.is_aligned_to(4096));
        assert!(AlignedBytes::copy_from_slice_aligned(&data, 3).is_err());
        assert!(AlignedBytes::copy_from_slice_aligned(&[], 3).is_err());
        assert!(AlignedBytes::copy_from_slice_aligned(&[], 8).unwrap().is_empty());
        assert!(AlignedBytes::copy_from_slice(&[]).is_empty());
    }

    #[test]
    fn alignment_is_largest_power_of_two_capped() {
        let b = AlignedBytes::copy_from_slice_aligned(&sample(8192), 8192).unwrap();
        assert_eq!(b.alignment(), 4096); // capped
        assert!(b.is_aligned_to(8192));
        assert_eq!(b.slice(1..).alignment(), 1);
        assert_eq!(b.slice(2..).alignment(), 2);
        assert_eq!(b.slice(64..).alignment(), 64);
        assert_eq!(b.slice(96..).alignment(), 32);
        assert_eq!(b.slice(4096..).alignment(), 4096);
        assert!(b.slice(64..).is_aligned_to(64));
        assert!(!b.slice(64..).is_aligned_to(128));
        assert!(!b.is_aligned_to(0));
        assert_eq!(b.slice(5..5).alignment(), 4096);
    }

    #[test]
    fn slice_variants() {
        let data = sample(100);
        let b = AlignedBytes::from(data.clone());
        assert_eq!(b.slice(..), data);
        assert_eq!(b.slice(10..20), data[10..20]);
        assert_eq!(b.slice(10..=20), data[10..=20]);
        assert_eq!(b.slice(..5), data[..5]);
        assert_eq!(b.slice(95..), data[95..]);
        assert_eq!(b.slice((Bound::Excluded(3), Bound::Unbounded)), data[4..]);
        assert_eq!(b.slice(10..20).slice(2..4), data[12..14]);
        assert_eq!(b.slice(10..20).as_ptr(), b.as_ptr().wrapping_add(10));
        let e = b.slice(100..);
        assert!(e.is_empty());
        assert!(e.owner.is_none());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slice_past_end_panics() {
        let _ = AlignedBytes::from(sample(10)).slice(5..11);
    }

    #[test]
    #[should_panic(expected = "greater than")]
    fn slice_decreasing_panics() {
        #[allow(clippy::reversed_empty_ranges)]
        let _ = AlignedBytes::from(sample(10)).slice(5..4);
    }

    #[test]
    fn try_slice_bounds() {
        let data = sample(10);
        let b = AlignedBytes::from(&data[..]);
        assert_eq!(b.try_slice(2..5).unwrap(), data[2..5]);
        assert_eq!(b.try_slice(0..10).unwrap(), data);
        assert!(b.try_slice(10..10).unwrap().is_empty());
        assert!(b.try_slice(5..11).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let decreasing = 6..5;
        assert!(b.try_slice(decreasing).is_none());
        assert!(b.try_slice(usize::MAX..usize::MAX).is_none());
        assert!(AlignedBytes::new().try_slice(0..0).unwrap().is_empty());
        assert!(AlignedBytes::new().try_slice(0..1).is_none());
    }

    #[test]
    fn clone_shares_memory() {
        let b = AlignedBytes::from(b"shared");
        let c = b.clone();
        assert_eq!(b.as_ptr(), c.as_ptr());
        assert_eq!(Arc::strong_count(b.owner.as_ref().unwrap()), 2);
        drop(b);
        assert_eq!(c, b"shared"[..]);
    }

    #[test]
    fn equality_and_hash() {
        let a = AlignedBytes::from(b"abc");
        let b = AlignedBytes::copy_from_slice_aligned(b"xabc", 4096).unwrap().slice(1..);
        assert_eq!(a, b);
        assert_eq!(a, b"abc"[..]);
        assert_eq!(a, &b"abc"[..]);
        assert_eq!(a, b"abc".to_vec());
        assert_eq!(b"abc"[..], a);
        assert_eq!(&b"abc"[..], a);
        assert_eq!(b"abc".to_vec(), a);
        assert_ne!(a, AlignedBytes::from(b"abd"));
        let mut set = HashSet::new();
        set.insert(a.clone());
        assert!(set.contains(&b"abc"[..]));
        assert!(set.contains(&b));
    }

    #[test]
    fn debug_prints_len_and_head() {
        let s = format!("{:?}", AlignedBytes::from(&[0xde, 0xad, 0xbe, 0xef][..]));
        assert!(s.contains("len: 4"), "{s}");
        assert!(s.contains("de ad be ef"), "{s}");
        let s = format!("{:?}", AlignedBytes::new());
        assert!(s.contains("len: 0"), "{s}");
    }

    #[test]
    fn deref_asref_borrow() {
        let b = AlignedBytes::from(b"hello");
        assert_eq!(&b[1..3], b"el");
        let r: &[u8] = b.as_ref();
        assert_eq!(r, b"hello");
        let r: &[u8] = b.borrow();
        assert_eq!(r, b"hello");
        assert!(b.starts_with(b"he"));
    }

    #[test]
    fn from_mut_is_freeze() {
        let mut m = AlignedBytesMut::with_capacity(16);
        m.extend_from_slice(b"xyz");
        let p = m.as_ptr();
        let b = AlignedBytes::from(m);
        assert_eq!(b.as_ptr(), p);
        assert_eq!(b, b"xyz"[..]);
    }

    #[test]
    fn into_bytes_is_zero_copy() {
        let b = AlignedBytes::copy_from_slice(&sample(300)).slice(10..200);
        let p = b.as_ptr();
        let bytes = b.into_bytes();
        assert_eq!(bytes.as_ptr(), p);
        assert_eq!(&bytes[..], &sample(300)[10..200]);
        let sub = bytes.slice(5..10);
        drop(bytes);
        assert_eq!(&sub[..], &sample(300)[15..20]);
        assert!(AlignedBytes::new().into_bytes().is_empty());
    }

    #[test]
    fn into_arrow_buffer_is_zero_copy() {
        let b = AlignedBytes::copy_from_slice_aligned(&sample(256), 64).unwrap();
        let p = b.as_ptr();
        let buf = b.into_arrow_buffer();
        assert_eq!(buf.as_ptr(), p);
        assert_eq!(buf.as_slice(), &sample(256)[..]);
        let sliced = buf.slice(64);
        drop(buf);
        assert_eq!(sliced.as_slice(), &sample(256)[64..]);
        // Aligned memory is usable as typed Arrow data.
        let ints = arrow_buffer::ScalarBuffer::<u64>::new(sliced, 0, 24);
        assert_eq!(ints.len(), 24);

        let empty = AlignedBytes::new().into_arrow_buffer();
        assert!(empty.is_empty());
        let _ = arrow_buffer::ScalarBuffer::<u64>::new(empty, 0, 0);
    }

    #[test]
    fn try_into_mut_unique() {
        let mut m = AlignedBytesMut::with_capacity_aligned(256, 64).unwrap();
        m.extend_from_slice(&sample(100));
        let p = m.as_ptr();
        let b = m.freeze();
        let c = b.clone();
        let b = b.try_into_mut().unwrap_err();
        drop(c);
        let mut m = b.try_into_mut().unwrap();
        assert_eq!(m.as_ptr(), p);
        assert_eq!(m.capacity(), 256);
        assert_eq!(m.alignment(), 64);
        assert_eq!(&m[..], &sample(100)[..]);
        m.extend_from_slice(b"more");
        assert_eq!(m.len(), 104);

        // A slice that is the unique view: capacity runs to the end of the allocation.
        let s = m.freeze().slice(3..10);
        let m = s.try_into_mut().unwrap();
        assert_eq!(m.len(), 7);
        assert_eq!(m.capacity(), 253);
        assert_eq!(m.alignment(), 1);
        assert_eq!(&m[..], &sample(100)[3..10]);

        // Not unique while a Mut half or a Bytes is alive.
        let mut m = AlignedBytesMut::with_capacity(128);
        m.extend_from_slice(b"abcdef");
        let tail = m.split_off(64);
        let b = m.freeze().try_into_mut().unwrap_err();
        drop(tail);
        assert!(b.try_into_mut().is_ok());

        assert_eq!(AlignedBytes::new().try_into_mut().unwrap().capacity(), 0);
    }

    #[test]
    fn mmap_views() {
        let mut f = tempfile::tempfile().unwrap();
        let data = sample(10_000);
        f.write_all(&data).unwrap();
        // SAFETY: the temporary file is private to this test and not modified while mapped.
        let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        let b = AlignedBytes::from_mmap(map);
        assert_eq!(b, data);
        assert_eq!(b.alignment(), 4096);
        let s = b.slice(4096..5000);
        assert_eq!(s.alignment(), 4096);
        assert_eq!(s, data[4096..5000]);
        drop(b);
        // The slice keeps the map alive.
        assert_eq!(s, data[4096..5000]);
        // Read-only memory never becomes mutable.
        let s = s.try_into_mut().unwrap_err();
        assert_eq!(s.len(), 904);
        let arrow = s.clone().into_arrow_buffer();
        let bytes = s.into_bytes();
        assert_eq!(&bytes[..], &data[4096..5000]);
        assert_eq!(arrow.as_slice(), &data[4096..5000]);

        // SAFETY: as above.
        let map = Arc::new(unsafe { memmap2::Mmap::map(&f) }.unwrap());
        let r = AlignedBytes::from_mmap_range(map.clone(), 100..200).unwrap();
        assert_eq!(r, data[100..200]);
        assert!(AlignedBytes::from_mmap_range(map.clone(), 0..10_001).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let decreasing = 20..10;
        assert!(AlignedBytes::from_mmap_range(map.clone(), decreasing).is_none());
        assert!(AlignedBytes::from_mmap_range(map.clone(), 10_000..10_000).unwrap().is_empty());
        drop(map);
        assert_eq!(r, data[100..200]);
    }

    #[test]
    fn empty_mmap() {
        let f = tempfile::tempfile().unwrap();
        // SAFETY: the temporary file is private to this test and not modified while mapped.
        let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        let b = AlignedBytes::from_mmap(map);
        assert!(b.is_empty());
        assert_eq!(b.alignment(), 4096);
    }

    #[test]
    fn send_sync_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AlignedBytes>();
        let b = AlignedBytes::from(sample(1000));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = b.slice(i * 100..(i + 1) * 100);
                std::thread::spawn(move || s.iter().map(|&x| u64::from(x)).sum::<u64>())
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let expect: u64 = sample(1000)[i * 100..(i + 1) * 100].iter().map(|&x| u64::from(x)).sum();
            assert_eq!(h.join().unwrap(), expect);
        }
    }
}
