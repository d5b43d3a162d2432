//! The `lsio` binary: `lsio bench` (a fio-like harness), `lsio demo` (the same, small, in a
//! temporary directory), and the Arrow IPC tools `schema`, `cat`, `inspect`, `convert`.
//! Errors are one line on stderr: exit code 2 for usage, 1 at run time.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lsio_cli::bench::backends::{BackendKind, PlannerChoice};
use lsio_cli::bench::cache::CacheDrop;
use lsio_cli::bench::scenario::{ScenarioKind, Sizes};
use lsio_cli::bench::{self, BenchConfig, Message};
use lsio_cli::size::{Count, Size};
use lsio_cli::{Error, Result};

/// Light Speed IO: benchmark lsio's I/O backends against fio and object_store.
#[derive(Debug, Parser)]
#[command(name = "lsio", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark scenarios on every backend and fio, side by side.
    Bench(BenchArgs),
    /// The benchmark on small sizes in a temporary directory (about a minute).
    Demo(DemoArgs),
    /// Print the schema of an Arrow IPC file or stream.
    Schema {
        /// The `.arrow` file (or stream)
        path: PathBuf,
    },
    /// Print the first rows of an Arrow IPC file or stream as a table.
    Cat {
        /// The `.arrow` file (or stream)
        path: PathBuf,
        /// How many rows to print
        #[arg(long, short = 'n', default_value_t = 20)]
        rows: usize,
    },
    /// Print the blocks and buffer layout of an Arrow IPC file or stream.
    Inspect {
        /// The `.arrow` file (or stream)
        path: PathBuf,
    },
    /// Convert between CSV and Arrow IPC (direction from the input's extension: `.csv` or not).
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// Input: a `.csv` file, or an Arrow IPC file or stream
    input: PathBuf,
    /// Output: an Arrow IPC file (from CSV) or a CSV file (from IPC)
    output: PathBuf,
    /// Write the IPC stream format instead of the file format (CSV input only)
    #[arg(long)]
    stream: bool,
    /// Body compression of the IPC output
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,
    /// Field delimiter of the CSV side
    #[arg(long, default_value_t = ',')]
    delimiter: char,
    /// The CSV has no header line (or: write none)
    #[arg(long)]
    no_header: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CompressionArg {
    None,
    Lz4,
    Zstd,
}

/// Options shared by `bench` and `demo`.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Backends to run, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    backends: Vec<BackendKind>,

    /// Repetitions of each scenario; the median is reported
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,

    /// Reads in flight (pread threads, ring depth, concurrent get_ranges calls, fio --iodepth)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    qd: u32,

    /// O_DIRECT for the backends and fio [default: on for cold rand4k only; never for hot]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    direct: Option<bool>,

    /// Range planner of lsio's backends
    #[arg(long, value_enum, default_value_t = PlannerChoice::Local)]
    planner: PlannerChoice,

    /// Override the planner's largest merged gap (e.g. 64KiB)
    #[arg(long, value_name = "SIZE")]
    max_gap: Option<Size>,

    /// How cold runs drop the page cache
    #[arg(long, value_enum, value_name = "HOW", default_value_t = CacheDrop::Auto)]
    drop_caches: CacheDrop,

    /// Do not run fio, even when it is on PATH
    #[arg(long)]
    no_fio: bool,

    /// Print machine-readable JSON on stdout instead of tables
    #[arg(long)]
    json: bool,

    /// Print fio's command lines (to stderr)
    #[arg(short, long)]
    verbose: bool,

    /// No progress bars
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Where the data set is made (and reused)
    #[arg(long, value_name = "DIR", default_value = "./bench-data")]
    dir: PathBuf,

    /// Scenarios to run, comma-separated [default: all]
    #[arg(long, alias = "scenario", value_enum, value_delimiter = ',', value_name = "LIST")]
    scenarios: Vec<ScenarioKind>,

    /// Run every scenario page-cache hot (files warmed first, no cache drop)
    #[arg(long)]
    hot: bool,

    /// Length of the large file (rand4k, chunks256k, gapped, hot)
    #[arg(long, value_name = "SIZE", default_value_t = Size(Sizes::FULL.file_size))]
    file_size: Size,

    /// Number of small files (files)
    #[arg(long, value_name = "N", default_value_t = Count(Sizes::FULL.files))]
    files: Count,

    /// Length of each small file (files)
    #[arg(long, value_name = "SIZE", default_value_t = Size(Sizes::FULL.file_len))]
    file_len: Size,

    /// Number of random reads of rand4k (64k = 65536)
    #[arg(long, value_name = "N", default_value_t = Count(Sizes::FULL.reads))]
    reads: Count,

    /// Length of the rand4k and gapped reads
    #[arg(long, value_name = "SIZE", default_value_t = Size(Sizes::FULL.block_size))]
    block_size: Size,

    /// Length of the chunks256k and hot reads
    #[arg(long, value_name = "SIZE", default_value_t = Size(Sizes::FULL.chunk_size))]
    chunk_size: Size,

    /// Gap between two gapped reads
    #[arg(long, value_name = "SIZE", default_value_t = Size(Sizes::FULL.gap))]
    gap: Size,

    /// Seed of the random read orders
    #[arg(long, value_name = "N", default_value_t = Sizes::FULL.seed)]
    seed: u64,

    /// Number of zstd files (decompress)
    #[arg(long, value_name = "N", default_value_t = Count(Sizes::FULL.zstd_files))]
    zstd_files: Count,

    /// zstd chunks per file, each --chunk-size uncompressed (decompress)
    #[arg(long, value_name = "N", default_value_t = Count(Sizes::FULL.zstd_chunks))]
    zstd_chunks: Count,

    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Scenarios to run, comma-separated [default: all]
    #[arg(long, alias = "scenario", value_enum, value_delimiter = ',', value_name = "LIST")]
    scenarios: Vec<ScenarioKind>,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("lsio: internal error: {}{at}", msg.replace('\n', " "));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsio: error: {}", one_line(&e.to_string()));
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

/// Help and version go to stdout (exit 0); every other clap error is one line (exit 2).
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            eprintln!("lsio: error: a subcommand is required: bench or demo (see 'lsio --help')");
            ExitCode::from(2)
        }
        _ => {
            let text = e.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            let msg = lines.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("lsio: error: {} (see 'lsio --help')", one_line(msg));
            ExitCode::from(2)
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ipc_error(path: &std::path::Path) -> impl FnOnce(lsio_ipc::Error) -> Error + '_ {
    move |source| Error::Ipc { path: path.to_owned(), source: Box::new(source) }
}

fn convert(args: ConvertArgs) -> Result<()> {
    use lsio_ipc::tools::{self, CsvToIpcOptions, IpcToCsvOptions};
    let delimiter = u8::try_from(args.delimiter)
        .map_err(|_| Error::Usage(format!("the delimiter {:?} is not a single-byte character", args.delimiter)))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let mut progress = |p: tools::Progress| bar.set_message(format!("{} rows, {} batches", p.rows, p.batches));
    let from_csv = args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let done = if from_csv {
        let mut options = CsvToIpcOptions {
            has_header: !args.no_header,
            delimiter,
            file_format: !args.stream,
            ..CsvToIpcOptions::default()
        };
        options.write.compression = match args.compression {
            CompressionArg::None => None,
            CompressionArg::Lz4 => Some(lsio_ipc::Compression::Lz4Frame),
            CompressionArg::Zstd => Some(lsio_ipc::Compression::Zstd(3)),
        };
        tools::convert_csv_to_ipc(&args.input, &args.output, &options, &mut progress).map_err(ipc_error(&args.input))?
    } else {
        if args.stream || args.compression != CompressionArg::None {
            return Err(Error::Usage("--stream and --compression apply to CSV -> Arrow IPC only".into()));
        }
        let options = IpcToCsvOptions { header: !args.no_header, delimiter };
        tools::convert_ipc_to_csv(&args.input, &args.output, &options, &mut progress).map_err(ipc_error(&args.input))?
    };
    bar.finish_and_clear();
    eprintln!("lsio: wrote {} rows in {} batches to {}", done.rows, done.batches, args.output.display());
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Schema { path } => {
            print!("{}", lsio_ipc::tools::schema(&path).map_err(ipc_error(&path))?);
            Ok(())
        }
        Command::Cat { path, rows } => {
            println!("{}", lsio_ipc::tools::cat(&path, rows).map_err(ipc_error(&path))?.trim_end());
            Ok(())
        }
        Command::Inspect { path } => {
            print!("{}", lsio_ipc::tools::inspect(&path).map_err(ipc_error(&path))?);
            Ok(())
        }
        Command::Convert(args) => convert(args),
        Command::Bench(args) => {
            let sizes = Sizes {
                file_size: args.file_size.get(),
                files: args.files.get(),
                file_len: args.file_len.get(),
                reads: args.reads.get(),
                block_size: args.block_size.get(),
                chunk_size: args.chunk_size.get(),
                gap: args.gap.get(),
                seed: args.seed,
                zstd_files: args.zstd_files.get(),
                zstd_chunks: args.zstd_chunks.get(),
            };
            let mut config = BenchConfig::new(&args.dir);
            config.sizes = sizes;
            config.hot = args.hot;
            apply_common(&mut config, &args.common, &args.scenarios);
            execute(&config, &args.common, "lsio bench")
        }
        Command::Demo(args) => {
            // On disk if possible: on tmpfs there is no cold cache to drop.
            let base = [std::env::temp_dir(), PathBuf::from("/var/tmp")]
                .into_iter()
                .find(|d| d.is_dir() && !bench::is_in_memory_fs(d))
                .unwrap_or_else(std::env::temp_dir);
            let tmp = tempfile::Builder::new().prefix("lsio-demo-").tempdir_in(&base).map_err(|source| Error::Io {
                action: "make a temporary directory in",
                path: base.clone(),
                source,
            })?;
            let mut config = BenchConfig::new(tmp.path());
            config.sizes = Sizes::DEMO;
            apply_common(&mut config, &args.common, &args.scenarios);
            let result = execute(&config, &args.common, "lsio demo");
            drop(tmp);
            result
        }
    }
}

fn apply_common(config: &mut BenchConfig, c: &CommonArgs, scenarios: &[ScenarioKind]) {
    if !scenarios.is_empty() {
        config.scenarios = scenarios.to_vec();
    }
    if !c.backends.is_empty() {
        config.backends = c.backends.clone();
    }
    config.runs = c.runs as usize;
    config.qd = c.qd as usize;
    config.direct = c.direct;
    config.planner = c.planner;
    config.max_gap = c.max_gap.map(|s| s.0);
    config.drop_caches = c.drop_caches;
    config.use_fio = !c.no_fio;
    config.verbose = c.verbose;
    config.quiet = c.quiet;
}

fn execute(config: &BenchConfig, common: &CommonArgs, title: &str) -> Result<()> {
    let mut say = |m: Message| match m {
        Message::Note(n) => eprintln!("lsio: note: {n}"),
        Message::Verbose(v) => eprintln!("lsio: {v}"),
    };
    let report = bench::run(config, &mut say)?;
    if common.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Io {
            action: "print JSON to",
            path: "stdout".into(),
            source: e.into(),
        })?;
        println!("{json}");
    } else {
        print!("{}", report.render(title));
    }
    Ok(())
}
