//! Property test: random sequences of buffer operations checked against a `Vec<u8>` model.
//!
//! The number of cases follows proptest's defaults, so `PROPTEST_CASES=N` overrides it (use a
//! small N under valgrind).

use arrow_buffer::Buffer;
use lsio_aligned::{AlignedBytes, AlignedBytesMut, BufferPool, PoolConfig};
use proptest::prelude::*;
use proptest::sample::Index;

const ALIGNS: [usize; 5] = [1, 8, 64, 512, 4096];
const MAX_BYTES: usize = 2048;

#[derive(Debug, Clone)]
enum Op {
    NewHeap { cap: usize, align: Index },
    NewZeroed { len: usize, align: Index },
    NewPooled { len: usize },
    Extend { i: Index, n: usize },
    WriteSpare { i: Index, n: usize },
    SplitTo { i: Index, at: Index },
    SplitOff { i: Index, at: Index },
    Unsplit { i: Index, j: Index },
    Truncate { i: Index, len: usize },
    Clear { i: Index },
    Freeze { i: Index },
    Slice { k: Index, a: Index, b: Index },
    TrySlice { k: Index, a: usize, b: usize },
    Clone { k: Index },
    IntoBytes { k: Index },
    IntoArrow { k: Index },
    TryIntoMut { k: Index },
    DropMut { i: Index },
    DropFrozen { k: Index },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..300usize, any::<Index>()).prop_map(|(cap, align)| Op::NewHeap { cap, align }),
        (0..300usize, any::<Index>()).prop_map(|(len, align)| Op::NewZeroed { len, align }),
        (0..1200usize).prop_map(|len| Op::NewPooled { len }),
        (any::<Index>(), 0..200usize).prop_map(|(i, n)| Op::Extend { i, n }),
        (any::<Index>(), 0..200usize).prop_map(|(i, n)| Op::WriteSpare { i, n }),
        (any::<Index>(), any::<Index>()).prop_map(|(i, at)| Op::SplitTo { i, at }),
        (any::<Index>(), any::<Index>()).prop_map(|(i, at)| Op::SplitOff { i, at }),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Op::Unsplit { i, j }),
        (any::<Index>(), 0..300usize).prop_map(|(i, len)| Op::Truncate { i, len }),
        any::<Index>().prop_map(|i| Op::Clear { i }),
        any::<Index>().prop_map(|i| Op::Freeze { i }),
        (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(k, a, b)| Op::Slice { k, a, b }),
        (any::<Index>(), 0..400usize, 0..400usize).prop_map(|(k, a, b)| Op::TrySlice { k, a, b }),
        any::<Index>().prop_map(|k| Op::Clone { k }),
        any::<Index>().prop_map(|k| Op::IntoBytes { k }),
        any::<Index>().prop_map(|k| Op::IntoArrow { k }),
        any::<Index>().prop_map(|k| Op::TryIntoMut { k }),
        any::<Index>().prop_map(|i| Op::DropMut { i }),
        any::<Index>().prop_map(|k| Op::DropFrozen { k }),
    ]
}

struct MutModel {
    buf: AlignedBytesMut,
    data: Vec<u8>,
    cap: usize,
}

enum Frozen {
    Aligned(AlignedBytes),
    Bytes(bytes::Bytes),
    Arrow(Buffer),
}

impl Frozen {
    fn as_slice(&self) -> &[u8] {
        match self {
            Frozen::Aligned(b) => b.as_slice(),
            Frozen::Bytes(b) => b,
            Frozen::Arrow(b) => b.as_slice(),
        }
    }

    fn slice(&self, a: usize, b: usize) -> Frozen {
        match self {
            Frozen::Aligned(x) => Frozen::Aligned(x.slice(a..b)),
            Frozen::Bytes(x) => Frozen::Bytes(x.slice(a..b)),
            Frozen::Arrow(x) => Frozen::Arrow(x.slice_with_length(a, b - a)),
        }
    }

    fn clone_view(&self) -> Frozen {
        match self {
            Frozen::Aligned(x) => Frozen::Aligned(x.clone()),
            Frozen::Bytes(x) => Frozen::Bytes(x.clone()),
            Frozen::Arrow(x) => Frozen::Arrow(x.clone()),
        }
    }
}

struct World {
    pool: BufferPool,
    pooled_gets: u64,
    oversize_gets: u64,
    muts: Vec<MutModel>,
    frozen: Vec<(Frozen, Vec<u8>)>,
    counter: u8,
}

impl World {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let start = self.counter;
        self.counter = self.counter.wrapping_add(97);
        (0..n).map(|x| start.wrapping_add(x as u8)).collect()
    }

    fn check(&self) {
        for m in &self.muts {
            assert_eq!(m.buf.len(), m.data.len());
            assert_eq!(&m.buf[..], &m.data[..]);
            assert_eq!(m.buf.capacity(), m.cap);
            assert_eq!(m.buf.remaining_capacity(), m.cap - m.data.len());
            let align = m.buf.alignment();
            assert!(align.is_power_of_two());
            assert_eq!(m.buf.as_ptr() as usize % align, 0, "{:?}", m.buf);
        }
        for (f, data) in &self.frozen {
            assert_eq!(f.as_slice(), &data[..]);
            if let Frozen::Aligned(b) = f {
                assert_eq!(b.len(), data.len());
                assert_eq!(b.is_empty(), data.is_empty());
                let align = b.alignment();
                assert!(align.is_power_of_two() && align <= 4096);
                assert!(b.is_aligned_to(align));
                if b.is_empty() {
                    assert_eq!(align, 4096);
                } else if align < 4096 {
                    assert!(!b.is_aligned_to(align * 2), "alignment is the largest");
                }
            }
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::NewHeap { cap, align } => {
                let align = *align.get(&ALIGNS);
                let buf = AlignedBytesMut::with_capacity_aligned(cap, align).unwrap();
                assert_eq!(buf.alignment(), align);
                let cap = cap.next_multiple_of(align);
                self.muts.push(MutModel { buf, data: Vec::new(), cap });
            }
            Op::NewZeroed { len, align } => {
                let align = *align.get(&ALIGNS);
                let buf = AlignedBytesMut::zeroed(len, align).unwrap();
                self.muts.push(MutModel { buf, data: vec![0; len], cap: len.next_multiple_of(align) });
            }
            Op::NewPooled { len } => {
                let buf = self.pool.get(len);
                let classes = &self.pool.config().size_classes;
                let cap = match classes.iter().find(|&&c| c >= len) {
                    Some(&c) => {
                        self.pooled_gets += 1;
                        c
                    }
                    None => {
                        self.oversize_gets += 1;
                        len.next_multiple_of(64)
                    }
                };
                assert_eq!(buf.alignment(), 64);
                self.muts.push(MutModel { buf, data: Vec::new(), cap });
            }
            Op::Extend { i, n } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                let n = n.min(self.muts[i].cap - self.muts[i].data.len());
                let bytes = self.bytes(n);
                let m = &mut self.muts[i];
                m.buf.extend_from_slice(&bytes);
                m.data.extend_from_slice(&bytes);
            }
            Op::WriteSpare { i, n } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                let n = n.min(self.muts[i].cap - self.muts[i].data.len());
                let bytes = self.bytes(n);
                let m = &mut self.muts[i];
                let spare = m.buf.spare_capacity_mut();
                assert_eq!(spare.len(), m.cap - m.data.len());
                for (dst, &src) in spare.iter_mut().zip(&bytes) {
                    dst.write(src);
                }
                let len = m.buf.len() + n;
                // SAFETY: the `n` bytes after the old length were just written.
                unsafe { m.buf.set_len(len) };
                m.data.extend_from_slice(&bytes);
            }
            Op::SplitTo { i, at } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                let m = &mut self.muts[i];
                let at = at.index(m.data.len() + 1);
                let base = m.buf.as_ptr();
                let head = m.buf.split_to(at);
                assert_eq!(head.as_ptr(), base);
                assert_eq!(m.buf.as_ptr(), base.wrapping_add(at));
                let head_data = m.data.drain(..at).collect();
                m.cap -= at;
                self.muts.push(MutModel { buf: head, data: head_data, cap: at });
            }
            Op::SplitOff { i, at } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                let m = &mut self.muts[i];
                let at = at.index(m.cap + 1);
                let base = m.buf.as_ptr();
                let tail = m.buf.split_off(at);
                assert_eq!(tail.as_ptr(), base.wrapping_add(at));
                let tail_data = m.data.split_off(at.min(m.data.len()));
                let tail_cap = m.cap - at;
                m.cap = at;
                self.muts.push(MutModel { buf: tail, data: tail_data, cap: tail_cap });
            }
            Op::Unsplit { i, j } => {
                if self.muts.len() < 2 {
                    return;
                }
                let i = i.index(self.muts.len());
                let mut j = j.index(self.muts.len() - 1);
                if j >= i {
                    j += 1;
                }
                let other = self.muts.remove(j);
                let i = if j < i { i - 1 } else { i };
                let m = &mut self.muts[i];
                let (ptr, cap, len) = (m.buf.as_ptr(), m.cap, m.data.len());
                let (optr, ocap) = (other.buf.as_ptr(), other.cap);
                let full_and_contiguous = cap > 0 && len == cap && ptr.wrapping_add(cap) == optr;
                m.buf.unsplit(other.buf);
                m.data.extend_from_slice(&other.data);
                if cap == 0 {
                    assert_eq!(m.buf.as_ptr(), optr);
                    m.cap = ocap;
                } else if full_and_contiguous {
                    assert_eq!(m.buf.as_ptr(), ptr, "O(1) unsplit keeps the address");
                    m.cap = cap + ocap;
                } else if other.data.len() <= cap - len {
                    assert_eq!(m.buf.as_ptr(), ptr, "copy into spare capacity");
                } else {
                    // Reallocated: at least the data, rounded to the alignment.
                    assert!(m.buf.capacity() >= m.data.len());
                    assert!(m.buf.alignment() >= 64);
                    m.cap = m.buf.capacity();
                }
            }
            Op::Truncate { i, len } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                self.muts[i].buf.truncate(len);
                self.muts[i].data.truncate(len);
            }
            Op::Clear { i } => {
                if self.muts.is_empty() {
                    return;
                }
                let i = i.index(self.muts.len());
                self.muts[i].buf.clear();
                self.muts[i].data.clear();
            }
            Op::Freeze { i } => {
                if self.muts.is_empty() {
                    return;
                }
                let m = self.muts.swap_remove(i.index(self.muts.len()));
                let ptr = m.buf.as_ptr();
                let f = m.buf.freeze();
                if !f.is_empty() {
                    assert_eq!(f.as_ptr(), ptr, "freeze is zero-copy");
                }
                self.frozen.push((Frozen::Aligned(f), m.data));
            }
            Op::Slice { k, a, b } => {
                if self.frozen.is_empty() {
                    return;
                }
                let (f, data) = &self.frozen[k.index(self.frozen.len())];
                let a = a.index(data.len() + 1);
                let b = a + b.index(data.len() - a + 1);
                let s = f.slice(a, b);
                if b > a {
                    assert_eq!(s.as_slice().as_ptr(), f.as_slice().as_ptr().wrapping_add(a));
                }
                let d = data[a..b].to_vec();
                self.frozen.push((s, d));
            }
            Op::TrySlice { k, a, b } => {
                if self.frozen.is_empty() {
                    return;
                }
                let (f, data) = &self.frozen[k.index(self.frozen.len())];
                let Frozen::Aligned(f) = f else { return };
                match f.try_slice(a..b) {
                    Some(s) => {
                        assert!(a <= b && b <= data.len());
                        let d = data[a..b].to_vec();
                        self.frozen.push((Frozen::Aligned(s), d));
                    }
                    None => assert!(a > b || b > data.len()),
                }
            }
            Op::Clone { k } => {
                if self.frozen.is_empty() {
                    return;
                }
                let (f, data) = &self.frozen[k.index(self.frozen.len())];
                let c = (f.clone_view(), data.clone());
                self.frozen.push(c);
            }
            Op::IntoBytes { k } | Op::IntoArrow { k } => {
                if self.frozen.is_empty() {
                    return;
                }
                let k = k.index(self.frozen.len());
                if !matches!(self.frozen[k].0, Frozen::Aligned(_)) {
                    return;
                }
                let (Frozen::Aligned(f), data) = self.frozen.swap_remove(k) else { unreachable!() };
                let ptr = f.as_ptr();
                let converted = if matches!(op, Op::IntoBytes { .. }) {
                    Frozen::Bytes(f.into_bytes())
                } else {
                    Frozen::Arrow(f.into_arrow_buffer())
                };
                if !data.is_empty() {
                    assert_eq!(converted.as_slice().as_ptr(), ptr, "zero-copy conversion");
                }
                self.frozen.push((converted, data));
            }
            Op::TryIntoMut { k } => {
                if self.frozen.is_empty() {
                    return;
                }
                let k = k.index(self.frozen.len());
                if !matches!(self.frozen[k].0, Frozen::Aligned(_)) {
                    return;
                }
                let (Frozen::Aligned(f), data) = self.frozen.swap_remove(k) else { unreachable!() };
                match f.try_into_mut() {
                    Ok(buf) => {
                        assert!(buf.capacity() >= data.len());
                        let cap = buf.capacity();
                        self.muts.push(MutModel { buf, data, cap });
                    }
                    Err(f) => self.frozen.push((Frozen::Aligned(f), data)),
                }
            }
            Op::DropMut { i } => {
                if !self.muts.is_empty() {
                    self.muts.swap_remove(i.index(self.muts.len()));
                }
            }
            Op::DropFrozen { k } => {
                if !self.frozen.is_empty() {
                    self.frozen.swap_remove(k.index(self.frozen.len()));
                }
            }
        }
    }
}

proptest! {
    // `ProptestConfig::default()` reads PROPTEST_CASES from the environment.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn operations_match_vec_model(ops in proptest::collection::vec(op(), 1..80)) {
        let pool = BufferPool::new(PoolConfig {
            alignment: 64,
            size_classes: vec![64, 128, 256, 1024],
            max_bytes: MAX_BYTES,
        })
        .unwrap();
        let mut world = World {
            pool: pool.clone(),
            pooled_gets: 0,
            oversize_gets: 0,
            muts: Vec::new(),
            frozen: Vec::new(),
            counter: 0,
        };
        for op in ops {
            world.apply(op);
            world.check();
        }
        let (pooled, oversize) = (world.pooled_gets, world.oversize_gets);
        drop(world);
        let s = pool.stats();
        prop_assert_eq!(s.hits + s.misses, pooled);
        prop_assert_eq!(s.oversize, oversize);
        // Every pooled buffer came back exactly once.
        prop_assert_eq!(s.returned + s.discarded, pooled);
        prop_assert!(s.idle_bytes <= MAX_BYTES as u64);
    }
}
