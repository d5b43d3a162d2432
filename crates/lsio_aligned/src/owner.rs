//! The private owner of the memory behind every view: a heap allocation, a pooled allocation
//! or a memory map, kept alive by an `Arc` shared by all views of it.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::{Arc, Weak};

use crate::pool::PoolInner;

/// A uniquely owned heap allocation of `layout.size() > 0` bytes, not necessarily initialised.
///
/// This type never creates references to the memory; views read and write it through raw
/// pointers derived from [`RawBuf::ptr`].
pub(crate) struct RawBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a `RawBuf` is the unique owner of a plain byte allocation, like a `Box<[u8]>`;
// the global allocator may free it from any thread, and `&RawBuf` gives no access to the bytes.
unsafe impl Send for RawBuf {}
// SAFETY: see `Send`: shared references expose nothing but the address and the layout.
unsafe impl Sync for RawBuf {}

impl RawBuf {
    /// Allocates `layout` without initialising it; `None` if the allocator fails.
    ///
    /// # Panics
    /// If `layout.size() == 0`.
    pub(crate) fn alloc(layout: Layout) -> Option<Self> {
        assert!(layout.size() > 0, "RawBuf must not allocate zero bytes");
        // SAFETY: `layout` has a non-zero size, checked just above.
        let ptr = unsafe { alloc::alloc(layout) };
        NonNull::new(ptr).map(|ptr| Self { ptr, layout })
    }

    /// Allocates `layout` filled with zeros; `None` if the allocator fails.
    ///
    /// # Panics
    /// If `layout.size() == 0`.
    pub(crate) fn alloc_zeroed(layout: Layout) -> Option<Self> {
        assert!(layout.size() > 0, "RawBuf must not allocate zero bytes");
        // SAFETY: `layout` has a non-zero size, checked just above.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        NonNull::new(ptr).map(|ptr| Self { ptr, layout })
    }

    /// Start of the allocation, with provenance over all of it.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Size and alignment of the allocation.
    #[inline]
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc`/`alloc_zeroed` with exactly `layout`, and this
        // `RawBuf`, its unique owner, is being dropped, so it is freed exactly once. Views of
        // the memory hold an `Arc<Owner>` that keeps the `RawBuf` alive, so none outlives it.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// What keeps the memory of a family of views alive. Dropped when the last view drops.
pub(crate) enum Owner {
    /// Plain heap memory, freed on drop.
    Heap(RawBuf),
    /// Memory that goes back to its pool on drop (or is freed if the pool is gone or full).
    Pooled {
        /// Always `Some` until `drop` takes it.
        buf: Option<RawBuf>,
        /// Index of the size class in the pool.
        class: usize,
        /// The pool, if it still exists.
        pool: Weak<PoolInner>,
    },
    /// A read-only memory map, unmapped when the last `Arc` to it drops.
    Mmap(#[expect(dead_code, reason = "only held to keep the map alive")] Arc<memmap2::Mmap>),
}

impl Owner {
    /// The writable allocation (start, size in bytes, alignment), or `None` for read-only
    /// memory.
    pub(crate) fn writable_region(&self) -> Option<(NonNull<u8>, usize, usize)> {
        let buf = match self {
            Owner::Heap(buf) => buf,
            Owner::Pooled { buf, .. } => buf.as_ref()?,
            Owner::Mmap(_) => return None,
        };
        Some((buf.ptr(), buf.layout().size(), buf.layout().align()))
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Owner::Pooled { buf, class, pool } = self
            && let Some(buf) = buf.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.put(*class, buf);
        }
        // Otherwise the fields drop normally: the `RawBuf` frees its memory, the `Arc<Mmap>`
        // unmaps when it was the last one.
    }
}
