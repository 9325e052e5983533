//! The library's async commands for a caller without a runtime (the
//! command line): each starts a multi-threaded tokio runtime and runs the
//! command to its end on it.
//!
//! Why in the library: a future is compiled where it is polled, so when
//! main.rs ran `block_on(run::execute(..))` itself, the binary compiled
//! the whole run (every await down to DataFusion's streams) beside the
//! library's own copy. Measured in a release build: the binary alone took
//! 139 s of CPU then and 10 s now, library and binary together 286 s then
//! and 218 s now (bench/README.md, "Build time").

use std::path::Path;

use chrono::NaiveDate;

use crate::ingest::Repaired;
use crate::inspect::{self, Checked, OutputFormat};
use crate::pipeline::data_tests::TestResult;
use crate::pipeline::unit::UnitResult;
use crate::run::{self, RunError, RunOptions, RunRecord, Step};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
}

/// [`run::execute`]: `run`, `ingest` and `build`.
pub fn execute(step: Step, options: &RunOptions) -> Result<RunRecord, RunError> {
    runtime().block_on(run::execute(step, options))
}

/// [`run::repair_manifest`].
pub fn repair_manifest(config: &Path, force_unlock: bool) -> Result<Repaired, RunError> {
    runtime().block_on(run::repair_manifest(config, force_unlock))
}

/// [`inspect::validate`].
pub fn validate(config: &Path, date: Option<NaiveDate>) -> Result<Checked, RunError> {
    runtime().block_on(inspect::validate(config, date))
}

/// [`inspect::test`]: the results and the warnings.
pub fn test(
    config: &Path,
    date: Option<NaiveDate>,
    select: &[String],
) -> Result<(Vec<TestResult>, Vec<String>), RunError> {
    runtime().block_on(inspect::test(config, date, select))
}

/// [`inspect::unit_test`].
pub fn unit_test(
    config: &Path,
    date: Option<NaiveDate>,
    select: &[String],
) -> Result<Vec<UnitResult>, RunError> {
    runtime().block_on(inspect::unit_test(config, date, select))
}

/// [`inspect::dag`].
pub fn dag(config: &Path, format: crate::pipeline::dag::GraphFormat) -> Result<String, RunError> {
    runtime().block_on(inspect::dag(config, format))
}

/// [`inspect::lineage`].
pub fn lineage(config: &Path, target: &str) -> Result<crate::pipeline::lineage::Trace, RunError> {
    runtime().block_on(inspect::lineage(config, target))
}

/// [`crate::diff::diff`].
pub fn diff(
    config: &Path,
    against: &crate::diff::Against,
    reports: &[String],
) -> Result<crate::diff::Diff, RunError> {
    runtime().block_on(crate::diff::diff(config, against, reports))
}

/// [`inspect::query`], formatted.
pub fn query(config: &Path, sql: &str, format: OutputFormat) -> Result<String, RunError> {
    runtime().block_on(inspect::query(config, sql, format))
}

/// `advocacy scheduler`: listens on `bind` and serves until SIGTERM or
/// Ctrl-C.
#[cfg(feature = "ballista")]
pub fn serve_scheduler(
    bind: std::net::SocketAddr,
    options: crate::cluster::scheduler::SchedulerOptions,
) -> Result<(), crate::cluster::ClusterError> {
    runtime().block_on(async {
        let mut shutdown = crate::shutdown::Shutdown::listen();
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| crate::cluster::ClusterError::Io {
                what: format!("cannot listen on {bind}"),
                source,
            })?;
        let stopped = async move { shutdown.requested().await };
        crate::cluster::scheduler::serve(listener, options, stopped).await
    })
}

/// `advocacy executor`: serves the scheduler's tasks until stopped.
#[cfg(feature = "ballista")]
pub fn serve_executor(
    options: crate::cluster::executor::ExecutorOptions,
) -> Result<(), crate::cluster::ClusterError> {
    runtime().block_on(crate::cluster::executor::serve(options))
}
