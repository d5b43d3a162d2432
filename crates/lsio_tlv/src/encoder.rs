//! The sans-I/O [`Encoder`]: header and padding bytes for each payload, given the stream offset.

use crate::error::{Error, Result};
use crate::format::{
    DEFAULT_ALIGN, END_TAG, FIRST_RESERVED_TAG, FLAG_CRC32C, FRAME_HEADER_LEN, MAX_FRAME_HEADER_LEN, RawFrameHeader,
    STREAM_HEADER_LEN, StreamHeader, ZEROS, check_align, pad_for,
};

/// How an [`Encoder`] (and the writers built on it) writes a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncoderConfig {
    /// Payload alignment, a power of two in `8..=4096`; default [`DEFAULT_ALIGN`] (8).
    pub align: usize,
    /// Whether every frame carries the CRC32C of its payload; default `false`.
    pub crc: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self { align: DEFAULT_ALIGN, crc: false }
    }
}

impl EncoderConfig {
    /// Sets the payload alignment (a power of two in `8..=4096`, checked when the encoder is made).
    pub fn with_align(mut self, align: usize) -> Self {
        self.align = align;
        self
    }

    /// Turns per-frame CRC32C on or off.
    pub fn with_crc(mut self, crc: bool) -> Self {
        self.crc = crc;
        self
    }
}

/// The bytes that go in front of one payload: the stream header (before the first frame only),
/// the frame header (with its CRC extension, if any) and the zero padding.
///
/// Write [`header`](Self::header), then [`padding`](Self::padding), then the payload itself.
#[derive(Clone, Copy)]
pub struct FramePrefix {
    /// `[stream header][frame header]`; the stream header part is used only when `start == 0`,
    /// the frame header is `bytes[16..end]`.
    bytes: [u8; STREAM_HEADER_LEN + MAX_FRAME_HEADER_LEN],
    start: u8,
    end: u8,
    pad: u16,
}

impl FramePrefix {
    /// The header bytes: 16 (24 with a CRC), plus 16 when the stream header comes first.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.bytes[usize::from(self.start)..usize::from(self.end)]
    }

    /// The zero padding between the header and the payload (0 to 4095 bytes).
    #[inline]
    pub fn padding(&self) -> &'static [u8] {
        &ZEROS[..usize::from(self.pad)]
    }

    /// `header().len() + padding().len()`.
    #[inline]
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.header().len() + usize::from(self.pad)
    }

    /// Appends header and padding to `dst`.
    #[inline]
    pub fn write_to(&self, dst: &mut impl bytes::BufMut) {
        dst.put_slice(self.header());
        dst.put_slice(self.padding());
    }
}

impl std::fmt::Debug for FramePrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePrefix").field("header", &self.header()).field("pad", &self.pad).finish()
    }
}

/// Sans-I/O encoder: computes the stream header, frame headers and padding; writes nothing.
///
/// The caller writes, in order, every [`FramePrefix`] it gets followed by that frame's payload
/// (of exactly the length it declared): the encoder tracks the stream offset from those lengths
/// to compute the padding. The stream header is emitted in front of the first frame, unless
/// [`stream_header`](Self::stream_header) took it earlier.
///
/// ```
/// use lsio_tlv::{Encoder, EncoderConfig};
/// let mut enc = Encoder::new(EncoderConfig::default().with_align(64))?;
/// let mut out = Vec::new();
/// for payload in [&b"hello"[..], b"world"] {
///     let prefix = enc.frame(7, payload)?;
///     out.extend_from_slice(prefix.header());
///     out.extend_from_slice(prefix.padding());
///     out.extend_from_slice(payload);
///     assert_eq!((out.len() - payload.len()) % 64, 0); // every payload starts aligned
/// }
/// let end = enc.end()?;
/// out.extend_from_slice(end.header());
/// out.extend_from_slice(end.padding());
/// assert_eq!(enc.offset(), out.len() as u64);
/// # Ok::<(), lsio_tlv::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Encoder {
    align: usize,
    crc: bool,
    /// Stream offset of the next byte the caller will write.
    offset: u64,
    frames: u64,
    header_sent: bool,
    ended: bool,
}

impl Encoder {
    /// A new stream.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`] for an alignment that is not a power of two in `8..=4096`.
    pub fn new(config: EncoderConfig) -> Result<Self> {
        check_align(config.align)?;
        Ok(Self { align: config.align, crc: config.crc, offset: 0, frames: 0, header_sent: false, ended: false })
    }

    /// Payload alignment of the stream.
    pub fn align(&self) -> usize {
        self.align
    }

    /// Whether [`frame`](Self::frame) computes a CRC32C.
    pub fn crc(&self) -> bool {
        self.crc
    }

    /// Stream offset of the next byte to write: the bytes of all prefixes and payloads so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of frames encoded (the end marker not counted).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether [`end`](Self::end) was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The 16-byte stream header, if it has not been emitted yet (it then will not be emitted
    /// in front of the first frame). Useful to send the header before the first frame is ready.
    pub fn stream_header(&mut self) -> Option<[u8; STREAM_HEADER_LEN]> {
        if self.header_sent {
            return None;
        }
        self.header_sent = true;
        self.offset += STREAM_HEADER_LEN as u64;
        Some(StreamHeader { version: crate::format::VERSION, align: self.align }.to_bytes())
    }

    /// The prefix of a frame with `payload`, computing its CRC32C if the encoder has CRCs on.
    ///
    /// # Errors
    /// [`Error::ReservedTag`] for a tag above [`MAX_USER_TAG`](crate::MAX_USER_TAG),
    /// [`Error::AlreadyEnded`] after [`end`](Self::end).
    #[inline]
    pub fn frame(&mut self, tag: u32, payload: &[u8]) -> Result<FramePrefix> {
        let crc = self.crc.then(|| crc32c::crc32c(payload));
        self.frame_with_crc(tag, payload.len() as u64, crc)
    }

    /// The prefix of a frame whose payload is the concatenation of `parts`.
    ///
    /// # Errors
    /// As [`frame`](Self::frame).
    pub fn frame_parts<P: AsRef<[u8]>>(&mut self, tag: u32, parts: &[P]) -> Result<FramePrefix> {
        let len = parts.iter().map(|p| p.as_ref().len() as u64).sum();
        let crc = self.crc.then(|| parts.iter().fold(0, |crc, p| crc32c::crc32c_append(crc, p.as_ref())));
        self.frame_with_crc(tag, len, crc)
    }

    /// The prefix of a frame of `len` payload bytes, with the given CRC32C (or none), whatever
    /// the encoder's CRC setting. For callers that compute the CRC themselves.
    ///
    /// # Errors
    /// As [`frame`](Self::frame).
    #[inline]
    pub fn frame_with_crc(&mut self, tag: u32, len: u64, crc: Option<u32>) -> Result<FramePrefix> {
        if tag >= FIRST_RESERVED_TAG {
            return Err(Error::ReservedTag { tag });
        }
        let prefix = self.prefix(tag, len, crc)?;
        self.frames += 1;
        Ok(prefix)
    }

    /// The prefix of the end-of-stream marker (it has no payload). Nothing can follow it.
    ///
    /// # Errors
    /// [`Error::AlreadyEnded`] if called twice.
    pub fn end(&mut self) -> Result<FramePrefix> {
        let prefix = self.prefix(END_TAG, 0, None)?;
        self.ended = true;
        Ok(prefix)
    }

    #[inline]
    fn prefix(&mut self, tag: u32, length: u64, crc: Option<u32>) -> Result<FramePrefix> {
        let mut bytes = [0u8; STREAM_HEADER_LEN + MAX_FRAME_HEADER_LEN];
        let (stream_header, header, hlen, pad) = self.next_header(tag, length, crc)?;
        let start = match stream_header {
            Some(sh) => {
                bytes[..STREAM_HEADER_LEN].copy_from_slice(&sh);
                0
            }
            None => STREAM_HEADER_LEN as u8,
        };
        bytes[STREAM_HEADER_LEN..].copy_from_slice(&header);
        Ok(FramePrefix { bytes, start, end: (STREAM_HEADER_LEN + hlen) as u8, pad })
    }

    /// Appends the prefix of a frame (stream header if due, frame header, padding) to `dst`.
    /// The caller appends the `length` payload bytes next.
    #[inline]
    pub(crate) fn put_prefix(&mut self, tag: u32, length: u64, crc: Option<u32>, dst: &mut Vec<u8>) -> Result<()> {
        if let Some((header, pad)) = self.fast_header(tag, length, crc) {
            dst.extend_from_slice(&header);
            if pad > 0 {
                dst.extend_from_slice(&ZEROS[..pad]);
            }
            return Ok(());
        }
        let prefix = self.frame_with_crc(tag, length, crc)?;
        dst.extend_from_slice(prefix.header());
        dst.extend_from_slice(prefix.padding());
        Ok(())
    }

    /// The codec's hot path: prefix and payload appended to a `BytesMut`.
    #[inline]
    pub(crate) fn put_frame(&mut self, tag: u32, payload: &[u8], dst: &mut bytes::BytesMut) -> Result<()> {
        let crc = self.crc.then(|| crc32c::crc32c(payload));
        if let Some((header, pad)) = self.fast_header(tag, payload.len() as u64, crc) {
            dst.reserve(FRAME_HEADER_LEN + pad + payload.len());
            dst.extend_from_slice(&header);
            if pad > 0 {
                dst.extend_from_slice(&ZEROS[..pad]);
            }
            dst.extend_from_slice(payload);
            return Ok(());
        }
        let prefix = self.frame_with_crc(tag, payload.len() as u64, crc)?;
        dst.reserve(prefix.len() + payload.len());
        prefix.write_to(dst);
        dst.extend_from_slice(payload);
        Ok(())
    }

    /// The common case in few instructions: a user tag, no CRC, stream header already sent,
    /// not ended. Advances the stream and returns the 16-byte header and the padding length;
    /// `None` (nothing done) otherwise.
    #[inline]
    fn fast_header(&mut self, tag: u32, length: u64, crc: Option<u32>) -> Option<([u8; FRAME_HEADER_LEN], usize)> {
        if tag >= FIRST_RESERVED_TAG || crc.is_some() || !self.header_sent || self.ended {
            return None;
        }
        let pad = pad_for(self.offset + FRAME_HEADER_LEN as u64, self.align);
        let mut header = [0u8; FRAME_HEADER_LEN];
        header[0..4].copy_from_slice(&tag.to_le_bytes());
        // Flags stay 0; `pad < align <= 4096` fits in u16.
        header[6..8].copy_from_slice(&(pad as u16).to_le_bytes());
        header[8..16].copy_from_slice(&length.to_le_bytes());
        self.offset += (FRAME_HEADER_LEN + pad) as u64 + length;
        self.frames += 1;
        Some((header, pad))
    }

    /// Advances the stream by one frame: the stream header if not sent yet, the frame header
    /// (and its length) and the padding length.
    #[inline]
    #[allow(clippy::type_complexity)]
    fn next_header(
        &mut self,
        tag: u32,
        length: u64,
        crc: Option<u32>,
    ) -> Result<(Option<[u8; STREAM_HEADER_LEN]>, [u8; MAX_FRAME_HEADER_LEN], usize, u16)> {
        if self.ended {
            return Err(Error::AlreadyEnded);
        }
        let stream_header = if self.header_sent {
            None
        } else {
            self.header_sent = true;
            self.offset += STREAM_HEADER_LEN as u64;
            Some(StreamHeader { version: crate::format::VERSION, align: self.align }.to_bytes())
        };
        let hlen = if crc.is_some() { MAX_FRAME_HEADER_LEN } else { FRAME_HEADER_LEN };
        // `pad < align <= 4096` fits in u16.
        let pad = pad_for(self.offset + hlen as u64, self.align) as u16;
        let mut header = [0u8; MAX_FRAME_HEADER_LEN];
        RawFrameHeader { tag, flags: if crc.is_some() { FLAG_CRC32C } else { 0 }, pad, length }.write(crc, &mut header);
        self.offset += (hlen + usize::from(pad)) as u64 + length;
        Ok((stream_header, header, hlen, pad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::MAX_USER_TAG;

    #[test]
    fn offsets_and_padding() {
        let mut enc = Encoder::new(EncoderConfig::default().with_align(64)).unwrap();
        let p = enc.frame(1, b"abc").unwrap();
        assert_eq!(p.header().len(), 32);
        assert_eq!(p.padding().len(), 32); // payload at 64
        assert_eq!(enc.offset(), 67);
        let p = enc.frame(2, b"").unwrap();
        assert_eq!(p.header().len(), 16);
        // header at 67..83, payload at 128
        assert_eq!(p.padding().len(), 45);
        assert_eq!(enc.offset(), 128);
        assert_eq!(enc.frames(), 2);
        enc.end().unwrap();
        assert!(matches!(enc.frame(1, b""), Err(Error::AlreadyEnded)));
        assert!(matches!(enc.end(), Err(Error::AlreadyEnded)));
    }

    #[test]
    fn reserved_tags_and_bad_alignment_are_refused() {
        let mut enc = Encoder::new(EncoderConfig::default()).unwrap();
        assert!(enc.frame(MAX_USER_TAG, b"").is_ok());
        assert!(matches!(enc.frame(MAX_USER_TAG + 1, b""), Err(Error::ReservedTag { .. })));
        assert!(matches!(enc.frame(END_TAG, b""), Err(Error::ReservedTag { .. })));
        assert!(Encoder::new(EncoderConfig::default().with_align(12)).is_err());
    }

    #[test]
    fn explicit_stream_header_is_emitted_once() {
        let mut enc = Encoder::new(EncoderConfig::default()).unwrap();
        assert!(enc.stream_header().is_some());
        assert!(enc.stream_header().is_none());
        assert_eq!(enc.frame(0, b"x").unwrap().header().len(), 16);
    }

    #[test]
    fn parts_crc_equals_whole_crc() {
        let mut a = Encoder::new(EncoderConfig::default().with_crc(true)).unwrap();
        let mut b = a.clone();
        let whole = a.frame(3, b"hello world").unwrap();
        let parts = b.frame_parts(3, &[&b"hello"[..], b" ", b"world"]).unwrap();
        assert_eq!(whole.header(), parts.header());
        assert_eq!(whole.header().len(), 16 + 24);
        assert_eq!(&whole.header()[32..36], &crc32c::crc32c(b"hello world").to_le_bytes());
    }
}
