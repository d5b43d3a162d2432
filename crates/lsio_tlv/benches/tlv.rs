//! lsio_tlv against `tokio_util::codec::LengthDelimitedCodec`, and Arrow over loopback TCP
//! against arrow-ipc's `StreamWriter`/`StreamReader`: both sides interleaved, medians and ratios.
//!
//! `cargo bench -p lsio_tlv --bench tlv`. Environment:
//! * `LSIO_TLV_BENCH_ROUNDS` (default 7): runs of each side, alternating;
//! * `LSIO_TLV_BENCH_ARROW_MIB` (default 1024): size of the Arrow table's column data;
//! * `LSIO_TLV_BENCH_QUICK=1`: a tenth of the frames, 64 MiB of Arrow, 3 rounds.

use std::hint::black_box;
use std::io::{BufReader, BufWriter, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use lsio_tlv::{
    AsyncTlvReader, AsyncTlvWriter, DecoderConfig, EncoderConfig, MuxReader, MuxWriter, TlvCodec, TlvReader,
    WriterConfig,
};
use tokio::io::AsyncWrite;
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite, LengthDelimitedCodec};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn quick() -> bool {
    std::env::var("LSIO_TLV_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Median of the measurements (the NaN placeholder dropped unless nothing else is there).
fn median(mut v: Vec<f64>) -> f64 {
    if v.len() > 1 {
        v.remove(0);
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[derive(Clone, Copy)]
enum Unit {
    FramesPerSec,
    GibPerSec,
}

/// Whether the case is selected by `LSIO_TLV_BENCH_FILTER` (a substring of its name).
fn selected(name: &str) -> bool {
    std::env::var("LSIO_TLV_BENCH_FILTER").map_or(true, |f| name.contains(&f))
}

/// Runs `base` and `ours` alternately `rounds` times (the order swapped every round); each
/// gets a fresh input from its setup closure, untimed. Returns the median seconds of each.
fn race<S, T>(
    rounds: usize,
    mut base_setup: impl FnMut() -> S,
    mut base: impl FnMut(S) -> u64,
    mut ours_setup: impl FnMut() -> T,
    mut ours: impl FnMut(T) -> u64,
) -> (f64, f64) {
    let (mut tb, mut to) = (vec![f64::NAN], vec![f64::NAN]);
    // For profiling one side alone: LSIO_TLV_BENCH_SIDE=baseline or lsio_tlv.
    let only = std::env::var("LSIO_TLV_BENCH_SIDE").ok();
    for round in 0..rounds {
        for side in [round % 2, 1 - round % 2] {
            if only.as_deref().is_some_and(|o| o != ["baseline", "lsio_tlv"][side]) {
                continue;
            }
            if side == 0 {
                let s = base_setup();
                let t = Instant::now();
                black_box(base(s));
                tb.push(t.elapsed().as_secs_f64());
            } else {
                let s = ours_setup();
                let t = Instant::now();
                black_box(ours(s));
                to.push(t.elapsed().as_secs_f64());
            }
        }
    }
    (median(tb), median(to))
}

fn report(name: &str, unit: Unit, work: f64, (base, ours): (f64, f64)) {
    let rate = |secs: f64| match unit {
        Unit::FramesPerSec => format!("{:8.1} Mframes/s", work / secs / 1e6),
        Unit::GibPerSec => format!("{:8.2} GiB/s", work / secs / (1u64 << 30) as f64),
    };
    println!("{name:<58} {:>18} {:>18} {:>7.2}x", rate(base), rate(ours), base / ours);
}

/// An `AsyncWrite` that copies what it is given into a ring (as a kernel socket copies into its
/// buffer) and supports vectored writes.
struct CopySink {
    ring: Vec<u8>,
    pos: usize,
}

impl CopySink {
    /// A sink whose ring is already paged in.
    fn new() -> Self {
        Self { ring: vec![1; 4 << 20], pos: 0 }
    }

    fn copy(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = data.len().min(self.ring.len() - self.pos);
            self.ring[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos = (self.pos + n) % self.ring.len();
            data = &data[n..];
        }
    }
}

impl AsyncWrite for CopySink {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.copy(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let mut n = 0;
        for b in bufs {
            self.copy(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

fn ldc() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(64 << 20).new_codec()
}

fn tlv(crc: bool) -> TlvCodec {
    TlvCodec::with_config(EncoderConfig::default().with_crc(crc), DecoderConfig::default()).unwrap()
}

/// `data` copied to an address that is 2048 past a page boundary: an in-memory "socket" whose
/// bytes are not at the same page offsets as the stream offsets (a reader that mirrors stream
/// offsets in its buffer addresses would otherwise copy between addresses 16 bytes apart modulo
/// 4096, the 4K-aliasing worst case of `memcpy`, which a real socket does not produce).
fn at_half_page(data: &[u8]) -> Bytes {
    let mut v = vec![0u8; data.len() + 8192];
    let skip = (2048 + 4096 - v.as_ptr() as usize % 4096) % 4096;
    v[skip..skip + data.len()].copy_from_slice(data);
    Bytes::from(v).slice(skip..skip + data.len())
}

fn ldc_stream(payload: &[u8], n: usize) -> Bytes {
    let mut codec = ldc();
    let mut dst = BytesMut::new();
    for _ in 0..n {
        codec.encode(payload, &mut dst).unwrap();
    }
    dst.freeze()
}

fn tlv_stream(payload: &[u8], n: usize, crc: bool) -> Bytes {
    let mut codec = tlv(crc);
    let mut dst = BytesMut::new();
    for _ in 0..n {
        codec.encode((1, payload), &mut dst).unwrap();
    }
    codec.encode(lsio_tlv::EndOfStream, &mut dst).unwrap();
    dst.freeze()
}

/// The frame benchmarks for one payload size.
fn frames(label: &str, payload: &[u8], n: usize, unit: Unit, rounds: usize) {
    let work = match unit {
        Unit::FramesPerSec => n as f64,
        Unit::GibPerSec => (n * payload.len()) as f64,
    };
    let ldc_bytes = at_half_page(&ldc_stream(payload, n));
    let streams = [at_half_page(&tlv_stream(payload, n, false)), at_half_page(&tlv_stream(payload, n, true))];

    for crc in [false, true] {
        let suffix = if crc { " +crc" } else { "" };
        // Encoder into a BytesMut (reused, so no allocation is timed).
        let mut base_dst = BytesMut::with_capacity(ldc_bytes.len());
        let mut ours_dst = BytesMut::with_capacity(streams[usize::from(crc)].len());
        let name = format!("{label} encode, codec into BytesMut{suffix}");
        if selected(&name) {
            let r = race(
                rounds,
                || (),
                |()| {
                    base_dst.clear();
                    let mut codec = ldc();
                    for _ in 0..n {
                        codec.encode(payload, &mut base_dst).unwrap();
                    }
                    base_dst.len() as u64
                },
                || (),
                |()| {
                    ours_dst.clear();
                    let mut codec = tlv(crc);
                    for _ in 0..n {
                        codec.encode((1, payload), &mut ours_dst).unwrap();
                    }
                    ours_dst.len() as u64
                },
            );
            report(&name, unit, work, r);
        }

        // Decoder over a BytesMut holding the whole stream.
        let stream = &streams[usize::from(crc)];
        let name = format!("{label} decode, codec from BytesMut{suffix}");
        if selected(&name) {
            let r = race(
                rounds,
                || BytesMut::from(&ldc_bytes[..]),
                |mut src| {
                    let mut codec = ldc();
                    let mut sum = 0u64;
                    while let Some(f) = codec.decode(&mut src).unwrap() {
                        sum += f.len() as u64;
                    }
                    sum
                },
                || BytesMut::from(&stream[..]),
                |mut src| {
                    let mut codec = tlv(crc);
                    let mut sum = 0u64;
                    while let Some(f) = codec.decode(&mut src).unwrap() {
                        sum += f.payload.len() as u64;
                    }
                    sum
                },
            );
            report(&name, unit, work, r);
        }

        // Writers: FramedWrite vs AsyncTlvWriter into a copying sink.
        let name = format!("{label} encode, FramedWrite vs AsyncTlvWriter{suffix}");
        if selected(&name) {
            let r = race(
                rounds,
                || (rt(), CopySink::new()),
                |(rt, sink)| {
                    rt.block_on(async {
                        let mut w = FramedWrite::new(sink, ldc());
                        for _ in 0..n {
                            w.feed(payload).await.unwrap();
                        }
                        SinkExt::<&[u8]>::flush(&mut w).await.unwrap();
                        w.get_ref().pos as u64
                    })
                },
                || (rt(), CopySink::new()),
                |(rt, sink)| {
                    rt.block_on(async {
                        let config = WriterConfig::default().with_crc(crc);
                        let mut w = AsyncTlvWriter::with_config(sink, config).unwrap();
                        for _ in 0..n {
                            w.write_frame(1, payload).await.unwrap();
                        }
                        w.finish().await.unwrap().pos as u64
                    })
                },
            );
            report(&name, unit, work, r);
        }

        // Readers: FramedRead vs AsyncTlvReader, from memory (both copy into their buffers).
        let name = format!("{label} decode, FramedRead vs AsyncTlvReader{suffix}");
        if selected(&name) {
            let r = race(
                rounds,
                rt,
                |rt| {
                    rt.block_on(async {
                        let mut rd = FramedRead::new(&ldc_bytes[..], ldc());
                        let mut sum = 0u64;
                        while let Some(f) = rd.next().await {
                            sum += f.unwrap().len() as u64;
                        }
                        sum
                    })
                },
                rt,
                |rt| {
                    rt.block_on(async {
                        let mut rd = AsyncTlvReader::new(&stream[..]);
                        let mut sum = 0u64;
                        while let Some(f) = rd.next_frame().await.unwrap() {
                            sum += f.payload.len() as u64;
                        }
                        sum
                    })
                },
            );
            report(&name, unit, work, r);
        }
    }

    // The blocking reader, against the same FramedRead baseline.
    let stream = &streams[0];
    let name = format!("{label} decode, FramedRead vs TlvReader (std)");
    if selected(&name) {
        let r = race(
            rounds,
            rt,
            |rt| {
                rt.block_on(async {
                    let mut rd = FramedRead::new(&ldc_bytes[..], ldc());
                    let mut sum = 0u64;
                    while let Some(f) = rd.next().await {
                        sum += f.unwrap().len() as u64;
                    }
                    sum
                })
            },
            || (),
            |()| TlvReader::new(&stream[..]).map(|f| f.unwrap().payload.len() as u64).sum::<u64>(),
        );
        report(&name, unit, work, r);
    }
}

/// A table of 4 columns (2 Int64, 2 Float64) in batches of 64 Ki rows (2 MiB each).
fn arrow_table(mib: usize) -> Vec<RecordBatch> {
    const ROWS: usize = 64 << 10;
    let batches = (mib << 20).div_ceil(ROWS * 32).max(1);
    (0..batches)
        .map(|b| {
            let base = (b * ROWS) as i64;
            let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(base..base + ROWS as i64));
            let floats: ArrayRef = Arc::new(Float64Array::from_iter_values((0..ROWS).map(|i| i as f64 * 0.25)));
            RecordBatch::try_from_iter([("a", ints.clone()), ("b", floats.clone()), ("c", ints), ("d", floats)])
                .unwrap()
        })
        .collect()
}

fn body_bytes(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.columns().iter().map(|c| c.to_data().buffers()[0].len() as u64).sum::<u64>()).sum()
}

/// arrow-ipc over std TCP (a thread per side) vs the lsio_tlv multiplexer over tokio TCP.
fn arrow_over_tcp(mib: usize, rounds: usize) {
    let table = Arc::new(arrow_table(mib));
    let body = body_bytes(&table);
    let schema = table[0].schema();
    let name = format!("Arrow {mib} MiB over TCP: arrow-ipc vs lsio_tlv mux");
    if selected(&name) {
        let r = race(
            rounds,
            || (),
            |()| {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let (table, schema) = (Arc::clone(&table), schema.clone());
                let writer = std::thread::spawn(move || {
                    let conn = std::net::TcpStream::connect(addr).unwrap();
                    conn.set_nodelay(true).unwrap();
                    let mut w =
                        arrow_ipc::writer::StreamWriter::try_new(BufWriter::with_capacity(1 << 20, conn), &schema)
                            .unwrap();
                    for b in table.iter() {
                        w.write(b).unwrap();
                    }
                    w.finish().unwrap();
                });
                let (conn, _) = listener.accept().unwrap();
                let rd =
                    arrow_ipc::reader::StreamReader::try_new(BufReader::with_capacity(1 << 20, conn), None).unwrap();
                let rows: u64 = rd.map(|b| b.unwrap().num_rows() as u64).sum();
                writer.join().unwrap();
                rows
            },
            || (),
            |()| {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                let (table, schema) = (Arc::clone(&table), schema.clone());
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let addr = listener.local_addr().unwrap();
                    let writer = tokio::spawn(async move {
                        let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
                        conn.set_nodelay(true).unwrap();
                        let mut w = MuxWriter::new(conn);
                        w.open(1, schema).unwrap();
                        for b in table.iter() {
                            w.write_batch(1, b).await.unwrap();
                        }
                        w.finish().await.unwrap();
                    });
                    let (conn, _) = listener.accept().await.unwrap();
                    let mut rd = MuxReader::new(conn);
                    let mut rows = 0u64;
                    while let Some(e) = rd.next_event().await.unwrap() {
                        if let lsio_tlv::MuxEvent::Batch { batch, .. } = e {
                            rows += batch.num_rows() as u64;
                        }
                    }
                    writer.await.unwrap();
                    rows
                })
            },
        );
        report(&name, Unit::GibPerSec, body as f64, r);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run tiny sizes then.
    let bench = std::env::args().any(|a| a == "--bench");
    let q = quick() || !bench;
    let rounds = env_num("LSIO_TLV_BENCH_ROUNDS", if q { 3 } else { 7 });
    let scale = if q { 10 } else { 1 };
    let arrow_mib = env_num("LSIO_TLV_BENCH_ARROW_MIB", if q { 64 } else { 1024 });
    println!("lsio_tlv benchmarks: medians of {rounds} alternating runs; ratio = baseline time / lsio_tlv time");
    println!("{:<58} {:>18} {:>18} {:>8}", "case", "baseline", "lsio_tlv", "ratio");
    frames("16 B frames:", &[0x5a; 16], 1_000_000 / scale, Unit::FramesPerSec, rounds);
    frames("1 MiB frames:", &vec![0x5a; 1 << 20], 256 / scale, Unit::GibPerSec, rounds);
    arrow_over_tcp(if bench { arrow_mib } else { 8 }, rounds);
}
