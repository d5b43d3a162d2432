//! Pool `get` + drop versus fresh allocations, for 4 KiB, 256 KiB and 4 MiB buffers.
//!
//! Run with `cargo bench -p lsio_aligned --bench pool -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lsio_aligned::{AlignedBytesMut, BufferPool, PoolConfig};

const SIZES: [(usize, &str); 3] = [(4 << 10, "4KiB"), (256 << 10, "256KiB"), (4 << 20, "4MiB")];

/// Allocation + drop only: what the allocator itself costs.
fn alloc_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_drop");
    let pool = BufferPool::new(PoolConfig::default()).expect("default config is valid");
    for (n, name) in SIZES {
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_with_input(BenchmarkId::new("pool_get", name), &n, |b, &n| {
            b.iter(|| black_box(pool.get(black_box(n))));
        });
        group.bench_with_input(BenchmarkId::new("aligned_with_capacity", name), &n, |b, &n| {
            b.iter(|| black_box(AlignedBytesMut::with_capacity(black_box(n))))
        });
        group.bench_with_input(BenchmarkId::new("vec_zeroed", name), &n, |b, &n| {
            b.iter(|| black_box(vec![0u8; black_box(n)]));
        });
    }
    group.finish();
}

/// Allocation + writing one byte per 4 KiB page + drop: adds the page faults a fresh
/// allocation pays when the kernel (or a read) first touches it.
fn alloc_touch_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_touch_drop");
    let pool = BufferPool::new(PoolConfig::default()).expect("default config is valid");
    fn touch(buf: &mut AlignedBytesMut, n: usize) {
        for page in buf.spare_capacity_mut()[..n].iter_mut().step_by(4096) {
            page.write(1);
        }
    }
    for (n, name) in SIZES {
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_with_input(BenchmarkId::new("pool_get", name), &n, |b, &n| {
            b.iter(|| {
                let mut buf = pool.get(black_box(n));
                touch(&mut buf, n);
                black_box(buf)
            });
        });
        group.bench_with_input(BenchmarkId::new("aligned_with_capacity", name), &n, |b, &n| {
            b.iter(|| {
                let mut buf = AlignedBytesMut::with_capacity(black_box(n));
                touch(&mut buf, n);
                black_box(buf)
            });
        });
        group.bench_with_input(BenchmarkId::new("vec_zeroed", name), &n, |b, &n| {
            b.iter(|| {
                let mut v = vec![0u8; black_box(n)];
                for page in v.iter_mut().step_by(4096) {
                    *page = 1;
                }
                black_box(v)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, alloc_drop, alloc_touch_drop);
criterion_main!(benches);
