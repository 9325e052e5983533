//! The command line: parse, dispatch to the library, map the outcome to
//! an exit code. Everything else lives in the library so tests can call it.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use advocacy::cluster::ClusterError;
use advocacy::cluster::executor::{self, ExecutorOptions};
use advocacy::cluster::scheduler::{self, SchedulerOptions};
use advocacy::config::Config;
use advocacy::config::units::parse_bytes;
use advocacy::generate::{GenerateOptions, Profile, generate};
use advocacy::inspect::{self, OutputFormat};
use advocacy::pipeline::dag::GraphFormat;
use advocacy::pipeline::spec::Severity;
use advocacy::run::{self, RunError, RunOptions, Step, exit};
use advocacy::shutdown::Shutdown;

#[derive(Parser)]
#[command(
    name = "advocacy",
    version,
    about = "Customer-advocacy analytics: CRM, review and social exports in, Parquet report tables out",
    long_about = "advocacy loads CRM exports (customers, orders, NPS surveys, referrals), review-site \
exports and social activity into a Parquet warehouse, runs the SQL models under queries/ with \
Apache DataFusion, and publishes report tables (CLV, NPS trends, referrals, advocates) that BI \
tools read.\n\nExit codes: 0 success, 1 run failed, 2 invalid config/SQL/arguments, \
3 data tests failed, 4 another run holds the lock."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The nightly job: load new exports, build the models, publish the reports.
    Run(LoadArgs),
    /// Only load new or changed exports into the raw zone (bad rows go to quarantine).
    Ingest(LoadArgs),
    /// Only build, test and publish the models, from what the raw zone holds.
    Build(Common),
    /// Check the config and plan every SQL model without reading data; all errors, file:line:col.
    Validate(Common),
    /// Print the model graph (text, dot or mermaid) and what a run would do.
    Dag(DagArgs),
    /// Run the data tests of queries/models.yml against the models' last results.
    Test(Common),
    /// Run an ad-hoc SELECT over raw tables, models and reports.
    Query(QueryArgs),
    /// Rebuild the ingest manifest (_state/ingest_manifest.parquet) from the raw zone's own objects.
    ///
    /// Each raw and quarantine object names the landing file, content hash and load it came
    /// from. Run it when a run stops because the manifest is missing, unreadable or does not
    /// describe the raw zone: nothing is reloaded twice and nothing is lost. The manifest that
    /// was there is kept beside it; objects of a load a later load of the same file replaced
    /// are removed.
    RepairManifest(Common),
    /// Write deterministic synthetic exports (the bundled testdata is made with this).
    #[command(long_about = GENERATE_ABOUT)]
    Generate(GenerateArgs),
    /// Start a Ballista scheduler that knows our SQL functions and object stores (engine: ballista).
    Scheduler(SchedulerArgs),
    /// Start a Ballista executor that runs the scheduler's tasks with our functions and object stores.
    Executor(ExecutorArgs),
}

/// Logging of the long-running servers.
#[derive(Args)]
struct ServerLog {
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output (-v debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
struct SchedulerArgs {
    /// Address to serve gRPC and the /healthz and /readyz probes on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    bind: SocketAddr,
    /// Host name executors and clients reach this scheduler at (default: the bind address).
    #[arg(long)]
    external_host: Option<String>,
    /// Config file whose `storage:` options (endpoints, credentials as ${VAR}) open the run's buckets.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: ServerLog,
}

#[derive(Args)]
struct ExecutorArgs {
    /// The scheduler's HOST:PORT.
    #[arg(long, default_value = "localhost:50050")]
    scheduler: String,
    /// Address to serve results to other executors and clients on (Arrow Flight).
    #[arg(long, default_value = "127.0.0.1:50051")]
    bind: SocketAddr,
    /// Host name others fetch this executor's results from (default: the bind address; a pod's IP).
    #[arg(long)]
    external_host: Option<String>,
    /// Port the scheduler pushes tasks to (default: a free one).
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Port of /healthz and /readyz (default: a free one, logged at start).
    #[arg(long)]
    health_port: Option<u16>,
    /// Folder for shuffle files and spills (default: a temporary folder).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Tasks run at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    concurrent_tasks: usize,
    /// Memory the running tasks share, e.g. 8GiB (default: Ballista's share of the machine's memory).
    #[arg(long)]
    memory_pool_size: Option<String>,
    /// Config file whose `storage:` options (endpoints, credentials as ${VAR}) open the run's buckets.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: ServerLog,
}

const GENERATE_ABOUT: &str = "Write deterministic synthetic exports (the bundled testdata is made with this): \
CRM, review-site and social exports in the shapes real tools produce, with deliberately bad rows, \
to a folder or an object-store URL. Memory does not grow with --customers.

Planted truth (also in the README.md written beside the exports, with the list of planted advocates):
  - Repeat paid orders follow BG/NBD exactly, time in weeks: standard profile r=0.9 alpha=14 a=1.2 b=4; \
heavy profile r=1.5 alpha=2.5 a=1 b=30.
  - Order values follow Gamma-Gamma in USD: p=6 q=4 v=35 (other currencies at fixed rates per USD).
  - NPS: every answer of the month three fifths into the period scores 1.5 points lower: the lowest \
month of monthly NPS.
  - One customer in 200 is a planted advocate the advocates report flags with its persona \
(educator, status_seeker, validator, collaborator).";

#[derive(Args)]
struct Common {
    /// Config file.
    #[arg(long, default_value = "config/advocacy.yaml")]
    config: PathBuf,
    /// Logical run date (YYYY-MM-DD) for backfills; default today in run.timezone.
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors; no progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Remove another run's warehouse lock first (only when that run is dead).
    #[arg(long)]
    force_unlock: bool,
    /// Models to build: NAME, NAME+ (and what reads it), +NAME (and what it reads), tag:TAG.
    #[arg(long, short = 's', num_args = 1..)]
    select: Vec<String>,
}

/// The commands that load exports.
#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    common: Common,
    /// Load every landing file again, replacing the rows it loaded before
    /// (after a fix to the parser or a manifest moved away). A change to a
    /// source's mapping, the PII salt or mode, or the time zone reloads
    /// that source's files without it.
    #[arg(long)]
    full_refresh: bool,
}

#[derive(Args)]
struct DagArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_enum, default_value_t = GraphArg::Text)]
    format: GraphArg,
}

#[derive(Args)]
struct QueryArgs {
    /// The SELECT to run.
    sql: String,
    #[command(flatten)]
    common: Common,
    #[arg(long, value_enum, default_value_t = TableArg::Table)]
    format: TableArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphArg {
    Text,
    Dot,
    Mermaid,
}

#[derive(Clone, Copy, ValueEnum)]
enum TableArg {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
struct GenerateArgs {
    /// Folder or object-store URL to write the exports into (s3://bucket/landing, ...).
    #[arg(long)]
    out: String,
    #[arg(long, default_value_t = 600)]
    customers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value = "2024-06-01")]
    start: NaiveDate,
    #[arg(long, default_value = "2026-10-31")]
    end: NaiveDate,
    /// How much customers buy and post: standard (~3 orders, ~1.8 social events each)
    /// or heavy (~20 orders, ~10 social events each).
    #[arg(long, value_enum, default_value_t = ProfileArg::Standard)]
    profile: ProfileArg,
    /// Leave out the deliberately bad rows.
    #[arg(long)]
    clean: bool,
    /// Config whose `storage:` options (endpoint, credentials) apply to an --out URL.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Standard,
    Heavy,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(common: &Common) {
    let level = match (common.quiet, common.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    start_logging(format!("advocacy={level}"), common.log_format);
}

/// A server says what it does at info: where it listens, what joins it.
/// Ballista logs through the `log` crate, which tracing-subscriber
/// forwards, so its lines come out in the same format.
fn init_server_logging(log: &ServerLog) {
    let level = match (log.quiet, log.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, _) => "debug",
    };
    let filter = [
        "advocacy",
        "ballista",
        "ballista_core",
        "ballista_scheduler",
        "ballista_executor",
    ]
    .map(|target| format!("{target}={level}"))
    .join(",");
    start_logging(filter, log.log_format);
}

fn start_logging(default_filter: String, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ADVOCACY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// stderr for log lines, with every value taken from the environment
/// masked (`config::redact`): a log field may carry an endpoint or a
/// path built from one. tracing formats each event into one buffer and
/// writes it with one call, so a value is never split across writes.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = advocacy::config::redact(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
}

fn fail(e: RunError) -> i32 {
    eprintln!("error: {}", e.redacted());
    e.exit_code()
}

fn run_step(step: Step, common: Common, full_refresh: bool) -> i32 {
    init_logging(&common);
    let options = RunOptions {
        config: common.config,
        date: common.date,
        show_progress: !common.quiet,
        force_unlock: common.force_unlock,
        select: common.select,
        full_refresh,
    };
    match runtime().block_on(run::execute(step, &options)) {
        Ok(record) => {
            if !common.quiet {
                print!("{}", advocacy::config::redact(&record.summary()));
            }
            record.exit_code
        }
        Err(e) => fail(e),
    }
}

fn run_repair_manifest(common: Common) -> i32 {
    init_logging(&common);
    match runtime().block_on(run::repair_manifest(&common.config, common.force_unlock)) {
        Ok(repaired) => {
            print!("{}", repaired.summary());
            exit::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run_validate(common: Common) -> i32 {
    init_logging(&common);
    match runtime().block_on(inspect::validate(&common.config, common.date)) {
        Ok(v) => {
            for warning in &v.warnings {
                eprintln!("warning: {warning}");
            }
            for error in &v.errors {
                eprintln!("error: {error}");
            }
            if v.errors.is_empty() {
                println!(
                    "ok: config, {} model(s) and {} chart(s) are valid",
                    v.models_checked, v.charts_checked
                );
                exit::SUCCESS
            } else {
                eprintln!("{} error(s)", v.errors.len());
                exit::INVALID
            }
        }
        Err(e) => fail(e),
    }
}

fn run_dag(args: DagArgs) -> i32 {
    init_logging(&args.common);
    let format = match args.format {
        GraphArg::Text => GraphFormat::Text,
        GraphArg::Dot => GraphFormat::Dot,
        GraphArg::Mermaid => GraphFormat::Mermaid,
    };
    match inspect::dag(&args.common.config, format) {
        Ok(text) => {
            print!("{text}");
            exit::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run_tests(common: Common) -> i32 {
    init_logging(&common);
    match runtime().block_on(inspect::test(&common.config, common.date)) {
        Ok((results, warnings)) => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            let failed: Vec<_> = results.iter().filter(|t| !t.passed).collect();
            for t in &failed {
                print!("{}", t.describe());
            }
            println!(
                "{} passed, {} failed",
                results.len() - failed.len(),
                failed.len()
            );
            if failed.iter().any(|t| t.severity == Severity::Error) {
                exit::TESTS_FAILED
            } else {
                exit::SUCCESS
            }
        }
        Err(e) => fail(e),
    }
}

fn run_query(args: QueryArgs) -> i32 {
    init_logging(&args.common);
    let format = match args.format {
        TableArg::Table => OutputFormat::Table,
        TableArg::Csv => OutputFormat::Csv,
        TableArg::Json => OutputFormat::Json,
    };
    match runtime().block_on(inspect::query(&args.common.config, &args.sql, format)) {
        Ok(text) => {
            print!("{text}");
            exit::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn run_generate(args: GenerateArgs) -> i32 {
    let storage = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config.storage,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        },
        None => Default::default(),
    };
    let options = GenerateOptions {
        out: args.out,
        customers: args.customers,
        seed: args.seed,
        start: args.start,
        end: args.end,
        bad_rows: !args.clean,
        profile: match args.profile {
            ProfileArg::Standard => Profile::Standard,
            ProfileArg::Heavy => Profile::Heavy,
        },
        storage,
    };
    let started = std::time::Instant::now();
    match generate(&options) {
        Ok(summary) => {
            let seconds = started.elapsed().as_secs_f64();
            print!("{}", summary.describe(seconds, &options.out));
            exit::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: {e}");
            exit::INVALID
        }
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", options.out);
            exit::FAILED
        }
    }
}

/// The `storage:` options of `--config`, or none.
fn server_storage(config: Option<&PathBuf>) -> Result<advocacy::storage::StorageOptions, i32> {
    match config {
        None => Ok(Default::default()),
        Some(path) => advocacy::config::load_storage(path).map_err(|e| {
            eprintln!("error: {e}");
            exit::INVALID
        }),
    }
}

fn run_scheduler(args: SchedulerArgs) -> i32 {
    init_server_logging(&args.log);
    let storage = match server_storage(args.config.as_ref()) {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let options = SchedulerOptions {
        external_host: args.external_host,
        storage,
    };
    let served = runtime().block_on(async {
        let mut shutdown = Shutdown::listen();
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|source| ClusterError::Io {
                what: format!("cannot listen on {}", args.bind),
                source,
            })?;
        scheduler::serve(listener, options, async move { shutdown.requested().await }).await
    });
    server_exit(served)
}

fn run_executor(args: ExecutorArgs) -> i32 {
    init_server_logging(&args.log);
    let storage = match server_storage(args.config.as_ref()) {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let invalid = |message: String| {
        eprintln!("error: {message}");
        exit::INVALID
    };
    let scheduler = match advocacy::cluster::parse_address(&args.scheduler) {
        Ok(address) => address,
        Err(e) => return invalid(format!("--scheduler: {e}")),
    };
    let memory_pool_size = match args
        .memory_pool_size
        .as_deref()
        .map(parse_bytes)
        .transpose()
    {
        Ok(size) => size.map(|bytes| bytes as u64),
        Err(e) => return invalid(format!("--memory-pool-size: {e}")),
    };
    let options = ExecutorOptions {
        scheduler,
        bind: args.bind,
        external_host: args.external_host,
        grpc_port: args.grpc_port,
        health_port: args.health_port,
        work_dir: args.work_dir,
        concurrent_tasks: args.concurrent_tasks,
        memory_pool_size,
        storage,
    };
    server_exit(runtime().block_on(executor::serve(options)))
}

fn server_exit(served: Result<(), ClusterError>) -> i32 {
    match served {
        Ok(()) => exit::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", advocacy::config::redact(&e.to_string()));
            exit::FAILED
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run_step(Step::Run, args.common, args.full_refresh),
        Command::Ingest(args) => run_step(Step::Ingest, args.common, args.full_refresh),
        Command::Build(common) => run_step(Step::Build, common, false),
        Command::Validate(common) => run_validate(common),
        Command::Dag(args) => run_dag(args),
        Command::Test(common) => run_tests(common),
        Command::Query(args) => run_query(args),
        Command::RepairManifest(common) => run_repair_manifest(common),
        Command::Generate(args) => run_generate(args),
        Command::Scheduler(args) => run_scheduler(args),
        Command::Executor(args) => run_executor(args),
    };
    ExitCode::from(code as u8)
}
