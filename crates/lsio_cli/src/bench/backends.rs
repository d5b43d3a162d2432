//! The backends a benchmark runs: lsio's pread pool and io_uring backend through the
//! [`IoBackend`] trait, and `object_store`'s `LocalFileSystem::get_ranges` as the outside baseline.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;
use lsio_io::{IoBackend, PlannerConfig, PreadBackend, PreadConfig};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use serde::Serialize;

use crate::bench::measure::{RunResult, Stopwatch};
use crate::bench::scenario::Scenario;
use crate::bench::verify::Verifier;
use crate::error::{Error, Result};

/// A backend the harness can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// `lsio_io::PreadBackend`: a pool of `pread` threads, one per read in flight.
    Pread,
    /// `lsio_uring::UringBackend` (falls back to the pread pool where io_uring is unavailable).
    Uring,
    /// `object_store::local::LocalFileSystem::get_ranges`, the baseline.
    #[value(name = "object_store", alias = "object-store", alias = "objectstore")]
    ObjectStore,
}

impl BackendKind {
    /// Every backend, in table order.
    pub const ALL: [BackendKind; 3] = [BackendKind::Pread, BackendKind::Uring, BackendKind::ObjectStore];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Pread => "pread",
            BackendKind::Uring => "uring",
            BackendKind::ObjectStore => "object_store",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The range planner lsio's backends use (`--planner`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PlannerChoice {
    /// `PlannerConfig::LOCAL`: merge gaps up to 4 KiB.
    #[default]
    Local,
    /// `PlannerConfig::NONE`: one physical read per request.
    None,
    /// `PlannerConfig::OBJECT_STORE`: merge gaps up to 1 MiB.
    ObjectStore,
}

impl PlannerChoice {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PlannerChoice::Local => "local",
            PlannerChoice::None => "none",
            PlannerChoice::ObjectStore => "object-store",
        }
    }

    pub fn config(self) -> PlannerConfig {
        match self {
            PlannerChoice::Local => PlannerConfig::LOCAL,
            PlannerChoice::None => PlannerConfig::NONE,
            PlannerChoice::ObjectStore => PlannerConfig::OBJECT_STORE,
        }
    }
}

/// How to set up a backend for one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendOptions {
    /// Reads in flight: pread threads, ring depth, concurrent `get_ranges` calls.
    pub qd: usize,
    /// Open files with `O_DIRECT` (lsio backends only; `object_store` always reads buffered).
    pub direct: bool,
    pub planner: PlannerConfig,
}

/// Whether io_uring can be used here, and if not, why.
pub fn uring_availability() -> std::result::Result<(), String> {
    crate::bench::uring::availability()
}

/// A backend set up for a scenario.
#[derive(Debug)]
pub enum Runner {
    /// An lsio backend, run through [`IoBackend::read`].
    Lsio {
        /// The row's name in the tables.
        label: String,
        backend: Box<dyn IoBackend>,
    },
    /// `object_store`'s local file system.
    ObjectStore(ObjectStoreRunner),
}

impl Runner {
    /// Sets up `kind`. Where io_uring is unavailable, `uring` is a pread pool; the returned note
    /// says so and why.
    pub fn open(kind: BackendKind, options: &BackendOptions) -> Result<(Runner, Option<String>)> {
        let setup = |source| Error::BackendSetup { backend: kind.name().into(), source };
        match kind {
            BackendKind::Pread => {
                let backend = pread(options).map_err(setup)?;
                Ok((Runner::Lsio { label: kind.name().into(), backend: Box::new(backend) }, None))
            }
            BackendKind::Uring => match crate::bench::uring::open(options) {
                Ok(backend) => Ok((Runner::Lsio { label: kind.name().into(), backend }, None)),
                Err(why) => {
                    let backend = pread(options).map_err(setup)?;
                    let note = format!("lsio fell back to PreadBackend for `uring`: {why}");
                    Ok((
                        Runner::Lsio { label: "uring (pread fallback)".into(), backend: Box::new(backend) },
                        Some(note),
                    ))
                }
            },
            BackendKind::ObjectStore => {
                Ok((Runner::ObjectStore(ObjectStoreRunner::new(options.qd).map_err(setup)?), None))
            }
        }
    }

    /// The row's name in the tables.
    pub fn label(&self) -> &str {
        match self {
            Runner::Lsio { label, .. } => label,
            Runner::ObjectStore(_) => "object_store",
        }
    }

    /// Runs the scenario once, checking every byte range returned.
    pub fn run(&self, scenario: &Scenario) -> Result<RunResult> {
        match self {
            Runner::Lsio { label, backend } => run_io_backend(backend.as_ref(), label, scenario),
            Runner::ObjectStore(os) => os.run(scenario),
        }
    }
}

/// lsio's pread pool as the harness runs it: one thread per read in flight.
pub fn pread(options: &BackendOptions) -> std::io::Result<PreadBackend> {
    PreadBackend::with_config(PreadConfig {
        threads: options.qd.max(1),
        planner: options.planner,
        direct_io: options.direct,
        ..PreadConfig::default()
    })
}

/// Runs a scenario once through any [`IoBackend`]: submits every request in one batch and checks
/// each chunk as it completes. The clock runs from submission to the last chunk checked.
pub fn run_io_backend(backend: &dyn IoBackend, label: &str, scenario: &Scenario) -> Result<RunResult> {
    let requests = scenario.requests();
    let ios = requests.len() as u64;
    let mut verifier = Verifier::new(scenario);
    let watch = Stopwatch::start();
    for result in backend.read(requests) {
        let chunk = result.map_err(|source| Error::Backend { backend: label.to_owned(), source })?;
        verifier
            .check(chunk.tag, &chunk.range, &chunk.bytes)
            .map_err(|detail| Error::Verify { backend: label.to_owned(), detail })?;
    }
    let (seconds, cpu_seconds) = watch.stop();
    let verified = verifier.finish().map_err(|detail| Error::Verify { backend: label.to_owned(), detail })?;
    Ok(RunResult { seconds, cpu_seconds, bytes: verified, ios, verified_bytes: Some(verified) })
}

/// `object_store::local::LocalFileSystem` on a tokio runtime of its own.
///
/// A scenario's reads are grouped per file (in issue order) and each file's ranges are split
/// into `get_ranges` calls, so that up to `qd` calls run at once even over one file; a call
/// holds at most [`ObjectStoreRunner::MAX_CALL_BYTES`] of ranges (one range at least).
pub struct ObjectStoreRunner {
    store: Arc<LocalFileSystem>,
    runtime: tokio::runtime::Runtime,
    qd: usize,
}

impl fmt::Debug for ObjectStoreRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreRunner").field("qd", &self.qd).finish_non_exhaustive()
    }
}

/// One `get_ranges` call: a file, its ranges and their tags.
#[derive(Debug, Clone)]
pub struct GetRangesCall {
    pub path: object_store::path::Path,
    pub ranges: Vec<Range<u64>>,
    pub tags: Vec<u64>,
}

impl ObjectStoreRunner {
    /// The most bytes one `get_ranges` call asks for.
    pub const MAX_CALL_BYTES: u64 = 8 << 20;

    /// A store over the whole file system and a runtime with one worker per core.
    pub fn new(qd: usize) -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("lsio-object-store")
            .enable_all()
            .build()?;
        Ok(ObjectStoreRunner { store: Arc::new(LocalFileSystem::new()), runtime, qd: qd.max(1) })
    }

    /// The `get_ranges` calls for a scenario (see the type's documentation).
    pub fn calls(scenario: &Scenario, qd: usize) -> Result<Vec<GetRangesCall>> {
        let mut per_file: Vec<Vec<(u64, Range<u64>)>> = vec![Vec::new(); scenario.files.len()];
        for (tag, r) in scenario.reads.iter().enumerate() {
            per_file[r.file as usize].push((tag as u64, r.range.clone()));
        }
        let mut calls = Vec::new();
        for (file, reads) in scenario.files.iter().zip(per_file) {
            if reads.is_empty() {
                continue;
            }
            let path = object_store::path::Path::from_filesystem_path(&file.path).map_err(object_store::Error::from)?;
            let read_len = reads.iter().map(|(_, r)| r.end - r.start).max().unwrap_or(1).max(1);
            let by_bytes = (Self::MAX_CALL_BYTES / read_len).max(1) as usize;
            let per_call = reads.len().div_ceil(qd.max(1)).clamp(1, by_bytes);
            for group in reads.chunks(per_call) {
                calls.push(GetRangesCall {
                    path: path.clone(),
                    tags: group.iter().map(|(t, _)| *t).collect(),
                    ranges: group.iter().map(|(_, r)| r.clone()).collect(),
                });
            }
        }
        Ok(calls)
    }

    /// Runs the scenario once: up to `qd` `get_ranges` calls at a time, every range checked.
    pub fn run(&self, scenario: &Scenario) -> Result<RunResult> {
        let calls = Self::calls(scenario, self.qd)?;
        let ios = scenario.reads.len() as u64;
        let mut verifier = Verifier::new(scenario);
        let watch = Stopwatch::start();
        self.runtime.block_on(async {
            let mut answers = futures::stream::iter(calls.iter())
                .map(|call| {
                    let store = self.store.clone();
                    async move { store.get_ranges(&call.path, &call.ranges).await.map(|bytes| (call, bytes)) }
                })
                .buffer_unordered(self.qd);
            while let Some(answer) = answers.next().await {
                let (call, bytes) = answer?;
                if bytes.len() != call.ranges.len() {
                    let detail =
                        format!("get_ranges returned {} buffers for {} ranges", bytes.len(), call.ranges.len());
                    return Err(Error::Verify { backend: "object_store".into(), detail });
                }
                for ((tag, range), b) in call.tags.iter().zip(&call.ranges).zip(&bytes) {
                    verifier
                        .check(*tag, range, b)
                        .map_err(|detail| Error::Verify { backend: "object_store".into(), detail })?;
                }
            }
            Ok(())
        })?;
        let (seconds, cpu_seconds) = watch.stop();
        let verified = verifier.finish().map_err(|detail| Error::Verify { backend: "object_store".into(), detail })?;
        Ok(RunResult { seconds, cpu_seconds, bytes: verified, ios, verified_bytes: Some(verified) })
    }

    /// The store, for callers that time their own loops (the criterion benches).
    pub fn store(&self) -> &Arc<LocalFileSystem> {
        &self.store
    }

    /// The runtime the store's calls run on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }
}
