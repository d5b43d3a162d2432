//! The sans-I/O [`Decoder`]: fed byte slices, it reports frames as ranges or how many more
//! bytes it needs.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::format::{
    DEFAULT_MAX_FRAME_LEN, END_TAG, FIRST_RESERVED_TAG, FLAG_CRC32C, FRAME_HEADER_LEN, MAGIC, MAX_FRAME_HEADER_LEN,
    RawFrameHeader, STREAM_HEADER_LEN, StreamHeader, pad_for,
};

/// How a [`Decoder`] (and the readers built on it) checks a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderConfig {
    /// Largest payload accepted, in bytes; a longer frame is an [`Error::FrameTooLarge`],
    /// reported from its header alone, before anything is allocated for it.
    /// Default [`DEFAULT_MAX_FRAME_LEN`] (64 MiB).
    pub max_frame_len: u64,
    /// Whether payload CRC32Cs are checked (when a frame carries one). Default `true`.
    pub verify_crc: bool,
    /// Whether the end of the input without the end-of-stream marker is an error
    /// ([`Error::MissingEnd`]). Default `true`.
    pub require_end: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { max_frame_len: DEFAULT_MAX_FRAME_LEN, verify_crc: true, require_end: true }
    }
}

impl DecoderConfig {
    /// Sets [`max_frame_len`](Self::max_frame_len).
    pub fn with_max_frame_len(mut self, max: u64) -> Self {
        self.max_frame_len = max;
        self
    }

    /// Sets [`verify_crc`](Self::verify_crc).
    pub fn with_verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    /// Sets [`require_end`](Self::require_end).
    pub fn with_require_end(mut self, require: bool) -> Self {
        self.require_end = require;
        self
    }
}

/// One complete frame found at the start of the input given to [`Decoder::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameInfo {
    /// The frame's tag.
    pub tag: u32,
    /// The payload's CRC32C, if the frame carries one (already checked when
    /// [`DecoderConfig::verify_crc`] is on).
    pub crc: Option<u32>,
    /// Index of the frame in the stream (0 for the first).
    pub index: u64,
    /// Stream offset of the frame header.
    pub offset: u64,
    /// Where the payload is in the input slice (its stream offset is `offset + payload.start`,
    /// a multiple of the stream's alignment).
    pub payload: Range<usize>,
    /// Bytes of the frame: header, padding and payload (`== payload.end`).
    pub len: usize,
}

/// What [`Decoder::decode`] found at the start of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// The input holds no complete item: at least this many more bytes are needed. Nothing was
    /// consumed; call again with the same bytes and more.
    NeedMore(usize),
    /// The stream header ([`STREAM_HEADER_LEN`] bytes consumed).
    StreamHeader(StreamHeader),
    /// A frame ([`FrameInfo::len`] bytes consumed).
    Frame(FrameInfo),
    /// The end-of-stream marker (`consumed` bytes); the stream is over.
    End {
        /// Bytes of the marker frame.
        consumed: usize,
    },
}

impl Decoded {
    /// Bytes consumed from the front of the input.
    pub fn consumed(&self) -> usize {
        match self {
            Decoded::NeedMore(_) => 0,
            Decoded::StreamHeader(_) => STREAM_HEADER_LEN,
            Decoded::Frame(info) => info.len,
            Decoded::End { consumed } => *consumed,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamHeader,
    Frames,
    Ended,
}

/// Sans-I/O decoder of an lsio TLV stream.
///
/// Give [`decode`](Self::decode) the bytes of the stream that have not been consumed yet,
/// starting at [`offset`](Self::offset); it consumes at most one item (stream header, frame or
/// end marker) from their front and says which, or how many more bytes it needs. It never
/// copies, buffers or allocates: payloads are reported as ranges of the input.
///
/// ```
/// use lsio_tlv::{Decoded, Decoder, DecoderConfig, Encoder, EncoderConfig};
/// // Encode two frames and the end marker into a Vec.
/// let mut enc = Encoder::new(EncoderConfig::default())?;
/// let mut stream = Vec::new();
/// for (tag, payload) in [(1, &b"first"[..]), (2, b"second")] {
///     enc.frame(tag, payload)?.write_to(&mut stream);
///     stream.extend_from_slice(payload);
/// }
/// enc.end()?.write_to(&mut stream);
///
/// // Decode it from arbitrary pieces: here, one byte at a time.
/// let mut dec = Decoder::new(DecoderConfig::default());
/// let (mut pending, mut frames) = (Vec::new(), Vec::new());
/// for byte in stream {
///     pending.push(byte);
///     loop {
///         let item = dec.decode(&pending)?;
///         if let Decoded::Frame(info) = &item {
///             frames.push((info.tag, pending[info.payload.clone()].to_vec()));
///         }
///         if matches!(item, Decoded::NeedMore(_) | Decoded::End { consumed: 0 }) { break; }
///         pending.drain(..item.consumed());
///     }
/// }
/// assert!(dec.is_ended());
/// assert_eq!(frames, [(1, b"first".to_vec()), (2, b"second".to_vec())]);
/// # Ok::<(), lsio_tlv::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    config: DecoderConfig,
    state: State,
    /// Stream offset of the first byte of the next input.
    offset: u64,
    /// Index of the next frame.
    index: u64,
    align: usize,
    header: Option<StreamHeader>,
}

/// Payloads longer than this cannot be addressed in memory, whatever the configuration.
const ADDRESSABLE_MAX: u64 = (isize::MAX as u64) - 2 * crate::format::MAX_ALIGN as u64;

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new(config: DecoderConfig) -> Self {
        Self { config, state: State::StreamHeader, offset: 0, index: 0, align: 8, header: None }
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The stream header, once decoded.
    pub fn stream_header(&self) -> Option<&StreamHeader> {
        self.header.as_ref()
    }

    /// Stream offset of the next byte to give to [`decode`](Self::decode).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of frames decoded so far (the end marker not counted).
    pub fn frames(&self) -> u64 {
        self.index
    }

    /// Whether the end-of-stream marker was decoded.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Decodes one item from the front of `input`, which must start at [`offset`](Self::offset).
    /// After the end marker it keeps answering [`Decoded::End`] with nothing consumed.
    ///
    /// # Errors
    /// Any format violation ([`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::InvalidFrameHeader`], [`Error::BadPadding`], [`Error::FrameTooLarge`],
    /// [`Error::CrcMismatch`], ...). Nothing is consumed then, and the same input gives the same
    /// error again.
    #[inline]
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded> {
        match self.state {
            State::Frames => self.decode_frame(input),
            State::StreamHeader => self.decode_stream_header(input),
            State::Ended => Ok(Decoded::End { consumed: 0 }),
        }
    }

    fn decode_stream_header(&mut self, input: &[u8]) -> Result<Decoded> {
        let Some(bytes) = input.first_chunk::<STREAM_HEADER_LEN>() else {
            // Refuse a foreign protocol as soon as its first bytes differ from the magic.
            let n = input.len().min(MAGIC.len());
            if input[..n] != MAGIC[..n] {
                let mut found = [0u8; 8];
                found[..n].copy_from_slice(&input[..n]);
                return Err(Error::BadMagic { found });
            }
            return Ok(Decoded::NeedMore(STREAM_HEADER_LEN - input.len()));
        };
        let header = StreamHeader::parse(bytes)?;
        self.align = header.align;
        self.header = Some(header);
        self.state = State::Frames;
        self.offset += STREAM_HEADER_LEN as u64;
        Ok(Decoded::StreamHeader(header))
    }

    #[inline]
    fn decode_frame(&mut self, input: &[u8]) -> Result<Decoded> {
        let Some(head) = input.first_chunk::<FRAME_HEADER_LEN>() else {
            return Ok(Decoded::NeedMore(FRAME_HEADER_LEN - input.len()));
        };
        let h = RawFrameHeader::parse(head);
        if h.flags & !FLAG_CRC32C != 0 {
            return Err(self.invalid("flags", u64::from(h.flags)));
        }
        let (hlen, crc) = if h.flags & FLAG_CRC32C == 0 {
            (FRAME_HEADER_LEN, None)
        } else {
            let Some(ext) = input.get(FRAME_HEADER_LEN..MAX_FRAME_HEADER_LEN) else {
                return Ok(Decoded::NeedMore(MAX_FRAME_HEADER_LEN - input.len()));
            };
            let reserved = u32::from_le_bytes([ext[4], ext[5], ext[6], ext[7]]);
            if reserved != 0 {
                return Err(self.invalid("reserved", u64::from(reserved)));
            }
            (MAX_FRAME_HEADER_LEN, Some(u32::from_le_bytes([ext[0], ext[1], ext[2], ext[3]])))
        };
        let pad = self.check_header(&h, hlen)?;
        let payload_start = hlen + pad;
        // `length <= ADDRESSABLE_MAX` (checked), so this neither overflows nor truncates.
        let len = payload_start + h.length as usize;
        if input.len() < len {
            return Ok(Decoded::NeedMore(len - input.len()));
        }
        if pad > 0 && input[hlen..payload_start].iter().any(|&b| b != 0) {
            return Err(self.invalid("padding byte", 1));
        }
        if let Some(expected) = crc
            && self.config.verify_crc
        {
            let actual = crc32c::crc32c(&input[payload_start..len]);
            if actual != expected {
                return Err(Error::CrcMismatch { index: self.index, offset: self.offset, expected, actual });
            }
        }
        if h.tag == END_TAG {
            self.state = State::Ended;
            self.offset += len as u64;
            return Ok(Decoded::End { consumed: len });
        }
        let info =
            FrameInfo { tag: h.tag, crc, index: self.index, offset: self.offset, payload: payload_start..len, len };
        self.index += 1;
        self.offset += len as u64;
        Ok(Decoded::Frame(info))
    }

    /// Checks the padding, tag and length of a header of `hlen` bytes; returns the padding
    /// length.
    #[inline]
    fn check_header(&self, h: &RawFrameHeader, hlen: usize) -> Result<usize> {
        let expected = pad_for(self.offset + hlen as u64, self.align);
        if usize::from(h.pad) != expected {
            return Err(Error::BadPadding {
                index: self.index,
                offset: self.offset,
                pad: h.pad,
                // `expected < align <= 4096`.
                expected: expected as u16,
            });
        }
        if h.tag >= FIRST_RESERVED_TAG {
            if h.tag != END_TAG {
                return Err(self.invalid("tag", u64::from(h.tag)));
            }
            if h.length != 0 {
                return Err(self.invalid("length", h.length));
            }
        }
        let max = self.config.max_frame_len.min(ADDRESSABLE_MAX);
        if h.length > max {
            return Err(Error::FrameTooLarge { index: self.index, offset: self.offset, length: h.length, max });
        }
        Ok(expected)
    }

    fn invalid(&self, field: &'static str, value: u64) -> Error {
        Error::InvalidFrameHeader { index: self.index, offset: self.offset, field, value }
    }

    /// Says whether the input may end here, `rest` being the bytes not consumed.
    ///
    /// # Errors
    /// [`Error::TruncatedStreamHeader`] or [`Error::Truncated`] (naming the byte offset where
    /// the input ends) if `rest` is part of an item, [`Error::MissingEnd`] if the stream stops
    /// between frames without its end marker (unless [`DecoderConfig::require_end`] is off), or
    /// the error `rest` itself causes.
    pub fn finish(&self, rest: &[u8]) -> Result<()> {
        let end = self.offset + rest.len() as u64;
        match self.state {
            State::Ended => Ok(()),
            State::StreamHeader => {
                self.clone().decode(rest)?;
                Err(Error::TruncatedStreamHeader {
                    offset: end,
                    needed: STREAM_HEADER_LEN.saturating_sub(rest.len()) as u64,
                })
            }
            State::Frames if rest.is_empty() => {
                if self.config.require_end {
                    Err(Error::MissingEnd { offset: end, frames: self.index })
                } else {
                    Ok(())
                }
            }
            State::Frames => {
                let needed = match self.clone().decode(rest)? {
                    Decoded::NeedMore(n) => n as u64,
                    // A complete item: the caller did not consume it; say what is left of it.
                    _ => 0,
                };
                Err(Error::Truncated { offset: end, index: self.index, frame_offset: self.offset, needed })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, EncoderConfig};

    fn stream(align: usize, crc: bool, frames: &[(u32, &[u8])], end: bool) -> Vec<u8> {
        let mut enc = Encoder::new(EncoderConfig::default().with_align(align).with_crc(crc)).unwrap();
        let mut out = Vec::new();
        for (tag, p) in frames {
            enc.frame(*tag, p).unwrap().write_to(&mut out);
            out.extend_from_slice(p);
        }
        if end {
            enc.end().unwrap().write_to(&mut out);
        }
        out
    }

    fn decode_all(dec: &mut Decoder, mut input: &[u8]) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut out = Vec::new();
        loop {
            let item = dec.decode(input)?;
            match &item {
                Decoded::NeedMore(_) => {
                    dec.finish(input)?;
                    return Ok(out);
                }
                Decoded::Frame(f) => out.push((f.tag, input[f.payload.clone()].to_vec())),
                Decoded::End { .. } => return Ok(out),
                _ => {}
            }
            input = &input[item.consumed()..];
        }
    }

    #[test]
    fn decodes_what_the_encoder_wrote() {
        for align in [8, 64, 4096] {
            for crc in [false, true] {
                let s = stream(align, crc, &[(1, b"abc"), (0, b""), (MAX_TAG, &[7; 100])], true);
                let mut dec = Decoder::new(DecoderConfig::default());
                let frames = decode_all(&mut dec, &s).unwrap();
                assert_eq!(frames.len(), 3);
                assert_eq!(frames[2], (MAX_TAG, vec![7; 100]));
                assert!(dec.is_ended());
                assert_eq!(dec.offset(), s.len() as u64);
            }
        }
    }
    const MAX_TAG: u32 = crate::format::MAX_USER_TAG;

    #[test]
    fn payload_offsets_are_aligned() {
        let s = stream(64, false, &[(1, b"abc"), (2, b"defgh"), (3, b"")], true);
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut input = &s[..];
        let mut base = 0u64;
        loop {
            let item = dec.decode(input).unwrap();
            if let Decoded::Frame(f) = &item {
                assert_eq!((base + f.payload.start as u64) % 64, 0);
                assert_eq!(f.offset, base);
            }
            if matches!(item, Decoded::End { .. }) {
                break;
            }
            base += item.consumed() as u64;
            input = &input[item.consumed()..];
        }
    }

    #[test]
    fn errors_name_offsets_and_indices() {
        // A stream cut inside the payload of frame 1.
        let s = stream(8, false, &[(1, b"abcdefgh"), (2, b"0123456789")], true);
        let cut = &s[..16 + 24 + 16 + 5];
        let mut dec = Decoder::new(DecoderConfig::default());
        match decode_all(&mut dec, cut) {
            Err(Error::Truncated { offset, index: 1, frame_offset: 40, needed }) => {
                assert_eq!(offset, cut.len() as u64);
                assert_eq!(needed, 5);
            }
            other => panic!("{other:?}"),
        }
        // Missing end marker.
        let s = stream(8, false, &[(1, b"abc")], false);
        let err = decode_all(&mut Decoder::new(DecoderConfig::default()), &s).unwrap_err();
        assert!(matches!(err, Error::MissingEnd { frames: 1, .. }), "{err}");
        assert!(decode_all(&mut Decoder::new(DecoderConfig::default().with_require_end(false)), &s).is_ok());
        // CRC mismatch in frame 1.
        let mut s = stream(8, true, &[(1, b"abcdefgh"), (2, b"0123456789")], true);
        let at = 16 + 32 + 24; // frame 1's payload
        s[at] ^= 1;
        let err = decode_all(&mut Decoder::new(DecoderConfig::default()), &s).unwrap_err();
        assert!(matches!(err, Error::CrcMismatch { index: 1, offset: 48, .. }), "{err}");
        assert!(err.to_string().contains("frame 1 at byte offset 48"), "{err}");
        assert!(decode_all(&mut Decoder::new(DecoderConfig::default().with_verify_crc(false)), &s).is_ok());
        // Too large: reported from the header alone.
        let s = stream(8, false, &[(1, &[0; 100])], true);
        let mut dec = Decoder::new(DecoderConfig::default().with_max_frame_len(99));
        dec.decode(&s).unwrap();
        let err = dec.decode(&s[16..32]).unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { index: 0, offset: 16, length: 100, max: 99 }), "{err}");
    }

    #[test]
    fn header_fields_are_checked() {
        let plain = stream(64, false, &[(1, b"abc")], true);
        let with_crc = stream(64, true, &[(1, b"abc")], true);
        let cases: [(bool, usize, u8, &str); 6] = [
            (false, 16 + 4, 2, "flags"),
            (true, 16 + 20, 1, "reserved"),
            (false, 16 + 6, 1, "pad"),
            (false, 16 + 3, 0xff, "tag"),
            (false, 16 + 16, 1, "padding byte"),
            (true, 16 + 24, 1, "padding byte"),
        ];
        for (crc, at, value, what) in cases {
            let mut s = if crc { with_crc.clone() } else { plain.clone() };
            s[at] = value;
            if what == "tag" {
                s[16 + 1] = 0xff;
                s[16 + 2] = 0xff; // tag 0xffffff01: reserved, not the end marker
            }
            let err = decode_all(&mut Decoder::new(DecoderConfig::default()), &s).unwrap_err();
            match (&err, what) {
                (Error::BadPadding { index: 0, offset: 16, .. }, "pad") => {}
                (Error::InvalidFrameHeader { field, index: 0, offset: 16, .. }, w) if *field == w => {}
                _ => panic!("{what}: {err:?}"),
            }
        }
        // An end marker with a payload.
        let mut s = stream(8, false, &[], true);
        s[16 + 8] = 1;
        let err = decode_all(&mut Decoder::new(DecoderConfig::default()), &s).unwrap_err();
        assert!(matches!(err, Error::InvalidFrameHeader { field: "length", .. }), "{err}");
    }

    #[test]
    fn foreign_protocols_fail_fast() {
        let mut dec = Decoder::new(DecoderConfig::default());
        assert!(matches!(dec.decode(b"GET /"), Err(Error::BadMagic { .. })));
        assert!(matches!(dec.decode(b"\x89LSI"), Ok(Decoded::NeedMore(12))));
        let err = dec.finish(b"\x89LSI").unwrap_err();
        assert!(matches!(err, Error::TruncatedStreamHeader { offset: 4, needed: 12 }), "{err}");
        let mut v2 = stream(8, false, &[], true);
        v2[8] = 2;
        assert!(matches!(dec.decode(&v2), Err(Error::UnsupportedVersion { version: 2 })));
    }
}
