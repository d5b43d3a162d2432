//! [`LsioStore`]: any lsio backend, over a local root directory, as an `object_store::ObjectStore`.
//!
//! Reads (`get_opts`, `get_ranges`) go through the lsio backend (io_uring by default): one batch per
//! call, so `get_ranges` of many small ranges is planned and submitted at once instead of one
//! `pread` after another. Writes, listings, copies and renames use `std::fs` on tokio's blocking
//! pool, with the same on-disk layout and atomicity as object_store's `LocalFileSystem` (uploads
//! are staged in `name#N` files and renamed into place). Paths are confined to the root (see
//! `confine.rs`).

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use futures::{FutureExt, TryStreamExt};
use lsio_io::{IoBackend, Location, PreadBackend, ReadRequest};
use object_store::path::Path;
use object_store::{
    Attributes, CopyMode, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    RenameTargetMode, UploadPart,
};

use crate::confine::{self, is_staging_name};
use crate::error::{BridgeError, LSIO_STORE};

/// Bytes per chunk of a streamed `get`: each chunk is one read of the lsio backend.
const STREAM_CHUNK: u64 = 8 << 20;
/// Chunks of a streamed `get` read ahead of the consumer.
const STREAM_AHEAD: usize = 2;

/// An [`ObjectStore`] over the files under a root directory, reading through an lsio
/// [`IoBackend`]. See the crate documentation.
#[derive(Clone)]
pub struct LsioStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    backend: Arc<dyn IoBackend>,
}

impl fmt::Debug for LsioStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LsioStore")
            .field("root", &self.inner.root)
            .field("backend", &self.inner.backend.name())
            .finish()
    }
}

impl fmt::Display for LsioStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LsioStore({}, {})", self.inner.root.display(), self.inner.backend.name())
    }
}

/// The default backend: io_uring when the kernel allows it, else a `pread` thread pool.
pub fn default_backend() -> io::Result<Arc<dyn IoBackend>> {
    if lsio_uring::io_uring_available().is_ok()
        && let Ok(b) = lsio_uring::UringBackend::new()
    {
        return Ok(Arc::new(b));
    }
    Ok(Arc::new(PreadBackend::new()?))
}

impl LsioStore {
    /// A store over the existing directory `root`, reading through [`default_backend`].
    pub fn new(root: impl AsRef<FsPath>) -> Result<Self, BridgeError> {
        let root = root.as_ref();
        let backend = default_backend().map_err(|source| BridgeError::Io {
            op: "starting the lsio backend for",
            path: root.to_path_buf(),
            source,
        })?;
        Self::with_backend(root, backend)
    }

    /// A store over the existing directory `root`, reading through `backend` (which must read
    /// local paths).
    pub fn with_backend(root: impl AsRef<FsPath>, backend: Arc<dyn IoBackend>) -> Result<Self, BridgeError> {
        let root = root.as_ref();
        let canonical = std::fs::canonicalize(root).map_err(|source| BridgeError::Io {
            op: "opening the root",
            path: root.to_path_buf(),
            source,
        })?;
        if !canonical.is_dir() {
            let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
            return Err(BridgeError::Io { op: "opening the root", path: canonical, source });
        }
        Ok(LsioStore { inner: Arc::new(Inner { root: canonical, backend }) })
    }

    /// The root directory (canonical).
    pub fn root(&self) -> &FsPath {
        &self.inner.root
    }

    /// The backend reads go through.
    pub fn backend(&self) -> &Arc<dyn IoBackend> {
        &self.inner.backend
    }

    /// The file an existing object is stored in: inside the root, or an error (a refused path, a
    /// symlink leading out, a missing object).
    pub fn path_to_filesystem(&self, location: &Path) -> Result<PathBuf, BridgeError> {
        confine::resolve_existing(&self.inner.root, location)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs blocking file-system work on tokio's blocking pool when inside a runtime, else inline.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> object_store::Result<T> + Send + 'static,
) -> object_store::Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(|e| {
            generic(BridgeError::Io {
                op: "running blocking work for",
                path: PathBuf::new(),
                source: io::Error::other(e.to_string()),
            })
        })?,
        Err(_) => f(),
    }
}

fn generic(e: BridgeError) -> object_store::Error {
    object_store::Error::Generic { store: LSIO_STORE, source: Box::new(e) }
}

fn not_found(location: &Path, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::NotFound { path: location.to_string(), source: source.into() }
}

/// Maps a resolution error: a missing file is `NotFound` naming the object path.
fn resolve_error(location: &Path, e: BridgeError) -> object_store::Error {
    match e {
        BridgeError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => not_found(location, source),
        other => generic(other),
    }
}

fn io_error(op: &'static str, path: &FsPath, source: io::Error) -> object_store::Error {
    generic(BridgeError::Io { op, path: path.to_path_buf(), source })
}

fn etag(m: &Metadata) -> String {
    let mtime =
        m.modified().ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).unwrap_or_default().as_micros();
    // The scheme of object_store's LocalFileSystem (and Apache): inode, mtime, size.
    format!("{:x}-{:x}-{:x}", std::os::unix::fs::MetadataExt::ino(m), mtime, m.len())
}

fn object_meta(location: Path, m: &Metadata) -> ObjectMeta {
    let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    ObjectMeta { location, last_modified: modified.into(), size: m.len(), e_tag: Some(etag(m)), version: None }
}

/// Metadata of an existing object (a regular file; a directory is not an object).
fn stat_object(root: &FsPath, location: &Path) -> object_store::Result<(PathBuf, ObjectMeta)> {
    let real = confine::resolve_existing(root, location).map_err(|e| resolve_error(location, e))?;
    let m = std::fs::metadata(&real).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => not_found(location, e),
        _ => io_error("stat", &real, e),
    })?;
    if m.is_dir() {
        return Err(not_found(location, io::Error::new(io::ErrorKind::NotFound, "is a directory")));
    }
    Ok((real, object_meta(location.clone(), &m)))
}

/// Creates `dest#N` (and missing directories), returning the open file and its path.
fn new_staged(dest: &FsPath) -> object_store::Result<(File, PathBuf)> {
    let mut n = 1u64;
    loop {
        let mut staged = dest.as_os_str().to_owned();
        staged.push(format!("#{n}"));
        let staged = PathBuf::from(staged);
        match OpenOptions::new().read(true).write(true).create_new(true).open(&staged) {
            Ok(f) => return Ok((f, staged)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = dest.parent().unwrap_or(dest);
                std::fs::create_dir_all(parent).map_err(|e| io_error("creating the directory", parent, e))?;
            }
            Err(e) => return Err(io_error("creating", &staged, e)),
        }
    }
}

/// Makes `staged` visible at `dest`: a rename (overwrite) or a hard link (create only).
fn publish(staged: &FsPath, dest: &FsPath, location: &Path, mode: &PutMode) -> object_store::Result<()> {
    match mode {
        PutMode::Create => {
            let linked = std::fs::hard_link(staged, dest);
            let _ = std::fs::remove_file(staged);
            match linked {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(object_store::Error::AlreadyExists { path: location.to_string(), source: Box::new(e) })
                }
                Err(e) => Err(io_error("linking", dest, e)),
            }
        }
        _ => std::fs::rename(staged, dest).map_err(|e| {
            let _ = std::fs::remove_file(staged);
            io_error("renaming into place", dest, e)
        }),
    }
}

/// The object path of `file` (under `root`), if every component is a valid path part.
fn object_path(root: &FsPath, file: &FsPath) -> Option<Path> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        let s = c.as_os_str().to_str()?;
        object_store::path::PathPart::parse(s).ok()?;
        parts.push(s.to_owned());
    }
    Path::parse(parts.join("/")).ok()
}

/// What a directory entry is, following symlinks that stay inside the root.
enum Entry {
    File(Metadata),
    Dir(PathBuf),
    Skip,
}

fn classify(root: &FsPath, path: &FsPath) -> Entry {
    let Ok(real) = std::fs::canonicalize(path) else { return Entry::Skip };
    // Symlinks that lead out of the root are not listed (reading them is refused).
    if !real.starts_with(root) {
        return Entry::Skip;
    }
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Entry::Dir(real),
        Ok(m) if m.is_file() => Entry::File(m),
        _ => Entry::Skip,
    }
}

/// Every object under `prefix`, recursively. Directory symlinks inside the root are followed
/// once each (no loops).
fn walk(root: &FsPath, prefix: &Path) -> object_store::Result<Vec<ObjectMeta>> {
    confine::check_parts(prefix).map_err(generic)?;
    let start = confine::join(root, prefix);
    let mut out = Vec::new();
    let start_real = match classify(root, &start) {
        Entry::Dir(real) => real,
        _ => return Ok(out),
    };
    let mut seen: HashSet<PathBuf> = HashSet::new();
    seen.insert(start_real);
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("listing", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
            let path = entry.path();
            match classify(root, &path) {
                Entry::Dir(real) => {
                    if seen.insert(real) {
                        stack.push(path);
                    }
                }
                Entry::File(m) => {
                    let name = entry.file_name();
                    if name.to_str().is_some_and(is_staging_name) {
                        continue;
                    }
                    if let Some(location) = object_path(root, &path) {
                        out.push(object_meta(location, &m));
                    }
                }
                Entry::Skip => {}
            }
        }
    }
    Ok(out)
}

fn list_one_level(root: &FsPath, prefix: &Path) -> object_store::Result<ListResult> {
    confine::check_parts(prefix).map_err(generic)?;
    let dir = confine::join(root, prefix);
    let mut result = ListResult { common_prefixes: Vec::new(), objects: Vec::new() };
    if !matches!(classify(root, &dir), Entry::Dir(_)) {
        return Ok(result);
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(result),
        Err(e) => return Err(io_error("listing", &dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
        let path = entry.path();
        let Some(location) = object_path(root, &path) else { continue };
        match classify(root, &path) {
            Entry::Dir(_) => result.common_prefixes.push(location),
            Entry::File(m) if !entry.file_name().to_str().is_some_and(is_staging_name) => {
                result.objects.push(object_meta(location, &m));
            }
            _ => {}
        }
    }
    result.common_prefixes.sort_unstable();
    Ok(result)
}

fn lsio_error(e: lsio_io::Error) -> object_store::Error {
    match e {
        lsio_io::Error::NotFound { location, source, .. } => object_store::Error::NotFound {
            path: location.to_string(),
            source: match source {
                Some(s) => Box::new(s),
                None => "not found".into(),
            },
        },
        other => generic(BridgeError::Lsio(other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Multipart uploads

struct Upload {
    root: PathBuf,
    location: Path,
    dest: PathBuf,
    /// The staging file; `None` once completed or aborted.
    staged: Option<(Arc<File>, PathBuf)>,
    offset: u64,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LsioStoreUpload").field("location", &self.location).field("offset", &self.offset).finish()
    }
}

#[async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let offset = self.offset;
        self.offset += data.content_length() as u64;
        let staged = self.staged.clone();
        let location = self.location.clone();
        async move {
            let (file, path) =
                staged.ok_or_else(|| generic(BridgeError::UploadFinished { path: location.to_string() }))?;
            blocking(move || {
                // Positional writes: parts may run concurrently and complete in any order.
                let mut at = offset;
                for chunk in data.iter() {
                    file.write_all_at(chunk, at).map_err(|e| io_error("writing", &path, e))?;
                    at += chunk.len() as u64;
                }
                Ok(())
            })
            .await
        }
        .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let (file, staged) = self
            .staged
            .take()
            .ok_or_else(|| generic(BridgeError::UploadFinished { path: self.location.to_string() }))?;
        let (root, dest, location) = (self.root.clone(), self.dest.clone(), self.location.clone());
        blocking(move || {
            // The destination directory may have changed since the upload began.
            confine::resolve_for_write(&root, &location).map_err(generic)?;
            let m = file.metadata().map_err(|e| io_error("stat", &staged, e))?;
            publish(&staged, &dest, &location, &PutMode::Overwrite)?;
            Ok(PutResult { e_tag: Some(etag(&m)), version: None })
        })
        .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let (_, staged) = self
            .staged
            .take()
            .ok_or_else(|| generic(BridgeError::UploadFinished { path: self.location.to_string() }))?;
        blocking(move || std::fs::remove_file(&staged).map_err(|e| io_error("removing", &staged, e))).await
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Neither completed nor aborted: nothing becomes visible; remove the staging file.
        if let Some((_, staged)) = self.staged.take() {
            let _ = std::fs::remove_file(staged);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl ObjectStore for LsioStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if matches!(opts.mode, PutMode::Update(_)) {
            return Err(object_store::Error::NotImplemented {
                operation: "`put_opts` with mode `PutMode::Update`".into(),
                implementer: self.to_string(),
            });
        }
        if !opts.attributes.is_empty() {
            return Err(object_store::Error::NotImplemented {
                operation: "`put_opts` with `opts.attributes` specified".into(),
                implementer: self.to_string(),
            });
        }
        let root = self.inner.root.clone();
        let location = location.clone();
        blocking(move || {
            let dest = confine::resolve_for_write(&root, &location).map_err(generic)?;
            let (mut file, staged) = new_staged(&dest)?;
            let written = payload.iter().try_for_each(|chunk| file.write_all(chunk)).and_then(|()| file.metadata());
            let m = match written {
                Ok(m) => m,
                Err(e) => {
                    let _ = std::fs::remove_file(&staged);
                    return Err(io_error("writing", &staged, e));
                }
            };
            drop(file);
            publish(&staged, &dest, &location, &opts.mode)?;
            Ok(PutResult { e_tag: Some(etag(&m)), version: None })
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if !opts.attributes.is_empty() {
            return Err(object_store::Error::NotImplemented {
                operation: "`put_multipart_opts` with `opts.attributes` specified".into(),
                implementer: self.to_string(),
            });
        }
        let root = self.inner.root.clone();
        let location = location.clone();
        blocking(move || {
            let dest = confine::resolve_for_write(&root, &location).map_err(generic)?;
            let (file, staged) = new_staged(&dest)?;
            let upload = Upload { root, location, dest, staged: Some((Arc::new(file), staged)), offset: 0 };
            Ok(Box::new(upload) as Box<dyn MultipartUpload>)
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let root = self.inner.root.clone();
        let loc = location.clone();
        let (real, meta) = blocking(move || stat_object(&root, &loc)).await?;
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => r
                .as_range(meta.size)
                .map_err(|e| object_store::Error::Generic { store: LSIO_STORE, source: Box::new(e) })?,
            None => 0..meta.size,
        };
        let stream = if options.head || range.is_empty() {
            futures::stream::empty().boxed()
        } else {
            read_stream(self.inner.backend.clone(), Location::local(&real), range.clone())
        };
        Ok(GetResult { payload: GetResultPayload::Stream(stream), meta, range, attributes: Attributes::default() })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let root = self.inner.root.clone();
        let loc = location.clone();
        let real = blocking(move || confine::resolve_existing(&root, &loc).map_err(|e| resolve_error(&loc, e))).await?;
        let file = Location::local(&real);
        let requests: Vec<ReadRequest> =
            ranges.iter().enumerate().map(|(i, r)| ReadRequest::new(file.clone(), r.clone(), i as u64)).collect();
        // One batch: the backend plans and submits every range at once.
        let mut batch = self.inner.backend.read(requests);
        let mut out: Vec<Bytes> = vec![Bytes::new(); ranges.len()];
        while let Some(r) = StreamExt::next(&mut batch).await {
            let chunk = r.map_err(lsio_error)?;
            if let Some(slot) = out.get_mut(chunk.tag as usize) {
                *slot = chunk.bytes.into_bytes();
            }
        }
        Ok(out)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let root = self.inner.root.clone();
        locations
            .map(move |location| {
                let root = root.clone();
                blocking(move || {
                    let location = location?;
                    let path = confine::resolve_entry(&root, &location).map_err(|e| resolve_error(&location, e))?;
                    match std::fs::remove_file(&path) {
                        Ok(()) => Ok(location),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(&location, e)),
                        Err(e) => Err(io_error("deleting", &path, e)),
                    }
                })
            })
            .buffered(10)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let root = self.inner.root.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        futures::stream::once(blocking(move || walk(&root, &prefix)))
            .map_ok(|objects| futures::stream::iter(objects.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let root = self.inner.root.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        blocking(move || list_one_level(&root, &prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let root = self.inner.root.clone();
        let (from, to) = (from.clone(), to.clone());
        blocking(move || {
            let src = confine::resolve_existing(&root, &from).map_err(|e| resolve_error(&from, e))?;
            if std::fs::metadata(&src).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(not_found(&from, io::Error::new(io::ErrorKind::NotFound, "is a directory")));
            }
            let dest = confine::resolve_for_write(&root, &to).map_err(generic)?;
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_error("creating the directory", parent, e))?;
            }
            match options.mode {
                CopyMode::Create => std::fs::hard_link(&src, &dest).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        object_store::Error::AlreadyExists { path: to.to_string(), source: Box::new(e) }
                    }
                    _ => io_error("linking", &dest, e),
                }),
                _ => {
                    // Atomic overwrite: link to a staging name, then rename over the destination.
                    let mut n = 0u64;
                    loop {
                        let mut staged = dest.as_os_str().to_owned();
                        staged.push(format!("#{n}"));
                        let staged = PathBuf::from(staged);
                        match std::fs::hard_link(&src, &staged) {
                            Ok(()) => {
                                return std::fs::rename(&staged, &dest).map_err(|e| {
                                    let _ = std::fs::remove_file(&staged);
                                    io_error("renaming into place", &dest, e)
                                });
                            }
                            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
                            Err(e) => return Err(io_error("linking", &staged, e)),
                        }
                    }
                }
            }
        })
        .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        match options.target_mode {
            RenameTargetMode::Overwrite => {
                let root = self.inner.root.clone();
                let (from, to) = (from.clone(), to.clone());
                blocking(move || {
                    // The source must be an object inside the root; the rename moves the entry
                    // itself (a symlink stays a symlink).
                    confine::resolve_existing(&root, &from).map_err(|e| resolve_error(&from, e))?;
                    let src = confine::resolve_entry(&root, &from).map_err(|e| resolve_error(&from, e))?;
                    let dest = confine::resolve_for_write(&root, &to).map_err(generic)?;
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| io_error("creating the directory", parent, e))?;
                    }
                    std::fs::rename(&src, &dest).map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => not_found(&from, e),
                        _ => io_error("renaming", &src, e),
                    })
                })
                .await
            }
            RenameTargetMode::Create => {
                let copy = CopyOptions { mode: CopyMode::Create, extensions: options.extensions };
                self.copy_opts(from, to, copy).await?;
                let deleted = self.delete_stream(futures::stream::iter([Ok(from.clone())]).boxed()).next().await;
                deleted.unwrap_or(Ok(from.clone())).map(|_| ())
            }
        }
    }
}

/// `range` of a file as a stream of chunks, each one read of the lsio backend, a few ahead.
fn read_stream(
    backend: Arc<dyn IoBackend>,
    file: Location,
    range: Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    let starts = (range.start..range.end).step_by(usize::try_from(STREAM_CHUNK).unwrap_or(usize::MAX));
    let end = range.end;
    futures::stream::iter(starts)
        .map(move |s| {
            let mut batch = backend.read(vec![ReadRequest::new(file.clone(), s..end.min(s + STREAM_CHUNK), 0)]);
            async move {
                match StreamExt::next(&mut batch).await {
                    Some(r) => r.map(|c| c.bytes.into_bytes()).map_err(lsio_error),
                    None => Err(lsio_error(lsio_io::Error::Closed { outstanding: 1 })),
                }
            }
        })
        .buffered(STREAM_AHEAD)
        .boxed()
}
