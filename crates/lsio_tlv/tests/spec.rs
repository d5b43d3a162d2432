//! The worked example of `docs/tlv.md`, byte for byte: the encoder writes it, every reader
//! reads it.

use lsio_tlv::{Decoded, Decoder, DecoderConfig, Encoder, EncoderConfig, TlvCodec, TlvReader};
use tokio_util::codec::Decoder as _;

/// The hex dump that follows the `<!-- worked-example -->` marker in docs/tlv.md.
fn documented_bytes() -> Vec<u8> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tlv.md")).unwrap();
    let block = doc.split("<!-- worked-example -->").nth(1).expect("the marker is in docs/tlv.md");
    let block = block.split("```").nth(1).expect("a code block follows the marker");
    block
        .lines()
        .skip(1) // the "text" info string
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| l.split_whitespace().skip(1).map(|b| u8::from_str_radix(b, 16).unwrap()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn the_encoder_writes_the_documented_example() {
    let mut enc = Encoder::new(EncoderConfig::default()).unwrap();
    let mut out = Vec::new();
    enc.frame(7, b"hello").unwrap().write_to(&mut out);
    out.extend_from_slice(b"hello");
    enc.frame_with_crc(0x1234, 5, Some(crc32c::crc32c(b"lsio!"))).unwrap().write_to(&mut out);
    out.extend_from_slice(b"lsio!");
    enc.end().unwrap().write_to(&mut out);
    assert_eq!(out, documented_bytes());
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn every_reader_reads_the_documented_example() {
    let bytes = documented_bytes();
    let frames: Vec<_> = TlvReader::new(&bytes[..]).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!((frames[0].tag, frames[0].offset, frames[0].payload.as_slice()), (7, 0x20, &b"hello"[..]));
    assert_eq!((frames[1].tag, frames[1].offset, frames[1].payload.as_slice()), (0x1234, 0x40, &b"lsio!"[..]));

    let mut dec = Decoder::new(DecoderConfig::default());
    let mut rest = &bytes[..];
    let mut items = Vec::new();
    loop {
        let item = dec.decode(rest).unwrap();
        rest = &rest[item.consumed()..];
        let end = matches!(item, Decoded::End { .. });
        items.push(item);
        if end {
            break;
        }
    }
    assert_eq!(items.len(), 4);
    assert!(matches!(&items[2], Decoded::Frame(f) if f.crc == Some(0xb56e_9ad5) && f.offset == 0x25));
    assert!(rest.is_empty());

    let mut codec = TlvCodec::new();
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap().payload[..], b"hello");
    assert_eq!(&codec.decode(&mut buf).unwrap().unwrap().payload[..], b"lsio!");
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
}
