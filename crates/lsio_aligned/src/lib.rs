//! Aligned, reference-counted, zero-copy sliceable byte buffers and a recycling buffer pool.
#![doc = include_str!("../README.md")]

mod frozen;
mod mutable;
mod owner;
mod pool;

pub use frozen::AlignedBytes;
pub use mutable::AlignedBytesMut;
pub use pool::{BufferPool, PoolConfig, PoolStats};

/// Default alignment of every buffer: enough for AVX-512 loads and what Apache Arrow recommends.
pub const DEFAULT_ALIGN: usize = 64;

/// Alignment (of the start address and of the length) required by `O_DIRECT` I/O on common
/// Linux file systems and devices.
pub const DIRECT_IO_ALIGN: usize = 4096;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// Allocation failure in the infallible constructors ([`AlignedBytesMut::with_capacity`],
/// [`BufferPool::get`], ...) is not an `Error`: like `Vec`, they abort through
/// [`std::alloc::handle_alloc_error`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The requested alignment is not a power of two (zero included).
    #[error("alignment {align} is not a power of two")]
    InvalidAlignment {
        /// The rejected alignment.
        align: usize,
    },
    /// The capacity, rounded up to a multiple of the alignment, does not fit in `isize::MAX`.
    #[error("capacity {capacity} rounded up to a multiple of alignment {align} overflows isize::MAX")]
    CapacityOverflow {
        /// The requested capacity.
        capacity: usize,
        /// The requested alignment.
        align: usize,
    },
    /// The global allocator returned null.
    #[error("failed to allocate {size} bytes aligned to {align}")]
    AllocationFailed {
        /// The size that was asked of the allocator.
        size: usize,
        /// The alignment that was asked of the allocator.
        align: usize,
    },
    /// A [`PoolConfig`] without any size class.
    #[error("a buffer pool needs at least one size class")]
    NoSizeClasses,
    /// A [`PoolConfig`] size class that is zero or not a multiple of the pool alignment.
    #[error("size class {size} is not a non-zero multiple of the pool alignment {align}")]
    InvalidSizeClass {
        /// The rejected size class.
        size: usize,
        /// The pool alignment.
        align: usize,
    },
    /// [`PoolConfig::size_classes`] is not strictly ascending.
    #[error("size classes must be strictly ascending, but {next} follows {previous}")]
    SizeClassesNotAscending {
        /// The earlier class.
        previous: usize,
        /// The class that follows it and is not larger.
        next: usize,
    },
}

/// A well-aligned dangling pointer for views that own no memory: its address is `align`.
///
/// Reads and writes of zero bytes through it are valid, and it satisfies any alignment
/// up to `align`.
#[inline]
fn dangling(align: usize) -> std::ptr::NonNull<u8> {
    debug_assert!(align.is_power_of_two());
    std::ptr::NonNull::without_provenance(
        std::num::NonZeroUsize::new(align).expect("alignment is a power of two, hence non-zero"),
    )
}

/// The alignment that a pointer `offset` bytes past an `align`-aligned pointer is guaranteed
/// to have.
#[inline]
fn align_at_offset(align: usize, offset: usize) -> usize {
    if offset == 0 { align } else { align.min(1 << offset.trailing_zeros()) }
}

/// Formats the first bytes of a buffer as hex for `Debug` impls.
struct Head<'a>(&'a [u8]);

impl std::fmt::Debug for Head<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 16;
        f.write_str("[")?;
        for (i, b) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > SHOWN {
            f.write_str(" ..")?;
        }
        f.write_str("]")
    }
}
