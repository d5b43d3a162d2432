//! Dropping batches mid-flight, and the backend itself, leaks no file descriptor (nor buffer:
//! run under valgrind). In its own test binary because descriptor counts are per process.

use std::time::{Duration, Instant};

use lsio_io::{AlignedBytes, IoBackend, IoBackendExt, Location, ReadRequest, WriteRequest};
use lsio_uring::{UringBackend, UringConfig};

fn open_fds() -> usize {
    // `read_dir` holds one descriptor of its own while listing, the same one every time.
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

#[test]
fn no_descriptor_leaks_when_batches_and_backend_drop_mid_flight() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Location> = (0..20)
        .map(|i| {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, vec![i as u8; 1 << 20]).unwrap();
            Location::local(p)
        })
        .collect();
    let baseline = open_fds();
    let variants = [
        UringConfig { bytes_in_flight: 1 << 20, ..Default::default() },
        UringConfig {
            bytes_in_flight: 1 << 20,
            direct_io: true,
            register_files: true,
            register_buffers: true,
            ..Default::default()
        },
        UringConfig { rings: 1, queue_depth: 8, bytes_in_flight: 256 << 10, ..Default::default() },
    ];
    for config in variants {
        let rings = config.rings;
        let backend = UringBackend::with_config(config.clone()).expect("io_uring backend");
        // Each ring holds its ring descriptor and its wake eventfd, nothing else.
        assert_eq!(open_fds(), baseline + 2 * rings, "{config:?}");
        for round in 0..4 {
            let reqs: Vec<ReadRequest> = (0..20_000u64)
                .map(|i| {
                    let start = (i * 7919 * 64) % ((1 << 20) - 65536);
                    ReadRequest::new(files[(i % 20) as usize].clone(), start..start + 65536, i)
                })
                .collect();
            let mut batch = backend.read(reqs);
            for _ in 0..round * 3 {
                let _ = batch.next();
            }
            drop(batch);
            // A write batch dropped at once.
            let w = dir.path().join(format!("w{round}"));
            drop(backend.write(vec![
                WriteRequest::create(Location::local(&w), true, 0),
                WriteRequest::write_at(Location::local(&w), 0, vec![AlignedBytes::copy_from_slice(&[1; 100_000])], 1),
            ]));
        }
        // Every file of the dropped batches gets closed once the rings finish what was in flight.
        let t = Instant::now();
        while backend.stats().files_open() > 0 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = backend.stats();
        assert_eq!(s.files_open(), 0, "{config:?}: {s:?}");
        assert_eq!(open_fds(), baseline + 2 * rings, "{config:?}");
        // The backend still works.
        assert_eq!(backend.read_range(&files[3], 10..20).unwrap()[..], [3u8; 10][..]);

        // Now drop the backend itself with batches in flight.
        let reqs: Vec<ReadRequest> = (0..5000u64)
            .map(|i| ReadRequest::new(files[(i % 20) as usize].clone(), (i * 100)..(i * 100 + 65536), i))
            .collect();
        let batch = backend.read(reqs);
        drop(backend);
        // The batch ends (with what was read, cancellations or a closed error), and nothing is open.
        let n = batch.count();
        assert!(n > 0 && n <= 5000, "{n}");
        assert_eq!(open_fds(), baseline, "{config:?}");
    }
}
