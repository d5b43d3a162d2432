//! The `decompress` scenario: zstd-compressed chunks in several files, read through each lsio
//! backend by the `lsio_scheduler` pipeline and decompressed on its thread pool, against a
//! baseline of rayon's `par_iter` over `read_exact_at` and the same decompression.
//!
//! The chunks are made once by [`lsio_scheduler::scenario::write_zstd_files`] in a directory of
//! the data set named after their sizes, with a manifest of the frames' lengths so that a later
//! run reuses them.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;
use lsio_io::{IoBackend, Location, ReadRequest};
use lsio_scheduler::scenario::{ZstdChunks, decompress_chunk, decompress_scenario, write_zstd_files};
use lsio_scheduler::{PipelineConfig, PoolConfig, ThreadPool};
use rayon::prelude::*;

use crate::bench::BenchConfig;
use crate::bench::backends::{BackendKind, BackendOptions, Runner};
use crate::bench::cache::CacheDropper;
use crate::bench::data::{DataFile, DataSet};
use crate::bench::measure::{RunResult, Stopwatch};
use crate::bench::report::{RAYON_BASELINE, Row, ScenarioReport};
use crate::bench::scenario::{RunOptions, Scenario, ScenarioKind, Sizes};
use crate::error::{Error, Result};
use crate::size::{approx_size, format_size};

/// The zstd level the chunks are compressed at.
pub const LEVEL: i32 = 3;

const MANIFEST: &str = "frames.txt";

/// Where the chunks of `sizes` live in `data`.
pub fn data_dir(data: &DataSet, sizes: &Sizes) -> PathBuf {
    data.dir.join(format!("zstd-{}x{}x{}", sizes.zstd_files, sizes.zstd_chunks, sizes.chunk_size))
}

fn header(sizes: &Sizes) -> String {
    format!(
        "lsio zstd chunks: files {} chunks {} len {} level {LEVEL}",
        sizes.zstd_files, sizes.zstd_chunks, sizes.chunk_size
    )
}

fn file_path(dir: &Path, f: usize) -> PathBuf {
    // The names `write_zstd_files` gives.
    dir.join(format!("chunks-{f:04}.zst"))
}

/// The chunks of `sizes` in `data`: reused when the manifest and the files' lengths agree, made
/// (with a spinner unless `quiet`) otherwise.
pub fn ensure(data: &DataSet, sizes: &Sizes, quiet: bool) -> Result<ZstdChunks> {
    let dir = data_dir(data, sizes);
    if let Some(chunks) = load(&dir, sizes) {
        return Ok(chunks);
    }
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.set_message(format!("making {} of zstd chunks in {}", format_size(sizes.zstd_bytes()), dir.display()));
    bar.enable_steady_tick(Duration::from_millis(100));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let chunks =
        write_zstd_files(&dir, sizes.zstd_files as usize, sizes.zstd_chunks as usize, sizes.chunk_size as usize, LEVEL)
            .map_err(|e| Error::io("write zstd chunks in", &dir, e))?;
    let mut text = header(sizes);
    text.push('\n');
    for per_file in chunks.requests.chunks(sizes.zstd_chunks as usize) {
        let lens: Vec<String> =
            per_file.iter().map(|r| r.range.as_bounded().map_or(0, |b| b.end - b.start).to_string()).collect();
        let _ = writeln!(text, "{}", lens.join(" "));
    }
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| Error::io("rename", &tmp, e))?;
    bar.finish_and_clear();
    Ok(chunks)
}

/// The chunks described by `dir`'s manifest, if it is for `sizes` and the files have its lengths.
fn load(dir: &Path, sizes: &Sizes) -> Option<ZstdChunks> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != header(sizes) {
        return None;
    }
    let mut requests = Vec::new();
    let mut files = Vec::new();
    let mut compressed_bytes = 0;
    for f in 0..sizes.zstd_files as usize {
        let path = file_path(dir, f);
        let lens: Vec<u64> = lines.next()?.split(' ').map(|x| x.parse().ok()).collect::<Option<_>>()?;
        if lens.len() as u64 != sizes.zstd_chunks || lens.contains(&0) {
            return None;
        }
        let total: u64 = lens.iter().sum();
        if std::fs::metadata(&path).ok()?.len() != total {
            return None;
        }
        let location = Location::local(&path);
        let mut offset = 0;
        for len in lens {
            requests.push(ReadRequest::new(location.clone(), offset..offset + len, requests.len() as u64));
            offset += len;
        }
        compressed_bytes += total;
        files.push(path);
    }
    Some(ZstdChunks {
        requests,
        files,
        chunk_len: sizes.chunk_size as usize,
        compressed_bytes,
        uncompressed_bytes: sizes.zstd_bytes(),
    })
}

/// Checks a run's counts: every chunk decompressed, none failed, every one to `chunk_len` bytes
/// (each is decompressed into a buffer of that capacity, so the total being right means each is).
fn check(label: &str, chunks: &ZstdChunks, done: u64, errors: u64, bytes: u64) -> Result<()> {
    let n = chunks.requests.len() as u64;
    if errors != 0 || done != n || bytes != chunks.uncompressed_bytes {
        return Err(Error::Verify {
            backend: label.to_owned(),
            detail: format!(
                "{errors} of {n} zstd chunks failed and {done} decompressed to {bytes} bytes, expected {n} x {} = {} bytes",
                chunks.chunk_len, chunks.uncompressed_bytes
            ),
        });
    }
    Ok(())
}

/// One run through an lsio backend by the pipeline, decompressing on `pool`.
pub fn run_pipeline(
    pool: &ThreadPool,
    backend: Arc<dyn IoBackend>,
    label: &str,
    chunks: &ZstdChunks,
) -> Result<RunResult> {
    let watch = Stopwatch::start();
    let stats = decompress_scenario(pool, backend, chunks, PipelineConfig::default());
    let (seconds, cpu_seconds) = watch.stop();
    check(label, chunks, stats.chunks, stats.errors, stats.decompressed_bytes)?;
    let bytes = stats.decompressed_bytes;
    Ok(RunResult { seconds, cpu_seconds, bytes, ios: stats.chunks, verified_bytes: Some(bytes) })
}

/// One run of the baseline: rayon's `par_iter` over the chunks, each read with `read_exact_at`
/// and decompressed by `decompress_chunk`, on rayon's global pool.
pub fn run_rayon(chunks: &ZstdChunks) -> Result<RunResult> {
    let watch = Stopwatch::start();
    let files: Vec<File> =
        chunks.files.iter().map(|p| File::open(p).map_err(|e| Error::io("open", p, e))).collect::<Result<_>>()?;
    let per_file = (chunks.requests.len() / files.len().max(1)).max(1);
    let capacity = chunks.chunk_len;
    let (done, bytes, errors) = chunks
        .requests
        .par_iter()
        .map(|r| {
            let one = || -> Option<usize> {
                let range = r.range.as_bounded()?;
                let file = files.get(r.tag as usize / per_file)?;
                let mut buf = vec![0u8; (range.end - range.start) as usize];
                file.read_exact_at(&mut buf, range.start).ok()?;
                decompress_chunk(&buf, capacity).ok()
            };
            match one() {
                Some(n) => (1u64, n as u64, 0u64),
                None => (0, 0, 1),
            }
        })
        .reduce(|| (0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let (seconds, cpu_seconds) = watch.stop();
    check(RAYON_BASELINE, chunks, done, errors, bytes)?;
    Ok(RunResult { seconds, cpu_seconds, bytes, ios: done, verified_bytes: Some(bytes) })
}

/// Number of rows (runs per repetition) `decompress` makes with `backends`.
pub fn slots(backends: &[BackendKind], skip_uring_row: bool) -> usize {
    backends
        .iter()
        .filter(|b| match b {
            BackendKind::Pread => true,
            BackendKind::Uring => !skip_uring_row,
            BackendKind::ObjectStore => false,
        })
        .count()
        + 1
}

/// Runs the scenario `config.runs` times over every lsio backend of `backends` and the baseline,
/// interleaved, and reports medians. Notes for the user go to `notes`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    config: &BenchConfig,
    chunks: &ZstdChunks,
    backends: &[BackendKind],
    options: RunOptions,
    skip_uring_row: bool,
    dropper: &mut CacheDropper,
    progress: &ProgressBar,
    notes: &mut Vec<String>,
) -> Result<ScenarioReport> {
    let kind = ScenarioKind::Decompress;
    // The chunks are not aligned: every reader reads them buffered.
    let options = RunOptions { direct: false, ..options };
    let mut planner = config.planner.config();
    if let Some(gap) = config.max_gap {
        planner.max_gap = gap;
    }
    let bopts = BackendOptions { qd: config.qd, direct: false, planner };
    let mut runners: Vec<(String, Arc<dyn IoBackend>)> = Vec::new();
    for &b in backends {
        if b == BackendKind::ObjectStore || (b == BackendKind::Uring && skip_uring_row) {
            continue;
        }
        let (runner, fallback) = Runner::open(b, &bopts)?;
        if let Some(n) = fallback {
            notes.push(n);
        }
        if let Runner::Lsio { label, backend } = runner {
            runners.push((label, Arc::from(backend)));
        }
    }
    let pool = ThreadPool::new(PoolConfig { threads: 0, name: "lsio-decompress".into() }).map_err(|e| {
        Error::BackendSetup {
            backend: "lsio_scheduler::ThreadPool".into(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    let files: Vec<DataFile> = chunks
        .files
        .iter()
        .enumerate()
        .map(|(i, p)| DataFile { path: p.clone(), id: i as u64, len: std::fs::metadata(p).map_or(0, |m| m.len()) })
        .collect();
    if !options.cold {
        crate::bench::data::warm(&files)?;
    }

    // Slot i < runners.len() is an lsio backend; the last one is the rayon baseline.
    let slots = runners.len() + 1;
    let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); slots];
    for run in 0..config.runs {
        for k in 0..slots {
            let slot = (k + run) % slots;
            let name = runners.get(slot).map_or(RAYON_BASELINE, |r| r.0.as_str());
            progress.set_message(format!("{kind} run {}/{}: {name}", run + 1, config.runs));
            if options.cold
                && let Some(n) = dropper.drop_cache(&files)
            {
                notes.push(n);
            }
            let result = match runners.get(slot) {
                Some((label, backend)) => run_pipeline(&pool, backend.clone(), label, chunks)?,
                None => run_rayon(chunks)?,
            };
            results[slot].push(result);
            progress.inc(1);
        }
    }

    let mut rows = Vec::new();
    for (slot, runs) in results.into_iter().enumerate() {
        let label = runners.get(slot).map_or(RAYON_BASELINE.to_owned(), |r| r.0.clone());
        let mut row = Row::from_runs(label, runs);
        if slot == runners.len() {
            row.note = Some("baseline: rayon par_iter of FileExt::read_exact_at + decompress_chunk".into());
        }
        rows.push(row);
    }
    Row::fill_ratios(&mut rows);

    let description = Scenario::new(kind, &config.sizes, &DataSet::new(PathBuf::new()), options).description();
    let compressed = chunks.compressed_bytes;
    let scenario_notes = vec![
        format!(
            "GiB/s and CPU s/GiB count decompressed bytes; {} compressed ({:.2}:1) read per run, zstd level {LEVEL}",
            approx_size(compressed as f64),
            chunks.uncompressed_bytes as f64 / compressed.max(1) as f64
        ),
        "no fio row: fio cannot decompress; no object_store row: object_store is not an lsio backend".into(),
    ];
    Ok(ScenarioReport {
        scenario: kind,
        description,
        qd: options.qd,
        direct: false,
        cold: options.cold,
        reads: chunks.requests.len() as u64,
        bytes: chunks.uncompressed_bytes,
        runs: config.runs,
        fio_command: None,
        rows,
        notes: scenario_notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_made_then_reused_and_the_baseline_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataSet::new(dir.path());
        let sizes = Sizes::TINY;
        let made = ensure(&data, &sizes, true).unwrap();
        assert_eq!(made.requests.len(), 8);
        let reused = load(&data_dir(&data, &sizes), &sizes).expect("manifest reused");
        assert_eq!(reused.requests, made.requests);
        assert_eq!(reused.compressed_bytes, made.compressed_bytes);
        let r = run_rayon(&reused).unwrap();
        assert_eq!(r.bytes, sizes.zstd_bytes());
        assert_eq!(r.ios, 8);
        // Other sizes do not reuse it.
        assert!(load(&data_dir(&data, &sizes), &Sizes { zstd_chunks: 5, ..sizes }).is_none());
        // A truncated chunk fails the check in one line.
        let mut bad = reused.clone();
        bad.uncompressed_bytes += 1;
        let e = run_rayon(&bad).unwrap_err().to_string();
        assert!(e.contains("expected") && !e.contains('\n'), "{e}");
    }
}
