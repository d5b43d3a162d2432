//! The one error type of `lsio_io`: every variant names what failed and where.

use std::io;
use std::ops::Range;

use crate::types::{ByteRange, Location};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error for one request (or, for `Closed`, for what was left of a batch).
///
/// Every variant that concerns a request carries its `tag`, so that a caller reading completions
/// in completion order knows which request failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object or file does not exist.
    #[error("not found: {location}")]
    NotFound {
        location: Location,
        tag: Option<u64>,
        #[source]
        source: Option<io::Error>,
    },

    /// The backend may not read or write the object.
    #[error("permission denied: {location}")]
    PermissionDenied {
        location: Location,
        tag: Option<u64>,
        #[source]
        source: io::Error,
    },

    /// The range reaches past the end of the object (or is inverted).
    #[error("range {range} of {location} is out of bounds: the object has {object_len} bytes")]
    OutOfRange { location: Location, range: ByteRange, object_len: u64, tag: Option<u64> },

    /// The request makes no sense for this backend or location.
    #[error("invalid request for {location}: {reason}")]
    InvalidRequest { location: Location, reason: String, tag: Option<u64> },

    /// An operating-system error (the errno is in `source`).
    #[error("I/O error on {location}{}: {source}", fmt_range(range))]
    Io {
        location: Location,
        range: Option<Range<u64>>,
        tag: Option<u64>,
        #[source]
        source: io::Error,
    },

    /// An error of a backend's own (an object store, a network client).
    #[error("{backend} error on {location}{}: {source}", fmt_range(range))]
    Backend {
        backend: &'static str,
        location: Location,
        range: Option<Range<u64>>,
        tag: Option<u64>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The request was cancelled before it ran (its batch was dropped or the backend shut down).
    #[error("request {} cancelled", fmt_tag(tag))]
    Cancelled { tag: Option<u64> },

    /// The backend cannot do this kind of request.
    #[error("{backend} does not support {what}")]
    Unsupported { backend: &'static str, what: &'static str, tag: Option<u64> },

    /// The backend stopped without answering the rest of the batch.
    #[error("backend closed before answering {outstanding} request(s)")]
    Closed { outstanding: usize },
}

fn fmt_range(range: &Option<Range<u64>>) -> String {
    match range {
        Some(r) => format!(" (bytes {}..{})", r.start, r.end),
        None => String::new(),
    }
}

fn fmt_tag(tag: &Option<u64>) -> String {
    match tag {
        Some(t) => format!("with tag {t}"),
        None => "(untagged)".to_owned(),
    }
}

impl Error {
    /// Wraps an OS error, choosing `NotFound`/`PermissionDenied` where the errno says so.
    pub fn from_io(source: io::Error, location: &Location, range: Option<Range<u64>>, tag: Option<u64>) -> Self {
        let location = location.clone();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { location, tag, source: Some(source) },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { location, tag, source },
            _ => Error::Io { location, range, tag, source },
        }
    }

    /// The tag of the request this error answers, if any.
    pub fn tag(&self) -> Option<u64> {
        match self {
            Error::NotFound { tag, .. }
            | Error::PermissionDenied { tag, .. }
            | Error::OutOfRange { tag, .. }
            | Error::InvalidRequest { tag, .. }
            | Error::Io { tag, .. }
            | Error::Backend { tag, .. }
            | Error::Cancelled { tag }
            | Error::Unsupported { tag, .. } => *tag,
            Error::Closed { .. } => None,
        }
    }

    /// The location the error concerns, if any.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::NotFound { location, .. }
            | Error::PermissionDenied { location, .. }
            | Error::OutOfRange { location, .. }
            | Error::InvalidRequest { location, .. }
            | Error::Io { location, .. }
            | Error::Backend { location, .. } => Some(location),
            Error::Cancelled { .. } | Error::Unsupported { .. } | Error::Closed { .. } => None,
        }
    }

    /// The OS error number, when the error came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::NotFound { source: Some(s), .. }
            | Error::PermissionDenied { source: s, .. }
            | Error::Io { source: s, .. } => s.raw_os_error(),
            _ => None,
        }
    }

    /// The same error for another request (one physical read can serve many requests).
    ///
    /// `io::Error` is not `Clone`; the copy keeps the errno or the kind and message.
    pub fn for_tag(&self, tag: u64) -> Error {
        let tag = Some(tag);
        match self {
            Error::NotFound { location, source, .. } => {
                Error::NotFound { location: location.clone(), tag, source: source.as_ref().map(copy_io) }
            }
            Error::PermissionDenied { location, source, .. } => {
                Error::PermissionDenied { location: location.clone(), tag, source: copy_io(source) }
            }
            Error::OutOfRange { location, range, object_len, .. } => {
                Error::OutOfRange { location: location.clone(), range: range.clone(), object_len: *object_len, tag }
            }
            Error::InvalidRequest { location, reason, .. } => {
                Error::InvalidRequest { location: location.clone(), reason: reason.clone(), tag }
            }
            Error::Io { location, range, source, .. } => {
                Error::Io { location: location.clone(), range: range.clone(), tag, source: copy_io(source) }
            }
            Error::Backend { backend, location, range, source, .. } => Error::Backend {
                backend,
                location: location.clone(),
                range: range.clone(),
                tag,
                source: source.to_string().into(),
            },
            Error::Cancelled { .. } => Error::Cancelled { tag },
            Error::Unsupported { backend, what, .. } => Error::Unsupported { backend, what, tag },
            Error::Closed { outstanding } => Error::Closed { outstanding: *outstanding },
        }
    }
}

/// A copy of an `io::Error` that keeps its errno, or its kind and message.
pub fn copy_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_location_range_and_errno() {
        let loc = Location::local("/data/x.bin");
        let e = Error::from_io(io::Error::from_raw_os_error(libc::EIO), &loc, Some(10..20), Some(7));
        let msg = e.to_string();
        assert!(msg.contains("/data/x.bin"), "{msg}");
        assert!(msg.contains("10..20"), "{msg}");
        assert!(msg.contains("os error 5"), "{msg}");
        assert_eq!(e.tag(), Some(7));
        assert_eq!(e.for_tag(9).tag(), Some(9));
        assert_eq!(e.for_tag(9).raw_os_error(), Some(libc::EIO));

        let nf = Error::from_io(io::Error::from_raw_os_error(libc::ENOENT), &loc, None, Some(1));
        assert!(matches!(nf, Error::NotFound { .. }));
        assert!(nf.to_string().contains("/data/x.bin"));

        let oor = Error::OutOfRange { location: loc, range: ByteRange::Bounded(5..50), object_len: 20, tag: None };
        assert!(oor.to_string().contains("5..50") && oor.to_string().contains("20 bytes"));
    }
}
