//! `LsioStore` never reaches outside its root: `..`, encoded dot segments, odd encodings,
//! absolute paths and symlinks leading out are each refused with an error (or, for a leading `/`,
//! kept inside the root).
#![allow(clippy::single_range_in_vec_init)] // `&[a..b]`: one range, as object_store takes them

use futures::StreamExt;
use lsio_object_store_bridge::LsioStore;
use lsio_object_store_bridge::object_store::path::Path;
use lsio_object_store_bridge::object_store::{Error, ObjectStore, ObjectStoreExt};

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    store: LsioStore,
}

/// `dir/root` is the store's root; `dir/outside/secret.txt` must never be reachable.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret.txt"), b"secret").expect("secret");
    let store = LsioStore::new(&root).expect("store");
    Fixture { _dir: dir, root, outside, store }
}

fn assert_refused(r: Result<impl std::fmt::Debug, Error>, what: &str) {
    match r {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("refused"), "{what}: want a refusal, got {msg}");
        }
        Ok(v) => panic!("{what}: want a refusal, got {v:?}"),
    }
}

/// Every operation on `p` is refused.
async fn all_refused(store: &LsioStore, p: &Path) {
    assert_refused(store.get(p).await.map(|_| ()), &format!("get {p}"));
    assert_refused(store.head(p).await, &format!("head {p}"));
    assert_refused(store.get_ranges(p, &[0..1]).await, &format!("get_ranges {p}"));
    assert_refused(store.put(p, "x".into()).await, &format!("put {p}"));
    assert_refused(store.put_multipart(p).await.map(|_| ()), &format!("put_multipart {p}"));
    assert_refused(store.delete(p).await, &format!("delete {p}"));
    assert_refused(store.copy(p, &Path::from("dst")).await, &format!("copy from {p}"));
    let ok = Path::from("ok.txt");
    store.put(&ok, "ok".into()).await.expect("a normal put");
    assert_refused(store.copy(&ok, p).await, &format!("copy to {p}"));
    assert_refused(store.rename(&ok, p).await, &format!("rename to {p}"));
}

#[tokio::test]
async fn dot_dot_is_refused() {
    let f = fixture();
    // object_store's `Path::from` encodes `..` as `%2E%2E` rather than failing: refused all the same.
    let p = Path::from("../outside/secret.txt");
    assert_eq!(p.as_ref(), "%2E%2E/outside/secret.txt");
    all_refused(&f.store, &p).await;
    // `Path::parse` refuses a literal `..` itself.
    assert!(Path::parse("../outside/secret.txt").is_err());
}

#[tokio::test]
async fn encoded_dot_segments_and_odd_encodings_are_refused() {
    let f = fixture();
    for raw in ["%2E%2E/outside/secret.txt", "a/.%2e/x", "%2e/x", "bad%00name", "latin%FF1", "file#17"] {
        let p = Path::parse(raw).expect("a path object_store accepts");
        all_refused(&f.store, &p).await;
    }
    let mut listed = f.store.list(Some(&Path::parse("%2E%2E").expect("path")));
    assert!(matches!(listed.next().await, Some(Err(_))), "listing an encoded `..` is refused");
}

#[tokio::test]
async fn absolute_paths_stay_inside_the_root() {
    let f = fixture();
    // A path cannot be absolute: the leading `/` is dropped, so this is `<root>/etc/passwd`.
    let p = Path::from("/etc/passwd");
    assert_eq!(p.as_ref(), "etc/passwd");
    assert!(matches!(f.store.head(&p).await, Err(Error::NotFound { .. })), "not the system's /etc/passwd");
    let abs = Path::from(f.outside.join("secret.txt").to_string_lossy().as_ref());
    assert!(matches!(f.store.get(&abs).await, Err(Error::NotFound { .. })));
    f.store.put(&abs, "inside".into()).await.expect("put");
    assert_eq!(std::fs::read(f.outside.join("secret.txt")).expect("secret"), b"secret");
    let inside = f.store.path_to_filesystem(&abs).expect("the object exists now");
    assert!(inside.starts_with(f.store.root()), "{}", inside.display());
}

#[tokio::test]
async fn symlinks_leading_out_are_refused() {
    let f = fixture();
    std::os::unix::fs::symlink(f.outside.join("secret.txt"), f.root.join("link.txt")).expect("file symlink");
    std::os::unix::fs::symlink(&f.outside, f.root.join("linkdir")).expect("dir symlink");
    std::os::unix::fs::symlink("../outside/secret.txt", f.root.join("relative.txt")).expect("relative symlink");
    for p in ["link.txt", "relative.txt", "linkdir/secret.txt"] {
        let p = Path::from(p);
        assert_refused(f.store.get(&p).await.map(|_| ()), &format!("get {p}"));
        assert_refused(f.store.head(&p).await, &format!("head {p}"));
        assert_refused(f.store.get_ranges(&p, &[0..3]).await, &format!("get_ranges {p}"));
        assert_refused(f.store.copy(&p, &Path::from("stolen")).await, &format!("copy {p}"));
    }
    // Writing through the directory link is refused; nothing lands outside.
    assert_refused(f.store.put(&Path::from("linkdir/new.txt"), "x".into()).await, "put through a link");
    assert_refused(f.store.delete(&Path::from("linkdir/secret.txt")).await, "delete through a link");
    assert!(!f.outside.join("new.txt").exists());
    assert!(f.outside.join("secret.txt").exists());
    // Listing shows none of them.
    let listed: Vec<_> = f.store.list(None).collect::<Vec<_>>().await;
    assert!(listed.is_empty(), "{listed:?}");
    let l = f.store.list_with_delimiter(None).await.expect("list");
    assert!(l.objects.is_empty() && l.common_prefixes.is_empty(), "{l:?}");

    // Symlinks that stay inside the root work, like LocalFileSystem's.
    std::fs::create_dir(f.root.join("a")).expect("dir");
    std::fs::write(f.root.join("a/file"), b"inside").expect("file");
    std::os::unix::fs::symlink(f.root.join("a"), f.root.join("b")).expect("inner link");
    let got = f.store.get(&Path::from("b/file")).await.expect("get").bytes().await.expect("bytes");
    assert_eq!(&got[..], b"inside");
}
