//! The one error type of this crate, and its conversions to `lsio_io::Error` and `object_store::Error`.

use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in this crate.
///
/// Per-request failures of [`ObjectStoreBackend`](crate::ObjectStoreBackend) reach the caller as
/// [`lsio_io::Error`]s (one per request, carrying its tag); their `source` is one of these. Failures
/// of [`LsioStore`](crate::LsioStore) reach the caller as `object_store::Error`s.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The URL could not be turned into a store.
    #[error("cannot open {url}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A store request failed (after object_store's retries, if the error was transient).
    #[error("{op} {url}{}: {source}", fmt_range(range))]
    Store {
        /// What was asked: `GET`, `HEAD`, `PUT`, `multipart PUT`.
        op: &'static str,
        /// The object's full URL.
        url: String,
        range: Option<Range<u64>>,
        /// Shared by every request that one physical request served.
        #[source]
        source: Arc<object_store::Error>,
    },

    /// A server answered a ranged GET with other bytes than were asked for.
    #[error("GET {url} (bytes {}..{}): {reason}", range.start, range.end)]
    BadResponse { url: String, range: Range<u64>, reason: String },

    /// The tokio runtime could not be started.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[source] io::Error),

    /// A path given to [`LsioStore`](crate::LsioStore) is refused: it would leave the root, or is
    /// encoded oddly.
    #[error("path {path:?} refused: {reason}")]
    PathRefused { path: String, reason: String },

    /// An OS error of [`LsioStore`](crate::LsioStore).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A read through the lsio backend of [`LsioStore`](crate::LsioStore) failed.
    #[error(transparent)]
    Lsio(#[from] lsio_io::Error),

    /// A multipart upload was used after it completed or was aborted.
    #[error("upload of {path} already completed or aborted")]
    UploadFinished { path: String },
}

fn fmt_range(range: &Option<Range<u64>>) -> String {
    match range {
        Some(r) => format!(" (bytes {}..{})", r.start, r.end),
        None => String::new(),
    }
}

/// `Result` with [`BridgeError`].
pub type Result<T, E = BridgeError> = std::result::Result<T, E>;

/// The name [`LsioStore`](crate::LsioStore) gives in `object_store::Error::Generic`.
pub(crate) const LSIO_STORE: &str = "LsioStore";

impl From<BridgeError> for object_store::Error {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Io { source, path, .. } if source.kind() == io::ErrorKind::NotFound => {
                object_store::Error::NotFound { path: path.display().to_string(), source: Box::new(source) }
            }
            BridgeError::Store { source, .. } => match Arc::try_unwrap(source) {
                Ok(e) => e,
                Err(shared) => object_store::Error::Generic { store: LSIO_STORE, source: Box::new(shared) },
            },
            other => object_store::Error::Generic { store: LSIO_STORE, source: Box::new(other) },
        }
    }
}
