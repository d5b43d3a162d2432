//! The results: one table per scenario, a summary of ratios, and the same as JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::bench::backends::PlannerChoice;
use crate::bench::cache::DropMethod;
use crate::bench::measure::{RunResult, median};
use crate::bench::scenario::{ScenarioKind, Sizes};
use crate::size::{approx_size, format_size};

/// The results of a whole benchmark (`lsio bench --json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dir: PathBuf,
    pub sizes: Sizes,
    pub runs: usize,
    pub qd: usize,
    pub planner: PlannerChoice,
    /// fio's version and path, when it ran.
    pub fio: Option<String>,
    /// How cold runs dropped the page cache.
    pub page_cache: DropMethod,
    pub notes: Vec<String>,
    pub scenarios: Vec<ScenarioReport>,
}

/// The results of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: ScenarioKind,
    pub description: String,
    pub qd: usize,
    pub direct: bool,
    pub cold: bool,
    /// Reads per run.
    pub reads: u64,
    /// Bytes per run.
    pub bytes: u64,
    pub runs: usize,
    /// The fio command line, when fio ran.
    pub fio_command: Option<String>,
    pub rows: Vec<Row>,
    /// Notes about the scenario as a whole (printed under its table).
    pub notes: Vec<String>,
}

/// The label of the `decompress` baseline row: rayon over `read_exact_at`, then decompression.
pub const RAYON_BASELINE: &str = "rayon+pread";

/// One backend (or fio) in one scenario: medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub backend: String,
    pub iops: f64,
    pub gib_per_s: f64,
    pub cpu_s_per_gib: f64,
    /// This row's GiB/s over fio's.
    pub ratio_to_fio: Option<f64>,
    /// This row's GiB/s over the pread pool's.
    pub ratio_to_pread: Option<f64>,
    /// This row's GiB/s over the `rayon+pread` baseline's (`decompress` only).
    pub ratio_to_rayon: Option<f64>,
    /// Bytes read per run.
    pub bytes: u64,
    /// Bytes whose pattern was checked in every run (`None` for fio, which does not check).
    pub verified_bytes: Option<u64>,
    pub note: Option<String>,
    pub runs: Vec<RunResult>,
}

impl Row {
    /// Medians of `runs` (which must not be empty to mean anything).
    pub fn from_runs(backend: String, runs: Vec<RunResult>) -> Row {
        let verified_bytes = runs.iter().map(|r| r.verified_bytes).min().flatten();
        Row {
            backend,
            iops: median(runs.iter().map(RunResult::iops)),
            gib_per_s: median(runs.iter().map(RunResult::gib_per_s)),
            cpu_s_per_gib: median(runs.iter().map(RunResult::cpu_s_per_gib)),
            ratio_to_fio: None,
            ratio_to_pread: None,
            ratio_to_rayon: None,
            bytes: runs.first().map_or(0, |r| r.bytes),
            verified_bytes,
            note: None,
            runs,
        }
    }

    /// Fills the ratio columns from the `fio` and `pread` rows, where they exist.
    pub fn fill_ratios(rows: &mut [Row]) {
        let speed = |name: &str, rows: &[Row]| rows.iter().find(|r| r.backend == name).map(|r| r.gib_per_s);
        let fio = speed("fio", rows);
        let pread = speed("pread", rows);
        let rayon = speed(RAYON_BASELINE, rows);
        for r in rows.iter_mut() {
            r.ratio_to_fio = fio.filter(|f| *f > 0.0).map(|f| r.gib_per_s / f);
            r.ratio_to_pread = pread.filter(|p| *p > 0.0).map(|p| r.gib_per_s / p);
            r.ratio_to_rayon = rayon.filter(|p| *p > 0.0).map(|p| r.gib_per_s / p);
        }
    }
}

fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(r: Option<f64>) -> String {
    match r {
        Some(x) if x.is_finite() => format!("{x:.2}x"),
        _ => "-".into(),
    }
}

impl ScenarioReport {
    /// The scenario's table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let runs = if self.runs == 1 { "1 run".to_owned() } else { format!("median of {} runs", self.runs) };
        let _ = writeln!(out, "{}: {} ({runs})", self.scenario, self.description);
        // `decompress` has no fio row but a rayon baseline: its GiB/s are of decompressed bytes,
        // its IOPS chunks per second.
        let baseline = self.rows.iter().any(|r| r.backend == RAYON_BASELINE);
        let (iops, vs) = if baseline { ("chunks/s", "vs rayon") } else { ("IOPS", "vs fio") };
        let _ = writeln!(
            out,
            "  {:<24} {:>11} {:>8} {:>10} {:>8} {:>9} {:>10}",
            "backend", iops, "GiB/s", "CPU s/GiB", vs, "vs pread", "verified"
        );
        for r in &self.rows {
            let verified = match r.verified_bytes {
                Some(v) if format_size(v).len() <= 8 => format_size(v),
                Some(v) => approx_size(v as f64),
                None => "n/a".into(),
            };
            let _ = writeln!(
                out,
                "  {:<24} {:>11} {:>8.3} {:>10.3} {:>8} {:>9} {:>10}",
                r.backend,
                thousands(r.iops),
                r.gib_per_s,
                r.cpu_s_per_gib,
                ratio(if baseline { r.ratio_to_rayon } else { r.ratio_to_fio }),
                ratio(r.ratio_to_pread),
                verified
            );
        }
        for r in &self.rows {
            if let Some(n) = &r.note {
                let _ = writeln!(out, "  note ({}): {n}", r.backend);
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        out
    }
}

/// Pairs of rows whose GiB/s ratio the summary shows, when both ran.
const SUMMARY_PAIRS: [(&str, &str); 5] =
    [("uring", "object_store"), ("uring", "fio"), ("uring", "pread"), ("pread", "object_store"), ("pread", "fio")];

impl Report {
    /// The summary of ratios: one line per scenario, one column per pair of rows that ran.
    pub fn summary(&self) -> String {
        let speed = |s: &ScenarioReport, name: &str| s.rows.iter().find(|r| r.backend == name).map(|r| r.gib_per_s);
        let pairs: Vec<(&str, &str)> = SUMMARY_PAIRS
            .iter()
            .copied()
            .filter(|(a, b)| self.scenarios.iter().any(|s| speed(s, a).is_some() && speed(s, b).is_some()))
            .collect();
        if pairs.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let _ = writeln!(out, "ratios of GiB/s (above 1: the first is faster)");
        let _ = write!(out, "  {:<12}", "scenario");
        for (a, b) in &pairs {
            let _ = write!(out, " {:>19}", format!("{a}/{b}"));
        }
        let _ = writeln!(out);
        for s in &self.scenarios {
            let _ = write!(out, "  {:<12}", s.scenario.name());
            for (a, b) in &pairs {
                let r = match (speed(s, a), speed(s, b)) {
                    (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                    _ => None,
                };
                let _ = write!(out, " {:>19}", ratio(r));
            }
            let _ = writeln!(out);
        }
        out
    }

    /// Everything, as `lsio bench` prints it, under `title` (`lsio bench`, `lsio demo`).
    pub fn render(&self, title: &str) -> String {
        let mut out = String::new();
        let s = &self.sizes;
        let _ = writeln!(
            out,
            "{title}: data in {} ({} file, {} files x {}); QD {}; planner {}; page cache {}; fio: {}",
            self.dir.display(),
            format_size(s.file_size),
            s.files,
            format_size(s.file_len),
            self.qd,
            self.planner.name(),
            self.page_cache.describe(),
            self.fio.as_deref().unwrap_or("not used"),
        );
        for sc in &self.scenarios {
            let _ = writeln!(out);
            out.push_str(&sc.table());
        }
        let summary = self.summary();
        if !summary.is_empty() {
            let _ = writeln!(out);
            out.push_str(&summary);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "note: {n}");
            }
        }
        let total: u64 = self.scenarios.iter().map(|s| s.bytes * (s.runs as u64) * s.rows.len() as u64).sum();
        let _ = writeln!(out, "\n({} read in all)", approx_size(total as f64));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seconds: f64, verified: Option<u64>) -> RunResult {
        RunResult { seconds, cpu_seconds: seconds / 2.0, bytes: 1 << 30, ios: 1024, verified_bytes: verified }
    }

    #[test]
    fn rows_take_medians_and_ratios() {
        let mut rows = vec![
            Row::from_runs(
                "pread".into(),
                vec![run(1.0, Some(1 << 30)), run(3.0, Some(1 << 30)), run(2.0, Some(1 << 30))],
            ),
            Row::from_runs("fio".into(), vec![run(1.0, None)]),
        ];
        Row::fill_ratios(&mut rows);
        assert_eq!(rows[0].gib_per_s, 0.5);
        assert_eq!(rows[0].iops, 512.0);
        assert_eq!(rows[0].ratio_to_fio, Some(0.5));
        assert_eq!(rows[0].ratio_to_pread, Some(1.0));
        assert_eq!(rows[1].ratio_to_pread, Some(2.0));
        assert_eq!(rows[0].verified_bytes, Some(1 << 30));
        assert_eq!(rows[1].verified_bytes, None);
        let sc = ScenarioReport {
            scenario: ScenarioKind::Rand4k,
            description: "d".into(),
            qd: 32,
            direct: true,
            cold: true,
            reads: 1024,
            bytes: 1 << 30,
            runs: 3,
            fio_command: None,
            rows,
            notes: vec!["scenario note".into()],
        };
        let t = sc.table();
        assert!(t.contains("pread") && t.contains("0.50x") && t.contains("1 GiB") && t.contains("n/a"), "{t}");
        assert!(t.contains("vs fio") && t.contains("note: scenario note"), "{t}");
        let report = Report {
            dir: "d".into(),
            sizes: Sizes::TINY,
            runs: 3,
            qd: 32,
            planner: PlannerChoice::Local,
            fio: None,
            page_cache: DropMethod::Nothing,
            notes: vec!["hello".into()],
            scenarios: vec![sc],
        };
        let text = report.render("lsio bench");
        assert!(text.contains("pread/fio") && text.contains("note: hello"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenarios"][0]["rows"][0]["backend"], "pread");
        assert_eq!(json["scenarios"][0]["scenario"], "rand4k");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(f64::NAN), "-");
    }
}
