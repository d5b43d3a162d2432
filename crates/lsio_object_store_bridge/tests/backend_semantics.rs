//! What an object store can and cannot do as an lsio backend: writes must tile an object from
//! byte 0 in one batch (else `Unsupported`), creates and syncs map to HEAD/PUT, a lone read past
//! the end is `OutOfRange` naming the object's length, large reads split into parallel parts.

mod common;

use std::sync::Arc;

use lsio_io::conformance::test_data;
use lsio_io::{
    AlignedBytes, ByteRange, Error, IoBackend, IoBackendExt, Location, PlannerConfig, ReadRequest, WriteRequest,
};
use lsio_object_store_bridge::object_store::ObjectStore;
use lsio_object_store_bridge::object_store::memory::InMemory;
use lsio_object_store_bridge::{BridgeConfig, ObjectStoreBackend, RuntimeChoice};

fn memory(config: BridgeConfig) -> ObjectStoreBackend {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    ObjectStoreBackend::new(store, "memory://", config).expect("backend")
}

fn bytes(data: &[u8]) -> AlignedBytes {
    AlignedBytes::copy_from_slice(data)
}

fn unsupported(results: Vec<lsio_io::Result<lsio_io::WriteDone>>) {
    assert!(!results.is_empty());
    for r in results {
        match r {
            Err(Error::Unsupported { what, .. }) => assert!(!what.is_empty()),
            other => panic!("want Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn writes_that_do_not_tile_from_zero_are_unsupported() {
    let b = memory(BridgeConfig::default());
    let loc = Location::object("memory:///w");
    // A gap.
    unsupported(
        b.write(vec![
            WriteRequest::create(loc.clone(), true, 0),
            WriteRequest::write_at(loc.clone(), 0, vec![bytes(b"abc")], 1),
            WriteRequest::write_at(loc.clone(), 10, vec![bytes(b"def")], 2),
        ])
        .collect_all(),
    );
    // An overlap.
    unsupported(
        b.write(vec![
            WriteRequest::create(loc.clone(), true, 0),
            WriteRequest::write_at(loc.clone(), 0, vec![bytes(b"abc")], 1),
            WriteRequest::write_at(loc.clone(), 2, vec![bytes(b"def")], 2),
        ])
        .collect_all(),
    );
    // Not from byte 0.
    unsupported(
        b.write(vec![
            WriteRequest::create(loc.clone(), true, 0),
            WriteRequest::write_at(loc.clone(), 5, vec![bytes(b"x")], 1),
        ])
        .collect_all(),
    );
    // Nothing was written by any of these.
    assert!(matches!(b.read_whole(&loc), Err(Error::NotFound { .. })));

    // In place, without a Create in the batch.
    b.write_whole(&loc, bytes(b"0123456789"), false).expect("whole write");
    unsupported(b.write(vec![WriteRequest::write_at(loc.clone(), 0, vec![bytes(b"ab")], 1)]).collect_all());
    // A Create without truncation would have to keep the longer object's tail.
    unsupported(
        b.write(vec![
            WriteRequest::create(loc.clone(), false, 0),
            WriteRequest::write_at(loc.clone(), 0, vec![bytes(b"ab")], 1),
        ])
        .collect_all(),
    );
    assert_eq!(&b.read_whole(&loc).expect("unchanged")[..], b"0123456789");
    // ... unless the new contents are at least as long.
    let results = b
        .write(vec![
            WriteRequest::create(loc.clone(), false, 0),
            WriteRequest::write_at(loc.clone(), 0, vec![bytes(b"abcdefghijkl")], 1),
        ])
        .collect_all();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(&b.read_whole(&loc).expect("rewritten")[..], b"abcdefghijkl");
}

#[test]
fn creates_and_syncs_without_writes() {
    let b = memory(BridgeConfig::default());
    let loc = Location::object("memory:///c");
    // Sync of a missing object: not found.
    let r = b.write(vec![WriteRequest::sync(loc.clone(), true, 7)]).collect_all();
    assert!(matches!(&r[0], Err(Error::NotFound { tag: Some(7), .. })), "{r:?}");
    // Create without truncation makes an empty object, then keeps what is there.
    assert!(b.write(vec![WriteRequest::create(loc.clone(), false, 0)]).collect_all()[0].is_ok());
    assert_eq!(b.read_whole(&loc).expect("empty object").len(), 0);
    b.write_whole(&loc, bytes(b"data"), true).expect("write");
    assert!(b.write(vec![WriteRequest::create(loc.clone(), false, 0)]).collect_all()[0].is_ok());
    assert_eq!(&b.read_whole(&loc).expect("kept")[..], b"data");
    // Create with truncation empties it.
    assert!(b.write(vec![WriteRequest::create(loc.clone(), true, 0)]).collect_all()[0].is_ok());
    assert_eq!(b.read_whole(&loc).expect("emptied").len(), 0);
}

#[test]
fn a_lone_read_past_the_end_is_out_of_range() {
    let b = memory(BridgeConfig::default());
    let loc = Location::object("memory:///short");
    b.write_whole(&loc, bytes(&test_data(5000, 1)), false).expect("write");
    let mut results = b
        .read(vec![
            ReadRequest::new(loc.clone(), 6000..7000, 1),
            ReadRequest::new(loc.clone(), ByteRange::From(6000), 2),
        ])
        .collect_all();
    results.sort_by_key(|r| r.as_ref().err().and_then(|e| e.tag()));
    for r in results {
        match r {
            Err(Error::OutOfRange { object_len, .. }) => assert_eq!(object_len, 5000),
            other => panic!("want OutOfRange, got {other:?}"),
        }
    }
}

#[test]
fn long_reads_split_into_parallel_parts_byte_exact() {
    // 1 KiB parts: a 100 KiB read is 100 GETs into one buffer; the members are slices of it.
    let config = BridgeConfig {
        planner: PlannerConfig { split_len: 1024, ..PlannerConfig::OBJECT_STORE },
        ..BridgeConfig::default()
    };
    let b = memory(config);
    let loc = Location::object("memory:///long");
    let data = test_data(100_000, 3);
    b.write_whole(&loc, bytes(&data), false).expect("write");
    let ranges = [0..100_000u64, 5..6, 1023..1025, 99_000..100_000, 40_000..40_000];
    let got = b.read_ranges(&loc, &ranges).expect("read");
    for (r, g) in ranges.iter().zip(&got) {
        assert!(g[..] == data[r.start as usize..r.end as usize]);
    }
    // A read straddling the end: the parts past it are not errors; the range past it is.
    let r = b.read(vec![ReadRequest::new(loc.clone(), 98_000..101_000, 1), ReadRequest::new(loc, 97_000..99_000, 2)]);
    let mut results = r.collect_all();
    results.sort_by_key(|r| match r {
        Ok(c) => c.tag,
        Err(e) => e.tag().unwrap_or(0),
    });
    assert!(matches!(results[0], Err(Error::OutOfRange { object_len: 100_000, .. })), "{:?}", results[0]);
    assert!(results[1].as_ref().expect("in bounds").bytes[..] == data[97_000..99_000]);
}

#[test]
fn runs_on_a_runtime_it_is_given_and_never_blocks_it() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let config = BridgeConfig { runtime: RuntimeChoice::Handle(rt.handle().clone()), ..BridgeConfig::default() };
    let b = memory(config);
    let loc = Location::object("memory:///rt");
    b.write_whole(&loc, bytes(b"hello world"), false).expect("write");
    // From async code on the same runtime: the batch is a Stream.
    let got = rt.block_on(b.read_ranges_async(&loc, &[0..5, 6..11])).expect("async read");
    assert_eq!((&got[0][..], &got[1][..]), (&b"hello"[..], &b"world"[..]));
}

#[test]
fn bad_locations_fail_alone() {
    let b = memory(BridgeConfig::default());
    let good = Location::object("memory:///g");
    b.write_whole(&good, bytes(b"ok"), false).expect("write");
    let mut results = b
        .read(vec![
            ReadRequest::new(Location::object("s3://elsewhere/x"), 0..1, 1),
            ReadRequest::new(Location::local("/etc/hostname"), 0..1, 2),
            ReadRequest::new(good, 0..2, 3),
        ])
        .collect_all();
    results.sort_by_key(|r| match r {
        Ok(c) => c.tag,
        Err(e) => e.tag().unwrap_or(0),
    });
    assert!(matches!(results[0], Err(Error::InvalidRequest { .. })));
    assert!(matches!(results[1], Err(Error::InvalidRequest { .. })));
    assert_eq!(&results[2].as_ref().expect("good read").bytes[..], b"ok");
}
