//! Interop with implementations we did not write: pyarrow (through `tests/interop.py`) and
//! arrow-rs's own readers and writers.
//!
//! Needs `python3` with `pyarrow` (scripts/test.sh installs it); set `LSIO_SKIP_PYTHON=1` to skip
//! the Python half.

mod common;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use common::{all_types, assert_same};
use lsio_aligned::AlignedBytes;
use lsio_io::{Location, MemoryBackend};
use lsio_ipc::*;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py")
}

/// `false` when Python tests are skipped; panics when pyarrow is missing and not skipped.
fn python_available() -> bool {
    if std::env::var("LSIO_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("LSIO_SKIP_PYTHON=1: skipping the pyarrow interop tests");
        return false;
    }
    let ok = Command::new("python3").args(["-c", "import pyarrow"]).status().is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with pyarrow is needed for the interop tests: run scripts/test.sh (which installs \
         pyarrow), or `pip install pyarrow`, or set LSIO_SKIP_PYTHON=1 to skip them"
    );
    true
}

fn run(args: &[&str]) -> String {
    let out = Command::new("python3").arg(script()).args(args).output().expect("run python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "interop.py {args:?} failed:\n{text}");
    text
}

fn codec_of(name: &str) -> Option<Compression> {
    if name.contains("_lz4") {
        Some(Compression::Lz4Frame)
    } else if name.contains("_zstd") {
        Some(Compression::Zstd(3))
    } else {
        None
    }
}

/// Reads with every lsio reader that applies and with arrow-rs; checks they agree.
fn read_all_ways(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let ours: Vec<RecordBatch>;
    let schema;
    if name.ends_with(".file") {
        let mut r = MmapFileReader::open(path, ReadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        schema = r.schema();
        ours = r.read_all().unwrap_or_else(|e| panic!("{name}: {e}"));
        let backend = MemoryBackend::new();
        let loc = Location::object(&name);
        backend.put(loc.clone(), AlignedBytes::copy_from_slice(&std::fs::read(path).unwrap()));
        let via_backend = FileReader::from_backend(backend, loc, ReadOptions::default()).unwrap().read_all().unwrap();
        assert_same(&ours, &via_backend);
        let theirs: Vec<_> = arrow_ipc::reader::FileReader::try_new(File::open(path).unwrap(), None)
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_same(&theirs, &ours);
    } else {
        let r = StreamReader::try_new(BufReader::new(File::open(path).unwrap()), ReadOptions::default()).unwrap();
        schema = r.schema();
        ours = r.map(|b| b.unwrap_or_else(|e| panic!("{name}: {e}"))).collect();
        let theirs: Vec<_> = arrow_ipc::reader::StreamReader::try_new(File::open(path).unwrap(), None)
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_same(&theirs, &ours);
    }
    (schema, ours)
}

fn write_lsio(path: &Path, schema: SchemaRef, batches: &[RecordBatch], codec: Option<Compression>, file: bool) {
    let out = File::create(path).unwrap();
    let opts = WriteOptions::default().with_compression(codec).with_dictionary_handling(DictionaryHandling::Delta);
    if file {
        let mut w = FileWriter::try_new(out, schema, opts).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    } else {
        let mut w = StreamWriter::try_new(out, schema, opts).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    }
}

#[test]
fn pyarrow_both_ways() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(&["generate", d.to_str().unwrap()]);
    let mut seen = 0;
    for entry in std::fs::read_dir(d).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(case) = name.strip_prefix("py_") else { continue };
        let (schema, batches) = read_all_ways(&path);
        if name.contains("all_") {
            assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100, "{name}");
            assert_eq!(schema.fields().len(), 39, "{name}");
        }
        write_lsio(&d.join(format!("rt_{case}")), schema, &batches, codec_of(case), case.ends_with(".file"));
        seen += 1;
    }
    assert_eq!(seen, 11);
    // lsio writes the Rust test data, arrow-rs writes the reference.
    let input = vec![all_types(100, 1), all_types(0, 2), all_types(100, 1).slice(13, 50)];
    let schema = input[0].schema();
    for codec in [None, Some(Compression::Lz4Frame), Some(Compression::Zstd(3))] {
        let cname = match codec {
            None => "none",
            Some(Compression::Lz4Frame) => "lz4",
            Some(_) => "zstd",
        };
        for file in [true, false] {
            let kind = if file { "file" } else { "stream" };
            write_lsio(&d.join(format!("lsio_all_{cname}.{kind}")), schema.clone(), &input, codec, file);
            let reference = File::create(d.join(format!("ref_all_{cname}.{kind}"))).unwrap();
            if file {
                let mut w = arrow_ipc::writer::FileWriter::try_new(reference, &schema).unwrap();
                for b in &input {
                    w.write(b).unwrap();
                }
                w.finish().unwrap();
            } else {
                let mut w = arrow_ipc::writer::StreamWriter::try_new(reference, &schema).unwrap();
                for b in &input {
                    w.write(b).unwrap();
                }
                w.finish().unwrap();
            }
        }
    }
    let report = run(&["verify", d.to_str().unwrap()]);
    assert!(report.contains("verified 17 files, 0 failures"), "{report}");
}
