//! Page-cache-hot random reads through lsio's backends and the outside baselines, side by side:
//! `PreadBackend`, `UringBackend` (where io_uring is available), `object_store`'s
//! `LocalFileSystem::get_ranges`, and a plain `std::os::unix::fs::FileExt::read_exact_at` loop.
//!
//! Every variant checks every block it reads (the `lsio_cli::bench` pattern), so all pay the same
//! small cost and none can win by returning wrong bytes. Sizes: `LSIO_BENCH_FILE_SIZE` (default
//! `64MiB`), reads in flight: `LSIO_BENCH_QD` (default 32).

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use lsio_cli::bench::backends::{BackendKind, BackendOptions, ObjectStoreRunner, Runner};
use lsio_cli::bench::data::{self, DataSet};
use lsio_cli::bench::scenario::{RunOptions, Scenario, ScenarioKind, Sizes};
use lsio_cli::bench::verify::Verifier;
use lsio_cli::size::parse_size;
use lsio_io::PlannerConfig;

fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| parse_size(&v).ok()).filter(|v| *v > 0).unwrap_or(default)
}

/// The read loop anyone would write first: one thread, one reused buffer, one `pread` per range.
fn std_read_loop(scenario: &Scenario, files: &[File]) -> u64 {
    let mut verifier = Verifier::new(scenario);
    let mut buf = vec![0u8; scenario.read_len() as usize];
    for (tag, read) in scenario.reads.iter().enumerate() {
        let len = (read.range.end - read.range.start) as usize;
        let buf = &mut buf[..len];
        files[read.file as usize].read_exact_at(buf, read.range.start).expect("read_exact_at");
        verifier.check(tag as u64, &read.range, buf).expect("right bytes");
    }
    verifier.finish().expect("every read answered")
}

fn bench_scenario(group: &mut BenchmarkGroup<'_, WallTime>, scenario: &Scenario, runners: &[Runner]) {
    group.throughput(Throughput::Bytes(scenario.total_bytes()));
    for runner in runners {
        group.bench_function(runner.label(), |b| b.iter(|| black_box(runner.run(scenario).expect("run"))));
    }
    let files: Vec<File> = scenario.files.iter().map(|f| File::open(&f.path).expect("open")).collect();
    group.bench_function("std_read_exact_at", |b| b.iter(|| black_box(std_read_loop(scenario, &files))));
}

fn backends(c: &mut Criterion) {
    let file_size = env_size("LSIO_BENCH_FILE_SIZE", 64 << 20);
    let qd = env_size("LSIO_BENCH_QD", 32) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataSet::new(dir.path());
    let warm = RunOptions { qd, direct: false, cold: false };

    // 1024 random 4 KiB reads (4 MiB) and 64 random 256 KiB reads (16 MiB) per iteration.
    let small = Sizes { file_size, reads: 1024.min(file_size / 4096), ..Sizes::FULL };
    let rand4k = Scenario::new(ScenarioKind::Rand4k, &small, &data, warm);
    let mut rand256k = Scenario::new(ScenarioKind::Hot, &Sizes { file_size, ..Sizes::FULL }, &data, warm);
    rand256k.reads.truncate(64);
    data.ensure(&rand4k.files, true).expect("data file");
    data::warm(&rand4k.files).expect("warm the page cache");
    // Check the reads before timing anything.
    let files: Vec<File> = rand4k.files.iter().map(|f| File::open(&f.path).expect("open")).collect();
    assert_eq!(std_read_loop(&rand4k, &files), rand4k.total_bytes());

    let options = BackendOptions { qd, direct: false, planner: PlannerConfig::LOCAL };
    let mut runners = Vec::new();
    for kind in [BackendKind::Pread, BackendKind::Uring] {
        let (runner, fallback) = Runner::open(kind, &options).expect("backend");
        match fallback {
            // The fallback is the pread pool again: no second row for it.
            Some(why) => eprintln!("lsio_benches: skipping uring: {why}"),
            None => runners.push(runner),
        }
    }
    runners.push(Runner::ObjectStore(ObjectStoreRunner::new(qd).expect("tokio runtime")));
    for r in &runners {
        // Also a correctness check of each backend before it is timed.
        r.run(&rand4k).expect("backend reads right");
    }

    let mut group = c.benchmark_group("hot_random_4KiB");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    bench_scenario(&mut group, &rand4k, &runners);
    group.finish();

    let mut group = c.benchmark_group("hot_random_256KiB");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    bench_scenario(&mut group, &rand256k, &runners);
    group.finish();
}

criterion_group!(benches, backends);
criterion_main!(benches);
