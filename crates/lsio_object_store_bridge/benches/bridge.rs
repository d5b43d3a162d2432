//! Side by side, in one run: the bridge against object_store's own calls, printing medians and
//! ratios.
//!
//! Direction 1 (`ObjectStoreBackend`), against SeaweedFS's S3 behind a proxy that adds a delay to
//! every request (`LSIO_BENCH_DELAY_MS`, default 20): 1,000 random 64 KiB ranges of one object,
//! and whole reads of many 8 MiB objects, each vs `ObjectStore::get_ranges` and vs a loop of
//! `get_range`. Needs `LSIO_TEST_SEAWEEDFS_ENDPOINT` (`source scripts/servers.sh start`).
//!
//! Direction 2 (`LsioStore`): `get_ranges` of many small random ranges of a local file, cold
//! cache (page cache dropped before each run, as root), vs object_store's `LocalFileSystem`.
//!
//! Sizes (for quick runs): `LSIO_BENCH_RUNS` (3), `LSIO_BENCH_SMALL_OBJECT_MIB` (1024),
//! `LSIO_BENCH_SMALL_RANGES` (1000), `LSIO_BENCH_LARGE_COUNT` (100), `LSIO_BENCH_LARGE_MIB` (8),
//! `LSIO_BENCH_NAIVE` (1: also time the sequential `get_range` loops, once each),
//! `LSIO_BENCH_LOCAL_FILE_MIB` (1024), `LSIO_BENCH_LOCAL_RANGES` (10000), `LSIO_BENCH_DIR`
//! (`target/lsio-bridge-bench`).
#![allow(clippy::single_range_in_vec_init)] // `&[a..b]`: one range, as object_store takes them

#[path = "../tests/common/proxy.rs"]
mod proxy;

use std::ops::Range;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lsio_io::{IoBackend, Location, PlannerConfig, ReadRequest};
use lsio_object_store_bridge::object_store::local::LocalFileSystem;
use lsio_object_store_bridge::object_store::path::Path;
use lsio_object_store_bridge::object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use lsio_object_store_bridge::{BridgeConfig, LsioStore, ObjectStoreBackend};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

struct Row {
    scenario: String,
    what: String,
    time: Duration,
    bytes: u64,
}

fn print_table(rows: &[Row], baseline_of: impl Fn(&Row) -> Option<Duration>) {
    println!("| scenario | method | median | MiB/s | bridge speed-up vs this |");
    println!("|---|---|---:|---:|---:|");
    for r in rows {
        let mibs = r.bytes as f64 / (1 << 20) as f64 / r.time.as_secs_f64().max(1e-9);
        let ratio = match baseline_of(r) {
            Some(bridge) => format!("{:.2}x", r.time.as_secs_f64() / bridge.as_secs_f64().max(1e-9)),
            None => "-".into(),
        };
        println!("| {} | {} | {} | {:.0} | {} |", r.scenario, r.what, secs(r.time), mibs, ratio);
    }
}

/// The median of `runs` timed calls, after one untimed warm-up call (connections, allocator).
fn timed<T>(runs: u64, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        std::hint::black_box(f());
        times.push(t.elapsed());
    }
    median(times)
}

/// One timed call, no warm-up (for the slow sequential loops).
fn once<T>(f: impl FnOnce() -> T) -> Duration {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed()
}

fn random_ranges(object_len: u64, n: u64, len: u64, seed: u64) -> Vec<Range<u64>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let s = rng.random_range(0..object_len - len);
            s..s + len
        })
        .collect()
}

/// Puts `len` bytes of random data at `path` unless an object of that size is there.
async fn ensure_object(store: &dyn ObjectStore, path: &Path, len: u64, seed: u64) {
    if store.head(path).await.map(|m| m.size == len).unwrap_or(false) {
        return;
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let upload = store.put_multipart(path).await.expect("starting an upload");
    let mut w = WriteMultipart::new_with_chunk_size(upload, 16 << 20);
    let mut left = len;
    let mut buf = vec![0u8; 4 << 20];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        w.wait_for_capacity(8).await.expect("upload capacity");
        w.write(&buf[..n]);
        left -= n as u64;
    }
    w.finish().await.expect("finishing an upload");
}

fn direction1(rows: &mut Vec<Row>) {
    let Ok(endpoint) = std::env::var("LSIO_TEST_SEAWEEDFS_ENDPOINT") else {
        println!("direction 1 SKIPPED: LSIO_TEST_SEAWEEDFS_ENDPOINT is not set (source scripts/servers.sh start)");
        return;
    };
    let bucket = std::env::var("LSIO_TEST_SEAWEEDFS_BUCKET").unwrap_or_else(|_| "lsio-test".into());
    let runs = env_u64("LSIO_BENCH_RUNS", 3);
    let delay = Duration::from_millis(env_u64("LSIO_BENCH_DELAY_MS", 20));
    let small_len = env_u64("LSIO_BENCH_SMALL_OBJECT_MIB", 1024) << 20;
    let n_small = env_u64("LSIO_BENCH_SMALL_RANGES", 1000);
    let n_large = env_u64("LSIO_BENCH_LARGE_COUNT", 100);
    let large_len = env_u64("LSIO_BENCH_LARGE_MIB", 8) << 20;
    let naive = env_u64("LSIO_BENCH_NAIVE", 1) == 1;

    let opts = |ep: &str| {
        vec![
            ("aws_endpoint".to_owned(), ep.to_owned()),
            ("aws_allow_http".to_owned(), "true".to_owned()),
            ("aws_region".to_owned(), "us-east-1".to_owned()),
        ]
    };
    let url = format!("s3://{bucket}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let direct = ObjectStoreBackend::from_url_opts(&url, opts(&endpoint), BridgeConfig::default()).expect("store");
    let small = Path::from(format!("bench/small-{small_len}"));
    let large: Vec<Path> = (0..n_large).map(|i| Path::from(format!("bench/large-{large_len}-{i}"))).collect();
    let t = Instant::now();
    rt.block_on(async {
        ensure_object(direct.store().as_ref(), &small, small_len, 1).await;
        futures::stream::iter(large.iter().enumerate())
            .for_each_concurrent(8, |(i, p)| {
                let store = direct.store().clone();
                async move { ensure_object(store.as_ref(), p, large_len, 100 + i as u64).await }
            })
            .await;
    });
    println!(
        "direction 1: objects ready in {} (SeaweedFS at {endpoint}, {} ms added per request)",
        secs(t.elapsed()),
        delay.as_millis()
    );

    let proxy = proxy::Proxy::start(proxy::socket_addr_of(&endpoint), proxy::Faults::delay(delay));
    let bridge = ObjectStoreBackend::from_url_opts(&url, opts(&proxy.url()), BridgeConfig::default()).expect("bridge");
    let store = bridge.store().clone();

    // --- 1,000 random 64 KiB ranges of one object ---
    let ranges = random_ranges(small_len, n_small, 64 << 10, 7);
    let bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let scenario = format!("{n_small} x 64 KiB of a {} MiB object", small_len >> 20);
    let loc = Location::object(format!("{url}/{small}"));
    let t_bridge = timed(runs, || {
        let reqs = ranges.iter().enumerate().map(|(i, r)| ReadRequest::new(loc.clone(), r.clone(), i as u64)).collect();
        let n = Iterator::map(bridge.read(reqs), |r| r.expect("bridge read").bytes.len()).sum::<usize>();
        assert_eq!(n as u64, bytes);
    });
    rows.push(Row { scenario: scenario.clone(), what: "ObjectStoreBackend (bridge)".into(), time: t_bridge, bytes });
    // The same with gaps merged only up to 64 KiB: with 64 GETs in flight the round trips overlap,
    // and reading 1 MiB gaps costs more bandwidth than the round trips it saves.
    let narrow = PlannerConfig { max_gap: 64 << 10, ..PlannerConfig::OBJECT_STORE };
    let bridge_narrow = ObjectStoreBackend::from_url_opts(
        &url,
        opts(&proxy.url()),
        BridgeConfig { planner: narrow, ..BridgeConfig::default() },
    )
    .expect("bridge");
    let t = timed(runs, || {
        let reqs = ranges.iter().enumerate().map(|(i, r)| ReadRequest::new(loc.clone(), r.clone(), i as u64)).collect();
        let n = Iterator::map(bridge_narrow.read(reqs), |r| r.expect("bridge read").bytes.len()).sum::<usize>();
        assert_eq!(n as u64, bytes);
    });
    rows.push(Row {
        scenario: scenario.clone(),
        what: "bridge with max_gap 64 KiB (not a baseline)".into(),
        time: t,
        bytes,
    });
    let t = timed(runs, || {
        let got = rt.block_on(store.get_ranges(&small, &ranges)).expect("get_ranges");
        assert_eq!(got.len(), ranges.len());
    });
    rows.push(Row { scenario: scenario.clone(), what: "ObjectStore::get_ranges".into(), time: t, bytes });
    if naive {
        let t = once(|| {
            rt.block_on(async {
                for r in &ranges {
                    store.get_range(&small, r.clone()).await.expect("get_range");
                }
            })
        });
        rows.push(Row { scenario: scenario.clone(), what: "loop of get_range (1 run)".into(), time: t, bytes });
    }

    // --- whole reads of many 8 MiB objects ---
    let scenario = format!("{n_large} x {} MiB objects", large_len >> 20);
    let bytes = n_large * large_len;
    let t_bridge = timed(runs, || {
        let reqs = large
            .iter()
            .enumerate()
            .map(|(i, p)| ReadRequest::new(Location::object(format!("{url}/{p}")), 0..large_len, i as u64))
            .collect();
        let n = Iterator::map(bridge.read(reqs), |r| r.expect("bridge read").bytes.len() as u64).sum::<u64>();
        assert_eq!(n, bytes);
    });
    rows.push(Row { scenario: scenario.clone(), what: "ObjectStoreBackend (bridge)".into(), time: t_bridge, bytes });
    let t = timed(runs, || {
        rt.block_on(async {
            for p in &large {
                store.get_ranges(p, &[0..large_len]).await.expect("get_ranges");
            }
        })
    });
    rows.push(Row { scenario: scenario.clone(), what: "get_ranges per object, in turn".into(), time: t, bytes });
    let t = timed(runs, || {
        rt.block_on(async {
            futures::stream::iter(&large)
                .map(|p| {
                    let store = store.clone();
                    async move { store.get_ranges(p, &[0..large_len]).await.expect("get_ranges") }
                })
                .buffer_unordered(10)
                .count()
                .await
        })
    });
    rows.push(Row { scenario: scenario.clone(), what: "get_ranges per object, 10 at once".into(), time: t, bytes });
    if naive {
        let t = once(|| {
            rt.block_on(async {
                for p in &large {
                    store.get_range(p, 0..large_len).await.expect("get_range");
                }
            })
        });
        rows.push(Row { scenario, what: "loop of get_range (1 run)".into(), time: t, bytes });
    }
    println!("direction 1: the proxy saw {} requests", proxy.requests());
}

fn drop_caches() -> bool {
    let synced = std::process::Command::new("sync").status().map(|s| s.success()).unwrap_or(false);
    synced && std::fs::write("/proc/sys/vm/drop_caches", b"3").is_ok()
}

fn direction2(rows: &mut Vec<Row>) {
    let runs = env_u64("LSIO_BENCH_RUNS", 3);
    let file_len = env_u64("LSIO_BENCH_LOCAL_FILE_MIB", 1024) << 20;
    let n = env_u64("LSIO_BENCH_LOCAL_RANGES", 10_000);
    let dir = std::env::var("LSIO_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/lsio-bridge-bench")
    });
    std::fs::create_dir_all(&dir).expect("bench directory");
    let name = format!("local-{file_len}.bin");
    let path = dir.join(&name);
    if std::fs::metadata(&path).map(|m| m.len() != file_len).unwrap_or(true) {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).expect("bench file");
        let mut rng = SmallRng::seed_from_u64(3);
        let mut buf = vec![0u8; 4 << 20];
        let mut left = file_len;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..k]);
            f.write_all(&buf[..k]).expect("writing the bench file");
            left -= k as u64;
        }
    }
    let cold = drop_caches();
    if !cold {
        println!("direction 2: could not drop the page cache (not root?): the runs are WARM");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let lsio = LsioStore::new(&dir).expect("LsioStore");
    let local = LocalFileSystem::new_with_prefix(&dir).expect("LocalFileSystem");
    let location = Path::from(name);
    let ranges = random_ranges(file_len, n, 4096, 11);
    let bytes = n * 4096;
    let scenario = format!(
        "get_ranges of {n} x 4 KiB, {} MiB file, {}",
        file_len >> 20,
        if cold { "cold cache" } else { "warm cache" }
    );
    let run = |store: &dyn ObjectStore| {
        let mut times = Vec::new();
        for _ in 0..runs.max(1) {
            if cold {
                drop_caches();
            }
            let t = Instant::now();
            let got = rt.block_on(store.get_ranges(&location, &ranges)).expect("get_ranges");
            times.push(t.elapsed());
            assert_eq!(got.len(), ranges.len());
        }
        median(times)
    };
    let t = run(&lsio);
    rows.push(Row {
        scenario: scenario.clone(),
        what: format!("LsioStore ({})", lsio.backend().name()),
        time: t,
        bytes,
    });
    let t = run(&local);
    rows.push(Row { scenario, what: "LocalFileSystem".into(), time: t, bytes });
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let mut rows = Vec::new();
    direction1(&mut rows);
    direction2(&mut rows);
    println!();
    let bridge_time = |scenario: &str| {
        rows.iter()
            .find(|r| {
                r.scenario == scenario && (r.what.starts_with("ObjectStoreBackend") || r.what.starts_with("LsioStore"))
            })
            .map(|r| r.time)
    };
    print_table(&rows, |r| {
        if r.what.starts_with("ObjectStoreBackend") || r.what.starts_with("LsioStore") || r.what.starts_with("bridge") {
            None
        } else {
            bridge_time(&r.scenario)
        }
    });
}
