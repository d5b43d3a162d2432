//! The CLI helpers.

mod common;

use std::sync::Arc;

use lsio_ipc::tools::{self, CsvToIpcOptions, IpcToCsvOptions, Progress};
use lsio_ipc::{FileWriter, StreamWriter, WriteOptions};

#[test]
fn schema_cat_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::all_types(30, 0);
    let file = dir.path().join("a.arrow");
    let mut w =
        FileWriter::try_new(std::fs::File::create(&file).unwrap(), b.schema(), WriteOptions::default()).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    let stream = dir.path().join("a.arrows");
    let mut w =
        StreamWriter::try_new(std::fs::File::create(&stream).unwrap(), b.schema(), WriteOptions::default()).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    for p in [&file, &stream] {
        let s = tools::schema(p).unwrap();
        assert!(s.contains("ts_utc: Timestamp(µs, \"UTC\")") || s.contains("ts_utc: Timestamp(Microsecond"), "{s}");
        assert!(s.contains("  a: Int32"), "{s}");
        let c = tools::cat(p, 3).unwrap();
        assert_eq!(c.lines().count(), 3 + 4, "{c}");
        let i = tools::inspect(p).unwrap();
        assert!(i.contains("record batch") || i.contains("RecordBatch"), "{i}");
        assert!(i.contains("dictionary"), "{i}");
        assert!(!i.contains("MISALIGNED"), "{i}");
    }
    assert!(tools::inspect(&file).unwrap().contains("64-byte aligned"));
    assert!(tools::schema(dir.path().join("missing")).is_err());
}

#[test]
fn csv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut text = String::from("id,name,score,flag\n");
    for i in 0..1000 {
        text.push_str(&format!("{i},name{i},{}.5,{}\n", i * 2, i % 2 == 0));
    }
    std::fs::write(&csv, &text).unwrap();
    let out = dir.path().join("out.arrow");
    let mut seen = Vec::new();
    let opts = CsvToIpcOptions { batch_size: 300, ..Default::default() };
    let p = tools::convert_csv_to_ipc(&csv, &out, &opts, &mut |p: Progress| seen.push(p)).unwrap();
    assert_eq!(p.rows, 1000);
    assert_eq!(seen.len(), 4);
    assert!(tools::schema(&out).unwrap().contains("score: Float64"));
    let back = dir.path().join("back.csv");
    let p = tools::convert_ipc_to_csv(&out, &back, &IpcToCsvOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(p.rows, 1000);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
    let _ = Arc::new(());
}
