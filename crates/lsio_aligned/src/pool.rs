//! [`BufferPool`]: a bounded, thread-safe pool that recycles aligned allocations by size class.

use std::alloc::{Layout, handle_alloc_error};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::owner::{Owner, RawBuf};
use crate::{AlignedBytesMut, DEFAULT_ALIGN, Error, Result};

/// Configuration of a [`BufferPool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Alignment of every pooled buffer (a power of two). Default [`DEFAULT_ALIGN`].
    pub alignment: usize,
    /// Capacities handed out, strictly ascending, each a non-zero multiple of `alignment`.
    /// Default: the powers of two from 4 KiB to 16 MiB.
    pub size_classes: Vec<usize>,
    /// At most this many bytes are kept idle in the pool (over all classes); buffers returned
    /// beyond that are freed. Default 256 MiB.
    pub max_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            alignment: DEFAULT_ALIGN,
            size_classes: (12..=24).map(|shift| 1usize << shift).collect(),
            max_bytes: 256 << 20,
        }
    }
}

impl PoolConfig {
    /// Checks the invariants documented on the fields.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`], [`Error::NoSizeClasses`], [`Error::InvalidSizeClass`],
    /// [`Error::SizeClassesNotAscending`] or [`Error::CapacityOverflow`].
    pub fn validate(&self) -> Result<()> {
        let align = self.alignment;
        if !align.is_power_of_two() {
            return Err(Error::InvalidAlignment { align });
        }
        if self.size_classes.is_empty() {
            return Err(Error::NoSizeClasses);
        }
        for &size in &self.size_classes {
            if size == 0 || !size.is_multiple_of(align) {
                return Err(Error::InvalidSizeClass { size, align });
            }
            Layout::from_size_align(size, align).map_err(|_| Error::CapacityOverflow { capacity: size, align })?;
        }
        for pair in self.size_classes.windows(2) {
            if pair[1] <= pair[0] {
                return Err(Error::SizeClassesNotAscending { previous: pair[0], next: pair[1] });
            }
        }
        Ok(())
    }
}

/// Counters of a [`BufferPool`], as returned by [`BufferPool::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// `get` calls served from an idle buffer.
    pub hits: u64,
    /// `get` calls that allocated a new buffer of a size class.
    pub misses: u64,
    /// `get` calls larger than the largest class, served by a plain (never pooled) allocation.
    pub oversize: u64,
    /// Buffers that came back to the pool and were kept idle.
    pub returned: u64,
    /// Buffers that came back while the pool was full (`max_bytes`) and were freed.
    pub discarded: u64,
    /// Bytes currently kept idle.
    pub idle_bytes: u64,
}

/// Bounded, thread-safe recycling pool of aligned buffers, by size class.
///
/// [`get`](Self::get) hands out an [`AlignedBytesMut`] whose memory goes back to the pool when
/// the last view of it drops: the buffer, its split halves, the frozen
/// [`AlignedBytes`](crate::AlignedBytes) and its slices, or the `bytes::Bytes` /
/// `arrow_buffer::Buffer` made from them. If the pool is dropped first, the memory is simply
/// freed then. Recycled memory is never zeroed and comes back with `len() == 0`.
///
/// Cloning is cheap: clones are handles to the same pool.
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<PoolInner>,
}

/// The shared state of a pool. Pooled owners hold a `Weak` to it.
pub(crate) struct PoolInner {
    config: PoolConfig,
    /// One short critical section per `get` / return: cheaper than a lock per class plus
    /// atomic counters (fewer atomic read-modify-writes), and `max_bytes` spans all classes.
    state: Mutex<PoolState>,
    /// Outside the lock: oversize requests never touch the free lists.
    oversize: AtomicU64,
}

/// Everything behind the pool's lock.
struct PoolState {
    /// Idle buffers per size class (LIFO, for cache warmth).
    free: Box<[Vec<RawBuf>]>,
    /// Sum of the sizes of the buffers in `free`.
    idle_bytes: usize,
    hits: u64,
    misses: u64,
    returned: u64,
    discarded: u64,
}

impl PoolInner {
    /// Locks the state. A panic cannot happen while the lock is held (only `Vec` push/pop and
    /// integer updates run under it), but tolerate poisoning anyway: the state stays valid.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes back the memory of a pooled buffer whose last view dropped.
    pub(crate) fn put(&self, class: usize, buf: RawBuf) {
        let size = buf.layout().size();
        let mut state = self.lock();
        if state.idle_bytes.saturating_add(size) > self.config.max_bytes {
            state.discarded += 1;
            drop(state);
            drop(buf); // free outside the lock
        } else {
            state.idle_bytes += size;
            state.returned += 1;
            state.free[class].push(buf);
        }
    }
}

impl BufferPool {
    /// A pool with `config`.
    ///
    /// # Errors
    /// If the configuration is invalid, see [`PoolConfig::validate`].
    pub fn new(config: PoolConfig) -> Result<Self> {
        config.validate()?;
        let free = config.size_classes.iter().map(|_| Vec::new()).collect();
        Ok(Self {
            inner: Arc::new(PoolInner {
                config,
                state: Mutex::new(PoolState { free, idle_bytes: 0, hits: 0, misses: 0, returned: 0, discarded: 0 }),
                oversize: AtomicU64::new(0),
            }),
        })
    }

    /// An empty buffer (`len() == 0`, contents not zeroed) whose capacity is exactly the
    /// smallest size class `>= len`, aligned to [`PoolConfig::alignment`]. Requests larger
    /// than the largest class get a plain heap buffer of `len` rounded up to the alignment
    /// (counted as `oversize`, freed rather than pooled when dropped).
    ///
    /// # Panics
    /// Aborts through [`handle_alloc_error`] if the allocator fails, like `Vec`.
    pub fn get(&self, len: usize) -> AlignedBytesMut {
        let inner = &*self.inner;
        let align = inner.config.alignment;
        let classes = &inner.config.size_classes;
        let class = classes.partition_point(|&size| size < len);
        let Some(&size) = classes.get(class) else {
            inner.oversize.fetch_add(1, Ordering::Relaxed);
            return match AlignedBytesMut::with_capacity_aligned(len, align) {
                Ok(buf) => buf,
                Err(Error::AllocationFailed { size, align }) => {
                    handle_alloc_error(Layout::from_size_align(size, align).expect("layout was valid"))
                }
                Err(e) => panic!("BufferPool::get({len}): {e}"),
            };
        };
        let recycled = {
            let mut state = inner.lock();
            let buf = state.free[class].pop();
            if buf.is_some() {
                state.idle_bytes -= size;
                state.hits += 1;
            } else {
                state.misses += 1;
            }
            buf
        };
        let buf = recycled.unwrap_or_else(|| {
            // Allocate outside the lock.
            let layout = Layout::from_size_align(size, align).expect("validated in new");
            RawBuf::alloc(layout).unwrap_or_else(|| handle_alloc_error(layout))
        });
        let owner = Owner::Pooled { buf: Some(buf), class, pool: Arc::downgrade(&self.inner) };
        AlignedBytesMut::from_owner(owner, align)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        let inner = &*self.inner;
        let state = inner.lock();
        PoolStats {
            hits: state.hits,
            misses: state.misses,
            oversize: inner.oversize.load(Ordering::Relaxed),
            returned: state.returned,
            discarded: state.discarded,
            idle_bytes: state.idle_bytes as u64,
        }
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }
}

impl Default for BufferPool {
    /// A pool with [`PoolConfig::default`].
    fn default() -> Self {
        Self::new(PoolConfig::default()).expect("the default configuration is valid")
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool").field("config", &self.inner.config).field("stats", &self.stats()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlignedBytes, DIRECT_IO_ALIGN};

    fn small_pool(max_bytes: usize) -> BufferPool {
        BufferPool::new(PoolConfig { alignment: 64, size_classes: vec![64, 256, 1024], max_bytes }).unwrap()
    }

    #[test]
    fn default_config() {
        let c = PoolConfig::default();
        assert_eq!(c.alignment, 64);
        assert_eq!(c.size_classes.first(), Some(&4096));
        assert_eq!(c.size_classes.last(), Some(&(16 << 20)));
        assert_eq!(c.size_classes.len(), 13);
        assert_eq!(c.max_bytes, 256 << 20);
        let pool = BufferPool::default();
        assert_eq!(pool.config(), &c);
        assert_eq!(pool.stats(), PoolStats::default());
        assert!(format!("{pool:?}").contains("BufferPool"));
    }

    #[test]
    fn invalid_configs() {
        let ok = PoolConfig::default();
        let bad = |f: &dyn Fn(&mut PoolConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            BufferPool::new(c).unwrap_err()
        };
        assert_eq!(bad(&|c| c.alignment = 48), Error::InvalidAlignment { align: 48 });
        assert_eq!(bad(&|c| c.size_classes.clear()), Error::NoSizeClasses);
        assert_eq!(
            bad(&|c| c.size_classes = vec![4096, 4096]),
            Error::SizeClassesNotAscending { previous: 4096, next: 4096 }
        );
        assert_eq!(
            bad(&|c| c.size_classes = vec![8192, 4096]),
            Error::SizeClassesNotAscending { previous: 8192, next: 4096 }
        );
        assert_eq!(bad(&|c| c.size_classes = vec![0, 4096]), Error::InvalidSizeClass { size: 0, align: 64 });
        assert_eq!(bad(&|c| c.size_classes = vec![100]), Error::InvalidSizeClass { size: 100, align: 64 });
        let e = bad(&|c| c.size_classes = vec![1 << 63]);
        assert!(matches!(e, Error::CapacityOverflow { .. }), "{e}");
        assert!(bad(&|c| c.size_classes = vec![100]).to_string().contains("100"));
    }

    #[test]
    fn get_picks_smallest_fitting_class() {
        let pool = small_pool(1 << 20);
        for (len, cap) in [(0, 64), (1, 64), (64, 64), (65, 256), (256, 256), (1000, 1024)] {
            let b = pool.get(len);
            assert_eq!(b.capacity(), cap, "len {len}");
            assert_eq!(b.len(), 0);
            assert_eq!(b.alignment(), 64);
            assert_eq!(b.as_ptr() as usize % 64, 0);
        }
        let s = pool.stats();
        // Each buffer drops at the end of its iteration: 64, 256 and 1024 are allocated once.
        assert_eq!(s.misses, 3);
        assert_eq!(s.hits, 3);
        assert_eq!(s.returned, 6);
    }

    #[test]
    fn hit_miss_return_counters() {
        let pool = small_pool(1 << 20);
        let a = pool.get(100);
        let p = a.as_ptr();
        assert_eq!(pool.stats(), PoolStats { misses: 1, ..PoolStats::default() });
        drop(a);
        assert_eq!(pool.stats().returned, 1);
        assert_eq!(pool.stats().idle_bytes, 256);
        let mut b = pool.get(200);
        assert_eq!(b.as_ptr(), p, "LIFO reuse of the same memory");
        assert_eq!(b.len(), 0, "recycled buffers come back empty");
        assert_eq!(pool.stats().hits, 1);
        assert_eq!(pool.stats().idle_bytes, 0);
        b.extend_from_slice(&[1; 256]);
        drop(b);
        let c = pool.get(256);
        assert!(c.is_empty());
        let s = pool.stats();
        assert_eq!(s, PoolStats { hits: 2, misses: 1, oversize: 0, returned: 2, discarded: 0, idle_bytes: 0 });
    }

    #[test]
    fn oversize_is_not_pooled() {
        let pool = small_pool(1 << 20);
        let b = pool.get(1025);
        assert_eq!(b.capacity(), 1088);
        assert_eq!(b.alignment(), 64);
        drop(b);
        let s = pool.stats();
        assert_eq!(s.oversize, 1);
        assert_eq!(s.returned, 0);
        assert_eq!(s.misses, 0);
        assert_eq!(s.idle_bytes, 0);
    }

    #[test]
    fn discard_when_full() {
        let pool = small_pool(1024 + 256);
        let bufs: Vec<_> = [1024, 256, 64, 64].iter().map(|&n| pool.get(n)).collect();
        drop(bufs);
        let s = pool.stats();
        assert_eq!(s.returned, 2);
        assert_eq!(s.discarded, 2);
        assert_eq!(s.idle_bytes, 1024 + 256);
        // A pool that keeps nothing.
        let pool = small_pool(0);
        drop(pool.get(10));
        assert_eq!(pool.stats().discarded, 1);
        assert_eq!(pool.stats().idle_bytes, 0);
    }

    #[test]
    fn returned_when_last_slice_drops() {
        let pool = small_pool(1 << 20);
        let mut m = pool.get(1024);
        m.extend_from_slice(&[9; 1000]);
        let tail = m.split_off(512);
        let head = m.split_to(100);
        let frozen = m.freeze();
        let s1 = frozen.slice(10..20);
        let s2 = frozen.slice(300..);
        drop(frozen);
        drop(head);
        drop(tail);
        drop(s1);
        assert_eq!(pool.stats().returned, 0);
        drop(s2);
        assert_eq!(pool.stats().returned, 1);
        assert_eq!(pool.stats().idle_bytes, 1024);
    }

    #[test]
    fn returned_when_bytes_drops() {
        let pool = small_pool(1 << 20);
        let mut m = pool.get(64);
        m.extend_from_slice(b"payload");
        let bytes = m.freeze().into_bytes();
        let sub = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(pool.stats().returned, 0);
        assert_eq!(&sub[..], b"ay");
        drop(sub);
        assert_eq!(pool.stats().returned, 1);
    }

    #[test]
    fn returned_when_arrow_buffer_drops() {
        let pool = small_pool(1 << 20);
        let mut m = pool.get(256);
        m.extend_from_slice(&[5; 200]);
        let buf = m.freeze().into_arrow_buffer();
        let sliced = buf.slice(64);
        drop(buf);
        assert_eq!(pool.stats().returned, 0);
        assert_eq!(sliced.len(), 136);
        drop(sliced);
        assert_eq!(pool.stats().returned, 1);
    }

    #[test]
    fn empty_freeze_returns_immediately() {
        let pool = small_pool(1 << 20);
        let frozen = pool.get(10).freeze();
        assert!(frozen.is_empty());
        assert_eq!(pool.stats().returned, 1);
    }

    #[test]
    fn try_into_mut_keeps_pool_membership() {
        let pool = small_pool(1 << 20);
        let mut m = pool.get(64);
        m.extend_from_slice(b"abc");
        let m = m.freeze().try_into_mut().unwrap();
        assert_eq!(m.capacity(), 64);
        drop(m);
        assert_eq!(pool.stats().returned, 1);
    }

    #[test]
    fn pool_dropped_before_buffers() {
        let pool = small_pool(1 << 20);
        let mut m = pool.get(256);
        m.extend_from_slice(b"outlives the pool");
        let frozen = m.freeze();
        let bytes = frozen.clone().into_bytes();
        let clone = pool.clone();
        drop(pool);
        drop(clone);
        assert_eq!(frozen, b"outlives the pool"[..]);
        drop(frozen);
        assert_eq!(&bytes[..], b"outlives the pool");
        drop(bytes); // freed, not returned (valgrind checks for leaks)
    }

    #[test]
    fn idle_buffers_freed_with_pool() {
        let pool = small_pool(1 << 20);
        let bufs: Vec<_> = (0..10).map(|i| pool.get(i * 100)).collect();
        drop(bufs);
        assert_eq!(pool.stats().returned, 10);
        drop(pool); // valgrind checks these are freed
    }

    #[test]
    fn direct_io_pool() {
        let pool = BufferPool::new(PoolConfig {
            alignment: DIRECT_IO_ALIGN,
            size_classes: vec![4096, 1 << 20],
            max_bytes: 8 << 20,
        })
        .unwrap();
        let b = pool.get(5000);
        assert_eq!(b.capacity(), 1 << 20);
        assert_eq!(b.alignment(), 4096);
        assert_eq!(b.as_ptr() as usize % 4096, 0);
        let f: AlignedBytes = {
            let mut b = b;
            b.extend_from_slice(&[1; 4096]);
            b.freeze()
        };
        assert_eq!(f.alignment(), 4096);
    }

    #[test]
    fn threads_hammer_the_pool() {
        let pool = small_pool(4 * 1024);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut keep = Vec::new();
                    for i in 0..500usize {
                        let len = (i * 37 + t * 11) % 1100;
                        let mut b = pool.get(len);
                        let fill = (i % 251) as u8;
                        let n = len.min(b.capacity());
                        b.extend_from_slice(&vec![fill; n]);
                        assert!(b.iter().all(|&x| x == fill));
                        let f = b.freeze();
                        if i % 3 == 0 {
                            keep.push(f.slice(..n / 2));
                        }
                        if keep.len() > 8 {
                            keep.remove(0);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = pool.stats();
        let pooled = s.hits + s.misses;
        assert_eq!(pooled + s.oversize, 2000);
        assert_eq!(s.returned + s.discarded, pooled);
        assert!(s.idle_bytes <= 4 * 1024);
        assert!(s.hits > 0);
    }
}
