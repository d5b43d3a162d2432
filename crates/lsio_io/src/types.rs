//! The vocabulary every backend shares: locations, byte ranges, requests and completions.

use std::fmt;
use std::ops::{Range, RangeFrom, RangeFull};
use std::path::Path;
use std::sync::Arc;

use lsio_aligned::AlignedBytes;

/// Where bytes live: a local file, or an object in an object store.
///
/// Cloning is cheap (an `Arc` bump), because a location travels with every request.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// A path on the local filesystem.
    Local(Arc<Path>),
    /// An object path (or URL) understood by an object-store backend.
    Object(Arc<str>),
}

impl Location {
    /// A local file.
    pub fn local(path: impl AsRef<Path>) -> Self {
        Location::Local(Arc::from(path.as_ref()))
    }

    /// An object-store path or URL.
    pub fn object(path: impl AsRef<str>) -> Self {
        Location::Object(Arc::from(path.as_ref()))
    }

    /// The local path, if this is a local location.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::Object(_) => None,
        }
    }

    /// The object path, if this is an object location.
    pub fn as_object(&self) -> Option<&str> {
        match self {
            Location::Local(_) => None,
            Location::Object(o) => Some(o),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Object(o) => f.write_str(o),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "Local({:?})", p),
            Location::Object(o) => write!(f, "Object({o:?})"),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::local(p)
    }
}

impl From<std::path::PathBuf> for Location {
    fn from(p: std::path::PathBuf) -> Self {
        Location::Local(Arc::from(p))
    }
}

/// Which bytes of an object to read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ByteRange {
    /// `start..end`; reading past the end of the object is an error for the request.
    Bounded(Range<u64>),
    /// The last `n` bytes (the whole object if it is shorter), like HTTP's `bytes=-n`.
    Suffix(u64),
    /// From an offset to the end; an offset past the end is an error.
    From(u64),
    /// The whole object.
    Whole,
}

impl ByteRange {
    /// The range in absolute offsets for an object of `object_len` bytes, or `None` when it
    /// reaches past the end (or is inverted).
    pub fn resolve(&self, object_len: u64) -> Option<Range<u64>> {
        match *self {
            ByteRange::Bounded(ref r) => (r.start <= r.end && r.end <= object_len).then(|| r.clone()),
            ByteRange::Suffix(n) => Some(object_len.saturating_sub(n)..object_len),
            ByteRange::From(start) => (start <= object_len).then_some(start..object_len),
            ByteRange::Whole => Some(0..object_len),
        }
    }

    /// The absolute range when it is known without the object's length.
    pub fn as_bounded(&self) -> Option<Range<u64>> {
        match self {
            ByteRange::Bounded(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Whether the range can be known only once the object's length is known.
    pub fn needs_length(&self) -> bool {
        !matches!(self, ByteRange::Bounded(_))
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteRange::Bounded(r) => write!(f, "{}..{}", r.start, r.end),
            ByteRange::Suffix(n) => write!(f, "last {n} bytes"),
            ByteRange::From(o) => write!(f, "{o}.."),
            ByteRange::Whole => f.write_str(".."),
        }
    }
}

impl From<Range<u64>> for ByteRange {
    fn from(r: Range<u64>) -> Self {
        ByteRange::Bounded(r)
    }
}

impl From<RangeFrom<u64>> for ByteRange {
    fn from(r: RangeFrom<u64>) -> Self {
        ByteRange::From(r.start)
    }
}

impl From<RangeFull> for ByteRange {
    fn from(_: RangeFull) -> Self {
        ByteRange::Whole
    }
}

/// One read: which bytes of which object, and a tag the caller uses to recognise the answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReadRequest {
    pub location: Location,
    pub range: ByteRange,
    /// Returned unchanged in the [`Chunk`] or error; never interpreted by a backend.
    pub tag: u64,
}

impl ReadRequest {
    pub fn new(location: Location, range: impl Into<ByteRange>, tag: u64) -> Self {
        ReadRequest { location, range: range.into(), tag }
    }
}

/// The answer to one [`ReadRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The request's tag.
    pub tag: u64,
    /// The absolute byte range read (a suffix or open range resolved against the object's length).
    pub range: Range<u64>,
    /// Exactly `range.end - range.start` bytes; often a zero-copy slice of a larger, merged read.
    pub bytes: AlignedBytes,
}

/// What a [`WriteRequest`] does.
///
/// Within one batch, the operations on one location run in phases: every `Create` first, then
/// every `WriteAt` (concurrently, in any order — give them disjoint ranges), then every `Sync`.
/// Different locations proceed independently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create the file (and its missing parent directories are *not* created); with `truncate`,
    /// an existing file is emptied, otherwise it is kept as it is.
    Create { truncate: bool },
    /// Write `bufs`, back to back, starting at `offset` (a vectored write).
    WriteAt { offset: u64, bufs: Vec<AlignedBytes> },
    /// Flush to stable storage: `fdatasync` when `data_only`, else `fsync`.
    Sync { data_only: bool },
}

/// One write operation on one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    pub location: Location,
    pub op: WriteOp,
    pub tag: u64,
}

impl WriteRequest {
    pub fn create(location: Location, truncate: bool, tag: u64) -> Self {
        WriteRequest { location, op: WriteOp::Create { truncate }, tag }
    }

    pub fn write_at(location: Location, offset: u64, bufs: Vec<AlignedBytes>, tag: u64) -> Self {
        WriteRequest { location, op: WriteOp::WriteAt { offset, bufs }, tag }
    }

    pub fn sync(location: Location, data_only: bool, tag: u64) -> Self {
        WriteRequest { location, op: WriteOp::Sync { data_only }, tag }
    }

    /// Bytes this request writes.
    pub fn len(&self) -> u64 {
        match &self.op {
            WriteOp::WriteAt { bufs, .. } => bufs.iter().map(|b| b.len() as u64).sum(),
            _ => 0,
        }
    }

    /// Whether the request writes no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer to one successful [`WriteRequest`]: reported only after the kernel (or store)
/// completed all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteDone {
    pub tag: u64,
    pub bytes_written: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_ranges() {
        assert_eq!(ByteRange::Bounded(2..5).resolve(10), Some(2..5));
        assert_eq!(ByteRange::Bounded(2..11).resolve(10), None);
        #[allow(clippy::reversed_empty_ranges)]
        let inverted = ByteRange::Bounded(5..2);
        assert_eq!(inverted.resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some(7..10));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some(0..10));
        assert_eq!(ByteRange::From(10).resolve(10), Some(10..10));
        assert_eq!(ByteRange::From(11).resolve(10), None);
        assert_eq!(ByteRange::Whole.resolve(0), Some(0..0));
    }

    #[test]
    fn location_display() {
        assert_eq!(Location::local("/tmp/x").to_string(), "/tmp/x");
        assert_eq!(Location::object("s3://b/k").to_string(), "s3://b/k");
        assert_eq!(ByteRange::from(3..9).to_string(), "3..9");
        assert_eq!(ByteRange::from(3..).to_string(), "3..");
    }
}
