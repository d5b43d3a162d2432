//! The wire format: constants, the 16-byte stream header and the 24-byte frame header.
//!
//! `docs/tlv.md` at the root of the repository is the normative description; this module is its
//! executable form.

use crate::error::{Error, Result};

/// The first 8 bytes of every stream: `\x89LSIOTLV`. The high first byte catches 7-bit channels
/// and text-mode transfers, as in PNG.
pub const MAGIC: [u8; 8] = *b"\x89LSIOTLV";

/// The format version this crate writes and the only one it reads.
pub const VERSION: u16 = 1;

/// Size of the stream header: magic, version, alignment, flags, 4 reserved bytes.
pub const STREAM_HEADER_LEN: usize = 16;

/// Size of the fixed frame header: tag, flags, pad, length.
pub const FRAME_HEADER_LEN: usize = 16;

/// Size of the CRC extension that follows the frame header when [`FLAG_CRC32C`] is set:
/// the CRC32C of the payload and 4 reserved zero bytes.
pub const CRC_EXT_LEN: usize = 8;

/// Largest frame header: the fixed part and the CRC extension.
pub const MAX_FRAME_HEADER_LEN: usize = FRAME_HEADER_LEN + CRC_EXT_LEN;

/// Frame flag bit 0: an 8-byte extension holding the CRC32C (Castagnoli) of the payload
/// follows the 16-byte header.
pub const FLAG_CRC32C: u16 = 1;

/// The tag of the end-of-stream marker frame (always with a zero-length payload).
pub const END_TAG: u32 = u32::MAX;

/// The first tag reserved for the format itself. Applications use tags `0..=MAX_USER_TAG`.
pub const FIRST_RESERVED_TAG: u32 = 0xFFFF_FF00;

/// The largest tag an application may use.
pub const MAX_USER_TAG: u32 = FIRST_RESERVED_TAG - 1;

/// Default payload alignment (8 bytes): enough for any primitive type.
pub const DEFAULT_ALIGN: usize = 8;

/// Payload alignment for SIMD code and Arrow buffers (64 bytes, a cache line, AVX-512).
pub const SIMD_ALIGN: usize = 64;

/// Smallest payload alignment a stream may declare.
pub const MIN_ALIGN: usize = 8;

/// Largest payload alignment a stream may declare (a page).
pub const MAX_ALIGN: usize = 4096;

/// Default largest payload a decoder accepts (64 MiB); see
/// [`DecoderConfig::max_frame_len`](crate::DecoderConfig::max_frame_len).
pub const DEFAULT_MAX_FRAME_LEN: u64 = 64 << 20;

/// Zero bytes for padding: the largest pad is `MAX_ALIGN - 1`.
pub(crate) static ZEROS: [u8; MAX_ALIGN] = [0; MAX_ALIGN];

/// Checks that `align` is a power of two in `MIN_ALIGN..=MAX_ALIGN`.
pub(crate) fn check_align(align: usize) -> Result<()> {
    if align.is_power_of_two() && (MIN_ALIGN..=MAX_ALIGN).contains(&align) {
        Ok(())
    } else {
        Err(Error::InvalidAlignment { align })
    }
}

/// Number of zero bytes to put at stream offset `at` so that the next byte's offset is a
/// multiple of `align` (a power of two).
#[inline]
pub(crate) fn pad_for(at: u64, align: usize) -> usize {
    // `align <= 4096`, so the low bits of `at` fit in usize on every target.
    let mask = align as u64 - 1;
    ((align as u64 - (at & mask)) & mask) as usize
}

/// The decoded stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StreamHeader {
    /// Format version (always [`VERSION`] once decoded).
    pub version: u16,
    /// Payload alignment of the stream in bytes: a power of two in `8..=4096`.
    pub align: usize,
}

impl StreamHeader {
    /// A version-[`VERSION`] header with payload alignment `align`.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`] unless `align` is a power of two in `8..=4096`.
    pub fn new(align: usize) -> Result<Self> {
        check_align(align)?;
        Ok(Self { version: VERSION, align })
    }

    /// The 16 bytes of this header.
    pub fn to_bytes(&self) -> [u8; STREAM_HEADER_LEN] {
        let mut out = [0u8; STREAM_HEADER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        out[10] = self.align.trailing_zeros() as u8;
        // out[11] (flags) and out[12..16] (reserved) stay zero.
        out
    }

    /// Parses and validates 16 header bytes.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`] or [`Error::InvalidStreamHeader`].
    pub fn parse(bytes: &[u8; STREAM_HEADER_LEN]) -> Result<Self> {
        let (magic, rest) = bytes.split_at(8);
        if magic != MAGIC {
            let mut found = [0u8; 8];
            found.copy_from_slice(magic);
            return Err(Error::BadMagic { found });
        }
        let version = u16::from_le_bytes([rest[0], rest[1]]);
        if version != VERSION {
            return Err(Error::UnsupportedVersion { version });
        }
        let log2 = rest[2];
        if !(3..=12).contains(&log2) {
            return Err(Error::InvalidStreamHeader { field: "alignment log2", value: u64::from(log2) });
        }
        if rest[3] != 0 {
            return Err(Error::InvalidStreamHeader { field: "flags", value: u64::from(rest[3]) });
        }
        let reserved = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if reserved != 0 {
            return Err(Error::InvalidStreamHeader { field: "reserved", value: u64::from(reserved) });
        }
        Ok(Self { version, align: 1 << log2 })
    }
}

/// The fields of a frame header (the CRC extension included), undecoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawFrameHeader {
    pub(crate) tag: u32,
    pub(crate) flags: u16,
    pub(crate) pad: u16,
    pub(crate) length: u64,
}

impl RawFrameHeader {
    #[inline]
    pub(crate) fn parse(b: &[u8; FRAME_HEADER_LEN]) -> Self {
        Self {
            tag: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            flags: u16::from_le_bytes([b[4], b[5]]),
            pad: u16::from_le_bytes([b[6], b[7]]),
            length: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    /// Writes the header, and the CRC extension if `crc` is given (the flag must then be set);
    /// returns the bytes written (16 or 24).
    #[inline]
    pub(crate) fn write(&self, crc: Option<u32>, out: &mut [u8; MAX_FRAME_HEADER_LEN]) -> usize {
        out[0..4].copy_from_slice(&self.tag.to_le_bytes());
        out[4..6].copy_from_slice(&self.flags.to_le_bytes());
        out[6..8].copy_from_slice(&self.pad.to_le_bytes());
        out[8..16].copy_from_slice(&self.length.to_le_bytes());
        match crc {
            Some(crc) => {
                out[16..20].copy_from_slice(&crc.to_le_bytes());
                out[20..24].copy_from_slice(&[0; 4]);
                MAX_FRAME_HEADER_LEN
            }
            None => FRAME_HEADER_LEN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_makes_offsets_aligned() {
        for align in [8usize, 16, 64, 4096] {
            for at in 0..10_000u64 {
                let pad = pad_for(at, align);
                assert!(pad < align);
                assert_eq!((at + pad as u64) % align as u64, 0);
            }
        }
    }

    #[test]
    fn stream_header_round_trip_and_rejections() {
        let h = StreamHeader::new(64).unwrap();
        let bytes = h.to_bytes();
        assert_eq!(bytes, *b"\x89LSIOTLV\x01\x00\x06\x00\x00\x00\x00\x00");
        assert_eq!(StreamHeader::parse(&bytes).unwrap(), h);

        let mut v2 = bytes;
        v2[8] = 2;
        assert!(matches!(StreamHeader::parse(&v2), Err(Error::UnsupportedVersion { version: 2 })));
        let mut magic = bytes;
        magic[1] = b'X';
        assert!(matches!(StreamHeader::parse(&magic), Err(Error::BadMagic { .. })));
        let mut log2 = bytes;
        log2[10] = 13;
        assert!(matches!(StreamHeader::parse(&log2), Err(Error::InvalidStreamHeader { .. })));
        let mut flags = bytes;
        flags[11] = 1;
        assert!(matches!(StreamHeader::parse(&flags), Err(Error::InvalidStreamHeader { field: "flags", .. })));
        let mut reserved = bytes;
        reserved[15] = 1;
        assert!(matches!(StreamHeader::parse(&reserved), Err(Error::InvalidStreamHeader { .. })));
        assert!(StreamHeader::new(4).is_err());
        assert!(StreamHeader::new(8192).is_err());
        assert!(StreamHeader::new(24).is_err());
    }

    #[test]
    fn frame_header_round_trip() {
        let h = RawFrameHeader { tag: 0x0102_0304, flags: 1, pad: 24, length: 1 << 40 };
        let mut b = [0xffu8; MAX_FRAME_HEADER_LEN];
        assert_eq!(h.write(Some(0xdead_beef), &mut b), 24);
        assert_eq!(RawFrameHeader::parse(b.first_chunk().unwrap()), h);
        assert_eq!(&b[..4], &[4, 3, 2, 1]);
        assert_eq!(&b[16..], &[0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0]);
        assert_eq!(h.write(None, &mut b), 16);
    }
}
