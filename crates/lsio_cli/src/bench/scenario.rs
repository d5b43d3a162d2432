//! The scenarios: which reads each one makes, in which order, over which files.

use std::fmt;
use std::ops::Range;

use lsio_io::{Location, ReadRequest};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::bench::data::{BLOCK, DataFile, DataSet};
use crate::error::{Error, Result};
use crate::size::format_size;

/// A benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioKind {
    /// Random 4 KiB reads over the large file (cold, O_DIRECT by default).
    Rand4k,
    /// Every 256 KiB chunk of the large file, in random order (cold).
    #[value(name = "chunks256k")]
    Chunks256k,
    /// Many small files, each read whole (cold).
    Files,
    /// 4 KiB reads with 32 KiB gaps between them, front to back (cold).
    Gapped,
    /// Random 256 KiB reads of the large file with the file in the page cache.
    Hot,
    /// zstd-compressed chunks in several files, read through the `lsio_scheduler` pipeline and
    /// decompressed on its thread pool (cold).
    Decompress,
}

impl ScenarioKind {
    /// Every scenario, in the order the tables are printed.
    pub const ALL: [ScenarioKind; 6] = [
        ScenarioKind::Rand4k,
        ScenarioKind::Chunks256k,
        ScenarioKind::Files,
        ScenarioKind::Gapped,
        ScenarioKind::Hot,
        ScenarioKind::Decompress,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Rand4k => "rand4k",
            ScenarioKind::Chunks256k => "chunks256k",
            ScenarioKind::Files => "files",
            ScenarioKind::Gapped => "gapped",
            ScenarioKind::Hot => "hot",
            ScenarioKind::Decompress => "decompress",
        }
    }

    /// Whether the scenario reads the large file (the others read the small files, or, for
    /// `decompress`, zstd files of their own).
    pub fn uses_big_file(self) -> bool {
        !matches!(self, ScenarioKind::Files | ScenarioKind::Decompress)
    }

    /// Whether the scenario runs with the page cache dropped (unless forced warm).
    pub fn is_cold_by_default(self) -> bool {
        self != ScenarioKind::Hot
    }

    /// Whether `O_DIRECT` is on when `--direct` is not given: only for `rand4k`, whose target is
    /// random 4 KiB reads with `O_DIRECT`, and only when it runs cold.
    pub fn direct_by_default(self, forced_hot: bool) -> bool {
        self == ScenarioKind::Rand4k && !forced_hot
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sizes of the data set and of the reads. Every length is a multiple of 4 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// Length of the large file (`--file-size`).
    pub file_size: u64,
    /// Number of small files (`--files`).
    pub files: u64,
    /// Length of each small file (`--file-len`).
    pub file_len: u64,
    /// Number of `rand4k` reads (`--reads`).
    pub reads: u64,
    /// Length of the `rand4k` and `gapped` reads (`--block-size`).
    pub block_size: u64,
    /// Length of the `chunks256k` and `hot` reads (`--chunk-size`).
    pub chunk_size: u64,
    /// Gap between two `gapped` reads (`--gap`).
    pub gap: u64,
    /// Seed of the random orders (`--seed`).
    pub seed: u64,
    /// Number of zstd files of `decompress` (`--zstd-files`).
    pub zstd_files: u64,
    /// zstd chunks per file of `decompress` (`--zstd-chunks`); each decompresses to `chunk_size`.
    pub zstd_chunks: u64,
}

impl Sizes {
    /// The full-size benchmark: a 1 GiB file, 64 Ki random 4 KiB reads, 1000 files × 256 KiB.
    pub const FULL: Sizes = Sizes {
        file_size: 1 << 30,
        files: 1000,
        file_len: 256 << 10,
        reads: 64 << 10,
        block_size: 4 << 10,
        chunk_size: 256 << 10,
        gap: 32 << 10,
        seed: 42,
        zstd_files: 16,
        zstd_chunks: 64,
    };

    /// The demo's sizes: a 128 MiB file, 8 Ki random reads, 200 files × 256 KiB, 8 zstd files ×
    /// 16 chunks of 256 KiB (32 MiB uncompressed).
    pub const DEMO: Sizes =
        Sizes { file_size: 128 << 20, files: 200, reads: 8 << 10, zstd_files: 8, zstd_chunks: 16, ..Sizes::FULL };

    /// Tiny sizes for tests and doctests: a 4 MiB file, 256 random reads, 8 files × 64 KiB, 2 zstd
    /// files × 4 chunks of 64 KiB.
    pub const TINY: Sizes = Sizes {
        file_size: 4 << 20,
        files: 8,
        file_len: 64 << 10,
        reads: 256,
        chunk_size: 64 << 10,
        zstd_files: 2,
        zstd_chunks: 4,
        ..Sizes::FULL
    };

    /// Uncompressed bytes of the `decompress` scenario.
    pub fn zstd_bytes(&self) -> u64 {
        self.zstd_files * self.zstd_chunks * self.chunk_size
    }

    /// Checks that the sizes fit together; the error says which flag is wrong.
    pub fn validate(&self) -> Result<()> {
        let usage = |m: String| Err(Error::Usage(m));
        let block = format_size(BLOCK);
        for (flag, v) in [
            ("--file-size", self.file_size),
            ("--file-len", self.file_len),
            ("--block-size", self.block_size),
            ("--chunk-size", self.chunk_size),
        ] {
            if v == 0 || v % BLOCK != 0 {
                return usage(format!("{flag} must be a non-zero multiple of {block}, not {}", format_size(v)));
            }
        }
        if !self.gap.is_multiple_of(BLOCK) {
            return usage(format!("--gap must be a multiple of {block}, not {}", format_size(self.gap)));
        }
        if self.files == 0 {
            return usage("--files must be at least 1".into());
        }
        for (flag, v) in [("--zstd-files", self.zstd_files), ("--zstd-chunks", self.zstd_chunks)] {
            if v == 0 || v > 1_000_000 {
                return usage(format!("{flag} must be between 1 and 1000000, not {v}"));
            }
        }
        if self.files > 1_000_000 {
            return usage(format!("--files {} is more than the 1000000 this harness makes", self.files));
        }
        for (flag, v) in [("--block-size", self.block_size), ("--chunk-size", self.chunk_size)] {
            if v > self.file_size {
                return usage(format!(
                    "{flag} {} is larger than --file-size {}",
                    format_size(v),
                    format_size(self.file_size)
                ));
            }
        }
        let blocks = self.file_size / self.block_size;
        if self.reads == 0 || self.reads > blocks {
            return usage(format!(
                "--reads must be between 1 and {blocks} (the {} blocks of a {} file), not {}",
                format_size(self.block_size),
                format_size(self.file_size),
                self.reads
            ));
        }
        Ok(())
    }

    /// The files a scenario reads.
    pub fn files_of(&self, kind: ScenarioKind, data: &DataSet) -> Vec<DataFile> {
        if kind == ScenarioKind::Decompress {
            // Made apart from the patterned files: see `bench::decompress`.
            Vec::new()
        } else if kind.uses_big_file() {
            vec![data.big_file(self.file_size)]
        } else {
            (0..self.files).map(|i| data.small_file(self.file_len, i)).collect()
        }
    }
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes::FULL
    }
}

/// One read of a scenario: a range of one of its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Index into [`Scenario::files`].
    pub file: u32,
    pub range: Range<u64>,
}

/// How a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Reads in flight at once (threads of the pread pool, ring depth, fio `--iodepth`).
    pub qd: usize,
    /// Read with `O_DIRECT`.
    pub direct: bool,
    /// Drop the page cache before each run; otherwise warm the files once before the runs.
    pub cold: bool,
}

/// A scenario made concrete: its files and its reads, in the order they are issued.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub kind: ScenarioKind,
    pub sizes: Sizes,
    pub options: RunOptions,
    pub files: Vec<DataFile>,
    pub reads: Vec<Read>,
    locations: Vec<Location>,
}

impl Scenario {
    /// The reads of `kind` over `data`, generated from `sizes` (seeded: the same every time).
    pub fn new(kind: ScenarioKind, sizes: &Sizes, data: &DataSet, options: RunOptions) -> Scenario {
        let files = sizes.files_of(kind, data);
        let mut rng = SmallRng::seed_from_u64(sizes.seed ^ (kind as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let big = |range: Range<u64>| Read { file: 0, range };
        let reads: Vec<Read> = match kind {
            ScenarioKind::Rand4k => {
                let bs = sizes.block_size;
                let blocks = (sizes.file_size / bs) as usize;
                let n = (sizes.reads as usize).min(blocks);
                // Without repeats, like fio's random map.
                rand::seq::index::sample(&mut rng, blocks, n)
                    .into_iter()
                    .map(|b| big(b as u64 * bs..(b as u64 + 1) * bs))
                    .collect()
            }
            ScenarioKind::Chunks256k | ScenarioKind::Hot => {
                let cs = sizes.chunk_size;
                let mut reads: Vec<Read> = (0..sizes.file_size / cs).map(|c| big(c * cs..(c + 1) * cs)).collect();
                reads.shuffle(&mut rng);
                reads
            }
            // Its reads are the zstd chunks, run by `bench::decompress`.
            ScenarioKind::Decompress => Vec::new(),
            ScenarioKind::Files => {
                (0..files.len() as u32).map(|file| Read { file, range: 0..sizes.file_len }).collect()
            }
            ScenarioKind::Gapped => {
                let (bs, step) = (sizes.block_size, sizes.block_size + sizes.gap);
                (0..).map(|k| k * step).take_while(|off| off + bs <= sizes.file_size).map(|o| big(o..o + bs)).collect()
            }
        };
        let locations = files.iter().map(|f| Location::local(&f.path)).collect();
        Scenario { kind, sizes: *sizes, options, files, reads, locations }
    }

    /// The batch of requests to hand a backend; request `i` is tagged `i`.
    pub fn requests(&self) -> Vec<ReadRequest> {
        self.reads
            .iter()
            .enumerate()
            .map(|(i, r)| ReadRequest::new(self.locations[r.file as usize].clone(), r.range.clone(), i as u64))
            .collect()
    }

    /// Bytes the scenario reads.
    pub fn total_bytes(&self) -> u64 {
        self.reads.iter().map(|r| r.range.end - r.range.start).sum()
    }

    /// Length of each read (all reads of a scenario have one length).
    pub fn read_len(&self) -> u64 {
        self.reads.first().map(|r| r.range.end - r.range.start).unwrap_or(0)
    }

    /// One line saying what the scenario does.
    pub fn description(&self) -> String {
        let s = &self.sizes;
        let n = self.reads.len();
        let file = format_size(s.file_size);
        let what = match self.kind {
            ScenarioKind::Rand4k => format!("{n} random {} reads over a {file} file", format_size(s.block_size)),
            ScenarioKind::Chunks256k => {
                format!("every {} chunk of a {file} file ({n} reads) in random order", format_size(s.chunk_size))
            }
            ScenarioKind::Files => format!("{n} files x {} read whole", format_size(s.file_len)),
            ScenarioKind::Gapped => {
                format!("{n} {} reads with {} gaps over a {file} file", format_size(s.block_size), format_size(s.gap))
            }
            ScenarioKind::Hot => format!("{n} random {} reads of a {file} file", format_size(s.chunk_size)),
            ScenarioKind::Decompress => format!(
                "{} zstd chunks of {} in {} files ({} uncompressed) read by the pipeline and decompressed",
                s.zstd_files * s.zstd_chunks,
                format_size(s.chunk_size),
                s.zstd_files,
                format_size(s.zstd_bytes())
            ),
        };
        let o = &self.options;
        format!(
            "{what}; QD {}, {}, {}",
            o.qd,
            if o.direct { "O_DIRECT" } else { "buffered" },
            if o.cold { "cold cache" } else { "page-cache hot" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(kind: ScenarioKind, sizes: &Sizes) -> Scenario {
        let data = DataSet::new("/nonexistent");
        Scenario::new(kind, sizes, &data, RunOptions { qd: 4, direct: false, cold: true })
    }

    #[test]
    fn rand4k_is_seeded_distinct_and_aligned() {
        let s = scenario(ScenarioKind::Rand4k, &Sizes::FULL);
        assert_eq!(s.reads.len(), 65536);
        assert_eq!(s.total_bytes(), 65536 * 4096);
        let mut starts: Vec<u64> = s.reads.iter().map(|r| r.range.start).collect();
        assert!(s.reads.iter().all(|r| r.range.start % 4096 == 0 && r.range.end - r.range.start == 4096));
        assert!(s.reads.iter().all(|r| r.range.end <= 1 << 30));
        assert_eq!(s.reads, scenario(ScenarioKind::Rand4k, &Sizes::FULL).reads, "same seed, same reads");
        let other = Sizes { seed: 7, ..Sizes::FULL };
        assert_ne!(s.reads, scenario(ScenarioKind::Rand4k, &other).reads);
        starts.sort_unstable();
        starts.dedup();
        assert_eq!(starts.len(), 65536, "no block is read twice");
    }

    #[test]
    fn chunks_cover_the_file_once_in_random_order() {
        let s = scenario(ScenarioKind::Chunks256k, &Sizes::FULL);
        assert_eq!(s.reads.len(), 4096);
        assert_ne!(s.reads[0].range.start, 0, "shuffled");
        let mut starts: Vec<u64> = s.reads.iter().map(|r| r.range.start).collect();
        starts.sort_unstable();
        assert_eq!(starts, (0..4096).map(|c| c * (256 << 10)).collect::<Vec<_>>());
        assert_eq!(s.total_bytes(), 1 << 30);
        let hot = scenario(ScenarioKind::Hot, &Sizes::FULL);
        assert_eq!(hot.total_bytes(), 1 << 30);
    }

    #[test]
    fn files_and_gapped() {
        let s = scenario(ScenarioKind::Files, &Sizes::FULL);
        assert_eq!(s.files.len(), 1000);
        assert_eq!(s.reads.len(), 1000);
        assert!(s.reads.iter().enumerate().all(|(i, r)| r.file as usize == i && r.range == (0..256 << 10)));
        assert!(s.files[999].path.ends_with("files-256KiB/f.999"));
        let reqs = s.requests();
        assert_eq!(reqs[5].tag, 5);
        assert_eq!(reqs[5].location, Location::local("/nonexistent/files-256KiB/f.5"));

        let g = scenario(ScenarioKind::Gapped, &Sizes::FULL);
        let starts: Vec<u64> = g.reads.iter().take(3).map(|r| r.range.start).collect();
        assert_eq!(starts, vec![0, 36 << 10, 72 << 10]);
        // The last read ends inside the file and the next one would not fit.
        assert_eq!(g.reads.len() as u64, ((1u64 << 30) - 4096) / (36 << 10) + 1);
        let last = g.reads.last().unwrap().range.clone();
        assert!(last.end <= 1 << 30 && last.end + (36 << 10) > 1 << 30);
        assert!(g.description().contains("32 KiB gaps"));
    }

    #[test]
    fn validation_names_the_flag() {
        assert!(Sizes::FULL.validate().is_ok());
        assert!(Sizes::DEMO.validate().is_ok());
        assert!(Sizes::TINY.validate().is_ok());
        let e = Sizes { block_size: 1000, ..Sizes::FULL }.validate().unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("--block-size"), "{e}");
        let e = Sizes { reads: 1 << 40, ..Sizes::FULL }.validate().unwrap_err();
        assert!(e.to_string().contains("--reads"), "{e}");
        let e = Sizes { chunk_size: 2 << 30, ..Sizes::FULL }.validate().unwrap_err();
        assert!(e.to_string().contains("--chunk-size"), "{e}");
        let e = Sizes { files: 0, ..Sizes::FULL }.validate().unwrap_err();
        assert!(e.to_string().contains("--files"), "{e}");
    }
}
