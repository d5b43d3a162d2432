//! lsio_ipc against arrow-ipc, side by side in one run. Prints medians and ratios.
//!
//! `cargo bench -p lsio_ipc --bench ipc`; sizes by environment:
//! `LSIO_IPC_BENCH_ROWS` (default 2 000 000), `LSIO_IPC_BENCH_BATCH` (rows per batch, default
//! 131 072), `LSIO_IPC_BENCH_ITERS` (default 5), `LSIO_IPC_BENCH_COLD=0` to skip the cold-cache
//! runs (which drop the page cache, only as root).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_ipc::writer::IpcWriteOptions;
use arrow_schema::{DataType, Field, Schema};
use lsio_io::{Location, PreadBackend};
use lsio_ipc::{Compression, FileReader, FileWriter, MmapFileReader, ReadOptions, WriteOptions};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 8 columns: int64, float64, ~16-byte utf8, bool, twice.
fn data(rows: usize, batch: usize) -> Vec<RecordBatch> {
    let mut fields = Vec::new();
    for k in 0..2 {
        fields.push(Field::new(format!("i{k}"), DataType::Int64, false));
        fields.push(Field::new(format!("f{k}"), DataType::Float64, true));
        fields.push(Field::new(format!("s{k}"), DataType::Utf8, true));
        fields.push(Field::new(format!("b{k}"), DataType::Boolean, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = batch.min(rows - start);
        let mut cols: Vec<ArrayRef> = Vec::new();
        for k in 0..2i64 {
            let r = start as i64..(start + n) as i64;
            cols.push(Arc::new(Int64Array::from_iter_values(r.clone().map(|i| i * 3 + k))));
            cols.push(Arc::new(Float64Array::from_iter(r.clone().map(|i| (i % 11 != 0).then_some(i as f64 * 0.5)))));
            cols.push(Arc::new(StringArray::from_iter(
                r.clone().map(|i| (i % 13 != 0).then(|| format!("value-{:010}", i + k))),
            )));
            cols.push(Arc::new(BooleanArray::from_iter(r.map(|i| (i % 17 != 0).then_some(i % 3 == 0)))));
        }
        out.push(RecordBatch::try_new(schema.clone(), cols).expect("batch"));
        start += n;
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(iters: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..iters)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// Times `a` and `b` alternately (so that neither suffers more from the other's dirty pages or
/// a busy machine), returning both medians.
fn time2(iters: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let t = Instant::now();
        a();
        ta.push(t.elapsed());
        let t = Instant::now();
        b();
        tb.push(t.elapsed());
    }
    (median(ta), median(tb))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, arrow: Option<Duration>, lsio: Duration, note: &str) {
    match arrow {
        Some(a) => println!(
            "{what:<44} {:>10.2} {:>10.2} {:>7.2}x  {note}",
            ms(a),
            ms(lsio),
            a.as_secs_f64() / lsio.as_secs_f64()
        ),
        None => println!("{what:<44} {:>10} {:>10.2} {:>8}  {note}", "-", ms(lsio), "-"),
    }
}

fn write_arrow(path: &Path, batches: &[RecordBatch], zstd: bool) {
    let o = IpcWriteOptions::try_new(64, false, arrow_ipc::MetadataVersion::V5)
        .expect("options")
        .try_with_compression(zstd.then_some(arrow_ipc::CompressionType::ZSTD))
        .expect("zstd");
    let f = BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
    let mut w = arrow_ipc::writer::FileWriter::try_new_with_options(f, &batches[0].schema(), o).expect("writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
}

fn write_lsio(path: &Path, batches: &[RecordBatch], zstd: bool) {
    let o = WriteOptions::default().with_compression(zstd.then_some(Compression::Zstd(3)));
    let f = BufWriter::with_capacity(1 << 20, File::create(path).expect("create"));
    let mut w = FileWriter::try_new(f, batches[0].schema(), o).expect("writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
}

fn drop_caches() -> bool {
    // SAFETY: `sync` has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn sum_col0(batches: &[RecordBatch]) -> i64 {
    batches.iter().map(|b| b.column(0).as_primitive::<Int64Type>().values().iter().sum::<i64>()).sum()
}

fn main() {
    let rows = env("LSIO_IPC_BENCH_ROWS", 2_000_000);
    let batch = env("LSIO_IPC_BENCH_BATCH", 131_072);
    let iters = env("LSIO_IPC_BENCH_ITERS", 5).max(1);
    let cold = env("LSIO_IPC_BENCH_COLD", 1) == 1;
    let dir = tempfile::tempdir_in(
        std::env::var("LSIO_IPC_BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .expect("tempdir");
    let batches = data(rows, batch);
    let arrow_path = dir.path().join("arrow.arrow");
    let lsio_path = dir.path().join("lsio.arrow");
    println!(
        "lsio_ipc vs arrow-ipc 59.3: {rows} rows x 8 columns (int64, float64, 16-byte utf8, bool; x2), {batch} rows/batch, median of {iters}"
    );
    println!("{:<44} {:>10} {:>10} {:>8}", "operation", "arrow ms", "lsio ms", "ratio");

    for zstd in [false, true] {
        let (a, l) =
            time2(iters, || write_arrow(&arrow_path, &batches, zstd), || write_lsio(&lsio_path, &batches, zstd));
        let size = std::fs::metadata(&lsio_path).map(|m| m.len()).unwrap_or(0);
        let asize = std::fs::metadata(&arrow_path).map(|m| m.len()).unwrap_or(0);
        row(
            &format!("write file {}", if zstd { "zstd(3)" } else { "uncompressed" }),
            Some(a),
            l,
            &format!("{:.1} MB (arrow {:.1} MB)", size as f64 / 1e6, asize as f64 / 1e6),
        );
    }
    // Encoding alone, into `io::sink()`: the CPU cost of each writer without the page cache.
    let (a, l) = time2(
        iters,
        || {
            let mut w = arrow_ipc::writer::FileWriter::try_new(std::io::sink(), &batches[0].schema()).expect("writer");
            for b in &batches {
                w.write(b).expect("write");
            }
            w.finish().expect("finish");
        },
        || {
            let mut w =
                FileWriter::try_new(std::io::sink(), batches[0].schema(), WriteOptions::default()).expect("writer");
            for b in &batches {
                w.write(b).expect("write");
            }
            w.finish().expect("finish");
        },
    );
    row("write uncompressed to io::sink (CPU only)", Some(a), l, "");
    // The files to read: uncompressed, written by each (identical layout, 64-byte aligned).
    write_arrow(&arrow_path, &batches, false);
    write_lsio(&lsio_path, &batches, false);
    let file_len = std::fs::metadata(&lsio_path).expect("meta").len();

    let mut expect = 0;
    let a = time(iters, || {
        let r = arrow_ipc::reader::FileReader::try_new(BufReader::new(File::open(&arrow_path).expect("open")), None)
            .expect("reader");
        let v: Vec<_> = r.map(|b| b.expect("batch")).collect();
        expect = sum_col0(&v);
    });
    let l = time(iters, || {
        let mut r =
            FileReader::from_reader(File::open(&lsio_path).expect("open"), ReadOptions::default()).expect("reader");
        let v = r.read_all().expect("read");
        assert_eq!(sum_col0(&v), expect);
    });
    row("full read (Read+Seek file, warm)", Some(a), l, "");
    let mut copies = Default::default();
    let m = time(iters, || {
        let mut r = MmapFileReader::open(&lsio_path, ReadOptions::default()).expect("open");
        let v = r.read_all().expect("read");
        assert_eq!(sum_col0(&v), expect);
        copies = r.stats().copies;
    });
    row(
        "full read (lsio mmap, warm)",
        Some(a),
        m,
        &format!("zero-copy {} copied {}", copies.buffers_zero_copy, copies.buffers_copied),
    );

    // Memory-mapped open + sum of one column.
    let arrow_sum = || {
        let r = arrow_ipc::reader::FileReader::try_new(
            BufReader::new(File::open(&arrow_path).expect("open")),
            Some(vec![0]),
        )
        .expect("reader");
        let v: Vec<_> = r.map(|b| b.expect("batch")).collect();
        assert_eq!(sum_col0(&v), expect);
    };
    let lsio_sum = || {
        let mut r = MmapFileReader::open(&lsio_path, ReadOptions::default().with_projection(vec![0])).expect("open");
        let v = r.read_all().expect("read");
        assert_eq!(sum_col0(&v), expect);
    };
    let (a, l) = time2(iters, arrow_sum, lsio_sum);
    row("open + sum(i0), warm (arrow: projected read)", Some(a), l, "");
    if cold {
        let run_cold = |f: &dyn Fn()| -> Option<Duration> {
            let v: Option<Vec<Duration>> = (0..iters.min(3))
                .map(|_| {
                    if !drop_caches() {
                        return None;
                    }
                    let t = Instant::now();
                    f();
                    Some(t.elapsed())
                })
                .collect();
            v.map(median)
        };
        match (run_cold(&arrow_sum), run_cold(&lsio_sum)) {
            (Some(a), Some(l)) => row("open + sum(i0), cold cache", Some(a), l, ""),
            _ => println!("{:<44} (skipped: dropping the page cache needs root)", "open + sum(i0), cold cache"),
        }
    }
    // Open time does not depend on the file size.
    let small_path = dir.path().join("small.arrow");
    write_lsio(&small_path, &batches[..1], false);
    let small_len = std::fs::metadata(&small_path).expect("meta").len();
    let open_big = time(iters * 20, || drop(MmapFileReader::open(&lsio_path, ReadOptions::default()).expect("open")));
    let open_small =
        time(iters * 20, || drop(MmapFileReader::open(&small_path, ReadOptions::default()).expect("open")));
    row(&format!("mmap open, {:.1} MB file", file_len as f64 / 1e6), None, open_big, "");
    row(&format!("mmap open, {:.1} MB file", small_len as f64 / 1e6), None, open_small, "");

    // Projected read of 1 of 8 columns through a backend.
    let a = time(iters, arrow_sum);
    let mut bytes = (0, 0);
    let backend = Arc::new(PreadBackend::new().expect("pread"));
    let l = time(iters, || {
        let before = backend.stats().bytes_read;
        let mut r = FileReader::from_backend(
            backend.clone(),
            Location::local(&lsio_path),
            ReadOptions::default().with_projection(vec![0]),
        )
        .expect("open");
        let v = r.read_all().expect("read");
        assert_eq!(sum_col0(&v), expect);
        bytes = (r.stats().bytes_read, backend.stats().bytes_read - before);
    });
    row(
        "projected read 1/8 cols via PreadBackend",
        Some(a),
        l,
        &format!(
            "requested {:.1}% of file, pread {:.1}% (target <= {:.1}%)",
            bytes.0 as f64 * 100.0 / file_len as f64,
            bytes.1 as f64 * 100.0 / file_len as f64,
            100.0 / 8.0 + 5.0
        ),
    );
}
