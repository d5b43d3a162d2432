//! Helpers shared by the integration tests: test environments over a store, gates on the
//! servers `scripts/servers.sh` starts, and a fault-injecting HTTP proxy.
#![allow(dead_code, unreachable_pub)]

pub mod proxy;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lsio_io::Location;
use lsio_io::conformance::TestEnv;
use lsio_object_store_bridge::object_store::path::Path;
use lsio_object_store_bridge::object_store::{ObjectStore, ObjectStoreExt};

/// A name no other test (or earlier run) uses, so tests can share a bucket.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}-{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// The value of a variable `scripts/servers.sh start` exports; `None` (after saying the test is
/// skipped and why) when it is absent.
pub fn gate(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("SKIPPED: {var} is not set; run `source scripts/servers.sh start` first (scripts/test.sh does)");
            None
        }
    }
}

/// A runtime for test set-up (planting objects) outside the backend under test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("test runtime")
}

/// Objects planted under `{base_url}/{prefix}/` of a store, put directly (not through the backend).
pub struct StoreEnv {
    pub store: Arc<dyn ObjectStore>,
    /// `scheme://authority`, as the backend's `base_url()`.
    pub base_url: String,
    /// The store path all objects of this environment live under.
    pub prefix: String,
    pub rt: tokio::runtime::Runtime,
    /// A directory that lives as long as the environment (local stores).
    pub dir: Option<tempfile::TempDir>,
}

impl StoreEnv {
    pub fn new(store: Arc<dyn ObjectStore>, base_url: &str, prefix: &str) -> Self {
        StoreEnv {
            store,
            base_url: base_url.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            rt: runtime(),
            dir: None,
        }
    }

    pub fn path_of(&self, location: &Location) -> Path {
        let s = location.as_object().expect("object location");
        let rest = s.strip_prefix(&self.base_url).expect("location under the base URL");
        Path::from_url_path(rest).expect("valid path")
    }
}

impl TestEnv for StoreEnv {
    fn location(&self, name: &str) -> Location {
        Location::object(format!("{}/{}/{}", self.base_url, self.prefix, name))
    }

    fn put(&self, location: &Location, data: &[u8]) {
        let path = self.path_of(location);
        let payload = bytes::Bytes::copy_from_slice(data);
        self.rt.block_on(self.store.put(&path, payload.into())).expect("planting a fixture");
    }

    fn has_directories(&self) -> bool {
        false
    }
}
