//! [`ObjectStoreBackend`]: any `object_store` store as an lsio [`IoBackend`].
//!
//! ```text
//!  read(batch) ──▶ driver task ── per object: resolve the location, HEAD if a range needs the
//!                   │              length, plan (merge near ranges, split long reads)
//!                   │── per planned read: take budget (parks, never blocks a thread), spawn
//!                   ▼
//!              read task ── per piece: permit of the backend-wide semaphore, ranged GET whose
//!                   │        body streams into the piece's part of one aligned buffer
//!                   ▼
//!              zero-copy slices of that buffer ──▶ one Chunk (or error) per request
//! ```

use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use lsio_aligned::{AlignedBytesMut, BufferPool};
use lsio_io::group_by_location;
use lsio_io::{
    ByteRange, Chunk, CompletionSender, Error, IoBackend, Location, PlannedRead, ReadBatch, ReadRequest, WriteBatch,
    WriteDone, WriteOp, WriteRequest, batch, plan,
};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutMode, PutPayload};
use tokio::sync::Semaphore;

use crate::config::{BridgeConfig, RuntimeChoice};
use crate::error::{BridgeError, Result};
use crate::open::{base_of, open};

/// The `backend` name in [`lsio_io::Error::Backend`] errors of this backend.
pub const BACKEND: &str = "object_store";

/// Any [`ObjectStore`] as an lsio [`IoBackend`]: batches of ranged reads go through lsio's range
/// planner and run with up to [`BridgeConfig::max_concurrency`] requests in flight; writes are
/// PUTs or multipart uploads. See the crate documentation.
pub struct ObjectStoreBackend {
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    /// The runtime of our own, if we made one; shut down (not joined) when the backend drops.
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    store: Arc<dyn ObjectStore>,
    base: String,
    prefix: Path,
    local: bool,
    config: BridgeConfig,
    permits: Arc<Semaphore>,
    pool: BufferPool,
    name: String,
}

impl fmt::Debug for ObjectStoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The store's own `Debug` may show configuration; its `Display` names it only.
        f.debug_struct("ObjectStoreBackend")
            .field("url", &self.shared.base)
            .field("prefix", &self.shared.prefix.as_ref())
            .field("store", &format_args!("{}", self.shared.store))
            .field("max_concurrency", &self.shared.config.max_concurrency)
            .field("planner", &self.shared.config.planner)
            .finish()
    }
}

impl ObjectStoreBackend {
    /// The store that `url` names (`s3://bucket/prefix`, `gs://…`, `az://…`, `http(s)://…`,
    /// `file:///…`, `memory:///`), with default settings and credentials from the environment.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_url_opts(url, std::iter::empty::<(&str, &str)>(), BridgeConfig::default())
    }

    /// The store that `url` names, configured with object_store's option keys for it
    /// (`aws_endpoint`, `allow_http`, `aws_region`, `timeout`, ...). Credentials come from the
    /// usual environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`, ...); an option may override them.
    /// Option values never appear in errors or `Debug` output.
    pub fn from_url_opts<I, K, V>(url: &str, options: I, config: BridgeConfig) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let opened = open(url, options, &config)?;
        let local = opened.scheme == ObjectStoreScheme::Local;
        Self::build(opened.store, opened.base, opened.prefix, local, config)
    }

    /// Wraps a store made elsewhere. `url` names it in messages and in object URLs
    /// (`s3://bucket`, `memory://`); its path, if any, is the prefix of relative keys.
    pub fn new(store: Arc<dyn ObjectStore>, url: &str, config: BridgeConfig) -> Result<Self> {
        let parsed =
            url::Url::parse(url).map_err(|e| BridgeError::InvalidUrl { url: url.to_owned(), reason: e.to_string() })?;
        let prefix = Path::from_url_path(parsed.path())
            .map_err(|e| BridgeError::InvalidUrl { url: url.to_owned(), reason: e.to_string() })?;
        let base = if parsed.has_host() { base_of(&parsed) } else { format!("{}://", parsed.scheme()) };
        let local = parsed.scheme() == "file";
        Self::build(store, base, prefix, local, config)
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        base: String,
        prefix: Path,
        local: bool,
        config: BridgeConfig,
    ) -> Result<Self> {
        let (handle, runtime) = match &config.runtime {
            RuntimeChoice::Handle(h) => (h.clone(), None),
            RuntimeChoice::Own { worker_threads } => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads((*worker_threads).max(1))
                    .thread_name("lsio-object-store")
                    .enable_all()
                    .build()
                    .map_err(BridgeError::Runtime)?;
                (rt.handle().clone(), Some(rt))
            }
        };
        let name = format!("object_store({base})");
        let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
        let shared =
            Arc::new(Shared { store, base, prefix, local, config, permits, pool: lsio_io::default_pool(), name });
        Ok(ObjectStoreBackend { shared, handle, runtime })
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.shared.store
    }

    /// `scheme://authority` of the store (no credentials): object URLs start with it.
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    /// The full URL of a relative key (under the URL's path).
    pub fn url_of(&self, key: &str) -> String {
        match Path::parse(key) {
            Ok(k) => format!("{}/{}", self.shared.base, join(&self.shared.prefix, &k)),
            Err(_) => format!("{}/{}", self.shared.base, key),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &BridgeConfig {
        &self.shared.config
    }

    /// The runtime the requests run on.
    pub fn runtime_handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for ObjectStoreBackend {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; shutting it down in the background
        // does not. Tasks still running are dropped; their batches end with `Error::Closed`.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn join(prefix: &Path, key: &Path) -> Path {
    Path::from_iter(prefix.parts().chain(key.parts()))
}

impl Shared {
    /// The store path and full URL of a location: a full URL of this store, or a key relative
    /// to the URL's path (or, for `file://`, a local path).
    fn resolve(&self, location: &Location) -> std::result::Result<(Path, String), String> {
        let path = match location {
            Location::Object(s) => {
                if let Some(rest) = s.strip_prefix(self.base.as_str()).filter(|r| r.is_empty() || r.starts_with('/')) {
                    Path::from_url_path(rest).map_err(|e| e.to_string())?
                } else if s.contains("://") {
                    return Err(format!("the URL is not in this backend's store {}", self.base));
                } else {
                    let key = Path::parse(s.as_ref()).map_err(|e| e.to_string())?;
                    join(&self.prefix, &key)
                }
            }
            Location::Local(p) if self.local => Path::from_absolute_path(p).map_err(|e| e.to_string())?,
            Location::Local(_) => return Err(format!("{} reads object locations, not local paths", self.name)),
        };
        let url = format!("{}/{}", self.base, path);
        Ok((path, url))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A store error for one request, naming the object's URL and the request's range.
fn store_error(
    e: &Arc<object_store::Error>,
    op: &'static str,
    location: &Location,
    url: &str,
    wire_range: Option<Range<u64>>,
    range: Option<Range<u64>>,
    tag: u64,
) -> Error {
    if let object_store::Error::NotFound { .. } = e.as_ref() {
        let source = io::Error::new(io::ErrorKind::NotFound, format!("{op} {url}: {e}"));
        return Error::NotFound { location: location.clone(), tag: Some(tag), source: Some(source) };
    }
    let source = BridgeError::Store { op, url: url.to_owned(), range: wire_range, source: e.clone() };
    Error::Backend { backend: BACKEND, location: location.clone(), range, tag: Some(tag), source: Box::new(source) }
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Waits, without blocking a thread, until the batch's budget has `n` bytes; `false` once the
/// batch was dropped or cancelled.
async fn acquire_budget<T>(tx: &CompletionSender<T>, n: u64) -> bool {
    loop {
        if tx.is_cancelled() {
            return false;
        }
        let (wake, woken) = tokio::sync::oneshot::channel::<()>();
        // Only the batch's driver waits on its budget, so the waiter is never replaced.
        if tx.budget().acquire_or_notify(n, move || {
            let _ = wake.send(());
        }) {
            return true;
        }
        let _ = woken.await;
    }
}

struct ReadJob {
    location: Location,
    path: Arc<Path>,
    url: Arc<str>,
    range: Range<u64>,
    /// The object's length, when a HEAD measured it.
    known_len: Option<u64>,
    members: Vec<(u64, Range<u64>)>,
}

impl ReadJob {
    fn charge(&self) -> u64 {
        self.range.end - self.range.start
    }

    fn cancel<T>(self, tx: &CompletionSender<T>) {
        for (tag, _) in self.members {
            tx.send(Err(Error::Cancelled { tag: Some(tag) }), 0);
        }
    }
}

async fn read_batch(shared: Arc<Shared>, requests: Vec<ReadRequest>, tx: CompletionSender<Chunk>) {
    let mut prepared: FuturesUnordered<_> = group_by_location(requests, |r| &r.location)
        .into_iter()
        .map(|(location, reqs)| prepare_object(shared.clone(), location, reqs, tx.clone()))
        .collect();
    while let Some(jobs) = prepared.next().await {
        for job in jobs {
            if !acquire_budget(&tx, job.charge()).await {
                job.cancel(&tx);
                continue;
            }
            tokio::spawn(run_read(shared.clone(), job, tx.clone()));
        }
    }
}

/// Resolves one object's requests into planned reads; answers at once the requests that fail
/// before any GET (bad location, missing object, range out of bounds).
async fn prepare_object(
    shared: Arc<Shared>,
    location: Location,
    reqs: Vec<ReadRequest>,
    tx: CompletionSender<Chunk>,
) -> Vec<ReadJob> {
    let (path, url) = match shared.resolve(&location) {
        Ok(x) => x,
        Err(reason) => {
            for r in reqs {
                let e = Error::InvalidRequest { location: location.clone(), reason: reason.clone(), tag: Some(r.tag) };
                tx.send(Err(e), 0);
            }
            return Vec::new();
        }
    };
    if tx.is_cancelled() {
        for r in reqs {
            tx.send(Err(Error::Cancelled { tag: Some(r.tag) }), 0);
        }
        return Vec::new();
    }
    // Bounded, non-empty ranges need no length: a GET past the end is clipped by the store and
    // reveals the length. Suffixes, open ranges and empty ranges need a HEAD first.
    let needs_len = reqs.iter().any(|r| match &r.range {
        ByteRange::Bounded(b) => b.start >= b.end,
        _ => true,
    });
    let known_len = if needs_len {
        let head = {
            let _permit = shared.permits.acquire().await;
            shared.store.head(&path).await
        };
        match head {
            Ok(meta) => Some(meta.size),
            Err(e) => {
                let e = Arc::new(e);
                for r in reqs {
                    tx.send(Err(store_error(&e, "HEAD", &location, &url, None, r.range.as_bounded(), r.tag)), 0);
                }
                return Vec::new();
            }
        }
    } else {
        None
    };

    let mut ranges = Vec::with_capacity(reqs.len());
    let mut tags = Vec::with_capacity(reqs.len());
    for r in reqs {
        let resolved = match known_len {
            Some(len) => r.range.resolve(len),
            None => r.range.as_bounded(),
        };
        match resolved {
            Some(range) => {
                ranges.push(range);
                tags.push(r.tag);
            }
            None => {
                let e = Error::OutOfRange {
                    location: location.clone(),
                    range: r.range,
                    object_len: known_len.unwrap_or(0),
                    tag: Some(r.tag),
                };
                tx.send(Err(e), 0);
            }
        }
    }
    let plan = plan(&ranges, &shared.config.planner);
    let path = Arc::new(path);
    let url: Arc<str> = Arc::from(url);
    plan.reads
        .iter()
        .map(|read| ReadJob {
            location: location.clone(),
            path: path.clone(),
            url: url.clone(),
            range: read.range.clone(),
            known_len,
            members: plan.members_of(read).iter().map(|m| (tags[m.index], m.range.clone())).collect(),
        })
        .collect()
}

/// Why a piece GET failed.
enum PieceError {
    Store(Arc<object_store::Error>),
    Bad(String),
}

/// One ranged GET whose body streams into `buf` (capacity: the piece's length). Returns the
/// object's length as the store reported it.
async fn fetch_piece(
    shared: &Shared,
    path: &Path,
    piece: Range<u64>,
    buf: &mut AlignedBytesMut,
) -> std::result::Result<u64, PieceError> {
    let _permit = shared.permits.acquire().await;
    let options = GetOptions { range: Some(GetRange::Bounded(piece.clone())), ..GetOptions::default() };
    let result = shared.store.get_opts(path, options).await.map_err(|e| PieceError::Store(Arc::new(e)))?;
    let size = result.meta.size;
    let got = result.range.clone();
    if got.start != piece.start || got.end > piece.end {
        return Err(PieceError::Bad(format!("the store answered bytes {}..{}", got.start, got.end)));
    }
    let mut stream = result.into_stream();
    while let Some(part) = stream.next().await {
        let bytes = part.map_err(|e| PieceError::Store(Arc::new(e)))?;
        if bytes.len() > buf.remaining_capacity() {
            return Err(PieceError::Bad("the body is longer than the range".into()));
        }
        // The one copy of the bridge: from the HTTP client's buffers into the aligned buffer
        // that every request of this read is then a zero-copy slice of.
        buf.extend_from_slice(&bytes);
    }
    if buf.len() as u64 != got.end - got.start {
        return Err(PieceError::Bad(format!("the body ended after {} of {} bytes", buf.len(), got.end - got.start)));
    }
    Ok(size)
}

/// Whether a failed GET may have failed for its range (HTTP 416, a store's "invalid range"): only
/// then is a HEAD worth its round trip. object_store's error types do not expose the status, so
/// this reads the messages of the error chain.
fn mentions_range(e: &object_store::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let msg = err.to_string().to_ascii_lowercase();
        if msg.contains("416") || msg.contains("range") {
            return true;
        }
        current = err.source();
    }
    false
}

fn fill_zeros(buf: &mut AlignedBytesMut) {
    const ZEROS: [u8; 4096] = [0; 4096];
    while buf.remaining_capacity() > 0 {
        let n = buf.remaining_capacity().min(ZEROS.len());
        buf.extend_from_slice(&ZEROS[..n]);
    }
}

async fn run_read(shared: Arc<Shared>, job: ReadJob, tx: CompletionSender<Chunk>) {
    let charge = job.charge();
    let len = match usize::try_from(charge) {
        Ok(n) => n,
        Err(_) => {
            for (tag, range) in job.members {
                let e = Error::InvalidRequest {
                    location: job.location.clone(),
                    reason: format!("range {}..{} does not fit in memory", range.start, range.end),
                    tag: Some(tag),
                };
                tx.send(Err(e), 0);
            }
            tx.budget().release(charge);
            return;
        }
    };
    if tx.is_cancelled() {
        tx.budget().release(charge);
        job.cancel(&tx);
        return;
    }

    // One buffer for the whole read, split into the pieces that are fetched in parallel.
    let pieces: Vec<Range<u64>> =
        PlannedRead { range: job.range.clone(), members: 0..0 }.pieces(shared.config.planner.split_len).collect();
    let mut rest = if len == 0 { AlignedBytesMut::default() } else { shared.pool.get(len) };
    let mut bufs = Vec::with_capacity(pieces.len());
    for p in &pieces {
        let tail = rest.split_off((p.end - p.start) as usize);
        bufs.push(rest);
        rest = tail;
    }
    drop(rest);

    let outcomes: Vec<std::result::Result<u64, PieceError>> = futures::future::join_all(
        pieces.iter().zip(bufs.iter_mut()).map(|(p, b)| fetch_piece(&shared, &job.path, p.clone(), b)),
    )
    .await;

    // The object's length: from any successful GET, from the HEAD, or (when every GET failed
    // and none said "not found") from a HEAD now: a read that starts past the end fails.
    let mut object_len = job.known_len.or_else(|| outcomes.iter().find_map(|o| o.as_ref().ok().copied()));
    let not_found = outcomes.iter().find_map(|o| match o {
        Err(PieceError::Store(e)) if matches!(e.as_ref(), object_store::Error::NotFound { .. }) => Some(e.clone()),
        _ => None,
    });
    if let Some(e) = not_found {
        tx.budget().release(charge);
        for (tag, range) in job.members {
            tx.send(Err(store_error(&e, "GET", &job.location, &job.url, Some(job.range.clone()), Some(range), tag)), 0);
        }
        return;
    }
    let range_refused = outcomes.iter().any(|o| matches!(o, Err(PieceError::Store(e)) if mentions_range(e)));
    if object_len.is_none() && range_refused && outcomes.iter().all(|o| o.is_err()) {
        let _permit = shared.permits.acquire().await;
        object_len = shared.store.head(&job.path).await.ok().map(|m| m.size);
    }

    // Failed pieces that lie past the end of the object are no failure: those bytes do not exist.
    let mut failures: Vec<(Range<u64>, PieceError)> = Vec::new();
    let mut whole = AlignedBytesMut::default();
    for ((piece, outcome), mut buf) in pieces.iter().zip(outcomes).zip(bufs) {
        if let Err(e) = outcome {
            match object_len {
                Some(n) if piece.start >= n => buf.clear(),
                _ => {
                    // Keep later pieces at their offsets.
                    buf.clear();
                    fill_zeros(&mut buf);
                    failures.push((piece.clone(), e));
                }
            }
        }
        whole.unsplit(buf);
    }
    let data = whole.freeze();
    let data_end = job.range.start + data.len() as u64;

    let mut left = charge;
    let last = job.members.len().saturating_sub(1);
    for (i, (tag, range)) in job.members.into_iter().enumerate() {
        let c = if i == last { left } else { (range.end - range.start).min(left) };
        left -= c;
        let failed = failures.iter().find(|(p, _)| range.start < p.end && p.start < range.end.max(range.start + 1));
        let result = if let Some((piece, e)) = failed {
            Err(match e {
                PieceError::Store(e) => {
                    store_error(e, "GET", &job.location, &job.url, Some(piece.clone()), Some(range), tag)
                }
                PieceError::Bad(reason) => {
                    let source = BridgeError::BadResponse {
                        url: job.url.to_string(),
                        range: piece.clone(),
                        reason: reason.clone(),
                    };
                    Error::Backend {
                        backend: BACKEND,
                        location: job.location.clone(),
                        range: Some(range),
                        tag: Some(tag),
                        source: Box::new(source),
                    }
                }
            })
        } else if range.end <= data_end {
            let off = (range.start - job.range.start) as usize..(range.end - job.range.start) as usize;
            Ok(Chunk { tag, range, bytes: data.slice(off) })
        } else {
            Err(Error::OutOfRange {
                location: job.location.clone(),
                range: ByteRange::Bounded(range),
                object_len: object_len.unwrap_or(data_end),
                tag: Some(tag),
            })
        };
        tx.send(result, c);
    }
    // Members always exist, but keep the budget exact if they did not.
    if left > 0 {
        tx.budget().release(left);
    }
}

// ---------------------------------------------------------------------------------------------
// Writes

async fn write_batch(shared: Arc<Shared>, requests: Vec<WriteRequest>, tx: CompletionSender<WriteDone>) {
    let mut objects: FuturesUnordered<_> = group_by_location(requests, |r| &r.location)
        .into_iter()
        .map(|(location, reqs)| write_object(shared.clone(), location, reqs, tx.clone()))
        .collect();
    while objects.next().await.is_some() {}
}

/// Why one object's writes failed.
enum WriteFailure {
    Unsupported(&'static str),
    Store(&'static str, Arc<object_store::Error>),
    Cancelled,
}

async fn write_object(
    shared: Arc<Shared>,
    location: Location,
    reqs: Vec<WriteRequest>,
    tx: CompletionSender<WriteDone>,
) {
    let (path, url) = match shared.resolve(&location) {
        Ok(x) => x,
        Err(reason) => {
            for r in reqs {
                let e = Error::InvalidRequest { location: location.clone(), reason: reason.clone(), tag: Some(r.tag) };
                tx.send(Err(e), 0);
            }
            return;
        }
    };
    let outcome =
        if tx.is_cancelled() { Err(WriteFailure::Cancelled) } else { apply_writes(&shared, &path, &reqs, &tx).await };
    for r in reqs {
        let result = match &outcome {
            Ok(()) => Ok(WriteDone { tag: r.tag, bytes_written: r.len() }),
            Err(WriteFailure::Cancelled) => Err(Error::Cancelled { tag: Some(r.tag) }),
            Err(WriteFailure::Unsupported(what)) => {
                Err(Error::Unsupported { backend: BACKEND, what, tag: Some(r.tag) })
            }
            Err(WriteFailure::Store(op, e)) => {
                let range = match &r.op {
                    WriteOp::WriteAt { offset, .. } => Some(*offset..*offset + r.len()),
                    _ => None,
                };
                Err(store_error(e, op, &location, &url, None, range, r.tag))
            }
        };
        tx.send(result, 0);
    }
}

const NOT_TILED: &str =
    "writes at offsets other than one contiguous run from byte 0 in one batch (an object is written whole)";
const NO_CREATE: &str = "writes without a Create in the same batch (an object cannot be modified in place)";
const KEEP_TAIL: &str = "a Create without truncation followed by writes shorter than the existing object";

async fn apply_writes(
    shared: &Shared,
    path: &Path,
    reqs: &[WriteRequest],
    tx: &CompletionSender<WriteDone>,
) -> std::result::Result<(), WriteFailure> {
    let store_err = |op| move |e| WriteFailure::Store(op, Arc::new(e));
    let create = reqs.iter().any(|r| matches!(r.op, WriteOp::Create { .. }));
    let truncate = reqs.iter().any(|r| matches!(r.op, WriteOp::Create { truncate: true }));
    let mut writes: Vec<(u64, &[lsio_aligned::AlignedBytes])> = reqs
        .iter()
        .filter_map(|r| match &r.op {
            WriteOp::WriteAt { offset, bufs } => Some((*offset, bufs.as_slice())),
            _ => None,
        })
        .collect();

    if writes.is_empty() {
        let _permit = shared.permits.acquire().await;
        if truncate {
            shared.store.put(path, PutPayload::new()).await.map_err(store_err("PUT"))?;
        } else if create {
            match shared.store.head(path).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    match shared.store.put_opts(path, PutPayload::new(), PutMode::Create.into()).await {
                        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
                        Err(e) => return Err(WriteFailure::Store("PUT", Arc::new(e))),
                    }
                }
                Err(e) => return Err(WriteFailure::Store("HEAD", Arc::new(e))),
            }
        } else {
            // Only syncs: what a PUT stored is durable already; the object must exist.
            shared.store.head(path).await.map_err(store_err("HEAD"))?;
        }
        return Ok(());
    }

    if !create {
        return Err(WriteFailure::Unsupported(NO_CREATE));
    }
    writes.sort_by_key(|w| w.0);
    let mut total = 0u64;
    let mut chunks: Vec<Bytes> = Vec::new();
    for (offset, bufs) in writes {
        let n: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        if n == 0 {
            continue;
        }
        if offset != total {
            return Err(WriteFailure::Unsupported(NOT_TILED));
        }
        total += n;
        // Zero-copy: the PUT body is the caller's buffers.
        chunks.extend(bufs.iter().filter(|b| !b.is_empty()).map(|b| b.clone().into_bytes()));
    }
    if !truncate {
        let _permit = shared.permits.acquire().await;
        match shared.store.head(path).await {
            Ok(meta) if meta.size > total => return Err(WriteFailure::Unsupported(KEEP_TAIL)),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(WriteFailure::Store("HEAD", Arc::new(e))),
        }
    }
    if total <= shared.config.part_size.max(1) {
        let _permit = shared.permits.acquire().await;
        shared.store.put(path, PutPayload::from_iter(chunks)).await.map_err(store_err("PUT"))?;
        return Ok(());
    }
    multipart(shared, path, chunks, tx).await
}

/// Splits `chunks` into payloads of `part_size` bytes (the last may be shorter), zero-copy.
fn parts(chunks: Vec<Bytes>, part_size: usize) -> Vec<PutPayload> {
    let mut out = Vec::new();
    let mut current: Vec<Bytes> = Vec::new();
    let mut filled = 0usize;
    for mut chunk in chunks {
        while !chunk.is_empty() {
            let take = chunk.len().min(part_size - filled);
            current.push(chunk.split_to(take));
            filled += take;
            if filled == part_size {
                out.push(PutPayload::from_iter(std::mem::take(&mut current)));
                filled = 0;
            }
        }
    }
    if !current.is_empty() {
        out.push(PutPayload::from_iter(current));
    }
    out
}

/// A multipart upload of parts that are slices of the caller's buffers (no copy), at most
/// `max_concurrency` parts in flight. Any failure, or the batch being dropped, aborts the upload,
/// so no partial object is ever visible.
async fn multipart(
    shared: &Shared,
    path: &Path,
    chunks: Vec<Bytes>,
    tx: &CompletionSender<WriteDone>,
) -> std::result::Result<(), WriteFailure> {
    let part_size = usize::try_from(shared.config.part_size).unwrap_or(usize::MAX).max(1);
    let mut upload = {
        let _permit = shared.permits.acquire().await;
        shared.store.put_multipart(path).await.map_err(|e| WriteFailure::Store("multipart PUT", Arc::new(e)))?
    };
    let futures: Vec<_> = parts(chunks, part_size)
        .into_iter()
        .map(|payload| {
            let part = upload.put_part(payload);
            let permits = shared.permits.clone();
            async move {
                if tx.is_cancelled() {
                    return Err(WriteFailure::Cancelled);
                }
                let _permit = permits.acquire_owned().await;
                part.await.map_err(|e| WriteFailure::Store("multipart PUT", Arc::new(e)))
            }
        })
        .collect();
    let uploaded: std::result::Result<Vec<()>, WriteFailure> =
        futures::stream::iter(futures).buffer_unordered(shared.config.max_concurrency.max(1)).try_collect().await;
    let completed = match uploaded {
        Ok(_) if tx.is_cancelled() => Err(WriteFailure::Cancelled),
        Ok(_) => {
            let _permit = shared.permits.acquire().await;
            upload.complete().await.map(|_| ()).map_err(|e| WriteFailure::Store("multipart PUT", Arc::new(e)))
        }
        Err(e) => Err(e),
    };
    if completed.is_err() {
        // Best effort: when the abort fails too, the store keeps an unfinished upload, which is
        // still no object (S3 lifecycle rules remove such uploads).
        let _ = upload.abort().await;
    }
    completed
}

impl IoBackend for ObjectStoreBackend {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch {
        let (tx, rx) = batch(requests.len(), self.shared.config.bytes_in_flight);
        if !requests.is_empty() {
            self.handle.spawn(read_batch(self.shared.clone(), requests, tx));
        }
        rx
    }

    fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch {
        let (tx, rx) = batch(requests.len(), self.shared.config.bytes_in_flight);
        if !requests.is_empty() {
            self.handle.spawn(write_batch(self.shared.clone(), requests, tx));
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_zero_copy_and_sized() {
        let a = Bytes::from(vec![1u8; 10]);
        let b = Bytes::from(vec![2u8; 7]);
        let p = parts(vec![a.clone(), b], 4);
        let lens: Vec<usize> = p.iter().map(|x| x.content_length()).collect();
        assert_eq!(lens, vec![4, 4, 4, 4, 1]);
        // The first part points into `a`'s memory.
        assert_eq!(p[0].as_ref()[0].as_ptr(), a.as_ptr());
    }

    #[test]
    fn locations_resolve_against_the_url() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let b = ObjectStoreBackend::new(store, "memory:///pre", BridgeConfig::default()).expect("backend");
        let (p, url) = b.shared.resolve(&Location::object("memory:///a/b")).expect("full URL");
        assert_eq!((p.as_ref(), url.as_str()), ("a/b", "memory:///a/b"));
        let (p, url) = b.shared.resolve(&Location::object("k/v")).expect("relative key");
        assert_eq!((p.as_ref(), url.as_str()), ("pre/k/v", "memory:///pre/k/v"));
        assert!(b.shared.resolve(&Location::object("s3://other/x")).is_err());
        assert!(b.shared.resolve(&Location::local("/tmp/x")).is_err());
        assert_eq!(b.url_of("x"), "memory:///pre/x");
    }
}
