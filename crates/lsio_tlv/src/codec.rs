//! [`TlvCodec`]: `tokio_util::codec::Decoder` and `Encoder`, for `FramedRead`, `FramedWrite`
//! and `Framed`.

use bytes::{Buf, Bytes, BytesMut};

use crate::decoder::{Decoded, Decoder, DecoderConfig};
use crate::encoder::{Encoder, EncoderConfig};
use crate::error::{Error, Result};
use crate::frame::Frame;

/// The end-of-stream marker, as an item for [`TlvCodec`]'s encoder:
/// `sink.send(EndOfStream).await`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndOfStream;

/// The lsio TLV format as a tokio-util codec.
///
/// * Decoding yields [`Frame<Bytes>`]: each payload is a zero-copy `split_to` of the
///   `FramedRead` buffer. After the end-of-stream marker the codec yields nothing more and
///   discards what follows; `FramedRead` itself ends at the end of its input, as with every
///   codec (so the sender closes its side after the marker: drops its `FramedWrite`, calls
///   `SinkExt::<EndOfStream>::close` (the item type must be named: the codec encodes two), or
///   [`AsyncTlvWriter::finish`](crate::AsyncTlvWriter::finish), which shuts down). An input
///   that ends without the marker is an error ([`Error::Truncated`] or
///   [`Error::MissingEnd`]), unless [`DecoderConfig::require_end`] is off.
/// * Encoding accepts `(tag, payload)` for any `payload: AsRef<[u8]>` (the payload is copied
///   into the `FramedWrite` buffer, as with every tokio-util encoder), and [`EndOfStream`].
///
/// **Alignment**: the payload's *stream offset* ([`Frame::offset`]) is a multiple of the
/// stream's alignment, as always, but its *memory address* is not guaranteed to be aligned:
/// `FramedRead` owns its `BytesMut`, allocates it with the global allocator (16-byte aligned
/// at best) and moves unconsumed bytes to its front when it grows it. Only `Frame::offset` is
/// aligned. For payloads that are aligned in memory, read with
/// [`AsyncTlvReader`](crate::AsyncTlvReader) instead, which owns aligned buffers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lsio_tlv::Error> {
/// use futures::{SinkExt, StreamExt};
/// use lsio_tlv::{EndOfStream, TlvCodec};
/// use tokio_util::codec::{FramedRead, FramedWrite};
///
/// let (client, server) = tokio::io::duplex(1024);
/// let mut tx = FramedWrite::new(client, TlvCodec::new());
/// tx.send((7, &b"hello"[..])).await?;
/// tx.send(EndOfStream).await?;
/// drop(tx); // closes the connection: the reader sees the end of its input
/// // (or `SinkExt::<EndOfStream>::close(&mut tx).await?`, which also shuts it down)
///
/// let mut rx = FramedRead::new(server, TlvCodec::new());
/// let frame = rx.next().await.unwrap()?;
/// assert_eq!((frame.tag, &frame.payload[..]), (7, &b"hello"[..]));
/// assert!(rx.next().await.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TlvCodec {
    dec: Decoder,
    enc: Encoder,
}

impl Default for TlvCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl TlvCodec {
    /// A codec with the default configurations (8-byte alignment, no CRC, 64 MiB maximum).
    pub fn new() -> Self {
        match Self::with_config(EncoderConfig::default(), DecoderConfig::default()) {
            Ok(codec) => codec,
            Err(_) => unreachable!("the default configuration is valid"),
        }
    }

    /// A codec that encodes with `encoder` and decodes with `decoder`.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`].
    pub fn with_config(encoder: EncoderConfig, decoder: DecoderConfig) -> Result<Self> {
        Ok(Self { dec: Decoder::new(decoder), enc: Encoder::new(encoder)? })
    }

    /// The decoding state (stream header, offset, frames decoded).
    pub fn decoder(&self) -> &Decoder {
        &self.dec
    }

    /// The encoding state (offset, frames encoded).
    pub fn encoder(&self) -> &Encoder {
        &self.enc
    }
}

impl tokio_util::codec::Decoder for TlvCodec {
    type Item = Frame<Bytes>;
    type Error = Error;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame<Bytes>>> {
        loop {
            match self.dec.decode(src)? {
                Decoded::Frame(info) => {
                    src.advance(info.payload.start);
                    let payload = src.split_to(info.payload.len()).freeze();
                    return Ok(Some(Frame {
                        tag: info.tag,
                        index: info.index,
                        offset: self.dec.offset() - payload.len() as u64,
                        payload,
                    }));
                }
                Decoded::NeedMore(n) => {
                    src.reserve(n);
                    return Ok(None);
                }
                Decoded::StreamHeader(_) => src.advance(crate::format::STREAM_HEADER_LEN),
                Decoded::End { .. } => {
                    src.clear();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame<Bytes>>> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        self.dec.finish(src)?;
        src.clear();
        Ok(None)
    }
}

impl<P: AsRef<[u8]>> tokio_util::codec::Encoder<(u32, P)> for TlvCodec {
    type Error = Error;

    #[inline]
    fn encode(&mut self, (tag, payload): (u32, P), dst: &mut BytesMut) -> Result<()> {
        self.enc.put_frame(tag, payload.as_ref(), dst)
    }
}

impl tokio_util::codec::Encoder<EndOfStream> for TlvCodec {
    type Error = Error;

    fn encode(&mut self, _: EndOfStream, dst: &mut BytesMut) -> Result<()> {
        self.enc.end()?.write_to(dst);
        Ok(())
    }
}
