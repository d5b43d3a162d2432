//! [`Frame`], the reader and writer configurations, and the pieces the blocking and async
//! adapters share.

use std::io::IoSlice;
use std::ops::Range;

use lsio_aligned::AlignedBytes;

use crate::assembler::{Framer, Step};
use crate::decoder::{Decoded, Decoder, DecoderConfig};
use crate::encoder::{Encoder, EncoderConfig};
use crate::error::Result;
use crate::format::STREAM_HEADER_LEN;

/// One received frame.
///
/// The readers hand out the payload as an [`AlignedBytes`]: a zero-copy slice of the buffer
/// the bytes were read into, whose address is a multiple of the stream's alignment. The tokio
/// codec hands out `bytes::Bytes` (see [`TlvCodec`](crate::TlvCodec) for what it guarantees).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame<P = AlignedBytes> {
    /// The frame's tag.
    pub tag: u32,
    /// Index of the frame in the stream (0 for the first).
    pub index: u64,
    /// Stream offset of the payload (a multiple of the stream's alignment).
    pub offset: u64,
    /// The payload.
    pub payload: P,
}

/// Configuration of [`TlvReader`](crate::TlvReader) and
/// [`AsyncTlvReader`](crate::AsyncTlvReader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderConfig {
    /// What the decoder checks.
    pub decoder: DecoderConfig,
    /// Size of each read buffer (default 1 MiB). Frames are sliced out of it without copying;
    /// a frame larger than this gets a buffer of its own size. A payload keeps its whole buffer
    /// alive while it lives.
    pub buffer_size: usize,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self { decoder: DecoderConfig::default(), buffer_size: 1 << 20 }
    }
}

impl ReaderConfig {
    /// Sets [`DecoderConfig::max_frame_len`].
    pub fn with_max_frame_len(mut self, max: u64) -> Self {
        self.decoder.max_frame_len = max;
        self
    }

    /// Sets [`DecoderConfig::verify_crc`].
    pub fn with_verify_crc(mut self, verify: bool) -> Self {
        self.decoder.verify_crc = verify;
        self
    }

    /// Sets [`DecoderConfig::require_end`].
    pub fn with_require_end(mut self, require: bool) -> Self {
        self.decoder.require_end = require;
        self
    }

    /// Sets [`buffer_size`](Self::buffer_size) (at least 4 KiB is used).
    pub fn with_buffer_size(mut self, size: usize) -> Self {
        self.buffer_size = size;
        self
    }
}

/// Configuration of [`TlvWriter`](crate::TlvWriter) and
/// [`AsyncTlvWriter`](crate::AsyncTlvWriter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterConfig {
    /// Alignment and CRC.
    pub encoder: EncoderConfig,
    /// Small frames are gathered in a buffer of this size (default 64 KiB) and written when it
    /// is full, at a [`flush`](crate::TlvWriter::flush) or at the end.
    pub buffer_size: usize,
    /// Payload parts of at least this many bytes (default 16 KiB) are never copied: they go to
    /// the writer's `write_vectored` as their own `IoSlice`, after the buffered header and
    /// padding. Smaller parts are copied into the buffer, which is cheaper than a system call.
    pub copy_threshold: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { encoder: EncoderConfig::default(), buffer_size: 64 << 10, copy_threshold: 16 << 10 }
    }
}

impl WriterConfig {
    /// Sets the payload alignment ([`EncoderConfig::align`]).
    pub fn with_align(mut self, align: usize) -> Self {
        self.encoder.align = align;
        self
    }

    /// Turns per-frame CRC32C on or off ([`EncoderConfig::crc`]).
    pub fn with_crc(mut self, crc: bool) -> Self {
        self.encoder.crc = crc;
        self
    }

    /// Sets [`buffer_size`](Self::buffer_size).
    pub fn with_buffer_size(mut self, size: usize) -> Self {
        self.buffer_size = size;
        self
    }

    /// Sets [`copy_threshold`](Self::copy_threshold).
    pub fn with_copy_threshold(mut self, threshold: usize) -> Self {
        self.copy_threshold = threshold;
        self
    }
}

impl Framer for Decoder {
    /// Tag and index.
    type Desc = (u32, u64);

    const LOOKAHEAD: usize = crate::format::FRAME_HEADER_LEN;

    #[inline]
    fn step(&mut self, input: &[u8]) -> Result<Step<(u32, u64)>> {
        Ok(match self.decode(input)? {
            Decoded::NeedMore(n) => Step::NeedMore(n),
            Decoded::StreamHeader(_) => Step::Skip(STREAM_HEADER_LEN),
            Decoded::Frame(f) => Step::Item { len: f.len, payload: f.payload, desc: (f.tag, f.index) },
            Decoded::End { consumed } => Step::End(consumed),
        })
    }

    fn finish(&self, rest: &[u8]) -> Result<()> {
        Decoder::finish(self, rest)
    }
}

/// A piece of what a writer sends for a frame with large parts.
#[derive(Clone, Debug)]
pub(crate) enum Seg {
    /// A range of the staging buffer.
    Buf(Range<usize>),
    /// One of the caller's parts, by index.
    Part(usize),
}

/// What the writer must do after [`Staging::stage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing: the frame is in the buffer.
    None,
    /// Write out the buffer (it is full).
    Flush,
    /// Write the segments now (vectored), then clear the buffer.
    Segments,
}

/// The write side shared by the blocking and async writers: the encoder and the buffer of
/// small frames.
#[derive(Debug)]
pub(crate) struct Staging {
    pub(crate) enc: Encoder,
    pub(crate) buf: Vec<u8>,
    pub(crate) segs: Vec<Seg>,
    capacity: usize,
    copy_threshold: usize,
    /// A write failed: the stream is broken.
    pub(crate) broken: bool,
}

impl Staging {
    pub(crate) fn new(config: WriterConfig) -> Result<Self> {
        let capacity = config.buffer_size.max(64);
        Ok(Self {
            enc: Encoder::new(config.encoder)?,
            buf: Vec::with_capacity(capacity),
            segs: Vec::new(),
            capacity,
            copy_threshold: config.copy_threshold,
            broken: false,
        })
    }

    /// Stream offset of the bytes not yet written (the start of the buffer).
    pub(crate) fn unwritten_offset(&self) -> u64 {
        self.enc.offset() - self.buf.len() as u64
    }

    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if self.broken {
            return Err(self.broken_error());
        }
        Ok(())
    }

    #[cold]
    fn broken_error(&self) -> crate::Error {
        crate::Error::Io {
            offset: Some(self.unwritten_offset()),
            source: std::io::Error::other("an earlier write failed: the stream is broken"),
        }
    }

    /// Encodes a frame: copies its prefix and small parts into the buffer and says what to
    /// write now. With [`Action::Segments`], `segs` lists what to write, buffer first.
    #[inline]
    pub(crate) fn stage<P: AsRef<[u8]>>(&mut self, tag: u32, parts: &[P]) -> Result<Action> {
        self.check()?;
        // The common case, one small payload: straight into the buffer.
        if let [part] = parts {
            let part = part.as_ref();
            if part.len() < self.copy_threshold {
                let crc = self.enc.crc().then(|| crc32c::crc32c(part));
                self.enc.put_prefix(tag, part.len() as u64, crc, &mut self.buf)?;
                self.buf.extend_from_slice(part);
                return Ok(if self.buf.len() >= self.capacity { Action::Flush } else { Action::None });
            }
        }
        let len = parts.iter().map(|p| p.as_ref().len() as u64).sum();
        let crc = self.enc.crc().then(|| parts.iter().fold(0, |crc, p| crc32c::crc32c_append(crc, p.as_ref())));
        self.enc.put_prefix(tag, len, crc, &mut self.buf)?;
        self.segs.clear();
        let mut seg_start = 0;
        for (i, part) in parts.iter().enumerate() {
            let part = part.as_ref();
            if part.len() >= self.copy_threshold && !part.is_empty() {
                if self.buf.len() > seg_start {
                    self.segs.push(Seg::Buf(seg_start..self.buf.len()));
                }
                self.segs.push(Seg::Part(i));
                seg_start = self.buf.len();
            } else {
                self.buf.extend_from_slice(part);
            }
        }
        if self.segs.is_empty() {
            return Ok(if self.buf.len() >= self.capacity { Action::Flush } else { Action::None });
        }
        if self.buf.len() > seg_start {
            self.segs.push(Seg::Buf(seg_start..self.buf.len()));
        }
        Ok(Action::Segments)
    }

    /// Encodes the end marker into the buffer.
    pub(crate) fn stage_end(&mut self) -> Result<()> {
        self.check()?;
        let prefix = self.enc.end()?;
        self.buf.extend_from_slice(prefix.header());
        self.buf.extend_from_slice(prefix.padding());
        Ok(())
    }
}

/// The `IoSlice`s of `segs`.
pub(crate) fn io_slices<'a, P: AsRef<[u8]>>(buf: &'a [u8], parts: &'a [P], segs: &[Seg]) -> Vec<IoSlice<'a>> {
    segs.iter()
        .map(|seg| match seg {
            Seg::Buf(range) => IoSlice::new(&buf[range.clone()]),
            Seg::Part(i) => IoSlice::new(parts[*i].as_ref()),
        })
        .collect()
}
