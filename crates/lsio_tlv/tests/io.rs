//! The std and tokio adapters over memory, TCP and Unix sockets; zero-copy and alignment.

use std::io::{IoSlice, Write};

use futures::{SinkExt, StreamExt};
use lsio_tlv::{
    AsyncTlvReader, AsyncTlvWriter, EndOfStream, Error, Frame, ReaderConfig, TlvCodec, TlvReader, TlvWriter,
    WriterConfig,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_util::codec::{FramedRead, FramedWrite};

fn payload(i: usize) -> Vec<u8> {
    let len = match i % 5 {
        0 => 0,
        1 => 16,
        2 => 1000 + i,
        3 => 70_000,
        _ => 3 << 20, // larger than the 1 MiB read buffer
    };
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

const N: usize = 40;

async fn send_all<W: AsyncWrite + Unpin>(w: W, align: usize) -> W {
    let mut w = AsyncTlvWriter::with_config(w, WriterConfig::default().with_align(align).with_crc(true)).unwrap();
    for i in 0..N {
        w.write_frame(i as u32, &payload(i)).await.unwrap();
    }
    w.finish().await.unwrap()
}

async fn check_all<R: AsyncRead + Unpin>(r: R, align: usize) {
    let mut r = AsyncTlvReader::new(r);
    for i in 0..N {
        let f = r.next_frame().await.unwrap().unwrap();
        assert_eq!((f.tag, f.index), (i as u32, i as u64));
        assert_eq!(f.payload.as_slice(), &payload(i)[..], "frame {i}");
        assert!(f.payload.is_empty() || f.payload.is_aligned_to(align), "frame {i} not aligned to {align}");
    }
    assert!(r.next_frame().await.unwrap().is_none());
    assert_eq!(r.stream_header().map(|h| h.align), Some(align));
}

#[tokio::test]
async fn async_reader_and_writer_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        check_all(conn, 64).await;
    });
    let conn = TcpStream::connect(addr).await.unwrap();
    send_all(conn, 64).await;
    server.await.unwrap();
}

#[tokio::test]
async fn async_reader_and_writer_over_unix_sockets() {
    let (a, b) = UnixStream::pair().unwrap();
    let reader = tokio::spawn(check_all(b, 4096));
    send_all(a, 4096).await;
    reader.await.unwrap();
}

#[tokio::test]
async fn codec_plugs_into_framed_read_and_write_and_interoperates() {
    // FramedWrite + TlvCodec -> AsyncTlvReader.
    let (a, b) = tokio::io::duplex(1 << 16);
    let writer = tokio::spawn(async move {
        let mut tx = FramedWrite::new(a, TlvCodec::new());
        for i in 0..N {
            tx.send((i as u32, payload(i))).await.unwrap();
        }
        tx.send(EndOfStream).await.unwrap();
    });
    check_all(b, 8).await;
    writer.await.unwrap();

    // AsyncTlvWriter -> FramedRead + TlvCodec.
    let (a, b) = tokio::io::duplex(1 << 16);
    let writer = tokio::spawn(send_all(a, 64));
    let mut rx = FramedRead::new(b, TlvCodec::new());
    let mut i = 0;
    while let Some(f) = rx.next().await {
        let f: Frame<bytes::Bytes> = f.unwrap();
        assert_eq!((f.tag, &f.payload[..]), (i as u32, &payload(i)[..]));
        assert_eq!(f.offset % 64, 0);
        i += 1;
    }
    assert_eq!(i, N);
    writer.await.unwrap();
}

#[tokio::test]
async fn codec_reports_a_cut_stream() {
    let mut w = TlvWriter::new(Vec::new());
    w.write_frame(1, b"hello").unwrap();
    let mut bytes = w.finish().unwrap();
    bytes.truncate(34); // inside frame 0's payload (bytes 32..37)
    let mut rx = FramedRead::new(&bytes[..], TlvCodec::new());
    let err = rx.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Truncated { index: 0, offset: 34, frame_offset: 16, needed: 3 }), "{err}");
}

#[test]
fn payloads_are_slices_of_the_read_buffer_at_aligned_addresses() {
    let mut w = TlvWriter::with_config(Vec::new(), WriterConfig::default().with_align(64)).unwrap();
    for i in 0..2000usize {
        w.write_frame(7, &vec![i as u8; i % 300]).unwrap();
    }
    let bytes = w.finish().unwrap();
    for buffer_size in [4096, 10_000, 1 << 20] {
        let frames: Vec<_> = TlvReader::with_config(&bytes[..], ReaderConfig::default().with_buffer_size(buffer_size))
            .collect::<Result<_, _>>()
            .unwrap();
        let mut contiguous = 0;
        for (i, pair) in frames.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!(a.payload.len(), i % 300);
            if !a.payload.is_empty() {
                // Address mirrors stream offset modulo 4096.
                assert_eq!(a.payload.as_ptr() as u64 % 4096, a.offset % 4096);
            }
            // Consecutive payloads of one read buffer sit at the distance of their offsets: no
            // copy, no memmove.
            if !a.payload.is_empty()
                && !b.payload.is_empty()
                && (b.payload.as_ptr() as u64).wrapping_sub(a.payload.as_ptr() as u64) == b.offset - a.offset
            {
                contiguous += 1;
            }
        }
        assert!(contiguous > frames.len() * 9 / 10, "{contiguous} of {} contiguous", frames.len());
    }
}

/// A writer that records the address of each slice it is given, without copying them.
#[derive(Default)]
struct Recorder {
    slices: Vec<(usize, usize)>,
    total: usize,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.slices.push((b.as_ptr() as usize, b.len()));
            n += b.len();
        }
        self.total += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn large_payloads_are_written_without_a_copy() {
    let big = vec![5u8; 1 << 20];
    let mut w = TlvWriter::with_config(Recorder::default(), WriterConfig::default().with_align(64)).unwrap();
    w.write_frame(1, b"small").unwrap();
    w.write_frame(2, &big).unwrap();
    let end = w.offset();
    let rec = w.finish().unwrap();
    // One vectored write: [stream header, small frame, big frame's header and padding] [the
    // payload itself, in place], then the end marker.
    assert_eq!(rec.slices[0].1, 16 + 16 + 32 /* pad to 64 */ + 5 + 16 + 43 /* pad to 128 */);
    assert_eq!(rec.slices[1], (big.as_ptr() as usize, big.len()));
    assert_eq!(rec.total as u64, end + 64);
}

#[test]
fn an_oversized_frame_is_refused_from_its_header() {
    let mut bytes = b"\x89LSIOTLV\x01\x00\x03\x00\x00\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // tag 1, no flags, no pad
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes()); // 1 TiB
    let err = TlvReader::new(&bytes[..]).next().unwrap().unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { index: 0, offset: 16, length: 1099511627776, max: 67108864 }),
        "{err}"
    );
    assert_eq!(err.frame_index(), Some(0));
}

#[test]
fn a_frame_error_comes_after_the_good_frames_before_it() {
    let mut w = TlvWriter::with_config(Vec::new(), WriterConfig::default().with_crc(true)).unwrap();
    w.write_frame(1, b"good").unwrap();
    w.write_frame(2, b"bad!").unwrap();
    let mut bytes = w.finish().unwrap();
    let at = bytes.windows(4).position(|w| w == b"bad!").unwrap();
    bytes[at] ^= 0xff;
    let mut r = TlvReader::new(&bytes[..]);
    assert_eq!(r.next_frame().unwrap().unwrap().payload.as_slice(), b"good");
    let err = r.next_frame().unwrap_err();
    assert!(matches!(err, Error::CrcMismatch { index: 1, offset: 44, .. }), "{err}");
    assert!(r.next_frame().unwrap().is_none());
}

#[test]
fn the_reader_stops_at_the_end_marker() {
    let mut w = TlvWriter::new(Vec::new());
    w.write_frame(1, b"x").unwrap();
    let mut bytes = w.finish().unwrap();
    bytes.extend_from_slice(b"whatever follows is not read as frames");
    let frames: Vec<_> = TlvReader::new(&bytes[..]).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 1);
}
