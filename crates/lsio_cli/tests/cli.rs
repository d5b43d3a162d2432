//! End-to-end tests of the `lsio` binary: tiny benchmark runs, bad arguments, bad paths, no fio.

use std::path::Path;
use std::process::{Command, Output};

const TINY: &[&str] = &[
    "--file-size",
    "4MiB",
    "--files",
    "8",
    "--file-len",
    "64KiB",
    "--reads",
    "256",
    "--chunk-size",
    "64KiB",
    "--zstd-files",
    "2",
    "--zstd-chunks",
    "4",
    "--runs",
    "1",
    "--qd",
    "4",
    // Evict only our files: a test must not empty the whole machine's page cache.
    "--drop-caches",
    "fadvise",
];

fn lsio(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsio"));
    c.args(args);
    c
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("the lsio binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn tiny_bench(dir: &Path, extra: &[&str]) -> Command {
    let d = dir.to_str().expect("utf-8 temp path");
    let mut c = lsio(&["bench", "--dir", d, "--json"]);
    c.args(TINY).args(extra);
    c
}

fn one_line_error(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr:?}");
    assert!(lines[0].starts_with("lsio: error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr:?}");
}

#[test]
fn tiny_bench_prints_json_with_verified_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(&mut tiny_bench(&tmp.path().join("data"), &[]));
    assert!(out.status.success(), "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios.iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["rand4k", "chunks256k", "files", "gapped", "hot", "decompress"]);
    assert_eq!(report["runs"], 1);
    assert_eq!(report["qd"], 4);
    assert!(report["notes"].is_array());
    for s in scenarios {
        let bytes = s["bytes"].as_u64().unwrap();
        assert!(bytes > 0 && s["reads"].as_u64().unwrap() > 0);
        assert!(s["description"].as_str().unwrap().contains("QD 4"));
        let rows = s["rows"].as_array().unwrap();
        let backends: Vec<&str> = rows.iter().map(|r| r["backend"].as_str().unwrap()).collect();
        if s["scenario"] == "decompress" {
            // Checked in `tiny_decompress_reports_every_lsio_backend_and_the_baseline`.
            assert!(backends.contains(&"rayon+pread") && !backends.contains(&"object_store"), "{backends:?}");
            continue;
        }
        assert!(backends.contains(&"pread") && backends.contains(&"object_store"), "{backends:?}");
        assert!(backends.iter().any(|b| b.starts_with("uring")) || backends.contains(&"pread"));
        for r in rows {
            assert!(r["iops"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["gib_per_s"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["cpu_s_per_gib"].is_number(), "{r}");
            assert_eq!(r["runs"].as_array().unwrap().len(), 1);
            assert!(r["ratio_to_pread"].is_number(), "{r}");
            if r["backend"] == "fio" {
                assert!(r["verified_bytes"].is_null());
            } else {
                assert_eq!(r["verified_bytes"].as_u64(), Some(bytes), "{r}");
            }
        }
    }
    assert_eq!(scenarios[0]["direct"], true, "rand4k runs with O_DIRECT by default");
    assert_eq!(scenarios[1]["direct"], false);
    assert_eq!(scenarios[4]["cold"], false, "hot is hot");
    // A second run reuses the data set.
    let (out, _, stderr) =
        run(&mut tiny_bench(&tmp.path().join("data"), &["--scenarios", "rand4k", "--backends", "pread"]));
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("writing"), "data reused: {stderr}");
}

#[test]
fn tiny_decompress_reports_every_lsio_backend_and_the_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (out, stdout, stderr) = run(&mut tiny_bench(&data, &["--scenarios", "decompress"]));
    assert!(out.status.success(), "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    let s = &scenarios[0];
    assert_eq!(s["scenario"], "decompress");
    assert_eq!(s["cold"], true);
    assert_eq!(s["direct"], false);
    // 2 files x 4 chunks of 64 KiB, uncompressed.
    assert_eq!(s["reads"], 8);
    assert_eq!(s["bytes"], 8 * 65536);
    assert!(s["fio_command"].is_null());
    let notes: Vec<&str> = s["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("fio cannot decompress") && n.contains("object_store")), "{notes:?}");
    let rows = s["rows"].as_array().unwrap();
    let backends: Vec<&str> = rows.iter().map(|r| r["backend"].as_str().unwrap()).collect();
    assert_eq!(backends.first(), Some(&"pread"), "{backends:?}");
    assert!(backends[1].starts_with("uring") || backends.len() == 2, "{backends:?}");
    assert_eq!(backends.last(), Some(&"rayon+pread"), "{backends:?}");
    assert!(!backends.contains(&"object_store") && !backends.contains(&"fio"), "{backends:?}");
    for r in rows {
        assert_eq!(r["verified_bytes"], 8 * 65536, "{r}");
        assert_eq!(r["bytes"], 8 * 65536, "{r}");
        assert!(r["gib_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["cpu_s_per_gib"].is_number(), "{r}");
        assert!(r["ratio_to_pread"].is_number(), "{r}");
        assert!(r["ratio_to_rayon"].is_number(), "{r}");
        assert!(r["ratio_to_fio"].is_null(), "{r}");
        let runs = r["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        assert!(runs.iter().all(|x| x["ios"] == 8), "{r}");
    }
    assert_eq!(rows.last().unwrap()["ratio_to_rayon"], 1.0);
    // The chunks are made once, then reused; the table names the baseline and its ratio column.
    let d = data.to_str().unwrap();
    let mut cmd = lsio(&["bench", "--dir", d, "--scenarios", "decompress", "--backends", "pread"]);
    let (out, stdout, stderr) = run(cmd.args(TINY));
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stdout.contains("rayon+pread") && stdout.contains("vs rayon") && stdout.contains("chunks/s"), "{stdout}");
    assert!(!stdout.contains("uring"), "{stdout}");
}

#[test]
fn tables_name_every_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let mut cmd = lsio(&["bench", "--dir", d.to_str().unwrap(), "--scenarios", "gapped,files", "--direct=false"]);
    cmd.args(TINY);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "stderr: {stderr}");
    for want in
        ["gapped:", "files:", "backend", "IOPS", "GiB/s", "CPU s/GiB", "vs fio", "vs pread", "pread", "object_store"]
    {
        assert!(stdout.contains(want), "{want} missing from {stdout}");
    }
    assert!(!stdout.contains("rand4k:"));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = d.to_str().unwrap();
    for args in [
        vec!["bench", "--runs", "abc"],
        vec!["bench", "--runs", "0"],
        vec!["bench", "--file-size", "12parsecs"],
        vec!["bench", "--backends", "nope"],
        vec!["bench", "--scenarios", "rand5k"],
        vec!["bench", "--frobnicate"],
        vec!["bench", "--direct=maybe"],
        vec!["frobnicate"],
        vec![],
        vec!["bench", "--dir", d, "--block-size", "1000"],
        vec!["bench", "--dir", d, "--file-size", "1MiB", "--reads", "1000"],
    ] {
        let (out, stdout, stderr) = run(&mut lsio(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        one_line_error(&stderr);
    }
    let (_, _, stderr) = run(&mut lsio(&["bench", "--file-size", "12parsecs"]));
    assert!(stderr.contains("12parsecs") && stderr.contains("--file-size"), "{stderr}");
    let (_, _, stderr) = run(&mut lsio(&["bench", "--backends", "nope"]));
    assert!(stderr.contains("pread"), "possible values are listed: {stderr}");
    assert!(!Path::new(d).exists(), "nothing made on bad arguments");
}

#[test]
fn help_and_version_succeed() {
    let (out, stdout, _) = run(&mut lsio(&["--help"]));
    assert!(out.status.success() && stdout.contains("bench") && stdout.contains("demo"));
    let (out, stdout, _) = run(&mut lsio(&["bench", "--help"]));
    assert!(out.status.success() && stdout.contains("--file-size") && stdout.contains("--backends"));
    let (out, stdout, _) = run(&mut lsio(&["--version"]));
    assert!(out.status.success() && stdout.starts_with("lsio "));
}

#[test]
fn unusable_dir_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let bad = file.join("data");
    let (out, stdout, stderr) = run(&mut tiny_bench(&bad, &[]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    one_line_error(&stderr);
    assert!(stderr.contains("a-file"), "the path is named: {stderr}");
}

#[test]
fn runs_without_fio_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let empty_path = tmp.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let mut cmd = tiny_bench(&tmp.path().join("data"), &["--scenarios", "rand4k,files"]);
    cmd.env("PATH", &empty_path);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("fio not found on PATH"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["fio"].is_null());
    assert!(report["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("fio not found")));
    for s in report["scenarios"].as_array().unwrap() {
        for r in s["rows"].as_array().unwrap() {
            assert_ne!(r["backend"], "fio");
            assert!(r["ratio_to_fio"].is_null());
            assert!(r["verified_bytes"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn uring_falls_back_to_pread_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = tiny_bench(&tmp.path().join("data"), &["--scenarios", "rand4k", "--backends", "uring", "--no-fio"]);
    cmd.env("LSIO_DISABLE_URING", "1");
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("fell back to PreadBackend")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("LSIO_DISABLE_URING"), "the reason is given: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["scenarios"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["backend"], "uring (pread fallback)");
    assert!(rows[0]["verified_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn ipc_tools_convert_csv_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "id,price,name\n1,2.5,apple\n2,4.25,pear\n3,,fig\n").expect("write csv");
    let arrow = dir.path().join("t.arrow");
    let (out, _, stderr) =
        run(&mut lsio(&["convert", csv.to_str().unwrap(), arrow.to_str().unwrap(), "--compression", "zstd"]));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("3 rows"), "{stderr}");

    let (out, stdout, _) = run(&mut lsio(&["schema", arrow.to_str().unwrap()]));
    assert!(out.status.success());
    assert!(
        stdout.contains("id: Int64") && stdout.contains("price: Float64") && stdout.contains("name: Utf8"),
        "{stdout}"
    );

    let (out, stdout, _) = run(&mut lsio(&["cat", arrow.to_str().unwrap(), "-n", "2"]));
    assert!(out.status.success());
    assert!(stdout.contains("apple") && stdout.contains("pear") && !stdout.contains("fig"), "{stdout}");

    let (out, stdout, _) = run(&mut lsio(&["inspect", arrow.to_str().unwrap()]));
    assert!(out.status.success());
    assert!(stdout.contains("ZSTD"), "{stdout}");

    let back = dir.path().join("back.csv");
    let (out, _, stderr) = run(&mut lsio(&["convert", arrow.to_str().unwrap(), back.to_str().unwrap()]));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(&back).expect("read back"), "id,price,name\n1,2.5,apple\n2,4.25,pear\n3,,fig\n");
}

#[test]
fn ipc_tools_reject_bad_files_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.arrow");
    std::fs::write(&junk, b"this is not an arrow file at all, not even close").expect("write");
    for cmd in ["schema", "cat", "inspect"] {
        let (out, _, stderr) = run(&mut lsio(&[cmd, junk.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        one_line_error(&stderr);
        assert!(stderr.contains("junk.arrow"), "{stderr}");
    }
    let (out, _, stderr) = run(&mut lsio(&["cat", dir.path().join("missing.arrow").to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    one_line_error(&stderr);
}
