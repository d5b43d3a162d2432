//! Faults between the client and a real S3 server (moto), injected by a proxy in this test code:
//! transient 503s and connection resets are retried and succeed; exhausted retries fail each
//! affected request with an error naming the object's URL and the request's range; a failed
//! upload leaves nothing half-written. Also: latency is overlapped (requests run concurrently),
//! and a server that checks signatures (SeaweedFS) refuses wrong credentials.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{FaultKind, Faults, Proxy, socket_addr_of};
use common::{gate, unique};
use lsio_io::conformance::test_data;
use lsio_io::{AlignedBytes, Error, IoBackend, IoBackendExt, Location, ReadRequest, WriteRequest};
use lsio_object_store_bridge::object_store::path::Path;
use lsio_object_store_bridge::object_store::{BackoffConfig, ObjectStore, ObjectStoreExt, RetryConfig};
use lsio_object_store_bridge::{BridgeConfig, ObjectStoreBackend};

fn quick_retries(max_retries: usize) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            base: 2.0,
        },
        max_retries,
        retry_timeout: Duration::from_secs(20),
    }
}

fn s3_options(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("aws_endpoint".into(), endpoint.into()),
        ("aws_allow_http".into(), "true".into()),
        ("aws_region".into(), "us-east-1".into()),
    ]
}

/// A moto bucket reached directly (to plant and check objects) and through a proxy with `faults`
/// (the backend under test).
struct Setup {
    direct: Arc<dyn ObjectStore>,
    backend: ObjectStoreBackend,
    proxy: Proxy,
    bucket: String,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new(endpoint: &str, faults: Faults, config: BridgeConfig) -> Setup {
        let bucket = std::env::var("LSIO_TEST_S3_BUCKET").unwrap_or_else(|_| "lsio-test".into());
        let url = format!("s3://{bucket}");
        let direct = ObjectStoreBackend::from_url_opts(&url, s3_options(endpoint), BridgeConfig::default())
            .expect("direct store")
            .store()
            .clone();
        let proxy = Proxy::start(socket_addr_of(endpoint), faults);
        let backend = ObjectStoreBackend::from_url_opts(&url, s3_options(&proxy.url()), config).expect("backend");
        Setup { direct, backend, proxy, bucket, prefix: unique("faults"), rt: common::runtime() }
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, name)
    }

    fn url(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }

    fn plant(&self, name: &str, data: &[u8]) {
        let payload = bytes::Bytes::copy_from_slice(data);
        self.rt.block_on(self.direct.put(&Path::from(self.key(name)), payload.into())).expect("plant");
    }

    fn fetch(&self, name: &str) -> Option<Vec<u8>> {
        match self.rt.block_on(self.direct.get(&Path::from(self.key(name)))) {
            Ok(r) => Some(self.rt.block_on(r.bytes()).expect("body").to_vec()),
            Err(lsio_object_store_bridge::object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("checking {name}: {e}"),
        }
    }
}

fn read_three_objects(s: &Setup) {
    let objects: Vec<(String, Vec<u8>)> =
        (0..3).map(|i| (format!("obj-{i}"), test_data(100_000 + i * 1000, 300 + i as u64))).collect();
    for (name, data) in &objects {
        s.plant(name, data);
    }
    let mut reqs = Vec::new();
    for (i, (name, _)) in objects.iter().enumerate() {
        for j in 0..4u64 {
            let start = j * 20_000;
            reqs.push(ReadRequest::new(Location::object(s.url(name)), start..start + 5_000, (i as u64) * 10 + j));
        }
    }
    let mut n = 0;
    for r in s.backend.read(reqs) {
        let c = r.unwrap_or_else(|e| panic!("read through faults: {e}"));
        let data = &objects[(c.tag / 10) as usize].1;
        assert!(c.bytes[..] == data[c.range.start as usize..c.range.end as usize]);
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn transient_503s_are_retried() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    let config = BridgeConfig { retry: quick_retries(10), ..BridgeConfig::default() };
    let s = Setup::new(&endpoint, Faults::fail_first(5, FaultKind::Status503), config);
    read_three_objects(&s);
    assert_eq!(s.proxy.failed(), 5);
    assert!(s.proxy.requests() >= 3 + 5, "{} requests", s.proxy.requests());
}

#[test]
fn connection_resets_are_retried() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    let config = BridgeConfig { retry: quick_retries(10), ..BridgeConfig::default() };
    let s = Setup::new(&endpoint, Faults::fail_first(4, FaultKind::Reset), config);
    read_three_objects(&s);
    assert_eq!(s.proxy.failed(), 4);
}

#[test]
fn exhausted_retries_fail_each_request_with_url_and_range() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    let config = BridgeConfig { retry: quick_retries(2), ..BridgeConfig::default() };
    let s = Setup::new(&endpoint, Faults::fail_first(u64::MAX, FaultKind::Status503), config);
    s.plant("a", &test_data(10_000, 1));
    s.plant("b", &test_data(10_000, 2));
    let reqs = vec![
        ReadRequest::new(Location::object(s.url("a")), 0..100, 1),
        ReadRequest::new(Location::object(s.url("a")), 5000..5100, 2),
        ReadRequest::new(Location::object(s.url("b")), 200..300, 3),
    ];
    let mut tags = Vec::new();
    for r in s.backend.read(reqs) {
        let e = r.expect_err("every request fails once retries are exhausted");
        let tag = e.tag().expect("errors carry the tag");
        let (name, range) = match tag {
            1 => ("a", "0..100"),
            2 => ("a", "5000..5100"),
            _ => ("b", "200..300"),
        };
        let msg = e.to_string();
        assert!(matches!(e, Error::Backend { .. }), "{e:?}");
        assert!(msg.contains(&s.url(name)), "the error names the URL: {msg}");
        assert!(msg.contains(range), "the error names the range: {msg}");
        let source = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
        assert!(source.contains("503") || source.contains("Service Unavailable"), "{source}");
        tags.push(tag);
    }
    tags.sort_unstable();
    assert_eq!(tags, vec![1, 2, 3]);
    // One GET per object (the two ranges of `a` merge), each tried 1 + 2 times.
    assert_eq!(s.proxy.requests(), 2 * 3);
}

#[test]
fn failed_put_leaves_the_old_object() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    let config = BridgeConfig { retry: quick_retries(1), ..BridgeConfig::default() };
    let s = Setup::new(&endpoint, Faults::fail_first(u64::MAX, FaultKind::Status503), config);
    s.plant("kept", b"old contents");
    let loc = Location::object(s.url("kept"));
    let e =
        s.backend.write_whole(&loc, AlignedBytes::copy_from_slice(&test_data(1000, 5)), false).expect_err("PUT fails");
    assert!(e.to_string().contains(&s.url("kept")), "{e}");
    assert_eq!(s.fetch("kept").as_deref(), Some(&b"old contents"[..]));
}

#[test]
fn failed_multipart_upload_is_aborted_and_leaves_nothing() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    // Parts of 5 MiB; the upload of part 2 always fails.
    let config = BridgeConfig { retry: quick_retries(1), part_size: 5 << 20, ..BridgeConfig::default() };
    let mut faults = Faults::fail_first(u64::MAX, FaultKind::Status503);
    faults.filter = Some(Arc::new(|method: &str, path: &str| method == "PUT" && path.contains("partNumber=2")));
    let s = Setup::new(&endpoint, faults, config);
    let data = test_data(12 << 20, 9);
    let loc = Location::object(s.url("big"));
    let reqs = vec![
        WriteRequest::create(loc.clone(), true, 0),
        WriteRequest::write_at(loc.clone(), 0, vec![AlignedBytes::copy_from_slice(&data[..7 << 20])], 1),
        WriteRequest::write_at(loc.clone(), 7 << 20, vec![AlignedBytes::copy_from_slice(&data[7 << 20..])], 2),
        WriteRequest::sync(loc.clone(), false, 3),
    ];
    let results = s.backend.write(reqs).collect_all();
    assert_eq!(results.len(), 4);
    for r in results {
        let e = r.expect_err("every request of the failed upload fails");
        assert!(e.to_string().contains(&s.url("big")), "{e}");
    }
    assert!(s.proxy.failed() >= 2, "part 2 was tried and retried");
    assert_eq!(s.fetch("big"), None, "no partial object");

    // The same upload without faults succeeds as three parts.
    let ok = Setup::new(
        &endpoint,
        Faults::delay(Duration::ZERO),
        BridgeConfig { part_size: 5 << 20, ..BridgeConfig::default() },
    );
    let loc = Location::object(ok.url("big"));
    ok.backend.write_whole(&loc, AlignedBytes::copy_from_slice(&data), true).expect("multipart upload");
    assert!(ok.fetch("big").expect("object") == data);
    assert!(ok.backend.read_whole(&loc).expect("read back")[..] == data[..]);
}

#[test]
fn latency_is_overlapped() {
    let Some(endpoint) = gate("LSIO_TEST_S3_ENDPOINT") else { return };
    let delay = Duration::from_millis(100);
    let s = Setup::new(&endpoint, Faults::delay(delay), BridgeConfig::default());
    let n = 48u64;
    for i in 0..n {
        s.plant(&format!("o{i}"), &test_data(4096, i));
    }
    let reqs = (0..n).map(|i| ReadRequest::new(Location::object(s.url(&format!("o{i}"))), 0..4096, i)).collect();
    let t = Instant::now();
    let got = s.backend.read(reqs).filter(|r| r.is_ok()).count();
    let elapsed = t.elapsed();
    assert_eq!(got as u64, n);
    // One after another this is n x 100 ms = 4.8 s.
    assert!(elapsed < delay * (n as u32) / 4, "{n} GETs took {elapsed:?}");
}

#[test]
fn wrong_credentials_are_refused_by_a_signature_checking_server() {
    let Some(endpoint) = gate("LSIO_TEST_SEAWEEDFS_ENDPOINT") else { return };
    let bucket = std::env::var("LSIO_TEST_SEAWEEDFS_BUCKET").unwrap_or_else(|_| "lsio-test".into());
    let url = format!("s3://{bucket}");
    // Right keys: from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    let good =
        ObjectStoreBackend::from_url_opts(&url, s3_options(&endpoint), BridgeConfig::default()).expect("backend");
    let key = unique("creds");
    let loc = Location::object(format!("{url}/{key}"));
    good.write_whole(&loc, AlignedBytes::copy_from_slice(b"secret data"), false).expect("write with the right keys");
    assert_eq!(&good.read_whole(&loc).expect("read with the right keys")[..], b"secret data");

    let mut opts = s3_options(&endpoint);
    opts.push(("aws_secret_access_key".into(), "not-the-secret".into()));
    let config = BridgeConfig { retry: quick_retries(0), ..BridgeConfig::default() };
    let bad = ObjectStoreBackend::from_url_opts(&url, opts, config).expect("backend");
    let e = bad.read_range(&loc, 0..4).expect_err("wrong secret is refused");
    let msg = format!("{e} / {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default());
    assert!(msg.contains(&format!("{url}/{key}")), "{msg}");
    assert!(msg.contains("403") || msg.contains("SignatureDoesNotMatch") || msg.contains("Forbidden"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "the secret leaked into the error: {msg}");
    assert!(!format!("{bad:?}").contains("not-the-secret"), "the secret leaked into Debug");
    let e = bad.write_whole(&loc, AlignedBytes::copy_from_slice(b"overwritten"), false).expect_err("refused");
    assert!(e.to_string().contains(&key), "{e}");
    assert_eq!(&good.read_whole(&loc).expect("unchanged")[..], b"secret data");
}
