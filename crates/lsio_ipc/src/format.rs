//! The framing of the Arrow IPC formats: encapsulated messages, the end-of-stream marker, the
//! file magic and footer; verification of the flatbuffers with the configured limits.

use arrow_ipc as fb;

use crate::error::{Error, Result};
use crate::options::Limits;

/// `ARROW1`, at the start (padded to 8 bytes) and at the end of every IPC file.
pub const MAGIC: &[u8; 6] = b"ARROW1";
/// The file's leading magic with its padding.
pub(crate) const MAGIC_PADDED: &[u8; 8] = b"ARROW1\0\0";
/// The continuation marker before a message's metadata length.
pub const CONTINUATION: [u8; 4] = [0xff; 4];
/// The end-of-stream marker: continuation marker and a zero length.
pub const EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
/// Alignment of message bodies and of every buffer in them, as written by this crate.
pub const ALIGNMENT: usize = 64;
/// The bytes after the footer: its length (int32) and `ARROW1`.
pub(crate) const FOOTER_TRAILER: usize = 10;

/// Zeros for padding, borrowed by vectored writes.
pub(crate) static ZEROS: [u8; ALIGNMENT] = [0; ALIGNMENT];

/// Padding that rounds `n` up to a multiple of `align` (a power of two).
#[inline]
pub(crate) fn padding(n: usize, align: usize) -> usize {
    (align - n % align) % align
}

/// What a message prefix says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// End of stream.
    Eos,
    /// A message whose metadata is `len` bytes, after a prefix of `prefix_len` bytes (8, or 4 for
    /// the legacy format without continuation marker).
    Message { prefix_len: usize, len: usize },
    /// The first four bytes were the continuation marker; the length follows.
    NeedLength,
}

/// Parses the first 4 bytes of a message.
pub(crate) fn parse_prefix4(b: [u8; 4], offset: u64, limits: &Limits) -> Result<Prefix> {
    if b == CONTINUATION {
        return Ok(Prefix::NeedLength);
    }
    metadata_len(i32::from_le_bytes(b), 4, offset, limits)
}

/// Parses the length after a continuation marker.
pub(crate) fn parse_len(b: [u8; 4], offset: u64, limits: &Limits) -> Result<Prefix> {
    metadata_len(i32::from_le_bytes(b), 8, offset, limits)
}

fn metadata_len(len: i32, prefix_len: usize, offset: u64, limits: &Limits) -> Result<Prefix> {
    if len == 0 {
        return Ok(Prefix::Eos);
    }
    if len < 0 {
        return Err(Error::corrupt(offset, format!("negative message metadata length {len}")));
    }
    if len as u64 > limits.max_metadata_len {
        return Err(Error::LimitExceeded {
            offset,
            what: "message metadata",
            value: len as u64,
            limit: limits.max_metadata_len,
        });
    }
    Ok(Prefix::Message { prefix_len, len: len as usize })
}

fn verifier(limits: &Limits) -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions {
        max_depth: (limits.max_nesting_depth.saturating_mul(2) + 16).max(64),
        max_tables: limits.max_buffers.saturating_mul(4).max(1_000_000),
        max_apparent_size: 1 << 31,
        ignore_missing_null_terminator: false,
    }
}

/// Verifies and parses message metadata (`offset`: where the message starts).
pub(crate) fn parse_message<'a>(meta: &'a [u8], offset: u64, limits: &Limits) -> Result<fb::Message<'a>> {
    let m = fb::root_as_message_with_opts(&verifier(limits), meta).map_err(|source| Error::Flatbuffer {
        offset,
        what: "message",
        source,
    })?;
    if m.version() < fb::MetadataVersion::V4 || m.version() > fb::MetadataVersion::V5 {
        return Err(Error::Unsupported(format!("metadata version {:?} of the message at byte {offset}", m.version())));
    }
    if m.bodyLength() < 0 {
        return Err(Error::corrupt(offset, format!("negative body length {}", m.bodyLength())));
    }
    Ok(m)
}

/// Verifies and parses a footer (`offset`: where it starts).
pub(crate) fn parse_footer<'a>(buf: &'a [u8], offset: u64, limits: &Limits) -> Result<fb::Footer<'a>> {
    fb::root_as_footer_with_opts(&verifier(limits), buf).map_err(|source| Error::Flatbuffer {
        offset,
        what: "footer",
        source,
    })
}

/// Checks the 10 trailing bytes of a file and returns the footer length.
pub(crate) fn parse_trailer(trailer: &[u8], file_len: u64, limits: &Limits) -> Result<usize> {
    if file_len < (MAGIC_PADDED.len() + FOOTER_TRAILER) as u64 || trailer.len() < FOOTER_TRAILER {
        return Err(Error::MissingFooter { len: file_len, what: "too short for an Arrow file".into() });
    }
    let t = &trailer[trailer.len() - FOOTER_TRAILER..];
    if &t[4..] != MAGIC {
        return Err(Error::MissingFooter {
            len: file_len,
            what: "no trailing ARROW1 magic (a writer that did not finish?)".into(),
        });
    }
    let footer_len = i32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    let at = file_len - FOOTER_TRAILER as u64;
    if footer_len <= 0 {
        return Err(Error::corrupt(at, format!("footer length {footer_len}")));
    }
    let footer_len = footer_len as u64;
    if footer_len > limits.max_footer_len {
        return Err(Error::LimitExceeded {
            offset: at,
            what: "footer",
            value: footer_len,
            limit: limits.max_footer_len,
        });
    }
    if footer_len + (FOOTER_TRAILER + MAGIC_PADDED.len()) as u64 > file_len {
        return Err(Error::corrupt(
            at,
            format!("footer length {footer_len} is larger than the file ({file_len} bytes)"),
        ));
    }
    Ok(footer_len as usize)
}

/// A message's position in a file, from the footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Where the message starts (its prefix).
    pub offset: u64,
    /// Prefix, metadata and padding: the body starts at `offset + meta_len`.
    pub meta_len: u64,
    /// Body length.
    pub body_len: u64,
}

impl Block {
    /// Where the body starts.
    pub fn body_offset(&self) -> u64 {
        self.offset + self.meta_len
    }

    /// Where the message ends.
    pub fn end(&self) -> u64 {
        self.offset + self.meta_len + self.body_len
    }
}

/// Converts and bounds-checks the footer's blocks (`footer_offset`: where the footer starts,
/// which every block must end before).
pub(crate) fn blocks(
    list: Option<flatbuffers::Vector<'_, fb::Block>>,
    footer_offset: u64,
    limits: &Limits,
) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    for (i, b) in list.into_iter().flatten().enumerate() {
        let bad = |what: String| Error::corrupt(footer_offset, format!("footer block {i}: {what}"));
        let (o, m, l) = (b.offset(), b.metaDataLength(), b.bodyLength());
        if o < 0 || m <= 0 || l < 0 {
            return Err(bad(format!("negative offset {o}, metadata length {m} or body length {l}")));
        }
        let blk = Block { offset: o as u64, meta_len: m as u64, body_len: l as u64 };
        if blk.meta_len > limits.max_metadata_len.saturating_add(8) {
            return Err(Error::LimitExceeded {
                offset: footer_offset,
                what: "message metadata",
                value: blk.meta_len,
                limit: limits.max_metadata_len,
            });
        }
        if blk.body_len > limits.max_body_len {
            return Err(Error::LimitExceeded {
                offset: blk.offset,
                what: "message body",
                value: blk.body_len,
                limit: limits.max_body_len,
            });
        }
        match blk.offset.checked_add(blk.meta_len).and_then(|x| x.checked_add(blk.body_len)) {
            Some(end) if end <= footer_offset && blk.offset >= MAGIC_PADDED.len() as u64 => {}
            _ => return Err(bad(format!("{o}+{m}+{l} is outside the data section 8..{footer_offset}"))),
        }
        out.push(blk);
    }
    Ok(out)
}

/// Splits a message's bytes (`prefix | metadata | padding`) into the metadata flatbuffer,
/// accepting the legacy prefix; `offset` is where it starts.
pub(crate) fn message_metadata<'a>(bytes: &'a [u8], offset: u64, limits: &Limits) -> Result<&'a [u8]> {
    let short = |needed: usize| Error::Truncated {
        offset,
        what: "message prefix",
        needed: needed as u64,
        available: bytes.len() as u64,
    };
    let b4 = bytes.get(..4).ok_or_else(|| short(4))?;
    let mut p = parse_prefix4([b4[0], b4[1], b4[2], b4[3]], offset, limits)?;
    if p == Prefix::NeedLength {
        let b = bytes.get(4..8).ok_or_else(|| short(8))?;
        p = parse_len([b[0], b[1], b[2], b[3]], offset, limits)?;
    }
    match p {
        Prefix::Message { prefix_len, len } => {
            bytes.get(prefix_len..prefix_len + len).ok_or_else(|| Error::Truncated {
                offset,
                what: "message metadata",
                needed: (prefix_len + len) as u64,
                available: bytes.len() as u64,
            })
        }
        _ => Err(Error::corrupt(offset, "expected a message, found the end-of-stream marker")),
    }
}
