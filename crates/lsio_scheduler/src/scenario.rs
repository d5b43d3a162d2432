//! A ready-made workload (feature `scenario`): many zstd-compressed chunks in many files, read and
//! decompressed through the pipeline. `lsio bench`'s `decompress` scenario and this crate's
//! benchmark both run it.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsio_io::{IoBackend, Location, ReadRequest};

use crate::{PipelineConfig, ThreadPool};

/// The chunks written by [`write_zstd_files`].
#[derive(Clone, Debug)]
pub struct ZstdChunks {
    /// One request per compressed chunk (a bounded range), tagged `0..n` in file order.
    pub requests: Vec<ReadRequest>,
    /// The files, in order.
    pub files: Vec<PathBuf>,
    /// Uncompressed length of every chunk.
    pub chunk_len: usize,
    /// Sum of the compressed chunks' lengths.
    pub compressed_bytes: u64,
    /// Sum of the uncompressed chunks' lengths.
    pub uncompressed_bytes: u64,
}

/// Writes `files` files of `chunks_per_file` independently compressed zstd frames, each of
/// `chunk_len` bytes of text-like data (about 3:1 at level 3), and returns the requests that read
/// them back chunk by chunk.
pub fn write_zstd_files(
    dir: &Path,
    files: usize,
    chunks_per_file: usize,
    chunk_len: usize,
    level: i32,
) -> io::Result<ZstdChunks> {
    let mut requests = Vec::with_capacity(files * chunks_per_file);
    let mut paths = Vec::with_capacity(files);
    let mut compressed_bytes = 0u64;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    for f in 0..files {
        let path = dir.join(format!("chunks-{f:04}.zst"));
        let location = Location::local(&path);
        let mut out = BufWriter::new(File::create(&path)?);
        let mut offset = 0u64;
        for _ in 0..chunks_per_file {
            let data = text_like(&mut rng, chunk_len);
            let frame = compressor.compress(&data)?;
            out.write_all(&frame)?;
            let len = frame.len() as u64;
            requests.push(ReadRequest::new(location.clone(), offset..offset + len, requests.len() as u64));
            offset += len;
            compressed_bytes += len;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        paths.push(path);
    }
    let uncompressed_bytes = (files * chunks_per_file * chunk_len) as u64;
    Ok(ZstdChunks { requests, files: paths, chunk_len, compressed_bytes, uncompressed_bytes })
}

/// Deterministic text-like bytes: words from a small vocabulary, with numbers mixed in.
fn text_like(state: &mut u64, len: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "light",
        "speed",
        "io",
        "chunk",
        "read",
        "write",
        "scheduler",
        "worker",
        "steal",
        "queue",
        "budget",
        "bytes",
        "flight",
        "parquet",
        "arrow",
        "column",
        "page",
        "zstd",
        "frame",
        "latency",
        "ring",
        "kernel",
        "buffer",
        "aligned",
        "offset",
        "range",
        "object",
        "store",
        "file",
        "batch",
        "stream",
        "result",
    ];
    let mut next = || {
        // xorshift64*
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let r = next();
        if r % 5 == 0 {
            out.extend_from_slice((r >> 40).to_string().as_bytes());
        } else {
            out.extend_from_slice(WORDS[(r >> 32) as usize % WORDS.len()].as_bytes());
        }
        out.push(if r % 11 == 0 { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Decompresses one frame of at most `capacity` bytes with this thread's reusable context and
/// output buffer, and returns its length. Benchmarks use it for every variant.
pub fn decompress_chunk(frame: &[u8], capacity: usize) -> io::Result<usize> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some((zstd::bulk::Decompressor::new()?, Vec::with_capacity(capacity)));
        }
        let Some((dctx, buf)) = slot.as_mut() else { unreachable!("initialised above") };
        buf.clear();
        if buf.capacity() < capacity {
            buf.reserve(capacity);
        }
        let n = dctx.decompress_to_buffer(frame, buf)?;
        std::hint::black_box(&buf[..]);
        Ok(n)
    })
}

/// What [`decompress_scenario`] measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecompressStats {
    /// Chunks decompressed.
    pub chunks: u64,
    /// Requests that failed (read or decompression).
    pub errors: u64,
    /// Compressed bytes read.
    pub compressed_bytes: u64,
    /// Bytes after decompression.
    pub decompressed_bytes: u64,
    /// Wall time of the whole pipeline.
    pub elapsed: Duration,
    /// The most bytes the pipeline had in flight at once.
    pub peak_bytes_in_flight: u64,
}

impl DecompressStats {
    /// Decompressed bytes per second.
    pub fn throughput(&self) -> f64 {
        self.decompressed_bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Reads every chunk of `chunks` through `backend` and decompresses it on `pool`, overlapping the
/// reads with the decompression; the `decompress` scenario of `lsio bench`.
pub fn decompress_scenario(
    pool: &ThreadPool,
    backend: Arc<dyn IoBackend>,
    chunks: &ZstdChunks,
    config: PipelineConfig,
) -> DecompressStats {
    let capacity = chunks.chunk_len;
    let start = Instant::now();
    let mut stats = DecompressStats::default();
    let mut pipeline = pool.pipeline(
        backend,
        chunks.requests.clone(),
        move |chunk| decompress_chunk(&chunk.bytes, capacity).map(|n| (chunk.bytes.len() as u64, n as u64)),
        config,
    );
    for result in pipeline.by_ref() {
        match result {
            Ok(Ok((compressed, decompressed))) => {
                stats.chunks += 1;
                stats.compressed_bytes += compressed;
                stats.decompressed_bytes += decompressed;
            }
            Ok(Err(_)) | Err(_) => stats.errors += 1,
        }
    }
    stats.elapsed = start.elapsed();
    stats.peak_bytes_in_flight = pipeline.peak_bytes_in_flight();
    stats
}
