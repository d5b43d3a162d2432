//! Side-by-side benchmarks of lsio_scheduler against rayon, run interleaved (every variant once per
//! round, several rounds) and reported as medians and ratios:
//!
//! 1. Per-task overhead: spawning and completing empty tasks, in a scope and detached.
//! 2. The chunk pipeline: reading and zstd-decompressing chunks from files (the page cache
//!    evicted before each run; buffered and `O_DIRECT` reads), against rayon `par_iter` over
//!    `pread` + decompress, and against I/O alone and compute alone (the proof of overlap).
//!
//! `cargo bench -p lsio_scheduler --bench scheduler` (add `-- --quick` for a short run).
//! Environment: `LSIO_BENCH_ONLY` (`tasks` or `pipeline`), `LSIO_BENCH_ROUNDS` (default 7),
//! `LSIO_BENCH_TASKS` (default 200000), `LSIO_BENCH_FILES` (8), `LSIO_BENCH_CHUNKS_PER_FILE` (64),
//! `LSIO_BENCH_CHUNK_KIB` (256), `LSIO_BENCH_DIR` (where the files go; default the temp dir).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lsio_io::{AlignedBytes, AlignedBytesMut, IoBackend, MemoryBackend, PreadBackend, PreadConfig};
use lsio_scheduler::scenario::{ZstdChunks, decompress_chunk, decompress_scenario, write_zstd_files};
use lsio_scheduler::{PipelineConfig, PoolConfig, ThreadPool};
use rayon::prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Counts completions down to zero and wakes the waiting thread; the same for both pools.
struct Countdown {
    left: AtomicUsize,
    done: Mutex<bool>,
    cv: Condvar,
}

impl Countdown {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Countdown { left: AtomicUsize::new(n), done: Mutex::new(false), cv: Condvar::new() })
    }
    fn tick(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.done.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }
    fn wait(&self) {
        let mut d = self.done.lock().unwrap();
        while !*d {
            d = self.cv.wait(d).unwrap();
        }
    }
}

struct Row {
    name: &'static str,
    times: Vec<Duration>,
    /// CPU time (user + system) of the whole process during each run.
    cpu: Vec<Duration>,
}

/// User plus system CPU time of the process so far.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn run_rounds(rounds: usize, variants: &mut [(&'static str, &mut dyn FnMut() -> Duration)]) -> Vec<Row> {
    let mut rows: Vec<Row> =
        variants.iter().map(|(name, _)| Row { name, times: Vec::new(), cpu: Vec::new() }).collect();
    for _ in 0..rounds {
        for (i, (_, f)) in variants.iter_mut().enumerate() {
            let c = cpu_time();
            rows[i].times.push(f());
            rows[i].cpu.push(cpu_time() - c);
        }
    }
    rows
}

fn print_rows(rows: &[Row], per: Option<(f64, &str)>) {
    for r in rows {
        let m = median(r.times.clone());
        let (min, max) = (r.times.iter().min().unwrap(), r.times.iter().max().unwrap());
        match per {
            Some((n, unit)) => println!(
                "  {:<34} median {:>8.2} ms  ({:>7.2} .. {:>7.2})  {:>8.2} {unit}  cpu {:>7.1} ms",
                r.name,
                m.as_secs_f64() * 1e3,
                min.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3,
                n / m.as_secs_f64() / 1e6,
                median(r.cpu.clone()).as_secs_f64() * 1e3,
            ),
            None => println!(
                "  {:<34} median {:>8.2} ms  ({:>7.2} .. {:>7.2})",
                r.name,
                m.as_secs_f64() * 1e3,
                min.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3,
            ),
        }
    }
}

fn med(rows: &[Row], name: &str) -> f64 {
    median(rows.iter().find(|r| r.name == name).unwrap().times.clone()).as_secs_f64()
}

fn task_overhead(threads: usize, rounds: usize, n: usize) {
    let lsio = ThreadPool::new(PoolConfig { threads, name: "bench".into() }).unwrap();
    let ray = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    println!("\n== per-task overhead: {n} empty tasks, {threads} threads, {rounds} rounds ==");
    let mut lsio_scope = || {
        let t = Instant::now();
        lsio.scope(|s| {
            for _ in 0..n {
                s.spawn(|_| {});
            }
        })
        .unwrap();
        t.elapsed()
    };
    let mut rayon_scope = || {
        let t = Instant::now();
        ray.scope(|s| {
            for _ in 0..n {
                s.spawn(|_| {});
            }
        });
        t.elapsed()
    };
    let mut lsio_spawn = || {
        let c = Countdown::new(n);
        let t = Instant::now();
        for _ in 0..n {
            let c = c.clone();
            drop(lsio.spawn(move || c.tick()));
        }
        c.wait();
        t.elapsed()
    };
    let mut rayon_spawn = || {
        let c = Countdown::new(n);
        let t = Instant::now();
        for _ in 0..n {
            let c = c.clone();
            ray.spawn(move || c.tick());
        }
        c.wait();
        t.elapsed()
    };
    // Spawned from inside the pool: a task fans out n tasks (local deques and stealing).
    let mut lsio_nested = || {
        let t = Instant::now();
        lsio.scope(|s| {
            s.spawn(|s| {
                for _ in 0..n {
                    s.spawn(|_| {});
                }
            })
        })
        .unwrap();
        t.elapsed()
    };
    let mut rayon_nested = || {
        let t = Instant::now();
        ray.scope(|s| {
            s.spawn(|s| {
                for _ in 0..n {
                    s.spawn(|_| {});
                }
            })
        });
        t.elapsed()
    };
    let rows = run_rounds(
        rounds,
        &mut [
            ("lsio scope.spawn", &mut lsio_scope),
            ("rayon scope.spawn", &mut rayon_scope),
            ("lsio scope.spawn from a task", &mut lsio_nested),
            ("rayon scope.spawn from a task", &mut rayon_nested),
            ("lsio spawn (handle dropped)", &mut lsio_spawn),
            ("rayon spawn", &mut rayon_spawn),
        ],
    );
    print_rows(&rows, Some((n as f64, "M tasks/s")));
    for (a, b) in [
        ("lsio scope.spawn", "rayon scope.spawn"),
        ("lsio scope.spawn from a task", "rayon scope.spawn from a task"),
        ("lsio spawn (handle dropped)", "rayon spawn"),
    ] {
        println!(
            "  ratio {a:<30} vs rayon: {:.2}x  (>= 1.0 means lsio is as fast or faster)",
            med(&rows, b) / med(&rows, a)
        );
    }
}

/// Drops the files' pages from the page cache, so that every run reads from the device.
fn evict(files: &[File]) {
    for f in files {
        // SAFETY: a plain system call on an open descriptor; it reads and writes no memory of ours.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise failed");
    }
}

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn pipeline_bench(threads: usize, rounds: usize, chunks: &ZstdChunks) {
    let files: Vec<File> = chunks.files.iter().map(|p| File::open(p).unwrap()).collect();
    let file_of =
        |r: &lsio_io::ReadRequest| chunks.files.iter().position(|p| Some(p.as_path()) == r.location.as_path()).unwrap();
    let index: Vec<(usize, u64, usize)> = chunks
        .requests
        .iter()
        .map(|r| {
            let range = r.range.as_bounded().unwrap();
            (file_of(r), range.start, (range.end - range.start) as usize)
        })
        .collect();
    let n = chunks.requests.len();
    println!(
        "\n== pipeline: {n} zstd chunks ({} files, {:.1} MiB compressed -> {:.1} MiB), page cache evicted before each run, {threads} threads, {rounds} rounds ==",
        chunks.files.len(),
        chunks.compressed_bytes as f64 / (1 << 20) as f64,
        chunks.uncompressed_bytes as f64 / (1 << 20) as f64,
    );
    let lsio = ThreadPool::new(PoolConfig { threads, name: "bench".into() }).unwrap();
    let ray = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let pread: Arc<dyn IoBackend> = Arc::new(PreadBackend::with_config(PreadConfig::default()).unwrap());
    // O_DIRECT: no page cache, so no copy through it: the reads cost the CPU almost nothing.
    let direct: Arc<dyn IoBackend> =
        Arc::new(PreadBackend::with_config(PreadConfig { direct_io: true, ..PreadConfig::default() }).unwrap());
    let config = PipelineConfig { bytes_in_flight: 16 << 20, batch_size: 16, ..Default::default() };
    let cap = chunks.chunk_len;

    // The compressed chunks in memory, for "compute alone".
    let in_memory: Vec<AlignedBytes> = index
        .iter()
        .map(|&(f, off, len)| {
            let mut buf = vec![0u8; len];
            files[f].read_exact_at(&mut buf, off).unwrap();
            AlignedBytes::from(buf)
        })
        .collect();
    let mem_backend = MemoryBackend::new();
    let mem_requests: Vec<lsio_io::ReadRequest> = in_memory
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let loc = lsio_io::Location::object(format!("mem://{i}"));
            mem_backend.put(loc.clone(), b.clone());
            lsio_io::ReadRequest::new(loc, 0..b.len() as u64, i as u64)
        })
        .collect();

    let io_alone = |backend: &Arc<dyn IoBackend>| {
        evict(&files);
        let t = Instant::now();
        let mut p = lsio.pipeline(backend.clone(), chunks.requests.clone(), |c| c.bytes.len(), config.clone());
        let total: usize = p.by_ref().map(|r| r.unwrap()).sum();
        assert_eq!(total as u64, chunks.compressed_bytes);
        t.elapsed()
    };
    let mut io_buffered = || io_alone(&pread);
    let mut io_direct = || io_alone(&direct);
    let mut compute_alone = || {
        let t = Instant::now();
        let total: usize = ray.install(|| in_memory.par_iter().map(|b| decompress_chunk(b, cap).unwrap()).sum());
        assert_eq!(total as u64, chunks.uncompressed_bytes);
        t.elapsed()
    };
    let mut compute_alone_lsio = || {
        let t = Instant::now();
        let p = lsio.pipeline(
            mem_backend.clone(),
            mem_requests.clone(),
            move |c| decompress_chunk(&c.bytes, cap),
            config.clone(),
        );
        let total: usize = p.map(|r| r.unwrap().unwrap()).sum();
        assert_eq!(total as u64, chunks.uncompressed_bytes);
        t.elapsed()
    };
    let pipeline = |backend: &Arc<dyn IoBackend>| {
        evict(&files);
        let stats = decompress_scenario(&lsio, backend.clone(), chunks, config.clone());
        assert_eq!(stats.errors, 0);
        assert_eq!(stats.decompressed_bytes, chunks.uncompressed_bytes);
        stats.elapsed
    };
    let mut lsio_buffered = || pipeline(&pread);
    let mut lsio_direct = || pipeline(&direct);
    let mut rayon_par_iter = || {
        evict(&files);
        let t = Instant::now();
        let total: usize = ray.install(|| {
            index
                .par_iter()
                .map(|&(f, off, len)| {
                    READ_BUF.with(|b| {
                        let mut buf = b.borrow_mut();
                        buf.resize(len, 0);
                        files[f].read_exact_at(&mut buf[..len], off).unwrap();
                        decompress_chunk(&buf[..len], cap).unwrap()
                    })
                })
                .sum()
        });
        assert_eq!(total as u64, chunks.uncompressed_bytes);
        t.elapsed()
    };
    // rayon over O_DIRECT reads of the same chunks (aligned buffers, aligned ranges).
    let direct_files: Vec<File> = chunks
        .files
        .iter()
        .map(|p| std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(p).unwrap())
        .collect();
    let mut rayon_direct = || {
        let t = Instant::now();
        let total: usize = ray.install(|| {
            index
                .par_iter()
                .map(|&(f, off, len)| {
                    let start = off / 4096 * 4096;
                    let end = (off + len as u64).div_ceil(4096) * 4096;
                    let mut buf = AlignedBytesMut::zeroed((end - start) as usize, 4096).unwrap();
                    let need = (off - start) as usize + len;
                    let mut got = 0;
                    while got < need {
                        let n = direct_files[f].read_at(&mut buf[got..], start + got as u64).unwrap();
                        assert!(n > 0, "short read");
                        got += n;
                    }
                    let skip = (off - start) as usize;
                    decompress_chunk(&buf[skip..skip + len], cap).unwrap()
                })
                .sum()
        });
        assert_eq!(total as u64, chunks.uncompressed_bytes);
        t.elapsed()
    };
    let rows = run_rounds(
        rounds,
        &mut [
            ("I/O alone (pread)", &mut io_buffered),
            ("I/O alone (pread, O_DIRECT)", &mut io_direct),
            ("compute alone (rayon, in memory)", &mut compute_alone),
            ("compute alone (lsio, in memory)", &mut compute_alone_lsio),
            ("lsio pipeline (pread + zstd)", &mut lsio_buffered),
            ("lsio pipeline (O_DIRECT + zstd)", &mut lsio_direct),
            ("rayon par_iter (pread + zstd)", &mut rayon_par_iter),
            ("rayon par_iter (O_DIRECT + zstd)", &mut rayon_direct),
        ],
    );
    print_rows(&rows, Some((chunks.uncompressed_bytes as f64, "MB/s out")));
    // Compute alone: the faster of the two in-memory runs (the stricter bound for the overlap).
    let compute = med(&rows, "compute alone (rayon, in memory)").min(med(&rows, "compute alone (lsio, in memory)"));
    for (pipe, io_name, rayon_name) in [
        ("lsio pipeline (pread + zstd)", "I/O alone (pread)", "rayon par_iter (pread + zstd)"),
        ("lsio pipeline (O_DIRECT + zstd)", "I/O alone (pread, O_DIRECT)", "rayon par_iter (O_DIRECT + zstd)"),
    ] {
        let (t, io, rayon_t) = (med(&rows, pipe), med(&rows, io_name), med(&rows, rayon_name));
        println!("  {pipe}:");
        println!("    {rayon_name} / lsio pipeline = {:.2}x  (target >= 1.0)", rayon_t / t);
        println!(
            "    lsio pipeline / max(I/O alone, compute alone) = {:.3}  (target <= 1.1; I/O + compute would be {:.2})",
            t / io.max(compute),
            (io + compute) / io.max(compute)
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let rounds = env("LSIO_BENCH_ROUNDS", if quick { 3 } else { 7 });
    let tasks = env("LSIO_BENCH_TASKS", if quick { 50_000 } else { 200_000 });
    let only = std::env::var("LSIO_BENCH_ONLY").unwrap_or_default();
    println!("lsio_scheduler benchmarks ({threads} cores)");
    if only.is_empty() || only == "tasks" {
        task_overhead(threads, rounds, tasks);
    }
    if !only.is_empty() && only != "pipeline" {
        return;
    }

    let dir = tempfile::tempdir_in(
        std::env::var("LSIO_BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    let files = env("LSIO_BENCH_FILES", 8);
    let per_file = env("LSIO_BENCH_CHUNKS_PER_FILE", if quick { 16 } else { 64 });
    let chunk_len = env("LSIO_BENCH_CHUNK_KIB", 256) << 10;
    let chunks = write_zstd_files(dir.path(), files, per_file, chunk_len, 3).unwrap();
    pipeline_bench(threads, rounds, &chunks);
}
