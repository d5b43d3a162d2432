//! Every backend returns the same bytes for the same requests, and what one backend writes the
//! others read back.

use std::sync::Arc;

use lsio_aligned::AlignedBytes;
use lsio_io::conformance::test_data;
use lsio_io::{ByteRange, IoBackend, IoBackendExt, Location, MemoryBackend, PreadBackend, PreadConfig, ReadRequest};
use lsio_uring::{UringBackend, UringConfig};
use proptest::prelude::*;

/// Every local backend: pread (buffered and `O_DIRECT`) and io_uring (buffered and `O_DIRECT`).
/// io_uring is required: the machines this suite runs on have it, and a silent skip would hide a
/// broken backend.
fn local_backends() -> Vec<Arc<dyn IoBackend>> {
    vec![
        Arc::new(PreadBackend::new().expect("pread")),
        Arc::new(
            PreadBackend::with_config(PreadConfig { direct_io: true, threads: 4, ..Default::default() })
                .expect("pread"),
        ),
        Arc::new(UringBackend::new().expect("io_uring backend")),
        Arc::new(UringBackend::with_config(UringConfig { direct_io: true, ..Default::default() }).expect("io_uring")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For any ranges, every local backend and the in-memory reference return identical results.
    #[test]
    fn same_bytes_from_every_backend(
        len in 0usize..200_000,
        ranges in proptest::collection::vec((0u64..220_000, 0u64..40_000, 0u8..4), 1..80),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data = test_data(len, len as u64);
        std::fs::write(&path, &data).expect("write");
        let local = Location::local(&path);
        let memory = MemoryBackend::new();
        let object = Location::object("mem://f");
        memory.put(object.clone(), AlignedBytes::copy_from_slice(&data));

        let make = |loc: &Location| -> Vec<ReadRequest> {
            ranges.iter().enumerate().map(|(i, &(s, l, kind))| {
                let range = match kind {
                    0 => ByteRange::Bounded(s..s + l),
                    1 => ByteRange::Suffix(l),
                    2 => ByteRange::From(s),
                    _ => ByteRange::Whole,
                };
                ReadRequest::new(loc.clone(), range, i as u64)
            }).collect()
        };
        let summarize = |b: &dyn IoBackend, loc: &Location| {
            let mut out: Vec<(u64, Result<Vec<u8>, String>)> = b.read(make(loc)).map(|r| match r {
                Ok(c) => (c.tag, Ok(c.bytes.to_vec())),
                Err(e) => (e.tag().expect("tagged"), Err(format!("{:?}", std::mem::discriminant(&e)))),
            }).collect();
            out.sort_by_key(|x| x.0);
            out
        };
        let reference = summarize(&memory, &object);
        for b in local_backends() {
            prop_assert_eq!(&summarize(b.as_ref(), &local), &reference, "backend {}", b.name());
        }
    }
}

#[test]
fn what_one_backend_writes_the_others_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backends = local_backends();
    for (i, writer) in backends.iter().enumerate() {
        let loc = Location::local(dir.path().join(format!("w{i}")));
        let data = AlignedBytes::copy_from_slice(&test_data(300_001, i as u64));
        writer.write_whole(&loc, data.clone(), true).expect("write");
        for reader in &backends {
            assert_eq!(reader.read_whole(&loc).expect("read"), data, "{} -> {}", writer.name(), reader.name());
        }
    }
}
