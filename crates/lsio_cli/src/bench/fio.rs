//! fio, the yardstick: the job matching each scenario, running it, and reading its JSON output.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::bench::data::DataSet;
use crate::bench::measure::RunResult;
use crate::bench::scenario::{Scenario, ScenarioKind};
use crate::error::{Error, Result};

/// The first executable `fio` on `PATH`.
pub fn find_fio() -> Option<PathBuf> {
    find_in_path("fio", std::env::var_os("PATH").as_deref())
}

/// The first executable `name` in the directories of `path` (a `PATH`-style list).
pub fn find_in_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    // An empty entry would mean the current directory: not where anyone installs fio.
    std::env::split_paths(path?).filter(|dir| !dir.as_os_str().is_empty()).map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// fio's arguments for the job that matches `scenario` (without `fio` itself).
///
/// | scenario | job |
/// |---|---|
/// | `rand4k` | `--rw=randread --bs=4k --number_ios=N` over the file |
/// | `chunks256k` | `--rw=randread --bs=256k` over the whole file (fio's random map reads each block once) |
/// | `files` | `--rw=read --bs=256k` over `--nrfiles` files `f.$filenum`, `--file_service_type=sequential` |
/// | `gapped` | `--rw=read:32k --bs=4k --number_ios=N` (skip 32 KiB after each read) |
/// | `hot` | `--rw=randread --bs=256k --direct=0 --invalidate=0` after the file was warmed |
///
/// Every job uses `--ioengine` (io_uring where the kernel has it), `--iodepth` = the scenario's
/// QD, `--direct` as the scenario, `--randrepeat=1` and `--output-format=json`.
pub fn job_args(scenario: &Scenario, ioengine: &str) -> Vec<String> {
    let s = &scenario.sizes;
    let o = &scenario.options;
    let mut args = vec![
        format!("--name=lsio-{}", scenario.kind),
        format!("--ioengine={ioengine}"),
        format!("--iodepth={}", o.qd),
        format!("--direct={}", u8::from(o.direct)),
        "--numjobs=1".into(),
        "--randrepeat=1".into(),
        format!("--randseed={}", s.seed),
        // fio drops the files' cached pages before a cold job anyway; a warm job must keep them.
        format!("--invalidate={}", u8::from(o.cold)),
    ];
    let file = |args: &mut Vec<String>| {
        if let Some(f) = scenario.files.first() {
            args.push(format!("--filename={}", f.path.display()));
        }
    };
    let n = scenario.reads.len();
    match scenario.kind {
        // fio cannot decompress: `bench::run` never asks for this job; it only reads the bytes.
        ScenarioKind::Decompress => {
            file(&mut args);
            args.push("--rw=read".into());
        }
        ScenarioKind::Rand4k => {
            file(&mut args);
            args.extend([
                format!("--size={}", s.file_size),
                "--rw=randread".into(),
                format!("--bs={}", s.block_size),
                format!("--number_ios={n}"),
            ]);
        }
        ScenarioKind::Chunks256k | ScenarioKind::Hot => {
            file(&mut args);
            args.extend([
                format!("--size={}", n as u64 * s.chunk_size),
                "--rw=randread".into(),
                format!("--bs={}", s.chunk_size),
            ]);
        }
        ScenarioKind::Files => {
            if let Some(dir) = scenario.files.first().and_then(|f| f.path.parent()) {
                args.push(format!("--directory={}", dir.display()));
            }
            args.extend([
                format!("--filename_format={}", DataSet::SMALL_FORMAT),
                format!("--nrfiles={n}"),
                format!("--filesize={}", s.file_len),
                format!("--size={}", n as u64 * s.file_len),
                "--file_service_type=sequential".into(),
                "--rw=read".into(),
                format!("--bs={}", s.file_len),
            ]);
        }
        ScenarioKind::Gapped => {
            file(&mut args);
            args.extend([
                format!("--size={}", s.file_size),
                format!("--rw=read:{}", s.gap),
                format!("--bs={}", s.block_size),
                format!("--number_ios={n}"),
            ]);
        }
    }
    args.push("--output-format=json".into());
    args
}

/// The command line as one could paste it into a shell.
pub fn command_line(fio: &Path, args: &[String]) -> String {
    let quote = |s: &str| {
        if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_=./:,+".contains(c)) {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(quote(&fio.display().to_string()))
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What fio reports about one read job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FioResult {
    /// Bytes read.
    pub io_bytes: u64,
    /// Read bandwidth, bytes per second.
    pub bw_bytes: u64,
    pub iops: f64,
    /// Reads completed.
    pub total_ios: u64,
    /// Milliseconds spent reading.
    pub runtime_ms: u64,
    /// Milliseconds the job ran (the base of `usr_cpu` and `sys_cpu`).
    pub job_runtime_ms: u64,
    /// User CPU, percent of `job_runtime_ms`.
    pub usr_cpu: f64,
    /// System CPU, percent of `job_runtime_ms`.
    pub sys_cpu: f64,
}

impl FioResult {
    /// Seconds spent reading.
    pub fn seconds(&self) -> f64 {
        if self.bw_bytes > 0 { self.io_bytes as f64 / self.bw_bytes as f64 } else { self.runtime_ms as f64 / 1000.0 }
    }

    /// CPU seconds: `(usr_cpu + sys_cpu)` percent of the job's runtime.
    pub fn cpu_seconds(&self) -> f64 {
        (self.usr_cpu + self.sys_cpu) / 100.0 * self.job_runtime_ms as f64 / 1000.0
    }

    /// As a harness run (fio does not check the bytes it reads: `verified_bytes` is `None`).
    pub fn to_run(&self) -> RunResult {
        RunResult {
            seconds: self.seconds(),
            cpu_seconds: self.cpu_seconds(),
            bytes: self.io_bytes,
            ios: self.total_ios,
            verified_bytes: None,
        }
    }
}

#[derive(Deserialize)]
struct Output {
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Job {
    #[serde(default)]
    jobname: String,
    #[serde(default)]
    error: i64,
    read: Rw,
    job_runtime: u64,
    usr_cpu: f64,
    sys_cpu: f64,
}

#[derive(Deserialize)]
struct Rw {
    io_bytes: u64,
    bw_bytes: u64,
    iops: f64,
    runtime: u64,
    total_ios: u64,
}

/// Reads the output of `fio --output-format=json` (text before the JSON, as older fio versions
/// print, is skipped). The first job counts.
pub fn parse_output(text: &str) -> Result<FioResult> {
    let start = text
        .find("\n{")
        .map(|i| i + 1)
        .or_else(|| text.starts_with('{').then_some(0))
        .ok_or_else(|| Error::Fio("no JSON in fio's output".into()))?;
    let out: Output =
        serde_json::from_str(&text[start..]).map_err(|e| Error::Fio(format!("cannot read fio's JSON output: {e}")))?;
    let job = out.jobs.into_iter().next().ok_or_else(|| Error::Fio("fio's JSON output has no job".into()))?;
    if job.error != 0 {
        return Err(Error::Fio(format!("job {} failed with error {}", job.jobname, job.error)));
    }
    Ok(FioResult {
        io_bytes: job.read.io_bytes,
        bw_bytes: job.read.bw_bytes,
        iops: job.read.iops,
        total_ios: job.read.total_ios,
        runtime_ms: job.read.runtime,
        job_runtime_ms: job.job_runtime,
        usr_cpu: job.usr_cpu,
        sys_cpu: job.sys_cpu,
    })
}

/// Runs fio and reads its result.
pub fn run(fio: &Path, args: &[String]) -> Result<FioResult> {
    let out =
        Command::new(fio).args(args).output().map_err(|e| Error::Fio(format!("cannot run {}: {e}", fio.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().chain(stdout.lines()).find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(Error::Fio(format!("fio exited with {}: {}", out.status, why.trim())));
    }
    parse_output(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::data::DataSet;
    use crate::bench::scenario::{RunOptions, Sizes};

    const SAMPLE: &str = include_str!("../../tests/data/fio-rand4k.json");

    #[test]
    fn parses_a_captured_fio_json() {
        let r = parse_output(SAMPLE).unwrap();
        assert_eq!(r.io_bytes, 16 << 20);
        assert_eq!(r.total_ios, 4096);
        assert_eq!(r.runtime_ms, 131);
        assert_eq!(r.job_runtime_ms, 131);
        assert!(r.iops > 31_000.0 && r.iops < 31_500.0, "{}", r.iops);
        assert!((r.seconds() - 0.131).abs() < 0.001, "{}", r.seconds());
        assert!((r.cpu_seconds() - 0.221374 * 0.131).abs() < 1e-4, "{}", r.cpu_seconds());
        let run = r.to_run();
        assert_eq!(run.bytes, 16 << 20);
        assert_eq!(run.verified_bytes, None);
        // Noise before the JSON, as some fio versions print, is skipped.
        let noisy = format!("fio: note: something\n{SAMPLE}");
        assert_eq!(parse_output(&noisy).unwrap(), r);
    }

    #[test]
    fn rejects_bad_output() {
        assert!(parse_output("").is_err());
        assert!(parse_output("{\"jobs\": []}").unwrap_err().to_string().contains("no job"));
        assert!(parse_output("{\"jobs\": [1]}").is_err());
        let failed = SAMPLE.replacen("\"error\" : 0", "\"error\" : 5", 1);
        assert!(parse_output(&failed).unwrap_err().to_string().contains("error 5"));
    }

    fn scenario(kind: ScenarioKind, direct: bool, cold: bool) -> Scenario {
        let data = DataSet::new("/data");
        Scenario::new(kind, &Sizes::FULL, &data, RunOptions { qd: 32, direct, cold })
    }

    #[test]
    fn jobs_match_scenarios() {
        let a = job_args(&scenario(ScenarioKind::Rand4k, true, true), "io_uring");
        for want in [
            "--rw=randread",
            "--bs=4096",
            "--ioengine=io_uring",
            "--iodepth=32",
            "--direct=1",
            "--number_ios=65536",
            "--randrepeat=1",
            "--filename=/data/lsio-1GiB.dat",
            "--output-format=json",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        let c = job_args(&scenario(ScenarioKind::Chunks256k, false, true), "io_uring");
        assert!(c.contains(&"--bs=262144".to_owned()) && c.contains(&"--size=1073741824".to_owned()), "{c:?}");
        assert!(c.contains(&"--direct=0".to_owned()));
        let f = job_args(&scenario(ScenarioKind::Files, false, true), "io_uring");
        for want in [
            "--directory=/data/files-256KiB",
            "--filename_format=f.$filenum",
            "--nrfiles=1000",
            "--file_service_type=sequential",
            "--rw=read",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
        let g = job_args(&scenario(ScenarioKind::Gapped, false, true), "io_uring");
        assert!(g.contains(&"--rw=read:32768".to_owned()) && g.contains(&"--number_ios=29128".to_owned()), "{g:?}");
        let h = job_args(&scenario(ScenarioKind::Hot, false, false), "io_uring");
        assert!(h.contains(&"--invalidate=0".to_owned()) && h.contains(&"--direct=0".to_owned()), "{h:?}");
        let line = command_line(Path::new("/usr/bin/fio"), &f);
        assert!(line.starts_with("/usr/bin/fio --name=lsio-files") && line.contains("'--filename_format=f.$filenum'"));
    }

    #[test]
    fn finds_executables_in_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_in_path("fio", Some(dir.path().as_os_str())), None);
        assert_eq!(find_in_path("fio", None), None);
        assert_eq!(find_in_path("fio", Some(OsStr::new(""))), None);
        let fake = dir.path().join("fio");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        assert_eq!(find_in_path("fio", Some(dir.path().as_os_str())), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in_path("fio", Some(dir.path().as_os_str())), Some(fake));
    }
}
