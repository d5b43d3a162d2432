//! The lsio conformance suite against `ObjectStoreBackend` over the in-memory store, the local file
//! store, an S3 server (moto) and an HTTP/WebDAV server (rclone), the last two when
//! `scripts/servers.sh start` has exported where they run.

mod common;

use std::sync::Arc;

use common::{StoreEnv, gate, unique};
use lsio_object_store_bridge::object_store::ObjectStore;
use lsio_object_store_bridge::{BridgeConfig, ObjectStoreBackend};

/// Generates one `#[test]` per conformance check; `$make` gets the gate variable's value (or
/// `()` for stores that need no server) and returns `(backend, env)`.
macro_rules! suite {
    ($gate:expr, $make:expr) => {
        suite!(@tests $gate, $make;
            random_ranges_byte_exact, zero_length_ranges, suffix_from_and_whole_ranges,
            past_eof_fails_alone, missing_file_not_found, tags_preserved, memory_bound_100k,
            concurrent_submitters, drop_mid_flight, async_stream, writes_round_trip);
    };
    (@tests $gate:expr, $make:expr; $($name:ident),*) => {$(
        #[test]
        fn $name() {
            let Some(value) = $gate else { return };
            let (backend, env) = ($make)(value);
            lsio_io::conformance::$name(&backend, &env);
        }
    )*};
}

fn small_budget() -> BridgeConfig {
    // A small budget, so the memory-bound check exercises parking and waking.
    BridgeConfig { bytes_in_flight: 4 << 20, ..BridgeConfig::default() }
}

mod memory {
    use super::*;

    suite!(Some(()), |()| {
        let store: Arc<dyn ObjectStore> = Arc::new(lsio_object_store_bridge::object_store::memory::InMemory::new());
        let backend = ObjectStoreBackend::new(store.clone(), "memory://", small_budget()).expect("backend");
        (backend, StoreEnv::new(store, "memory://", "t"))
    });
}

mod local_file {
    use super::*;

    suite!(Some(()), |()| {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}", dir.path().display());
        let backend = ObjectStoreBackend::from_url_opts(&url, std::iter::empty::<(&str, &str)>(), small_budget())
            .expect("backend");
        let mut env = StoreEnv::new(backend.store().clone(), "file://", &dir.path().display().to_string());
        env.dir = Some(dir);
        (backend, env)
    });
}

/// S3 options for the moto server at `endpoint` (moto checks no signature: any key works).
pub fn s3_options(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("aws_endpoint".into(), endpoint.into()),
        ("aws_allow_http".into(), "true".into()),
        ("aws_region".into(), "us-east-1".into()),
    ]
}

mod s3_moto {
    use super::*;

    suite!(gate("LSIO_TEST_S3_ENDPOINT"), |endpoint: String| {
        let bucket = std::env::var("LSIO_TEST_S3_BUCKET").unwrap_or_else(|_| "lsio-test".into());
        let url = format!("s3://{bucket}");
        let backend = ObjectStoreBackend::from_url_opts(&url, s3_options(&endpoint), small_budget()).expect("backend");
        let env = StoreEnv::new(backend.store().clone(), &url, &unique("conf"));
        (backend, env)
    });
}

mod webdav_rclone {
    use super::*;

    suite!(gate("LSIO_TEST_WEBDAV_URL"), |url: String| {
        let url = url.trim_end_matches('/').to_owned();
        let backend =
            ObjectStoreBackend::from_url_opts(&url, [("allow_http", "true")], small_budget()).expect("backend");
        let env = StoreEnv::new(backend.store().clone(), backend.base_url(), &unique("conf"));
        (backend, env)
    });
}
