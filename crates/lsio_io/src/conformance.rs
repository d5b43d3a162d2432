//! The conformance suite every backend runs from its own tests (feature `conformance`).
//!
//! A backend's test file calls [`conformance_tests!`](crate::conformance_tests) with a function
//! that makes a fresh backend and a [`TestEnv`] — how the suite plants objects for the backend to
//! read (files in a temporary directory, objects in a store). Each check is also a public function,
//! so a backend can run a subset with its own settings.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use lsio_aligned::AlignedBytes;

use crate::backend::{IoBackend, IoBackendExt};
use crate::error::Error;
use crate::types::{ByteRange, Location, ReadRequest, WriteOp, WriteRequest};

/// Where the suite plants the objects a backend reads.
pub trait TestEnv: Send + Sync {
    /// The location of a test object named `name` (a plain file name, no slashes).
    fn location(&self, name: &str) -> Location;
    /// Stores `data` at `location`, outside the backend under test.
    fn put(&self, location: &Location, data: &[u8]);
    /// Whether the backend can write at offsets (local files can; object stores cannot).
    fn supports_write_at(&self) -> bool {
        true
    }
    /// Whether locations live in directories that must exist (files do; keys in a store do not).
    fn has_directories(&self) -> bool {
        true
    }
}

/// Files in a fresh temporary directory.
#[derive(Debug)]
pub struct LocalDir {
    dir: tempfile::TempDir,
}

impl LocalDir {
    pub fn new() -> Self {
        LocalDir { dir: tempfile::tempdir().expect("creating a temporary directory for the conformance suite") }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for LocalDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv for LocalDir {
    fn location(&self, name: &str) -> Location {
        Location::local(self.dir.path().join(name))
    }

    fn put(&self, location: &Location, data: &[u8]) {
        let path = location.as_path().expect("LocalDir locations are paths");
        std::fs::write(path, data).expect("writing a conformance fixture");
    }
}

/// Deterministic test data: a different byte pattern for each seed.
pub fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn plant(env: &dyn TestEnv, name: &str, len: usize, seed: u64) -> (Location, Vec<u8>) {
    let loc = env.location(name);
    let data = test_data(len, seed);
    env.put(&loc, &data);
    (loc, data)
}

fn slice(data: &[u8], r: &Range<u64>) -> Vec<u8> {
    data[r.start as usize..r.end as usize].to_vec()
}

/// Random ranges over many objects, each answered byte-exact, tags preserved.
pub fn random_ranges_byte_exact(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let mut rng = SmallRng::seed_from_u64(1);
    let files: Vec<(Location, Vec<u8>)> =
        (0..12).map(|i| plant(env, &format!("rand-{i}"), rng.random_range(1..300_000), i)).collect();
    let mut reqs = Vec::new();
    let mut want = HashMap::new();
    for tag in 0..3000u64 {
        let (loc, data) = &files[rng.random_range(0..files.len())];
        let len = data.len() as u64;
        let start = rng.random_range(0..len);
        let span = rng.random_range(0..70_000);
        let end = rng.random_range(start..=len.min(start + span));
        reqs.push(ReadRequest::new(loc.clone(), start..end, tag * 7 + 3));
        want.insert(tag * 7 + 3, slice(data, &(start..end)));
    }
    let mut seen = 0;
    for r in backend.read(reqs) {
        let chunk = r.unwrap_or_else(|e| panic!("{}: read failed: {e}", backend.name()));
        let expected = want.remove(&chunk.tag).unwrap_or_else(|| panic!("unknown or repeated tag {}", chunk.tag));
        assert_eq!(chunk.bytes.len() as u64, chunk.range.end - chunk.range.start);
        assert!(chunk.bytes[..] == expected[..], "{}: bytes differ for tag {}", backend.name(), chunk.tag);
        seen += 1;
    }
    assert_eq!(seen, 3000);
    assert!(want.is_empty());
}

/// Zero-length ranges succeed with empty chunks, also at the very end and on empty objects.
pub fn zero_length_ranges(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, _) = plant(env, "zero", 1000, 2);
    let (empty, _) = plant(env, "empty", 0, 3);
    let reqs = vec![
        ReadRequest::new(loc.clone(), 0..0, 0),
        ReadRequest::new(loc.clone(), 500..500, 1),
        ReadRequest::new(loc.clone(), 1000..1000, 2),
        ReadRequest::new(empty.clone(), 0..0, 3),
        ReadRequest::new(empty.clone(), ByteRange::Whole, 4),
    ];
    let mut n = 0;
    for r in backend.read(reqs) {
        let c = r.unwrap_or_else(|e| panic!("{}: empty read failed: {e}", backend.name()));
        assert!(c.bytes.is_empty());
        n += 1;
    }
    assert_eq!(n, 5);
}

/// Suffix, open-ended and whole-object ranges resolve against the object's length.
pub fn suffix_from_and_whole_ranges(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, data) = plant(env, "suffix", 10_000, 4);
    let cases = [
        (ByteRange::Suffix(100), 9_900..10_000),
        (ByteRange::Suffix(50_000), 0..10_000),
        (ByteRange::From(9_000), 9_000..10_000),
        (ByteRange::From(10_000), 10_000..10_000),
        (ByteRange::Whole, 0..10_000),
    ];
    let reqs = cases.iter().enumerate().map(|(i, (r, _))| ReadRequest::new(loc.clone(), r.clone(), i as u64)).collect();
    for r in backend.read(reqs) {
        let c = r.unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
        let want = &cases[c.tag as usize].1;
        assert_eq!(&c.range, want, "{}: resolved range", backend.name());
        assert!(c.bytes[..] == data[want.start as usize..want.end as usize]);
    }
    assert!(backend.read_whole(&loc).expect("read_whole")[..] == data[..]);
}

/// A range past the end fails for that request alone, naming the location; the others succeed.
pub fn past_eof_fails_alone(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, data) = plant(env, "eof", 5000, 5);
    let reqs = vec![
        ReadRequest::new(loc.clone(), 0..100, 0),
        ReadRequest::new(loc.clone(), 4990..5010, 1),
        ReadRequest::new(loc.clone(), 4000..5000, 2),
        ReadRequest::new(loc.clone(), 6000..7000, 3),
        ReadRequest::new(loc.clone(), ByteRange::From(5001), 4),
    ];
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for r in backend.read(reqs) {
        match r {
            Ok(c) => {
                assert!(c.bytes[..] == slice(&data, &c.range)[..]);
                ok.push(c.tag);
            }
            Err(e) => {
                assert!(e.to_string().contains(&loc.to_string()), "error does not name the location: {e}");
                assert!(matches!(e, Error::OutOfRange { .. }), "{}: want OutOfRange, got {e:?}", backend.name());
                failed.push(e.tag().expect("errors carry the tag"));
            }
        }
    }
    ok.sort_unstable();
    failed.sort_unstable();
    assert_eq!(ok, vec![0, 2]);
    assert_eq!(failed, vec![1, 3, 4]);
}

/// A missing object gives `NotFound` naming it, and does not disturb reads of other objects.
pub fn missing_file_not_found(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, data) = plant(env, "present", 100, 6);
    let missing = env.location("does-not-exist");
    let reqs = vec![ReadRequest::new(missing.clone(), 0..10, 1), ReadRequest::new(loc.clone(), 0..10, 2)];
    let mut results: Vec<_> = backend.read(reqs).collect();
    results.sort_by_key(|r| match r {
        Ok(c) => c.tag,
        Err(e) => e.tag().unwrap_or(u64::MAX),
    });
    match &results[0] {
        Err(e @ Error::NotFound { .. }) => {
            assert!(e.to_string().contains(&missing.to_string()), "{e}");
            assert_eq!(e.tag(), Some(1));
        }
        other => panic!("{}: want NotFound, got {other:?}", backend.name()),
    }
    match &results[1] {
        Ok(c) => assert!(c.bytes[..] == data[..10]),
        Err(e) => panic!("{}: {e}", backend.name()),
    }
}

/// Tags come back unchanged, including repeated tags and extreme values.
pub fn tags_preserved(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, _) = plant(env, "tags", 4096, 7);
    let tags = [0, u64::MAX, 42, 42, 1 << 63];
    let reqs = tags.iter().map(|&t| ReadRequest::new(loc.clone(), 0..16, t)).collect();
    let mut got: Vec<u64> = backend.read(reqs).map(|r| r.expect("read").tag).collect();
    got.sort_unstable();
    let mut want = tags.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

/// 100k requests from a slow consumer: the backend never holds more than the batch's budget
/// (one read larger than the whole budget may run alone), and every request is answered.
pub fn memory_bound_100k(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let (loc, data) = plant(env, "many", 8 << 20, 8);
    let mut rng = SmallRng::seed_from_u64(9);
    let n = 100_000u64;
    let reqs: Vec<ReadRequest> = (0..n)
        .map(|tag| {
            let start = rng.random_range(0..(8u64 << 20) - 4096);
            ReadRequest::new(loc.clone(), start..start + 4096, tag)
        })
        .collect();
    let want: Vec<u64> = reqs.iter().map(|r| r.range.as_bounded().map_or(0, |r| r.start)).collect();
    let mut batch = backend.read(reqs);
    // Let the backend run ahead of a consumer that has not started yet.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut count = 0u64;
    for r in batch.by_ref() {
        let c = r.unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
        let s = want[c.tag as usize] as usize;
        assert!(c.bytes[..] == data[s..s + 4096]);
        count += 1;
    }
    assert_eq!(count, n);
    let limit = batch.bytes_in_flight_limit().max(batch.largest_charge());
    assert!(
        batch.peak_bytes_in_flight() <= limit,
        "{}: {} bytes in flight, budget {}",
        backend.name(),
        batch.peak_bytes_in_flight(),
        batch.bytes_in_flight_limit()
    );
}

/// Several threads submit batches at once; each gets exactly its own answers.
pub fn concurrent_submitters(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let files: Vec<(Location, Vec<u8>)> = (0..4).map(|i| plant(env, &format!("conc-{i}"), 200_000, 10 + i)).collect();
    let files = Arc::new(files);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let files = files.clone();
            s.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(100 + t);
                for round in 0..5 {
                    let reqs: Vec<ReadRequest> = (0..500u64)
                        .map(|i| {
                            let f = &files[rng.random_range(0..files.len())];
                            let start = rng.random_range(0..199_000);
                            ReadRequest::new(f.0.clone(), start..start + 1000, (t << 32) | (round << 16) | i)
                        })
                        .collect();
                    let expect: HashMap<u64, (usize, u64)> = reqs
                        .iter()
                        .map(|r| {
                            let fi = files.iter().position(|f| f.0 == r.location).unwrap_or(0);
                            (r.tag, (fi, r.range.as_bounded().map_or(0, |r| r.start)))
                        })
                        .collect();
                    let mut n = 0;
                    for r in backend.read(reqs) {
                        let c = r.expect("concurrent read");
                        let (fi, start) = expect[&c.tag];
                        assert!(c.bytes[..] == files[fi].1[start as usize..start as usize + 1000]);
                        n += 1;
                    }
                    assert_eq!(n, 500);
                }
            });
        }
    });
}

/// Dropping a batch mid-flight neither hangs nor breaks the backend.
pub fn drop_mid_flight(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let files: Vec<Location> = (0..20).map(|i| plant(env, &format!("drop-{i}"), 1 << 20, 20 + i).0).collect();
    for round in 0..3 {
        let reqs: Vec<ReadRequest> = (0..20_000u64)
            .map(|i| {
                let start = (i * 7919 * 64) % ((1 << 20) - 65536);
                ReadRequest::new(files[(i % 20) as usize].clone(), start..start + 65536, i)
            })
            .collect();
        let mut batch = backend.read(reqs);
        for _ in 0..round * 5 {
            let _ = batch.next();
        }
        drop(batch);
    }
    // The backend still answers, promptly and correctly.
    let (loc, data) = plant(env, "after-drop", 1000, 40);
    assert!(backend.read_range(&loc, 10..20).expect("read after drop")[..] == data[10..20]);
}

/// The batch works as an async stream (and the async conveniences work).
pub fn async_stream(backend: &dyn IoBackend, env: &dyn TestEnv) {
    use futures_core::Stream;
    let (loc, data) = plant(env, "async", 50_000, 50);
    let reqs: Vec<ReadRequest> =
        (0..100u64).map(|i| ReadRequest::new(loc.clone(), i * 100..i * 100 + 100, i)).collect();
    let mut batch = backend.read(reqs);
    let n = futures_executor::block_on(async {
        let mut n = 0;
        while let Some(r) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut batch).poll_next(cx)).await {
            let c = r.expect("async read");
            assert!(c.bytes[..] == data[c.tag as usize * 100..c.tag as usize * 100 + 100]);
            n += 1;
        }
        n
    });
    assert_eq!(n, 100);
    let got = futures_executor::block_on(backend.read_ranges_async(&loc, &[5..10, 0..3])).expect("read_ranges_async");
    assert!(got[0][..] == data[5..10] && got[1][..] == data[0..3]);
    let whole = futures_executor::block_on(backend.read_whole_async(&loc)).expect("read_whole_async");
    assert_eq!(whole.len(), data.len());
}

/// Create, vectored writes at offsets, sync; then the bytes read back; errors name the location.
pub fn writes_round_trip(backend: &dyn IoBackend, env: &dyn TestEnv) {
    let loc = env.location("written");
    let a = AlignedBytes::copy_from_slice(&test_data(70_000, 60));
    let b = AlignedBytes::copy_from_slice(&test_data(5_000, 61));
    let c = AlignedBytes::copy_from_slice(&test_data(123, 62));
    if env.supports_write_at() {
        let reqs = vec![
            WriteRequest::sync(loc.clone(), true, 3),
            WriteRequest::write_at(loc.clone(), 75_000, vec![c.clone()], 2),
            WriteRequest::write_at(loc.clone(), 0, vec![a.clone(), b.clone()], 1),
            WriteRequest::create(loc.clone(), true, 0),
        ];
        let mut done: Vec<(u64, u64)> = backend
            .write(reqs)
            .map(|r| r.map(|d| (d.tag, d.bytes_written)).unwrap_or_else(|e| panic!("{}: {e}", backend.name())))
            .collect();
        done.sort_unstable();
        assert_eq!(done, vec![(0, 0), (1, 75_000), (2, 123), (3, 0)]);
        let got = backend.read_whole(&loc).expect("read back");
        let mut want = a.to_vec();
        want.extend_from_slice(&b);
        want.extend_from_slice(&c);
        assert!(got[..] == want[..], "{}: written bytes differ", backend.name());

        // Creating without truncation keeps the contents; with truncation empties the file.
        let keep = backend.write(vec![WriteRequest::create(loc.clone(), false, 0)]).collect_all();
        assert!(keep.into_iter().all(|r| r.is_ok()));
        assert_eq!(backend.read_whole(&loc).expect("read").len(), want.len());
    }
    backend.write_whole(&loc, b.clone(), true).expect("write_whole");
    assert!(backend.read_whole(&loc).expect("read")[..] == b[..]);

    // Writing into a directory that does not exist fails for that request, naming the location.
    let bad = env.location("no-such-dir/file");
    let results = backend
        .write(vec![
            WriteRequest { location: bad.clone(), op: WriteOp::Create { truncate: true }, tag: 9 },
            WriteRequest::write_at(bad.clone(), 0, vec![c.clone()], 10),
        ])
        .collect_all();
    if env.has_directories() {
        for r in results {
            let e = r.expect_err("write under a missing directory must fail");
            assert!(e.to_string().contains("no-such-dir"), "{e}");
        }
    }
}

/// Runs every check of the suite as one `#[test]` each.
///
/// `$make` is an expression that evaluates to a fresh `(backend, env)` pair, e.g.
/// `lsio_io::conformance_tests!(|| (MemoryBackend::new(), env))`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@tests $make;
            random_ranges_byte_exact, zero_length_ranges, suffix_from_and_whole_ranges,
            past_eof_fails_alone, missing_file_not_found, tags_preserved, memory_bound_100k,
            concurrent_submitters, drop_mid_flight, async_stream, writes_round_trip);
    };
    (@tests $make:expr; $($name:ident),*) => {$(
        #[test]
        fn $name() {
            let (backend, env) = ($make)();
            $crate::conformance::$name(&backend, &env);
        }
    )*};
}
