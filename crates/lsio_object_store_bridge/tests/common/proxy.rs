//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1: delays every request, answers chosen requests
//! with `503 Service Unavailable` or resets their connection, and counts what it saw.
//!
//! Keep-alive is kept (a delay is a per-request round trip, as over a real network); the `Host`
//! header goes upstream unchanged, so S3 signatures made for the proxy's address still verify.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does to a request it decides to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer `503 Service Unavailable` (object_store retries it).
    Status503,
    /// Close the connection with a TCP reset, answering nothing (retried for idempotent requests).
    Reset,
}

/// Which requests may be failed: `(method, path and query) -> bool`.
pub type Filter = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The proxy's behaviour.
#[derive(Clone)]
pub struct Faults {
    /// Added before forwarding every request.
    pub delay: Duration,
    /// How many of the matching requests fail (`u64::MAX`: all of them).
    pub fail_first: u64,
    pub kind: FaultKind,
    /// Which requests count as matching (all when `None`).
    pub filter: Option<Filter>,
}

impl Faults {
    /// Only a delay.
    pub fn delay(delay: Duration) -> Self {
        Faults { delay, fail_first: 0, kind: FaultKind::Status503, filter: None }
    }

    /// The first `n` requests fail with `kind`.
    pub fn fail_first(n: u64, kind: FaultKind) -> Self {
        Faults { delay: Duration::ZERO, fail_first: n, kind, filter: None }
    }
}

struct State {
    upstream: SocketAddr,
    faults: Faults,
    client: Client<HttpConnector, Incoming>,
    requests: AtomicU64,
    matched: AtomicU64,
    failed: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    rt: Option<tokio::runtime::Runtime>,
}

type Body = BoxBody<Bytes, hyper::Error>;

fn empty_body() -> Body {
    http_body_util::Full::new(Bytes::from_static(b"<Error><Code>SlowDown</Code></Error>"))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if !state.faults.delay.is_zero() {
        tokio::time::sleep(state.faults.delay).await;
    }
    let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".to_owned());
    let matches = state.faults.filter.as_ref().is_none_or(|f| f(req.method().as_str(), &path));
    if matches && state.matched.fetch_add(1, Ordering::Relaxed) < state.faults.fail_first {
        state.failed.fetch_add(1, Ordering::Relaxed);
        // Drain the request body first, so a 503 is read as an answer rather than a broken pipe.
        let _ = req.into_body().collect().await;
        return match state.faults.kind {
            FaultKind::Status503 => {
                let mut resp = Response::new(empty_body());
                *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                Ok(resp)
            }
            FaultKind::Reset => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset")),
        };
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{}{}", state.upstream, path).parse().map_err(std::io::Error::other)?;
    let resp = state.client.request(Request::from_parts(parts, body)).await.map_err(std::io::Error::other)?;
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(parts, body.boxed()))
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `upstream`.
    pub fn start(upstream: SocketAddr, faults: Faults) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(usize::MAX).build(connector);
        let state = Arc::new(State {
            upstream,
            faults,
            client,
            requests: AtomicU64::new(0),
            matched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let s = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                // A reset, not a FIN, when a connection is dropped on an injected fault.
                let _ = stream.set_zero_linger();
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { addr, state, rt: Some(rt) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests failed on purpose.
    pub fn failed(&self) -> u64 {
        self.state.failed.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// `host:port` of an `http://host:port[/...]` URL.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let rest = url.trim_start_matches("http://");
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport.parse().expect("an http://IP:PORT URL")
}
