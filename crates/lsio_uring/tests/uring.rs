//! Behaviour of the io_uring backend beyond the shared conformance suite: end of file inside a
//! range, writes then reads, kernel errors named with path/range/errno, O_DIRECT fallback,
//! batching of submissions, the options, and clear errors for bad settings.

use std::ops::Range;
use std::time::{Duration, Instant};

use lsio_io::{
    AlignedBytes, ByteRange, Error, IoBackend, IoBackendExt, Location, PlannerConfig, ReadRequest, WriteRequest,
};
use lsio_uring::{UringBackend, UringConfig};

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

fn backend(config: UringConfig) -> UringBackend {
    UringBackend::with_config(config).expect("io_uring backend")
}

/// Waits until `f` holds (the rings work asynchronously), at most 10 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// The file shrinks after its size was read: a read that ends past the new end fails for its
/// requests alone (naming path, range and the byte the file ends at), while requests served by
/// the bytes that were read — even from the same merged read — succeed.
#[test]
fn eof_inside_a_range_fails_that_request_alone() {
    for direct_io in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrinks");
        let bytes = data(100_000, 1);
        std::fs::write(&path, &bytes).unwrap();
        let loc = Location::local(&path);
        // One ring, and a budget that lets only the first planned read run until the consumer
        // takes its result: the file is cut while the second read waits.
        let planner = lsio_io::PlannerConfig { max_gap: 16 << 10, ..lsio_io::PlannerConfig::LOCAL };
        let b = backend(UringConfig { rings: 1, bytes_in_flight: 4096, direct_io, planner, ..Default::default() });
        let reqs = vec![
            ReadRequest::new(loc.clone(), 0..4096, 0),
            // These two merge into one planned read (gap < 16 KiB), cut in the middle below.
            ReadRequest::new(loc.clone(), 50_000..50_100, 1),
            ReadRequest::new(loc.clone(), 60_000..61_000, 2),
        ];
        let mut batch = b.read(reqs);
        assert!(eventually(|| b.stats().reads >= 1), "the first read never started");
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(55_000).unwrap();
        let mut results: Vec<_> = batch.by_ref().collect();
        results.sort_by_key(|r| r.as_ref().map_or_else(|e| e.tag().unwrap(), |c| c.tag));
        let ok0 = results[0].as_ref().expect("first range");
        assert!(ok0.bytes[..] == bytes[..4096]);
        let ok1 = results[1].as_ref().expect("range before the new end of file");
        assert!(ok1.bytes[..] == bytes[50_000..50_100]);
        match &results[2] {
            Err(e @ Error::Io { range, tag, .. }) => {
                assert_eq!(range.clone(), Some(60_000..61_000));
                assert_eq!(*tag, Some(2));
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()) && msg.contains("60000..61000"), "{msg}");
                assert!(msg.contains("file ends at byte 55000") || msg.contains("file ends at byte 57344"), "{msg}");
            }
            other => panic!("direct_io={direct_io}: want an end-of-file error, got {other:?}"),
        }
    }
}

#[test]
fn writes_then_reads_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(UringConfig::default());
    let a = dir.path().join("a");
    let c = dir.path().join("c");
    let (la, lc) = (Location::local(&a), Location::local(&c));
    // 3000 small buffers (more than IOV_MAX per WRITEV), a big one, and a write into a hole.
    let small: Vec<AlignedBytes> = (0..3000u32).map(|i| AlignedBytes::copy_from_slice(&i.to_le_bytes())).collect();
    let big = AlignedBytes::copy_from_slice(&data(3 << 20, 7));
    let tail = AlignedBytes::copy_from_slice(b"tail");
    let reqs = vec![
        WriteRequest::create(la.clone(), true, 0),
        WriteRequest::write_at(la.clone(), 0, small.clone(), 1),
        WriteRequest::write_at(la.clone(), 12_000, vec![big.clone()], 2),
        WriteRequest::write_at(la.clone(), (3 << 20) + 20_000, vec![tail.clone()], 3),
        WriteRequest::sync(la.clone(), true, 4),
        WriteRequest::sync(la.clone(), false, 5),
        WriteRequest::create(lc.clone(), true, 6),
        WriteRequest::write_at(lc.clone(), 0, vec![AlignedBytes::new()], 7),
        WriteRequest::write_at(lc.clone(), 0, vec![tail.clone()], 8),
    ];
    let mut done: Vec<(u64, u64)> =
        b.write(reqs).map(|r| r.map(|d| (d.tag, d.bytes_written)).expect("write")).collect();
    done.sort_unstable();
    assert_eq!(done, vec![(0, 0), (1, 12_000), (2, 3 << 20), (3, 4), (4, 0), (5, 0), (6, 0), (7, 0), (8, 4)]);

    let mut want = Vec::new();
    for s in &small {
        want.extend_from_slice(s);
    }
    want.extend_from_slice(&big);
    want.resize((3 << 20) + 20_000, 0);
    want.extend_from_slice(b"tail");
    assert!(std::fs::read(&a).unwrap() == want);
    assert!(b.read_whole(&la).unwrap()[..] == want[..]);
    let ranges = [0..4, 11_996..12_004, 5_000..3_000_000, (want.len() - 4) as u64..want.len() as u64];
    for (r, got) in ranges.iter().zip(b.read_ranges(&la, &ranges).unwrap()) {
        assert!(got[..] == want[r.start as usize..r.end as usize]);
    }
    assert_eq!(&b.read_whole(&lc).unwrap()[..], b"tail");
    let s = b.stats();
    assert!(s.writes >= 4 && s.syncs == 2 && s.bytes_written == 12_000 + (3 << 20) + 8, "{s:?}");
}

/// A write that the device refuses (`/dev/full` answers every write with ENOSPC) fails with an
/// error naming the path, the range and the errno; the sync of the same batch still runs.
#[test]
fn enospc_names_path_range_and_errno() {
    let b = backend(UringConfig::default());
    let full = Location::local("/dev/full");
    let reqs = vec![
        WriteRequest::write_at(full.clone(), 100, vec![AlignedBytes::copy_from_slice(&[1; 4096])], 1),
        WriteRequest::sync(full.clone(), false, 2),
    ];
    let mut results = b.write(reqs).collect_all();
    results.sort_by_key(|r| r.as_ref().map_or_else(|e| e.tag().unwrap(), |d| d.tag));
    let e = results[0].as_ref().expect_err("writing to /dev/full fails");
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    let msg = e.to_string();
    assert!(msg.contains("/dev/full") && msg.contains("100..4196") && msg.contains("os error 28"), "{msg}");
    assert_eq!(e.tag(), Some(1));
    assert!(results.len() == 2);
}

#[test]
fn kernel_errors_name_path_range_and_errno() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(UringConfig::default());
    // Reading a directory: the open works, the read fails with EISDIR.
    let d = Location::local(dir.path());
    let e = b.read_range(&d, 0..0).map(|_| ()).and_then(|_| b.read_range(&d, ByteRange::Whole).map(|_| ()));
    // A directory's statx size is its block size, so the whole-object read reaches the kernel.
    let e = e.expect_err("reading a directory fails");
    assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
    assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}");
    assert!(e.to_string().contains("os error 21"), "{e}");
    // Objects are not local files.
    let e = b.read_range(&Location::object("s3://bucket/key"), 0..1).expect_err("object locations are refused");
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    // Missing files, for reads and writes without create.
    let missing = Location::local(dir.path().join("missing"));
    assert!(matches!(b.read_range(&missing, 0..1), Err(Error::NotFound { .. })));
    let r =
        b.write(vec![WriteRequest::write_at(missing.clone(), 0, vec![AlignedBytes::from(&b"x"[..])], 3)]).collect_all();
    assert!(matches!(&r[0], Err(Error::NotFound { tag: Some(3), .. })), "{r:?}");
}

/// On a filesystem that refuses `O_DIRECT` at open (sysfs), the file is read buffered and the
/// fallback is counted.
#[test]
fn direct_io_refused_at_open_falls_back() {
    let candidates =
        ["/sys/kernel/mm/transparent_hugepage/enabled", "/sys/devices/system/cpu/online", "/sys/kernel/profiling"];
    let Some(path) = candidates.iter().find(|p| std::fs::read(p).is_ok_and(|d| d.len() >= 2)) else {
        eprintln!("no readable sysfs file here; skipping");
        return;
    };
    let want = std::fs::read(path).unwrap();
    let b = backend(UringConfig { direct_io: true, ..Default::default() });
    let got = b.read_range(&Location::local(path), 0..2).expect("buffered fallback read");
    assert_eq!(&got[..], &want[..2]);
    assert_eq!(b.stats().direct_io_fallbacks, 1);
}

/// O_DIRECT reads are widened to the alignment and sliced back: byte-exact at odd offsets, and
/// the slices point into aligned buffers.
#[test]
fn direct_io_reads_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d");
    let bytes = data(1_000_003, 3);
    std::fs::write(&path, &bytes).unwrap();
    let loc = Location::local(&path);
    let b = backend(UringConfig { direct_io: true, planner: PlannerConfig::NONE, ..Default::default() });
    let ranges: Vec<Range<u64>> = vec![1..2, 4095..4097, 999_999..1_000_003, 12_345..67_890];
    for (r, got) in ranges.iter().zip(b.read_ranges(&loc, &ranges).unwrap()) {
        assert!(got[..] == bytes[r.start as usize..r.end as usize], "range {r:?}");
        assert!(
            got.is_empty() || got.as_ptr().addr() % 512 == (r.start % 512) as usize,
            "not a slice of an aligned read"
        );
    }
    let s = b.stats();
    assert_eq!((s.reads, s.direct_io_fallbacks), (4, 0), "{s:?}");
    // Every read was widened to whole blocks (ext4 reports 512 or 4096 bytes), the last one
    // stopping at the end of the file.
    assert!(s.bytes_read >= 3 * 512 + (1_000_003 - 999_936) + (67_890 - 12_345), "{s:?}");
    assert!(b.read_whole(&loc).unwrap()[..] == bytes[..]);
}

/// Many reads go to the kernel in few `io_uring_enter` calls, not one per request.
#[test]
fn submissions_are_batched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hot");
    let bytes = data(4 << 20, 4);
    std::fs::write(&path, &bytes).unwrap();
    let loc = Location::local(&path);
    let b = backend(UringConfig { rings: 1, queue_depth: 64, planner: PlannerConfig::NONE, ..Default::default() });
    let _ = b.read_whole(&loc).unwrap(); // warm the page cache
    let before = b.stats();
    let reqs: Vec<ReadRequest> =
        (0..1024u64).map(|i| ReadRequest::new(loc.clone(), (i * 4096)..(i * 4096 + 4096), i)).collect();
    for r in b.read(reqs) {
        let c = r.unwrap();
        assert!(c.bytes[..] == bytes[c.range.start as usize..c.range.end as usize]);
    }
    let after = b.stats();
    let (submits, sqes) = (after.submits - before.submits, after.sqes - before.sqes);
    eprintln!("{sqes} SQEs in {submits} io_uring_enter calls");
    assert!(sqes >= 1024 + 2, "sqes {sqes}");
    assert!(submits * 8 <= sqes, "{submits} io_uring_enter calls for {sqes} SQEs");
}

#[test]
fn options_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opts");
    let bytes = data(2 << 20, 5);
    std::fs::write(&path, &bytes).unwrap();
    let loc = Location::local(&path);
    let ranges: Vec<Range<u64>> = (0..200u64).map(|i| i * 10_000..i * 10_000 + 3000).collect();
    let planner = PlannerConfig::NONE;
    for (name, config) in [
        ("fixed buffers", UringConfig { register_buffers: true, planner, ..Default::default() }),
        ("fixed files", UringConfig { register_files: true, planner, ..Default::default() }),
        ("sqpoll", UringConfig { sqpoll: Some(10), planner, ..Default::default() }),
        (
            "everything",
            UringConfig {
                register_buffers: true,
                register_files: true,
                direct_io: true,
                sqpoll: Some(10),
                planner,
                ..Default::default()
            },
        ),
    ] {
        let b = backend(config.clone());
        // Twice: the second round reuses registered buffers the first round lent and dropped.
        for _ in 0..2 {
            for (r, got) in ranges.iter().zip(b.read_ranges(&loc, &ranges).unwrap()) {
                assert!(got[..] == bytes[r.start as usize..r.end as usize], "{name}");
            }
        }
        let s = b.stats();
        if config.register_buffers {
            assert!(s.fixed_buffer_reads > 0, "{name}: {s:?}");
        }
        if config.register_files {
            assert!(s.fixed_file_opens > 0, "{name}: {s:?}");
        }
        drop(b);
    }
}

#[test]
fn bad_settings_give_clear_errors() {
    // The kernel refuses rings of more than 32768 entries: the error says so and names the depth.
    let e = UringBackend::with_config(UringConfig { queue_depth: 1 << 20, ..Default::default() })
        .expect_err("an absurd queue depth fails");
    let msg = e.to_string();
    assert!(msg.contains("1048576") && msg.contains("EINVAL") && msg.contains("32768"), "{msg}");
    for config in [
        UringConfig { rings: 0, ..Default::default() },
        UringConfig { rings: 65, ..Default::default() },
        UringConfig { queue_depth: 0, ..Default::default() },
        UringConfig { alignment: 3, ..Default::default() },
    ] {
        let e = UringBackend::with_config(config).expect_err("invalid settings");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    }
}

/// Empty ranges need no I/O; the empty file needs none either.
#[test]
fn empty_reads_do_no_io() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e");
    std::fs::write(&path, b"").unwrap();
    let b = backend(UringConfig::default());
    let loc = Location::local(&path);
    assert!(b.read_whole(&loc).unwrap().is_empty());
    assert_eq!(b.stats().reads, 0);
}
