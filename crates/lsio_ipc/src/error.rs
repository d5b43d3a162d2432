//! The one error type of `lsio_ipc`: every variant that concerns input bytes names the byte offset.

use std::io;

use arrow_schema::ArrowError;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing Arrow IPC.
///
/// Errors about input carry `offset`: the absolute byte offset in the file or stream where the
/// offending structure starts (a message, a flatbuffer, a buffer, the footer).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while reading or writing at `offset`.
    #[error("I/O error at byte {offset}: {source}")]
    Io {
        /// Byte offset where the failed operation started.
        offset: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// An error from an `lsio_io` backend.
    #[error("backend error: {0}")]
    Backend(#[from] lsio_io::Error),

    /// The input ended before a structure that starts at `offset` was complete.
    #[error("truncated input at byte {offset}: {what} needs {needed} bytes, only {available} available")]
    Truncated {
        /// Where the incomplete structure starts.
        offset: u64,
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },

    /// The file does not end in a footer and `ARROW1`: not an Arrow file, or a writer that
    /// never called `finish`.
    #[error("incomplete or not an Arrow IPC file ({len} bytes): {what}")]
    MissingFooter {
        /// File length.
        len: u64,
        /// What was found instead.
        what: String,
    },

    /// A structure at `offset` is malformed.
    #[error("corrupt input at byte {offset}: {what}")]
    Corrupt {
        /// Where the malformed structure starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },

    /// A flatbuffer (message metadata, footer) at `offset` failed verification.
    #[error("invalid {what} flatbuffer at byte {offset}: {source}")]
    Flatbuffer {
        /// Where the flatbuffer starts.
        offset: u64,
        /// Which flatbuffer.
        what: &'static str,
        /// The verifier's complaint.
        #[source]
        source: flatbuffers::InvalidFlatbuffer,
    },

    /// A size read from the input is over a configured [`Limits`](crate::Limits) value; nothing
    /// was allocated for it.
    #[error("{what} at byte {offset} is {value} bytes, over the limit of {limit}")]
    LimitExceeded {
        /// Where the structure declaring the size starts.
        offset: u64,
        /// Which limit.
        what: &'static str,
        /// The declared size.
        value: u64,
        /// The configured limit.
        limit: u64,
    },

    /// Decoded data failed Arrow validation (offsets, UTF-8, dictionary keys, lengths).
    #[error("invalid data in message at byte {offset}: {source}")]
    InvalidData {
        /// Where the message starts.
        offset: u64,
        /// Arrow's complaint.
        #[source]
        source: ArrowError,
    },

    /// A buffer at `offset` failed to decompress.
    #[error("decompression failed for buffer at byte {offset}: {what}")]
    Decompression {
        /// Where the compressed buffer starts.
        offset: u64,
        /// What went wrong.
        what: String,
    },

    /// Valid IPC that this crate does not handle.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A caller error: wrong schema, column index out of range, writer already finished, ...
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An Arrow error outside of decoding (schema encoding, CSV, pretty printing).
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
}

impl Error {
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt { offset, what: what.into() }
    }

    pub(crate) fn io(offset: u64, source: io::Error) -> Self {
        Error::Io { offset, source }
    }

    /// The byte offset the error refers to, when it refers to one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Io { offset, .. }
            | Error::Truncated { offset, .. }
            | Error::Corrupt { offset, .. }
            | Error::Flatbuffer { offset, .. }
            | Error::LimitExceeded { offset, .. }
            | Error::InvalidData { offset, .. }
            | Error::Decompression { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
