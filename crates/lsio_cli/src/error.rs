//! The one error type of `lsio_cli`: every variant says what failed and where, in one line.

use std::io;
use std::path::PathBuf;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the `lsio` tool and its benchmark library.
///
/// [`Error::is_usage`] tells bad arguments (exit code 2) from failures at run time (exit code 1).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A size such as `256KiB` that does not parse.
    #[error("invalid size {input:?}: {reason}")]
    InvalidSize { input: String, reason: String },

    /// Arguments that parse but do not fit together (a block larger than the file, ...).
    #[error("{0}")]
    Usage(String),

    /// A file-system operation on a path failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A backend could not be set up.
    #[error("cannot start backend {backend}: {source}")]
    BackendSetup {
        backend: String,
        #[source]
        source: io::Error,
    },

    /// A read through an lsio backend failed.
    #[error("backend {backend} failed: {source}")]
    Backend {
        backend: String,
        #[source]
        source: lsio_io::Error,
    },

    /// A read through `object_store` failed.
    #[error("object_store failed: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// A backend returned wrong bytes, a wrong range, or not every request.
    #[error("backend {backend} returned wrong data: {detail}")]
    Verify { backend: String, detail: String },

    /// fio could not be started, failed, or printed something we cannot read.
    #[error("fio: {0}")]
    Fio(String),

    /// Reading, writing or converting an Arrow IPC file failed.
    #[error("{}: {source}", path.display())]
    Ipc {
        path: PathBuf,
        /// Boxed: `lsio_ipc::Error` is large, and every `Result` of this crate carries an `Error`.
        #[source]
        source: Box<lsio_ipc::Error>,
    },
}

impl Error {
    /// Whether the error is about the command line (exit code 2) rather than a failure at run time.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidSize { .. } | Error::Usage(_))
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
