//! Measures the io_uring backend's settings against each other and against the pread backend:
//! ring count × queue depth, registered buffers, registered files, SQPOLL, O_DIRECT — for 4 KiB
//! random reads from a file in the page cache ("hot") and with O_DIRECT from the disk ("direct").
//!
//! ```text
//! cargo run --release -p lsio_uring --example measure            # everything (~3 minutes)
//! cargo run --release -p lsio_uring --example measure -- hot     # only scenarios whose name contains "hot"
//! ```
//!
//! Each figure is the best of `REPEATS` runs of about `RUN_SECS` seconds (the machine is shared,
//! so the best run is the least disturbed one): thousands of reads per second, and CPU
//! microseconds (user + system, all threads of the process) per read — the efficiency figure,
//! which other load on the machine disturbs much less than throughput.

use std::ops::Range;
use std::time::{Duration, Instant};

use lsio_io::{IoBackend, Location, PlannerConfig, PreadBackend, PreadConfig, ReadRequest};
use lsio_uring::{UringBackend, UringConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const HOT_LEN: u64 = 256 << 20;
const DIRECT_LEN: u64 = 1 << 30;
const READ_LEN: u64 = 4096;
const BATCH: usize = 16_384;
const RUN_SECS: f64 = 1.0;
const REPEATS: usize = 3;
const BATCHES_PER_RUN: usize = 64;

fn make_file(path: &std::path::Path, len: u64) {
    use std::io::Write;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == len) {
        return;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut rng = SmallRng::seed_from_u64(len);
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..len >> 20 {
        rng.fill(&mut block[..]);
        f.write_all(&block).expect("write");
    }
    f.into_inner().expect("flush").sync_all().expect("sync");
}

fn requests(loc: &Location, file_len: u64, seed: u64) -> Vec<ReadRequest> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let blocks = file_len / READ_LEN;
    (0..BATCH as u64)
        .map(|tag| {
            let start = rng.random_range(0..blocks) * READ_LEN;
            let r: Range<u64> = start..start + READ_LEN;
            ReadRequest::new(loc.clone(), r, tag)
        })
        .collect()
}

/// CPU time (user + system) of the whole process so far, in seconds.
fn cpu_secs() -> f64 {
    // SAFETY: `getrusage` writes one `rusage` into a live, zeroed local.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Thousands of reads per second (the best of `REPEATS` runs) and CPU microseconds per read
/// (the least of them).
fn measure(backend: &dyn IoBackend, loc: &Location, file_len: u64) -> (f64, f64) {
    let (mut best, mut cpu) = (0f64, f64::MAX);
    let mut seed = 1;
    for _ in 0..REPEATS {
        // The requests are made before the clock starts: only the backend is measured.
        let batches: Vec<Vec<ReadRequest>> = (0..BATCHES_PER_RUN)
            .map(|_| {
                seed += 1;
                requests(loc, file_len, seed)
            })
            .collect();
        let (t, c) = (Instant::now(), cpu_secs());
        let mut n = 0usize;
        for reqs in batches {
            if t.elapsed() > Duration::from_secs_f64(RUN_SECS) {
                break;
            }
            for r in backend.read(reqs) {
                let c = r.expect("read");
                assert_eq!(c.bytes.len() as u64, READ_LEN);
                n += 1;
            }
        }
        best = best.max(n as f64 / t.elapsed().as_secs_f64() / 1000.0);
        cpu = cpu.min((cpu_secs() - c) / n as f64 * 1e6);
    }
    (best, cpu)
}

fn uring(config: UringConfig) -> UringBackend {
    // One physical read per request: the figures are about the I/O path, not the planner.
    UringBackend::with_config(UringConfig { planner: PlannerConfig::NONE, ..config }).expect("io_uring backend")
}

fn pread(threads: usize, direct_io: bool) -> PreadBackend {
    PreadBackend::with_config(PreadConfig { threads, direct_io, planner: PlannerConfig::NONE, ..Default::default() })
        .expect("pread backend")
}

type Make<'a> = Box<dyn Fn() -> Box<dyn IoBackend> + 'a>;

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let dir = std::env::var_os("LSIO_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let hot_path = dir.join("lsio-uring-measure-hot.bin");
    let direct_path = dir.join("lsio-uring-measure-direct.bin");
    let hot = Location::local(&hot_path);
    let direct = Location::local(&direct_path);

    let options = |direct_io: bool| -> Vec<(&'static str, UringConfig)> {
        vec![
            ("defaults", UringConfig { direct_io, ..Default::default() }),
            ("register_buffers", UringConfig { direct_io, register_buffers: true, ..Default::default() }),
            ("register_files", UringConfig { direct_io, register_files: true, ..Default::default() }),
            ("sqpoll=10ms", UringConfig { direct_io, sqpoll: Some(10), ..Default::default() }),
        ]
    };
    let mut scenarios: Vec<(String, bool, Make<'_>)> = Vec::new();
    for direct_io in [false, true] {
        let kind = if direct_io { "direct" } else { "hot" };
        for threads in [2, 16, 64, 128] {
            scenarios.push((
                format!("{kind} pread threads={threads}"),
                direct_io,
                Box::new(move || Box::new(pread(threads, direct_io))),
            ));
        }
        for rings in [1, 2, 4] {
            for qd in [8, 32, 64, 128, 256, 512] {
                let config = UringConfig { rings, queue_depth: qd, direct_io, ..Default::default() };
                scenarios.push((
                    format!("{kind} uring rings={rings} qd={qd}"),
                    direct_io,
                    Box::new(move || Box::new(uring(config.clone()))),
                ));
            }
        }
        for (name, config) in options(direct_io) {
            scenarios.push((
                format!("{kind} uring {name}"),
                direct_io,
                Box::new(move || Box::new(uring(config.clone()))),
            ));
        }
    }
    let scenarios: Vec<_> = scenarios.into_iter().filter(|(name, ..)| name.contains(filter.as_str())).collect();
    if scenarios.iter().any(|(_, d, _)| !d) {
        make_file(&hot_path, HOT_LEN);
        let _ = std::fs::read(&hot_path); // into the page cache
    }
    if scenarios.iter().any(|(_, d, _)| *d) {
        make_file(&direct_path, DIRECT_LEN);
    }
    println!("| scenario | k reads/s | CPU µs/read |\n|---|---:|---:|");
    for (name, direct_io, make) in scenarios {
        let backend = make();
        let (loc, len) = if direct_io { (&direct, DIRECT_LEN) } else { (&hot, HOT_LEN) };
        let (kops, cpu) = measure(&*backend, loc, len);
        println!("| {name} | {kops:.0} | {cpu:.2} |");
    }
}
