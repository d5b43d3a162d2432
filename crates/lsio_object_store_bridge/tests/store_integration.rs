//! object_store's own public integration checks against `LsioStore`, the ones object_store runs
//! against its `LocalFileSystem` (plus the multipart ones), over io_uring and over the pread
//! fallback.
#![allow(clippy::single_range_in_vec_init)] // `&[a..b]`: one range, as object_store takes them

use std::sync::Arc;

use lsio_io::{IoBackend, PreadBackend};
use lsio_object_store_bridge::LsioStore;
use lsio_object_store_bridge::object_store::integration::*;
use lsio_object_store_bridge::object_store::path::Path;
use lsio_object_store_bridge::object_store::{ObjectStore, ObjectStoreExt, PutPayload};

async fn local_file_system_checks(store: &LsioStore) {
    put_get_delete_list(store).await;
    list_with_offset_exclusivity(store).await;
    get_opts(store).await;
    list_uses_directories_correctly(store).await;
    list_with_delimiter(store).await;
    rename_and_copy(store).await;
    copy_if_not_exists(store).await;
    copy_rename_nonexistent_object(store).await;
    stream_get(store).await;
    put_opts(store, false).await;
    // Beyond what LocalFileSystem's tests run:
    put_get_attributes(store).await;
    multipart_out_of_order(store).await;
    multipart_race_condition(store, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_checks_over_the_default_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LsioStore::new(dir.path()).expect("store");
    eprintln!("backend: {}", store.backend().name());
    local_file_system_checks(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_checks_over_pread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<dyn IoBackend> = Arc::new(PreadBackend::new().expect("pread"));
    let store = LsioStore::with_backend(dir.path(), backend).expect("store");
    local_file_system_checks(&store).await;
}

/// Without a tokio runtime at all (as object_store's `test_non_tokio` for `LocalFileSystem`).
#[test]
fn works_without_tokio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LsioStore::new(dir.path()).expect("store");
    futures::executor::block_on(async {
        put_get_delete_list(&store).await;
        list_uses_directories_correctly(&store).await;
        list_with_delimiter(&store).await;
        let p = Path::from("manual_upload");
        let mut upload = store.put_multipart(&p).await.expect("upload");
        upload.put_part("123".into()).await.expect("part");
        upload.put_part("45678".into()).await.expect("part");
        let r = upload.complete().await.expect("complete");
        let get = store.get(&p).await.expect("get");
        assert_eq!(get.meta.e_tag, r.e_tag);
        assert_eq!(get.bytes().await.expect("bytes").as_ref(), b"12345678");
    });
}

#[tokio::test]
async fn incomplete_uploads_are_hidden_and_cleaned_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LsioStore::new(dir.path()).expect("store");
    let location = Path::from("some_file");
    let mut u = store.put_multipart(&location).await.expect("upload");
    u.put_part(PutPayload::from("data")).await.expect("part");
    assert_eq!(store.list_with_delimiter(None).await.expect("list").objects.len(), 0);
    assert!(store.head(&location).await.is_err());
    drop(u);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "the staging file is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ranges_many_small_ranges_byte_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LsioStore::new(dir.path()).expect("store");
    let data = lsio_io::conformance::test_data(3 << 20, 7);
    let p = Path::from("d/big.bin");
    store.put(&p, data.clone().into()).await.expect("put");
    let ranges: Vec<std::ops::Range<u64>> =
        (0..2000u64).map(|i| (i * 1543) % (3 << 20)).map(|s| s..(s + 700).min(3 << 20)).collect();
    let got = store.get_ranges(&p, &ranges).await.expect("get_ranges");
    for (r, g) in ranges.iter().zip(got) {
        assert_eq!(&g[..], &data[r.start as usize..r.end as usize]);
    }
    // A range past the end is an error, as for LocalFileSystem.
    assert!(store.get_ranges(&p, &[(3 << 20) - 1..(3 << 20) + 1]).await.is_err());
    // Streams of more than one chunk come back whole.
    let whole = store.get(&p).await.expect("get").bytes().await.expect("bytes");
    assert!(whole[..] == data[..]);
}
