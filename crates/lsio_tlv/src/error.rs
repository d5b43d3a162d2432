//! [`Error`]: everything that can go wrong in this crate, with byte offsets and frame indices.

use crate::format::{MAGIC, MAX_USER_TAG, VERSION};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while encoding, decoding or moving frames and Arrow tables.
///
/// Offsets are byte offsets from the start of the stream (the first byte of the stream header is
/// offset 0); frame indices count the frames of the stream from 0, the end-of-stream marker not
/// included.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The underlying reader or writer failed.
    #[error("I/O error{}: {source}", at_offset(.offset))]
    Io {
        /// Stream offset at which the read or write was attempted, when known.
        offset: Option<u64>,
        /// The error of the reader or writer.
        #[source]
        source: std::io::Error,
    },
    /// An aligned buffer could not be allocated.
    #[error("buffer allocation failed: {0}")]
    Buffer(#[from] lsio_aligned::Error),
    /// The stream does not start with the magic bytes.
    #[error("not an lsio TLV stream: the first 8 bytes are {found:02x?}, expected {MAGIC:02x?}")]
    BadMagic {
        /// The 8 bytes found instead (zero-padded if the input was shorter).
        found: [u8; 8],
    },
    /// The stream header names a version this crate does not read.
    #[error("unsupported lsio TLV version {version}: this reader supports version {VERSION}")]
    UnsupportedVersion {
        /// The version in the header.
        version: u16,
    },
    /// A stream header field is out of range.
    #[error("invalid stream header: {field} is {value}")]
    InvalidStreamHeader {
        /// The field name.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A payload alignment that is not a power of two in `8..=4096`.
    #[error("payload alignment {align} is not a power of two between 8 and 4096")]
    InvalidAlignment {
        /// The rejected alignment.
        align: usize,
    },
    /// A frame header field has a value the format forbids.
    #[error("frame {index} at byte offset {offset}: invalid header: {field} is {value:#x}")]
    InvalidFrameHeader {
        /// Index of the frame.
        index: u64,
        /// Stream offset of the frame header.
        offset: u64,
        /// The offending field (`flags`, `reserved`, `crc32c`, `tag`, `length`, `padding byte`).
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The frame's `pad` field is not the amount that aligns its payload.
    #[error("frame {index} at byte offset {offset}: pad is {pad} bytes, but {expected} align the payload")]
    BadPadding {
        /// Index of the frame.
        index: u64,
        /// Stream offset of the frame header.
        offset: u64,
        /// The `pad` field.
        pad: u16,
        /// The only valid value at this offset.
        expected: u16,
    },
    /// The frame's length exceeds the configured maximum; nothing was allocated for it.
    #[error("frame {index} at byte offset {offset}: length {length} exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Index of the frame.
        index: u64,
        /// Stream offset of the frame header.
        offset: u64,
        /// The `length` field.
        length: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The payload's CRC32C differs from the header's.
    #[error("frame {index} at byte offset {offset}: CRC32C mismatch (header {expected:#010x}, payload {actual:#010x})")]
    CrcMismatch {
        /// Index of the frame.
        index: u64,
        /// Stream offset of the frame header.
        offset: u64,
        /// The CRC in the header.
        expected: u32,
        /// The CRC of the received payload.
        actual: u32,
    },
    /// The input ended inside the stream header.
    #[error("stream cut at byte offset {offset} inside the 16-byte stream header ({needed} more bytes needed)")]
    TruncatedStreamHeader {
        /// Where the input ended.
        offset: u64,
        /// Bytes missing from the header.
        needed: u64,
    },
    /// The input ended inside a frame.
    #[error(
        "stream cut at byte offset {offset} inside frame {index} (which starts at byte offset {frame_offset}): \
         at least {needed} more bytes needed"
    )]
    Truncated {
        /// Where the input ended.
        offset: u64,
        /// Index of the incomplete frame.
        index: u64,
        /// Stream offset of its header.
        frame_offset: u64,
        /// Bytes missing (only up to the end of the header if the header itself is cut).
        needed: u64,
    },
    /// The input ended between two frames, without the end-of-stream marker.
    #[error("stream ended at byte offset {offset} after {frames} frames without the end-of-stream marker")]
    MissingEnd {
        /// Where the input ended.
        offset: u64,
        /// Number of complete frames received.
        frames: u64,
    },
    /// An encoder was asked for a tag reserved by the format.
    #[error("tag {tag:#x} is reserved by the format (application tags are 0..={MAX_USER_TAG:#x})")]
    ReservedTag {
        /// The rejected tag.
        tag: u32,
    },
    /// A frame was written after the end-of-stream marker.
    #[error("the stream has ended: nothing may follow the end-of-stream marker")]
    AlreadyEnded,
    /// Arrow could not encode or decode a table.
    #[error("Arrow error{}: {source}", on_channel(.channel))]
    Arrow {
        /// The multiplexed channel, if any.
        channel: Option<u32>,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A frame arrived on a channel after its Arrow end-of-stream.
    #[error("channel {channel}: frame {index} at byte offset {offset} follows the channel's Arrow end-of-stream")]
    ChannelClosed {
        /// The channel (frame tag).
        channel: u32,
        /// Index of the frame.
        index: u64,
        /// Stream offset of the frame's payload.
        offset: u64,
    },
    /// A multiplexed stream ended while a channel had not sent its Arrow end-of-stream.
    #[error("the stream ended while channel {channel} was still open (no Arrow end-of-stream received)")]
    ChannelNotClosed {
        /// The channel (frame tag).
        channel: u32,
    },
    /// A writer was asked to use a channel that is not open, or to open one twice.
    #[error("channel {channel}: {problem}")]
    ChannelMisuse {
        /// The channel (frame tag).
        channel: u32,
        /// What was wrong.
        problem: &'static str,
    },
    /// Bytes that are not a valid Arrow IPC stream.
    #[error("invalid Arrow IPC stream at byte offset {offset}: {reason}")]
    InvalidIpc {
        /// Stream offset of the offending message.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An Arrow IPC stream ended inside a message or without its end-of-stream marker.
    #[error("Arrow IPC stream cut at byte offset {offset} ({needed} more bytes needed to finish the message)")]
    IpcTruncated {
        /// Where the input ended.
        offset: u64,
        /// Bytes missing (0: the stream ended between messages without the end-of-stream marker).
        needed: u64,
    },
}

fn at_offset(offset: &Option<u64>) -> String {
    offset.map(|o| format!(" at byte offset {o}")).unwrap_or_default()
}

fn on_channel(channel: &Option<u32>) -> String {
    channel.map(|c| format!(" on channel {c}")).unwrap_or_default()
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { offset: None, source }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(source: arrow_schema::ArrowError) -> Self {
        Error::Arrow { channel: None, source }
    }
}

impl Error {
    /// The stream offset the error refers to, if it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Io { offset, .. } => *offset,
            Error::InvalidFrameHeader { offset, .. }
            | Error::BadPadding { offset, .. }
            | Error::FrameTooLarge { offset, .. }
            | Error::CrcMismatch { offset, .. }
            | Error::TruncatedStreamHeader { offset, .. }
            | Error::Truncated { offset, .. }
            | Error::MissingEnd { offset, .. }
            | Error::ChannelClosed { offset, .. }
            | Error::InvalidIpc { offset, .. }
            | Error::IpcTruncated { offset, .. } => Some(*offset),
            _ => None,
        }
    }

    /// The index of the frame the error refers to, if it has one.
    pub fn frame_index(&self) -> Option<u64> {
        match self {
            Error::InvalidFrameHeader { index, .. }
            | Error::BadPadding { index, .. }
            | Error::FrameTooLarge { index, .. }
            | Error::CrcMismatch { index, .. }
            | Error::Truncated { index, .. }
            | Error::ChannelClosed { index, .. } => Some(*index),
            _ => None,
        }
    }

    pub(crate) fn io_at(offset: u64, source: std::io::Error) -> Self {
        Error::Io { offset: Some(offset), source }
    }
}
