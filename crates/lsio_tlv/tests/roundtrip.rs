//! Property tests: arbitrary frame sequences survive every reader under arbitrary splitting of
//! the byte stream, and random or corrupted input never panics.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use lsio_tlv::{
    AsyncTlvReader, Decoded, Decoder, DecoderConfig, Error, MAX_USER_TAG, ReaderConfig, TlvCodec, TlvReader, TlvWriter,
    WriterConfig,
};
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder as _;

/// Hands out `data` in pieces of the given sizes (cycled; 0 is read as 1).
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
    /// Async only: answer `Pending` before every other read.
    pending: bool,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], sizes: &[usize]) -> Self {
        Self { data, sizes: if sizes.is_empty() { vec![usize::MAX] } else { sizes.to_vec() }, i: 0, pending: false }
    }
    fn next_len(&mut self, room: usize) -> usize {
        let n = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        n.min(room).min(self.data.len())
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.next_len(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.pending = !self.pending;
        if self.pending {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = self.next_len(buf.remaining());
        let data = self.data;
        buf.put_slice(&data[..n]);
        self.data = &data[n..];
        Poll::Ready(Ok(()))
    }
}

fn encode(frames: &[(u32, Vec<u8>)], config: WriterConfig) -> Vec<u8> {
    let mut w = TlvWriter::with_config(Vec::new(), config).unwrap();
    for (tag, payload) in frames {
        // Split the payload in two parts, to exercise part handling too.
        let (a, b) = payload.split_at(payload.len() / 3);
        w.write_frame_parts(*tag, &[a, b]).unwrap();
    }
    w.finish().unwrap()
}

fn frames_strategy() -> impl Strategy<Value = Vec<(u32, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop_oneof![0..16u32, Just(MAX_USER_TAG), any::<u32>().prop_map(|t| t % MAX_USER_TAG)],
            // Mostly small payloads; some larger than a quarter of a 4 KiB read buffer, which
            // switch the readers to exact-size reads.
            prop_oneof![
                9 => prop::collection::vec(any::<u8>(), 0..300),
                1 => prop::collection::vec(any::<u8>(), 1000..9000),
            ],
        ),
        0..24,
    )
}

fn align_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![Just(8usize), Just(16), Just(64), Just(4096)]
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_under_any_split(
        frames in frames_strategy(),
        align in align_strategy(),
        crc in any::<bool>(),
        copy_threshold in prop_oneof![Just(0usize), Just(64), Just(1 << 20)],
        sizes in prop::collection::vec(0usize..200, 0..8),
        buffer_size in prop_oneof![Just(1usize), Just(4096), Just(5000), Just(1 << 20)],
    ) {
        let config = WriterConfig::default().with_align(align).with_crc(crc).with_copy_threshold(copy_threshold).with_buffer_size(128);
        let stream = encode(&frames, config);
        let reader_config = ReaderConfig::default().with_buffer_size(buffer_size);

        // Blocking reader.
        let got: Vec<_> = TlvReader::with_config(Chunked::new(&stream, &sizes), reader_config).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), frames.len());
        for (i, (f, (tag, payload))) in got.iter().zip(&frames).enumerate() {
            prop_assert_eq!(f.tag, *tag);
            prop_assert_eq!(f.index, i as u64);
            prop_assert_eq!(&f.payload[..], &payload[..]);
            prop_assert_eq!(f.offset % align as u64, 0);
            prop_assert_eq!(&stream[f.offset as usize..f.offset as usize + payload.len()], &payload[..]);
            prop_assert!(payload.is_empty() || f.payload.is_aligned_to(align), "payload {} not aligned to {}", i, align);
        }

        // Async reader (with `Pending` between reads).
        let got: Vec<_> = block_on(async {
            let mut r = AsyncTlvReader::with_config(Chunked::new(&stream, &sizes), reader_config);
            let mut out = Vec::new();
            while let Some(f) = r.next_frame().await.unwrap() {
                out.push(f);
            }
            out
        });
        prop_assert_eq!(got.len(), frames.len());
        for (f, (tag, payload)) in got.iter().zip(&frames) {
            prop_assert_eq!((f.tag, &f.payload[..]), (*tag, &payload[..]));
            prop_assert!(payload.is_empty() || f.payload.is_aligned_to(align));
        }

        // Sans-I/O decoder fed the same pieces.
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut pending = Vec::new();
        let mut got = Vec::new();
        let mut src = Chunked::new(&stream, &sizes);
        let mut piece = vec![0u8; 256];
        loop {
            let n = src.read(&mut piece).unwrap();
            if n == 0 { break; }
            pending.extend_from_slice(&piece[..n]);
            loop {
                let item = dec.decode(&pending).unwrap();
                if let Decoded::Frame(f) = &item { got.push((f.tag, pending[f.payload.clone()].to_vec())); }
                if matches!(item, Decoded::NeedMore(_) | Decoded::End { consumed: 0 }) { break; }
                pending.drain(..item.consumed());
            }
        }
        dec.finish(&pending).unwrap();
        prop_assert_eq!(&got, &frames);

        // tokio-util codec fed the same pieces.
        let mut codec = TlvCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut src = Chunked::new(&stream, &sizes);
        loop {
            let n = src.read(&mut piece).unwrap();
            buf.extend_from_slice(&piece[..n]);
            let eof = n == 0;
            loop {
                let item = if eof { codec.decode_eof(&mut buf) } else { codec.decode(&mut buf) };
                match item.unwrap() {
                    Some(f) => got.push((f.tag, f.payload.to_vec())),
                    None => break,
                }
            }
            if eof { break; }
        }
        prop_assert_eq!(&got, &frames);
    }

    #[test]
    fn random_input_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..600),
        with_header in any::<bool>(),
        sizes in prop::collection::vec(1usize..64, 1..4),
    ) {
        let mut input = Vec::new();
        if with_header {
            input.extend_from_slice(b"\x89LSIOTLV\x01\x00\x03\x00\x00\x00\x00\x00");
        }
        input.extend_from_slice(&data);
        let config = ReaderConfig::default().with_buffer_size(1).with_max_frame_len(1 << 16);
        for item in TlvReader::with_config(Chunked::new(&input, &sizes), config) {
            if item.is_err() { break; }
        }
        let mut codec = TlvCodec::new();
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = codec.decode_eof(&mut buf) {}
    }

    #[test]
    fn corrupted_streams_never_panic_and_crc_catches_payload_flips(
        frames in frames_strategy(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let stream = encode(&frames, WriterConfig::default().with_crc(true));
        let mut bad = stream.clone();
        for (at, x) in &flips {
            let i = at.index(bad.len());
            bad[i] ^= x;
        }
        let result: Result<Vec<_>, Error> = TlvReader::with_config(Chunked::new(&bad, &[7, 100]), ReaderConfig::default().with_buffer_size(1)).collect();
        if let Ok(got) = result {
            // Only a flip the CRC cannot see (a tag) may go unnoticed; payloads are intact.
            prop_assert_eq!(got.len(), frames.len());
            for (f, (_, payload)) in got.iter().zip(&frames) {
                prop_assert_eq!(&f.payload[..], &payload[..]);
            }
        }
    }
}

#[test]
fn cut_streams_name_the_offset() {
    let frames = vec![(1, vec![1u8; 10]), (2, vec![2u8; 100])];
    let stream = encode(&frames, WriterConfig::default());
    for cut in 0..stream.len() {
        let err = TlvReader::new(&stream[..cut]).collect::<Result<Vec<_>, _>>().unwrap_err();
        assert_eq!(err.offset(), Some(cut as u64), "cut at {cut}: {err}");
        match err {
            Error::TruncatedStreamHeader { .. } => assert!(cut < 16),
            Error::Truncated { index, frame_offset, .. } => assert!(index < 3 && frame_offset < cut as u64),
            Error::MissingEnd { frames, .. } => assert!(frames <= 2),
            other => panic!("cut at {cut}: {other}"),
        }
    }
}
