//! The command line's shape: every subcommand with exactly the flags it
//! uses, so clap refuses any other (`validate --select x` is an error, not
//! an ignored flag). The binary's only; dispatch is in `main.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use advocacy::generate::Profile;
use advocacy::inspect::OutputFormat;
use advocacy::pipeline::dag::GraphFormat;

#[derive(Parser)]
#[command(
    name = "advocacy",
    version = crate::VERSION,
    about = "Customer-advocacy analytics: CRM, review and social exports in, Parquet report tables out",
    long_about = "advocacy loads CRM exports (customers, orders, NPS surveys, referrals), review-site \
exports and social activity into a Parquet warehouse, runs the SQL models under queries/ with \
Apache DataFusion, and publishes report tables (CLV, NPS trends, referrals, advocates) that BI \
tools read.\n\nExit codes: 0 success, 1 run failed, 2 invalid config/SQL/arguments, \
3 data tests failed, 4 another run holds the lock."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The nightly job: load new exports, build the models, publish the reports.
    Run(RunArgs),
    /// Only load new or changed exports into the raw zone (bad rows go to quarantine).
    Ingest(IngestArgs),
    /// Only build, test and publish the models, from what the raw zone holds.
    Build(BuildArgs),
    /// Check the config and plan every SQL model without reading data; all errors, file:line:col.
    Validate(DatedArgs),
    /// Print the model graph (text, dot, mermaid, or json with each column's lineage) and what a run would do.
    Dag(DagArgs),
    /// Run the data tests of queries/models.yml against the models' last results (--unit: its unit tests).
    Test(TestArgs),
    /// Compare reports: a dev build's with the published ones (--dev NAME), or two run dates' in history/.
    Diff(DiffArgs),
    /// Where a report column comes from: upstream model columns, raw fields, sources and export columns.
    Lineage(LineageArgs),
    /// Run an ad-hoc SELECT over raw tables, models and reports.
    Query(QueryArgs),
    /// Rebuild the ingest manifest (_state/ingest_manifest.parquet) from the raw zone's own objects.
    ///
    /// Each raw and quarantine object names the landing file, content hash and load it came
    /// from. Run it when a run stops because the manifest is missing, unreadable or does not
    /// describe the raw zone: nothing is reloaded twice and nothing is lost. The manifest that
    /// was there is kept beside it; objects of a load a later load of the same file replaced
    /// are removed.
    RepairManifest(RepairArgs),
    /// Write deterministic synthetic exports (the bundled testdata is made with this).
    #[command(long_about = GENERATE_ABOUT)]
    Generate(GenerateArgs),
    /// Print the JSON Schema of the config file, for an editor to complete and check it.
    ConfigSchema,
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `advocacy man > advocacy.1`.
    Man,
    /// Start a Ballista scheduler that knows our SQL functions and object stores (engine: ballista).
    Scheduler(SchedulerArgs),
    /// Start a Ballista executor that runs the scheduler's tasks with our functions and object stores.
    Executor(ExecutorArgs),
}

/// What every command that reads the config takes.
#[derive(Args)]
pub struct Global {
    /// Config file.
    #[arg(long, default_value = "config/advocacy.yaml")]
    pub config: PathBuf,
    /// Log line format on stderr (json: every line either stream carries is JSON).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors; no progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The logical run date.
#[derive(Args)]
pub struct DateArg {
    /// Logical run date (YYYY-MM-DD) for backfills; default today in run.timezone.
    #[arg(long)]
    pub date: Option<NaiveDate>,
}

/// Taking the warehouse lock.
#[derive(Args)]
pub struct LockArg {
    /// Remove another run's warehouse lock first (only when that run is dead).
    #[arg(long)]
    pub force_unlock: bool,
}

/// Which models a build makes.
#[derive(Args)]
pub struct SelectArg {
    /// Models to build: NAME, NAME+ (and what reads it), +NAME (and what it reads), tag:TAG.
    #[arg(long, short = 's', num_args = 1..)]
    pub select: Vec<String>,
}

/// Reloading every landing file.
#[derive(Args)]
pub struct RefreshArg {
    /// Load every landing file again, replacing the rows it loaded before
    /// (after a fix to the parser or a manifest moved away), and (`run`)
    /// compute every model and data test, reusing no earlier result. A
    /// change to a source's mapping, the PII salt or mode, or the time zone
    /// reloads that source's files without it; a model whose SQL,
    /// parameters or inputs changed is computed again without it.
    #[arg(long)]
    pub full_refresh: bool,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub date: DateArg,
    #[command(flatten)]
    pub lock: LockArg,
    #[command(flatten)]
    pub select: SelectArg,
    #[command(flatten)]
    pub refresh: RefreshArg,
}

#[derive(Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub date: DateArg,
    #[command(flatten)]
    pub lock: LockArg,
    #[command(flatten)]
    pub refresh: RefreshArg,
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub date: DateArg,
    #[command(flatten)]
    pub lock: LockArg,
    #[command(flatten)]
    pub select: SelectArg,
    /// Build the selected models and everything downstream into _dev/NAME/ of the warehouse,
    /// reading the other models from production's last results; publishes nothing and takes
    /// no lock. The run date defaults to the published reports'. Compare with `advocacy diff
    /// --dev NAME`.
    #[arg(long, value_name = "NAME", conflicts_with = "force_unlock")]
    pub dev: Option<String>,
    /// Compute every model and run every data test, reusing no earlier result (a model
    /// whose SQL, parameters and inputs are unchanged is otherwise reused).
    #[arg(long)]
    pub full_refresh: bool,
}

/// `validate` and `test`: the config and a run date, nothing to lock.
#[derive(Args)]
pub struct DatedArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub date: DateArg,
}

#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub lock: LockArg,
}

#[derive(Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub date: DateArg,
    /// Run the unit tests of queries/models.yml instead (`unit_tests:`): each model's SQL on
    /// the rows a test gives, compared with the rows it expects; reads no landing or warehouse.
    #[arg(long)]
    pub unit: bool,
    /// Only the tests of these models: NAME, NAME+ (and what reads it), +NAME (and what it
    /// reads), tag:TAG.
    #[arg(long, short = 's', num_args = 1..)]
    pub select: Vec<String>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("against").required(true).args(["dev", "from_date"])))]
pub struct DiffArgs {
    #[command(flatten)]
    pub global: Global,
    /// The dev build (`advocacy build --dev NAME`) whose reports to compare with the published ones.
    #[arg(long, value_name = "NAME")]
    pub dev: Option<String>,
    /// Compare the reports of this run date in history/ ...
    #[arg(long, requires = "to_date", conflicts_with = "dev")]
    pub from_date: Option<NaiveDate>,
    /// ... with this run date's.
    #[arg(long, requires = "from_date", conflicts_with = "dev")]
    pub to_date: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Reports to compare (default: every report).
    pub reports: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Table,
    /// One JSON document (for a CI comment).
    Json,
}

#[derive(Args)]
pub struct LineageArgs {
    #[command(flatten)]
    pub global: Global,
    /// The column, as <report>.<column> (any model's too), e.g. customer_clv.predicted_clv.
    pub column: String,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

#[derive(Args)]
pub struct DagArgs {
    #[command(flatten)]
    pub global: Global,
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

#[derive(Args)]
pub struct QueryArgs {
    /// The SELECT to run.
    pub sql: String,
    #[command(flatten)]
    pub global: Global,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logging of the long-running servers.
#[derive(Args)]
pub struct ServerLog {
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct SchedulerArgs {
    /// Address to serve gRPC and the /healthz and /readyz probes on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// Host name executors and clients reach this scheduler at (default: the bind address).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Config file whose `storage:` options (endpoints, credentials as ${VAR}) open the run's buckets.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub log: ServerLog,
}

#[derive(Args)]
pub struct ExecutorArgs {
    /// The scheduler's HOST:PORT.
    #[arg(long, default_value = "localhost:50050")]
    pub scheduler: String,
    /// Address to serve results to other executors and clients on (Arrow Flight).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// Host name others fetch this executor's results from (default: the bind address; a pod's IP).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Port the scheduler pushes tasks to (default: a free one).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Port of /healthz and /readyz (default: a free one, logged at start).
    #[arg(long)]
    pub health_port: Option<u16>,
    /// Folder for shuffle files and spills (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub concurrent_tasks: usize,
    /// Memory the running tasks share, e.g. 8GiB (default: Ballista's share of the machine's memory).
    #[arg(long)]
    pub memory_pool_size: Option<String>,
    /// Config file whose `storage:` options (endpoints, credentials as ${VAR}) open the run's buckets.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub log: ServerLog,
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
pub struct GenerateArgs {
    /// Folder or object-store URL to write the exports into (s3://bucket/landing, ...).
    #[arg(long)]
    pub out: String,
    #[arg(long, default_value_t = 600)]
    pub customers: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "2024-06-01")]
    pub start: NaiveDate,
    #[arg(long, default_value = "2026-10-31")]
    pub end: NaiveDate,
    /// How much customers buy and post: standard (~3 orders, ~1.8 social events each)
    /// or heavy (~20 orders, ~10 social events each).
    #[arg(long, value_enum, default_value_t = Profile::Standard)]
    pub profile: Profile,
    /// Leave out the deliberately bad rows.
    #[arg(long)]
    pub clean: bool,
    /// Config whose `storage:` options (endpoint, credentials) apply to an --out URL.
    #[arg(long)]
    pub config: Option<PathBuf>,
}
