//! Batches are `futures::Stream`s usable from a multi-threaded tokio runtime: tasks on several
//! runtime threads await results, woken by the rings through the batch's channel.

use std::sync::Arc;

use futures::StreamExt;
use lsio_io::{IoBackend, IoBackendExt, Location, ReadRequest};
use lsio_uring::UringBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_stream_on_a_multi_threaded_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data: Arc<Vec<u8>> = Arc::new((0..2_000_000u32).map(|i| (i % 251) as u8).collect());
    std::fs::write(&path, &*data).unwrap();
    let loc = Location::local(&path);
    let backend = Arc::new(UringBackend::new().expect("io_uring backend"));

    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (backend, loc, data) = (backend.clone(), loc.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let reqs: Vec<ReadRequest> = (0..500u64)
                .map(|i| {
                    let start = (i * 3989 + t * 101) % 1_990_000;
                    ReadRequest::new(loc.clone(), start..start + 1000 + i, i)
                })
                .collect();
            let mut batch = backend.read(reqs);
            let mut n = 0;
            while let Some(r) = StreamExt::next(&mut batch).await {
                let c = r.expect("read");
                assert!(c.bytes[..] == data[c.range.start as usize..c.range.end as usize]);
                n += 1;
                if n % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            assert_eq!(n, 500);
            let one = backend.read_range_async(&loc, 10..20).await.expect("read_range_async");
            assert!(one[..] == data[10..20]);
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, 4000);
    let whole = backend.read_whole_async(&loc).await.expect("whole");
    assert_eq!(whole.len(), data.len());
}
