//! Criterion micro-benchmarks of the io_uring backend: 4 KiB random reads from a file in the
//! page cache, against the pread backend with the same parallelism; a queue-depth sweep; the
//! options (registered buffers, registered files).
//!
//! `cargo bench -p lsio_uring` (about two minutes). The fuller table, with O_DIRECT and SQPOLL,
//! comes from `cargo run --release -p lsio_uring --example measure`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lsio_io::{IoBackend, Location, PlannerConfig, PreadBackend, PreadConfig, ReadRequest};
use lsio_uring::{UringBackend, UringConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const FILE_LEN: u64 = 64 << 20;
const READ_LEN: u64 = 4096;
const BATCH: u64 = 4096;

struct Hot {
    _dir: tempfile::TempDir,
    loc: Location,
}

fn hot_file() -> Hot {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hot.bin");
    let mut rng = SmallRng::seed_from_u64(1);
    let mut data = vec![0u8; FILE_LEN as usize];
    rng.fill(&mut data[..]);
    std::fs::write(&path, &data).expect("write");
    let _ = std::fs::read(&path).expect("warm the page cache");
    Hot { _dir: dir, loc: Location::local(path) }
}

fn requests(loc: &Location, seed: u64) -> Vec<ReadRequest> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..BATCH)
        .map(|tag| {
            let start = rng.random_range(0..FILE_LEN / READ_LEN) * READ_LEN;
            ReadRequest::new(loc.clone(), start..start + READ_LEN, tag)
        })
        .collect()
}

fn run(backend: &dyn IoBackend, loc: &Location, seed: &mut u64) {
    *seed += 1;
    for r in backend.read(requests(loc, *seed)) {
        black_box(r.expect("read"));
    }
}

fn uring(config: UringConfig) -> UringBackend {
    UringBackend::with_config(UringConfig { planner: PlannerConfig::NONE, ..config }).expect("io_uring backend")
}

fn pread(threads: usize) -> PreadBackend {
    PreadBackend::with_config(PreadConfig { threads, planner: PlannerConfig::NONE, ..Default::default() })
        .expect("pread backend")
}

fn benches(c: &mut Criterion) {
    let hot = hot_file();
    let mut seed = 0;

    let mut g = c.benchmark_group("hot_4k_random_reads");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    let default = UringConfig::default();
    let in_flight = default.rings * default.queue_depth as usize;
    let b = uring(default);
    g.bench_function("uring/default", |bench| bench.iter(|| run(&b, &hot.loc, &mut seed)));
    drop(b);
    for threads in [16, in_flight] {
        let b = pread(threads);
        g.bench_function(BenchmarkId::new("pread/threads", threads), |bench| {
            bench.iter(|| run(&b, &hot.loc, &mut seed))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("queue_depth");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    for qd in [8u32, 32, 64, 128, 256] {
        let b = uring(UringConfig { rings: 1, queue_depth: qd, ..Default::default() });
        g.bench_function(BenchmarkId::new("uring/rings=1", qd), |bench| bench.iter(|| run(&b, &hot.loc, &mut seed)));
    }
    g.finish();

    let mut g = c.benchmark_group("options");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    for (name, config) in [
        ("register_buffers", UringConfig { register_buffers: true, ..Default::default() }),
        ("register_files", UringConfig { register_files: true, ..Default::default() }),
    ] {
        let b = uring(config);
        g.bench_function(name, |bench| bench.iter(|| run(&b, &hot.loc, &mut seed)));
    }
    g.finish();
}

criterion_group!(uring_benches, benches);
criterion_main!(uring_benches);
