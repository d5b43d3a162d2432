//! The benchmark harness behind `lsio bench` and `lsio demo`, reusable from other crates.
//!
//! - [`data`]: the data set (files with a checkable pattern), made once and reused;
//! - [`scenario`]: `rand4k`, `chunks256k`, `files`, `gapped`, `hot`, `decompress` and the reads
//!   each makes;
//! - [`decompress`]: the `decompress` scenario (zstd chunks through `lsio_scheduler`'s pipeline);
//! - [`backends`]: lsio's pread pool and io_uring backend, and `object_store`'s `LocalFileSystem`;
//! - [`fio`]: the fio job matching each scenario and its JSON output;
//! - [`verify`], [`measure`], [`cache`]: checking bytes, timing, dropping the page cache;
//! - [`report`]: the tables and the JSON;
//! - [`run`]: all of it, interleaved, `runs` times, medians reported.

pub mod backends;
pub mod cache;
pub mod data;
pub mod decompress;
pub mod fio;
pub mod measure;
pub mod report;
pub mod scenario;
pub mod uring;
pub mod verify;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::backends::{BackendKind, BackendOptions, PlannerChoice, Runner};
use crate::bench::cache::{CacheDrop, CacheDropper};
use crate::bench::data::DataSet;
use crate::bench::measure::RunResult;
use crate::bench::report::{Report, Row, ScenarioReport};
use crate::bench::scenario::{RunOptions, Scenario, ScenarioKind, Sizes};
use crate::error::{Error, Result};

pub use crate::bench::backends::uring_availability;

/// Everything `lsio bench` needs to know.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Where the data set lives (made if missing, reused if right).
    pub dir: PathBuf,
    pub scenarios: Vec<ScenarioKind>,
    pub backends: Vec<BackendKind>,
    pub sizes: Sizes,
    /// Repetitions; the median is reported.
    pub runs: usize,
    /// Reads in flight, for every backend and fio.
    pub qd: usize,
    /// `O_DIRECT` for every scenario (`None`: only for cold `rand4k`). Never for `hot`.
    pub direct: Option<bool>,
    /// Run every scenario page-cache hot (no cache drop; files warmed first).
    pub hot: bool,
    pub planner: PlannerChoice,
    /// Overrides the planner's `max_gap` (to measure the best gap for a disk).
    pub max_gap: Option<u64>,
    /// Compare with fio when it is on `PATH`.
    pub use_fio: bool,
    pub drop_caches: CacheDrop,
    /// Say what runs (fio's command lines) on stderr.
    pub verbose: bool,
    /// No progress bars.
    pub quiet: bool,
}

impl BenchConfig {
    /// Full sizes, every scenario and backend, 3 runs at QD 32, data in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BenchConfig {
            dir: dir.into(),
            scenarios: ScenarioKind::ALL.to_vec(),
            backends: BackendKind::ALL.to_vec(),
            sizes: Sizes::FULL,
            runs: 3,
            qd: 32,
            direct: None,
            hot: false,
            planner: PlannerChoice::Local,
            max_gap: None,
            use_fio: true,
            drop_caches: CacheDrop::Auto,
            verbose: false,
            quiet: false,
        }
    }

    /// The run options of a scenario under this configuration.
    pub fn options_for(&self, kind: ScenarioKind) -> RunOptions {
        let cold = kind.is_cold_by_default() && !self.hot;
        let direct = kind != ScenarioKind::Hot && self.direct.unwrap_or_else(|| kind.direct_by_default(self.hot));
        RunOptions { qd: self.qd, direct, cold }
    }
}

/// What the harness tells its user while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Something the reader of the results should know (printed once).
    Note(String),
    /// Details for `--verbose` (fio's command lines).
    Verbose(String),
}

/// Runs the benchmark: makes the data, then per scenario runs every backend and fio, interleaved,
/// `runs` times, and reports medians. Messages go to `say` as they happen.
pub fn run(config: &BenchConfig, say: &mut dyn FnMut(Message)) -> Result<Report> {
    config.sizes.validate()?;
    if config.runs == 0 {
        return Err(Error::Usage("--runs must be at least 1".into()));
    }
    if config.qd == 0 {
        return Err(Error::Usage("--qd must be at least 1".into()));
    }
    let mut notes: Vec<String> = Vec::new();
    let mut note = |say: &mut dyn FnMut(Message), n: String| {
        if !notes.contains(&n) {
            say(Message::Note(n.clone()));
            notes.push(n);
        }
    };

    let data = DataSet::new(&config.dir);
    let mut scenarios = config.scenarios.clone();
    scenarios.sort();
    scenarios.dedup();
    let mut backends = config.backends.clone();
    backends.sort();
    backends.dedup();

    let mut all_files = Vec::new();
    for kind in &scenarios {
        for f in config.sizes.files_of(*kind, &data) {
            if !all_files.contains(&f) {
                all_files.push(f);
            }
        }
    }
    data.ensure(&all_files, config.quiet)?;
    let zstd = if scenarios.contains(&ScenarioKind::Decompress) {
        Some(decompress::ensure(&data, &config.sizes, config.quiet)?)
    } else {
        None
    };
    let direct_ok = match all_files.first() {
        Some(f) => direct_io_supported(&f.path),
        None => true,
    };
    if scenarios.iter().any(|k| config.options_for(*k).cold) && is_in_memory_fs(&data.dir) {
        note(say, format!("{} is on tmpfs, which lives in the page cache: cold runs are warm", data.dir.display()));
    }
    let wants_direct = scenarios.iter().any(|k| config.options_for(*k).direct);
    if wants_direct && !direct_ok {
        note(say, format!("the file system of {} refuses O_DIRECT: every scenario reads buffered", data.dir.display()));
    }

    let fio = if config.use_fio {
        let found = fio::find_fio();
        if found.is_none() {
            note(say, "fio not found on PATH: comparing without fio (install it, e.g. `apt-get install fio`)".into());
        }
        found
    } else {
        None
    };
    let fio_version = fio.as_deref().map(fio_version);
    let uring_ok = uring_availability();
    let ioengine = if fio.is_none() {
        "io_uring"
    } else {
        match uring::kernel_availability() {
            Ok(()) => "io_uring",
            Err(why) => {
                note(say, format!("fio runs with --ioengine=libaio: {why}"));
                "libaio"
            }
        }
    };
    if config.direct == Some(true) && scenarios.contains(&ScenarioKind::Hot) {
        note(say, "hot reads through the page cache: --direct does not apply to it".into());
    }
    // Where io_uring is missing, `uring` is the pread pool again: one row is enough.
    let skip_uring_row = uring_ok.is_err() && backends.contains(&BackendKind::Pread);

    let mut dropper = CacheDropper::new(config.drop_caches);
    let per_scenario = backends.len() - usize::from(skip_uring_row && backends.contains(&BackendKind::Uring))
        + usize::from(fio.is_some());
    let total_runs: usize = scenarios
        .iter()
        .map(|k| match k {
            ScenarioKind::Decompress => decompress::slots(&backends, skip_uring_row),
            _ => per_scenario,
        })
        .sum::<usize>()
        * config.runs;
    let progress = if config.quiet { ProgressBar::hidden() } else { ProgressBar::new(total_runs as u64) };
    if let Ok(style) = ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} runs, {elapsed}") {
        progress.set_style(style.progress_chars("=> "));
    }

    let mut reports = Vec::new();
    for &kind in &scenarios {
        let mut options = config.options_for(kind);
        options.direct &= direct_ok;
        if let (ScenarioKind::Decompress, Some(chunks)) = (kind, &zstd) {
            let mut found = Vec::new();
            let report = decompress::run(
                config,
                chunks,
                &backends,
                options,
                skip_uring_row,
                &mut dropper,
                &progress,
                &mut found,
            );
            for n in found {
                progress.suspend(|| note(say, n));
            }
            reports.push(report?);
            continue;
        }
        let scenario = Scenario::new(kind, &config.sizes, &data, options);
        let mut planner = config.planner.config();
        if let Some(gap) = config.max_gap {
            planner.max_gap = gap;
        }
        let bopts = BackendOptions { qd: config.qd, direct: options.direct, planner };

        let mut runners = Vec::new();
        for &b in &backends {
            let (runner, fallback) = Runner::open(b, &bopts)?;
            if let Some(n) = fallback {
                let n = if skip_uring_row { format!("{n}; its row is the pread row") } else { n };
                note(say, n);
            }
            if b == BackendKind::Uring && skip_uring_row {
                continue;
            }
            runners.push(runner);
        }
        let fio_args = fio.as_ref().map(|_| fio::job_args(&scenario, ioengine));
        if let (Some(path), Some(args), true) = (&fio, &fio_args, config.verbose) {
            say(Message::Verbose(format!("{kind}: {}", fio::command_line(path, args))));
        }

        if !options.cold {
            data::warm(&scenario.files)?;
        }
        // Slot i < runners.len() is a backend; the last slot (if any) is fio.
        let slots = runners.len() + usize::from(fio.is_some());
        let mut results: Vec<Vec<RunResult>> = vec![Vec::new(); slots];
        let mut fio_failed: Option<String> = None;
        for run in 0..config.runs {
            for k in 0..slots {
                // Rotate the order run by run, so that no backend always goes first.
                let slot = (k + run) % slots;
                let name = runners.get(slot).map_or("fio", Runner::label);
                progress.set_message(format!("{kind} run {}/{}: {name}", run + 1, config.runs));
                if slot == runners.len() && fio_failed.is_some() {
                    progress.inc(1);
                    continue;
                }
                if options.cold
                    && let Some(n) = dropper.drop_cache(&scenario.files)
                {
                    progress.suspend(|| note(say, n));
                }
                let result = match runners.get(slot) {
                    Some(r) => r.run(&scenario)?,
                    None => match (&fio, &fio_args) {
                        (Some(path), Some(args)) => match fio::run(path, args) {
                            Ok(r) => r.to_run(),
                            Err(e) => {
                                let msg = format!("fio failed on {kind}, no fio row for it: {e}");
                                progress.suspend(|| note(say, msg.clone()));
                                fio_failed = Some(msg);
                                progress.inc(1);
                                continue;
                            }
                        },
                        _ => continue,
                    },
                };
                if config.verbose {
                    let name = runners.get(slot).map_or("fio", Runner::label);
                    let line = format!(
                        "{kind} run {}/{} {name}: {:.3} s, {:.3} GiB/s, {:.3} CPU s",
                        run + 1,
                        config.runs,
                        result.seconds,
                        result.gib_per_s(),
                        result.cpu_seconds
                    );
                    progress.suspend(|| say(Message::Verbose(line)));
                }
                results[slot].push(result);
                progress.inc(1);
            }
        }

        let mut rows: Vec<Row> = Vec::new();
        for (slot, runs) in results.into_iter().enumerate() {
            if runs.is_empty() {
                continue;
            }
            let label = runners.get(slot).map_or("fio".to_owned(), |r| r.label().to_owned());
            let mut row = Row::from_runs(label, runs);
            if options.direct && matches!(runners.get(slot), Some(Runner::ObjectStore(_))) {
                row.note = Some("reads buffered: object_store has no O_DIRECT".into());
            }
            if slot == runners.len() && row.bytes != scenario.total_bytes() {
                row.note = Some(format!("fio read {} bytes, the backends {}", row.bytes, scenario.total_bytes()));
            }
            rows.push(row);
        }
        Row::fill_ratios(&mut rows);
        reports.push(ScenarioReport {
            scenario: kind,
            description: scenario.description(),
            qd: options.qd,
            direct: options.direct,
            cold: options.cold,
            reads: scenario.reads.len() as u64,
            bytes: scenario.total_bytes(),
            runs: config.runs,
            fio_command: match (&fio, &fio_args) {
                (Some(p), Some(a)) => Some(fio::command_line(p, a)),
                _ => None,
            },
            rows,
            notes: Vec::new(),
        });
    }
    progress.finish_and_clear();

    Ok(Report {
        dir: config.dir.clone(),
        sizes: config.sizes,
        runs: config.runs,
        qd: config.qd,
        planner: config.planner,
        fio: fio_version,
        page_cache: dropper.method(),
        notes,
        scenarios: reports,
    })
}

fn fio_version(path: &Path) -> String {
    let version = std::process::Command::new(path)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty());
    match version {
        Some(v) => format!("{v} ({})", path.display()),
        None => path.display().to_string(),
    }
}

/// Whether `path` is on a tmpfs (or ramfs), where the page cache is the storage: nothing to drop.
pub fn is_in_memory_fs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: `statfs` is plain old data that statfs only writes into.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a pointer to a live `statfs`.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    matches!(st.f_type as i64, TMPFS_MAGIC | RAMFS_MAGIC)
}

/// Whether `path` can be opened with `O_DIRECT` (tmpfs, for one, refuses it).
pub fn direct_io_supported(path: &Path) -> bool {
    match OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(path) {
        Ok(_) => true,
        Err(e) => e.raw_os_error() != Some(libc::EINVAL),
    }
}
