//! The chunk pipeline: results, order, errors, panics, backpressure, cancellation, real files,
//! and async use from a tokio runtime.

#![cfg(not(loom))]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{SlowBackend, len_of, memory_with};
use lsio_io::{ByteRange, IoBackend, Location, PreadBackend, ReadRequest};
use lsio_scheduler::{Error, PipelineConfig, ThreadPool};

fn pool() -> ThreadPool {
    ThreadPool::with_threads(2).unwrap()
}

fn requests(locs: &[Location], per_object: u64, len: u64) -> Vec<ReadRequest> {
    let mut out = Vec::new();
    for (i, loc) in locs.iter().enumerate() {
        for j in 0..per_object {
            let tag = 1000 + out.len() as u64; // tags unrelated to positions
            let _ = i;
            out.push(ReadRequest::new(loc.clone(), j * len..(j + 1) * len, tag));
        }
    }
    out
}

#[test]
fn unordered_results_one_per_request() {
    let (mem, locs) = memory_with(&[64 * 1024; 4]);
    let reqs = requests(&locs, 16, 4096);
    let p = pool();
    let pipe = p.pipeline(mem.clone(), reqs.clone(), |c| (c.tag, c.bytes.to_vec()), PipelineConfig::default());
    let mut seen = HashMap::new();
    for r in pipe {
        let (tag, bytes) = r.unwrap();
        assert!(seen.insert(tag, bytes).is_none(), "tag {tag} twice");
    }
    assert_eq!(seen.len(), reqs.len());
    for r in &reqs {
        assert_eq!(seen[&r.tag], common::expected(&mem, r).unwrap());
    }
}

#[test]
fn ordered_results_come_in_request_order() {
    let (mem, locs) = memory_with(&[32 * 1024; 3]);
    let reqs = requests(&locs, 32, 1024);
    let slow = SlowBackend::new(mem, Duration::from_micros(200), 7);
    let p = pool();
    let config = PipelineConfig { ordered: true, reorder_window: 8, batch_size: 5, ..Default::default() };
    let pipe = p.pipeline(slow, reqs.clone(), |c| c.tag, config);
    let tags: Vec<u64> = pipe.map(|r| r.unwrap()).collect();
    assert_eq!(tags, reqs.iter().map(|r| r.tag).collect::<Vec<_>>());
}

#[test]
fn errors_are_results_with_their_tag_and_the_rest_goes_on() {
    let (mem, locs) = memory_with(&[1000]);
    let reqs = vec![
        ReadRequest::new(locs[0].clone(), 0..10, 1),
        ReadRequest::new(locs[0].clone(), 990..2000, 2), // past the end
        ReadRequest::new(Location::object("mem://missing"), 0..10, 3),
        ReadRequest::new(locs[0].clone(), 10..20, 4),
        ReadRequest::new(locs[0].clone(), ByteRange::Whole, 5),
    ];
    let p = pool();
    let config = PipelineConfig { ordered: true, ..Default::default() };
    let out: Vec<_> = p.pipeline(mem, reqs, |c| (c.tag, c.bytes.len()), config).collect();
    assert_eq!(out.len(), 5);
    assert_eq!(out[0].as_ref().unwrap(), &(1, 10));
    match &out[1] {
        Err(Error::Io { tag: 2, source: lsio_io::Error::OutOfRange { tag: Some(2), .. } }) => {}
        other => panic!("unexpected {other:?}"),
    }
    match &out[2] {
        Err(e @ Error::Io { tag: 3, source: lsio_io::Error::NotFound { .. } }) => {
            assert_eq!(e.tag(), Some(3));
            assert!(e.to_string().contains("mem://missing"), "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(out[3].as_ref().unwrap(), &(4, 10));
    assert_eq!(out[4].as_ref().unwrap(), &(5, 1000));
}

#[test]
fn stop_on_error_ends_after_the_first_error() {
    let (mem, locs) = memory_with(&[100]);
    let mut reqs: Vec<_> = (0..50).map(|i| ReadRequest::new(locs[0].clone(), 0..10, i)).collect();
    reqs[20] = ReadRequest::new(locs[0].clone(), 0..1000, 20);
    let p = pool();
    let config = PipelineConfig { ordered: true, stop_on_error: true, batch_size: 4, ..Default::default() };
    let out: Vec<_> = p.pipeline(mem, reqs, |c| c.tag, config).collect();
    assert_eq!(out.len(), 21);
    assert!(out[..20].iter().all(|r| r.is_ok()));
    assert_eq!(out[20].as_ref().unwrap_err().tag(), Some(20));
}

#[test]
fn a_panicking_function_is_an_error_for_its_request() {
    let (mem, locs) = memory_with(&[100]);
    let reqs: Vec<_> = (0..20).map(|i| ReadRequest::new(locs[0].clone(), 0..10, i)).collect();
    let p = pool();
    let pipe = p.pipeline(
        mem,
        reqs,
        |c| {
            if c.tag % 7 == 3 {
                panic!("bad chunk {}", c.tag);
            }
            c.tag
        },
        PipelineConfig { ordered: true, ..Default::default() },
    );
    for (i, r) in pipe.enumerate() {
        let i = i as u64;
        match r {
            Ok(t) => assert_eq!(t, i),
            Err(Error::Panicked { message, tag }) => {
                assert_eq!(tag, Some(i));
                assert_eq!(message, format!("bad chunk {i}"));
                assert_eq!(i % 7, 3);
            }
            Err(e) => panic!("{e}"),
        }
    }
    // The pool still works.
    assert_eq!(p.spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn a_slow_consumer_bounds_bytes_in_flight() {
    let (mem, locs) = memory_with(&[1 << 20; 2]);
    let reqs = requests(&locs, 64, 16 * 1024); // 128 requests of 16 KiB = 2 MiB
    let lens: HashMap<u64, u64> = reqs.iter().map(|r| (r.tag, len_of(r))).collect();
    let slow = SlowBackend::new(mem, Duration::ZERO, 3);
    let limit = 100 * 1024;
    let config = PipelineConfig { bytes_in_flight: limit, batch_size: 2, ..Default::default() };
    let p = pool();
    let computed = Arc::new(AtomicUsize::new(0));
    let c2 = computed.clone();
    let mut pipe = p.pipeline(
        slow.clone(),
        reqs,
        move |c| {
            c2.fetch_add(1, Ordering::SeqCst);
            c.tag
        },
        config,
    );
    let mut n = 0;
    for r in pipe.by_ref() {
        let tag = r.unwrap();
        slow.consumed(lens[&tag]);
        n += 1;
        if n % 16 == 0 {
            std::thread::sleep(Duration::from_millis(5));
            // The workers cannot run ahead of the consumer by more than the budget allows.
            let ahead = computed.load(Ordering::SeqCst) - n;
            assert!(ahead as u64 * 16 * 1024 <= limit, "{ahead} chunks computed ahead");
        }
    }
    assert_eq!(n, 128);
    let stats = pipe.stats();
    assert!(stats.peak_bytes_in_flight <= limit, "{stats:?}");
    assert!(stats.peak_bytes_in_flight >= 64 * 1024, "the budget should be used: {stats:?}");
    // Counted from outside: the backend adds at submission, the consumer subtracts once `next`
    // returned. `next` releases a result's charge and submits more *before* returning it (so
    // that reads go on while the consumer works), hence one result of slack.
    assert!(slow.peak_outstanding.load(Ordering::SeqCst) <= limit + 16 * 1024);
    assert_eq!(stats.bytes_in_flight, 0);
    assert_eq!(stats.results, 128);
}

#[test]
fn a_request_larger_than_the_budget_runs_alone() {
    let (mem, locs) = memory_with(&[10_000]);
    let reqs = vec![
        ReadRequest::new(locs[0].clone(), 0..100, 0),
        ReadRequest::new(locs[0].clone(), 0..5000, 1),
        ReadRequest::new(locs[0].clone(), 0..100, 2),
    ];
    let p = pool();
    let config = PipelineConfig { bytes_in_flight: 1000, ..Default::default() };
    let mut pipe = p.pipeline(mem, reqs, |c| c.bytes.len(), config);
    let mut got: Vec<usize> = pipe.by_ref().map(|r| r.unwrap()).collect();
    got.sort();
    assert_eq!(got, [100, 100, 5000]);
    assert_eq!(pipe.stats().peak_bytes_in_flight, 5000);
    assert_eq!(pipe.stats().largest_charge, 5000);
}

#[test]
fn unknown_lengths_are_trued_up() {
    let (mem, locs) = memory_with(&[3000, 5000, 7000]);
    let reqs: Vec<_> = locs.iter().enumerate().map(|(i, l)| ReadRequest::new(l.clone(), .., i as u64)).collect();
    let p = pool();
    let config = PipelineConfig { unknown_len_charge: 100, bytes_in_flight: 1 << 20, ..Default::default() };
    let mut pipe = p.pipeline(mem, reqs, |c| c.bytes.len(), config);
    let mut got: Vec<usize> = pipe.by_ref().map(|r| r.unwrap()).collect();
    got.sort();
    assert_eq!(got, [3000, 5000, 7000]);
    assert_eq!(pipe.stats().bytes_in_flight, 0);
    assert_eq!(pipe.stats().largest_charge, 7000);
}

#[test]
fn dropping_in_the_middle_cancels_without_hanging_or_leaking() {
    let (mem, locs) = memory_with(&[1 << 20; 4]);
    let reqs = requests(&locs, 256, 4096);
    let slow = SlowBackend::new(mem, Duration::from_millis(1), 11);
    let p = pool();
    let marker = Arc::new(());
    let m2 = marker.clone();
    let mut pipe = p.pipeline(
        slow.clone(),
        reqs,
        move |c| {
            let _m = &m2;
            std::thread::sleep(Duration::from_micros(100));
            c.tag
        },
        PipelineConfig { bytes_in_flight: 256 * 1024, ..Default::default() },
    );
    for _ in 0..10 {
        pipe.next().unwrap().unwrap();
    }
    let start = Instant::now();
    drop(pipe);
    assert!(start.elapsed() < Duration::from_millis(500), "drop took {:?}", start.elapsed());
    // The backend's batches see the cancellation and stop; every job lets go of the function.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (slow.live_batches.load(Ordering::SeqCst) > 0 || Arc::strong_count(&marker) > 1) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(slow.live_batches.load(Ordering::SeqCst), 0, "backend batches still running");
    assert_eq!(Arc::strong_count(&marker), 1, "the pipeline's function leaked");
    assert!(slow.batches.load(Ordering::SeqCst) < 1024 / 32, "everything was submitted despite the budget");
}

#[test]
fn reads_real_files_with_the_pread_backend() {
    let dir = tempfile::tempdir().unwrap();
    let mut reqs = Vec::new();
    let mut want = HashMap::new();
    for f in 0..5u64 {
        let path = dir.path().join(format!("f{f}"));
        let data: Vec<u8> = (0..100_000u64).map(|i| ((i * (f + 1)) % 256) as u8).collect();
        std::fs::File::create(&path).unwrap().write_all(&data).unwrap();
        for k in 0..20u64 {
            let tag = f * 100 + k;
            let range = k * 5000..k * 5000 + 3000;
            want.insert(tag, crc32c::crc32c(&data[range.start as usize..range.end as usize]));
            reqs.push(ReadRequest::new(Location::local(&path), range, tag));
        }
    }
    let backend: Arc<dyn IoBackend> = Arc::new(PreadBackend::new().unwrap());
    let p = pool();
    let pipe = p.pipeline(backend, reqs, |c| (c.tag, crc32c::crc32c(&c.bytes)), PipelineConfig::default());
    let got: HashMap<u64, u32> = pipe.map(|r| r.unwrap()).collect();
    assert_eq!(got, want);
}

#[test]
fn async_stream_from_a_tokio_runtime() {
    use futures::StreamExt;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let (mem, locs) = memory_with(&[1 << 16; 2]);
    let reqs = requests(&locs, 32, 2048);
    let n = reqs.len();
    let slow = SlowBackend::new(mem, Duration::from_micros(300), 5);
    let p = pool();
    let tags = rt.block_on(async move {
        let config = PipelineConfig { ordered: true, reorder_window: 16, batch_size: 4, ..Default::default() };
        let pipe = p.pipeline(slow, reqs, |c| c.tag, config).into_stream();
        // Held across awaits on a multi-thread runtime: the stream is Send.
        let handle = tokio::spawn(async move {
            let mut pipe = pipe;
            let mut tags = Vec::new();
            while let Some(r) = pipe.next().await {
                tags.push(r.unwrap());
            }
            tags
        });
        handle.await.unwrap()
    });
    assert_eq!(tags.len(), n);
    assert!(tags.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn an_empty_request_list_ends_at_once() {
    let p = pool();
    let (mem, _) = memory_with(&[]);
    let mut pipe = p.pipeline(mem, Vec::new(), |c| c.tag, PipelineConfig::default());
    assert!(pipe.next().is_none());
    assert!(pipe.next().is_none());
}

#[test]
fn a_pipeline_consumed_inside_its_own_one_thread_pool_does_not_deadlock() {
    let (mem, locs) = memory_with(&[1 << 16]);
    let reqs = requests(&locs, 64, 1024);
    let slow = SlowBackend::new(mem, Duration::from_micros(100), 9);
    let p = ThreadPool::with_threads(1).unwrap();
    let p2 = p.clone();
    let task = p.spawn(move || {
        let config = PipelineConfig { batch_size: 4, reorder_window: 8, ..Default::default() };
        p2.pipeline(slow, reqs, |c| c.bytes.len(), config).map(|r| r.unwrap()).sum::<usize>()
    });
    assert_eq!(task.join().unwrap(), 64 * 1024);
}
