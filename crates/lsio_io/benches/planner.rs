//! Planner throughput on a million ranges, sorted and shuffled.

use std::hint::black_box;
use std::ops::Range;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lsio_io::{PlannerConfig, plan};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn ranges(n: usize, shuffled: bool) -> Vec<Range<u64>> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut pos = 0u64;
    let mut v: Vec<Range<u64>> = (0..n)
        .map(|_| {
            pos += rng.random_range(0..64 << 10);
            pos..pos + 4096
        })
        .collect();
    if shuffled {
        v.shuffle(&mut rng);
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan_1M_ranges");
    g.throughput(Throughput::Elements(1_000_000));
    g.sample_size(10);
    for shuffled in [false, true] {
        let input = ranges(1_000_000, shuffled);
        let name = if shuffled { "shuffled" } else { "sorted" };
        g.bench_function(name, |b| b.iter(|| black_box(plan(black_box(&input), &PlannerConfig::LOCAL))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
