//! The commands a scheduler runs (`run`, `ingest`): config, storage,
//! ingest, models and publishing in order, ending with the run record.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use crate::config::RunDateMode;
use crate::config::{Config, ConfigError, redact};
use crate::engine;
use crate::freshness::{self, SourceCheck};
use crate::ingest::{self, IngestError, IngestOptions, IngestReport};
use crate::lock::{Lock, LockError, LockInfo};
use crate::page::stage::{self, PageSource, RunFacts};
use crate::pipeline::data_tests::TestResult;
use crate::pipeline::{self, BuildOptions, ModelReport, PipelineError, Project, contract};
use crate::shutdown::Shutdown;
use crate::storage::{Location, StorageError};
use crate::timing::PhaseTiming;

/// Exit codes of DESIGN.md, in one place.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const INVALID: i32 = 2;
    pub const TESTS_FAILED: i32 = 3;
    pub const LOCKED: i32 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}")]
    Query(String),
    #[error(
        "no model has been built in this warehouse yet, so there is nothing to test: run \
         `advocacy build` (or `advocacy run`) first"
    )]
    NothingBuilt,
    #[error(
        "interrupted (Ctrl-C or SIGTERM); the lock was released and nothing half-written was published"
    )]
    Interrupted,
    #[error(
        "{phase} did not finish within run.phase_timeout ({limit}): is the object store \
         answering? (a longer phase needs a larger run.phase_timeout)"
    )]
    Deadline { phase: &'static str, limit: String },
    #[error("{first}; the run record could not be written either: {lost}")]
    Unrecorded {
        first: String,
        lost: Box<StorageError>,
    },
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(_)
            | RunError::Pipeline(PipelineError::Invalid(_))
            | RunError::Query(_) => exit::INVALID,
            // Only a lock another run holds (or may hold) is exit 4, a
            // lock another run took over mid-run included; a store that
            // cannot be reached is a failed run.
            RunError::Lock(
                LockError::Held(_)
                | LockError::Unreadable(_)
                | LockError::Newer(_)
                | LockError::Lost(_),
            ) => exit::LOCKED,
            _ => exit::FAILED,
        }
    }

    /// The message with every configured secret masked.
    pub fn redacted(&self) -> String {
        redact(&self.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Ingest, then build and publish the models.
    Run,
    /// Only load new exports into the raw zone.
    Ingest,
    /// Only build, test and publish the models, from the raw zone.
    Build,
}

pub struct RunOptions {
    pub config: PathBuf,
    pub date: Option<NaiveDate>,
    pub show_progress: bool,
    /// Remove another run's lock first (that run must be dead).
    pub force_unlock: bool,
    /// `--select` patterns; empty builds every model.
    pub select: Vec<String>,
    /// Load every landing file again (`--full-refresh`).
    pub full_refresh: bool,
    /// `build --dev NAME`: build into `_dev/NAME/` and publish nothing
    /// (see [`pipeline::dev`]).
    pub dev: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// [`crate::state_format::RUN_RECORD_VERSION`].
    pub format_version: u32,
    pub run_id: String,
    pub command: Step,
    pub config_hash: String,
    pub run_date: NaiveDate,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub status: String,
    pub exit_code: i32,
    pub ingest: IngestReport,
    /// What each source owed the run: rows, newest record, age, bounds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceCheck>,
    /// How old the newest data is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age: Option<String>,
    pub models: Vec<ModelReport>,
    pub tests: Vec<TestResult>,
    pub warnings: Vec<String>,
    /// Where the reports went: `reports/` or, for a backfill, `history/`
    /// only (absent when the command published nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication: Option<pipeline::Publication>,
    /// Ingest, models, data tests and publishing: seconds and rows/s.
    pub phases: Vec<PhaseTiming>,
}

impl RunRecord {
    /// As stored: pretty JSON with every configured secret masked.
    fn json(&self) -> String {
        redact(&serde_json::to_string_pretty(self).expect("record serialises"))
    }

    /// The first file, source or model that failed, as the summary says it.
    fn first_failure(&self) -> Option<String> {
        let ingest = self.ingest.sources.iter().find_map(|source| {
            source.error.clone().or_else(|| {
                source.files.iter().find_map(|f| match &f.status {
                    crate::ingest::FileStatus::Failed { error } => Some(error.clone()),
                    _ => None,
                })
            })
        });
        ingest.or_else(|| {
            self.models
                .iter()
                .find_map(|m| m.error.as_ref().map(|e| format!("model {}: {e}", m.model)))
        })
    }

    pub fn summary(&self) -> String {
        let mut out = String::new();
        if !self.ingest.sources.is_empty() {
            out.push_str(&self.ingest.summary_table());
        }
        if !self.sources.is_empty() {
            out.push('\n');
            out.push_str(&freshness::summary_table(&self.sources));
        }
        if let Some(age) = &self.data_age {
            out.push_str(&format!("{age}\n"));
        }
        if !self.models.is_empty() {
            out.push('\n');
            out.push_str(&pipeline::summary_table(&self.models, &self.tests));
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        if let Some(line) = self
            .publication
            .as_ref()
            .and_then(|p| p.describe(self.run_date))
        {
            out.push_str(&format!("{line}\n"));
        }
        if !self.phases.is_empty() {
            out.push('\n');
            out.push_str(&crate::timing::phase_table(&self.phases));
        }
        out.push_str(&format!(
            "\nrun {} {} in {:.1}s (exit {})\n",
            self.run_id, self.status, self.seconds, self.exit_code
        ));
        out
    }
}

fn new_run_id(now: chrono::DateTime<Utc>) -> String {
    let salt = format!(
        "{}-{}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id()
    );
    let suffix = &crate::pii::sha256_hex(salt.as_bytes())[..8];
    format!("{}-{suffix}", now.format("%Y%m%dT%H%M%SZ"))
}

/// Runs a step under the warehouse lock; the lock is released whatever
/// happens, Ctrl-C included.
pub async fn execute(step: Step, options: &RunOptions) -> Result<RunRecord, RunError> {
    let config = Config::load(&options.config)?;
    let started = Utc::now();
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    let today = crate::clock::today_in(tz);
    // `run.date: latest_complete` dates the run by its data, once ingested.
    let mut run_date = match (options.date, config.run.date) {
        (Some(date), _) => RunDate::Given(date),
        (None, RunDateMode::Today) => RunDate::Given(today),
        (None, RunDateMode::LatestComplete) => RunDate::LatestComplete,
    };
    if let Some(name) = &options.dev {
        pipeline::dev::check_name(name)?;
    }
    let run_id = new_run_id(started);
    let landing = Location::open(
        &config.resolve_location(config.landing.as_str()),
        &config.storage,
        false,
    )?;
    let warehouse = open_warehouse(&config)?;
    let info = LockInfo::for_this_process(&run_id, &format!("{step:?}").to_lowercase(), started);
    let project = match step {
        Step::Ingest => None,
        Step::Run | Step::Build => Some(Project::load_valid(&config)?),
    };
    // Read with the models, so the page a run publishes is the report.yml
    // it started with.
    let page = match step {
        Step::Ingest => PageSource::Absent,
        Step::Run | Step::Build => PageSource::load(&config),
    };
    if let Some(project) = &project {
        pipeline::check_select(project, &options.select)?;
    }
    // The published reports' contracts, and the previous versions of
    // reports still published beside a declared new one (a dev build
    // neither checks nor publishes).
    let mut contracts = BTreeMap::new();
    let mut contract_warnings = Vec::new();
    let project = match project {
        Some(project) if options.dev.is_none() => {
            let load = async {
                contract::load(&warehouse, contract::needed(&project))
                    .await
                    .map_err(|e| RunError::Pipeline(PipelineError::Io(e)))
            };
            contracts = within("reading the reports' contracts", &config, load).await?;
            let (previous, warnings) = contract::previous_versions(&project, &contracts, today);
            contract_warnings = warnings;
            Some(project.with_models(previous)?)
        }
        other => other,
    };
    // A dev build is compared with what is published: it takes the run
    // date of the reports in `reports/` unless given one.
    if let (Some(_), None, Some(project)) = (&options.dev, options.date, &project) {
        let newest = async {
            Ok(pipeline::stamp::newest_published(&warehouse, &project.published_reports()).await)
        };
        if let Some(published) = within("reading the published reports", &config, newest).await? {
            run_date = RunDate::Given(published.run_date);
        }
    }
    if config.run.pii != crate::config::Pii::Keep && config.run.pii_salt_public {
        tracing::warn!(
            "the PII salt is public (run.pii_salt_public): anyone who reads the config can \
             reverse the hashes; use it for demo and test data only"
        );
    }
    let run = Run {
        step,
        project: project.as_ref(),
        page: &page,
        select: &options.select,
        config: &config,
        landing: &landing,
        warehouse: &warehouse,
        run_id,
        run_date,
        today,
        started,
        show_progress: options.show_progress,
        full_refresh: options.full_refresh,
        dev: options.dev.as_deref(),
        contracts,
        contract_warnings,
    };
    // A dev build writes under `_dev/NAME/` only and reads production's
    // results as they stand (each object whole): it does not take the
    // warehouse lock, so an analyst's build never keeps the nightly out.
    if options.dev.is_some() {
        return run.steps().await;
    }
    with_lock(&config, &warehouse, info, options.force_unlock, run.steps()).await
}

/// Runs `work` under the warehouse lock: taken (checking the store keeps
/// it exclusive), refreshed by heartbeats while `work` runs, and released
/// whatever happens, Ctrl-C and SIGTERM included.
async fn with_lock<T>(
    config: &Config,
    warehouse: &Location,
    info: LockInfo,
    force: bool,
    work: impl std::future::Future<Output = Result<T, RunError>>,
) -> Result<T, RunError> {
    let mut shutdown = Shutdown::listen();
    let taken = within(
        "taking the lock",
        config,
        take_lock(warehouse, info.clone(), config, force),
    )
    .await;
    let lock = match taken {
        Ok(lock) => lock,
        Err(e) => {
            if let RunError::Deadline { .. } = e {
                // The create may have gone through before the deadline.
                let released = within("releasing the lock", config, async {
                    Ok(crate::lock::release_if_ours(warehouse, &info).await?)
                });
                if let Err(not_released) = released.await {
                    tracing::warn!("{not_released}");
                }
            }
            return Err(e);
        }
    };
    crate::kill_point::reached("lock-taken");
    let result = tokio::select! {
        result = lock.keep_alive(config.lock_ttl(), work) => result.map_err(RunError::from).and_then(|r| r),
        _ = shutdown.requested() => Err(RunError::Interrupted),
    };
    if result.is_ok() {
        crate::kill_point::reached("before-unlock");
    }
    // A failed step may have dropped files mid-upload; their aborts finish
    // before the runtime shuts down, and before the lock goes.
    let aborted = within("aborting unfinished uploads", config, async {
        crate::storage::parquet_file::wait_for_aborts().await;
        Ok(())
    });
    if let Err(e) = aborted.await {
        tracing::warn!("{e}");
    }
    let released = within("releasing the lock", config, async {
        Ok(lock.release().await?)
    })
    .await;
    let output = result?;
    released?;
    Ok(output)
}

/// Runs one phase of a run under `run.phase_timeout`: a store that accepts
/// connections and never answers would otherwise hold a run for as long
/// as its client's timeouts and retries add up to, request after request.
async fn within<T>(
    phase: &'static str,
    config: &Config,
    work: impl std::future::Future<Output = Result<T, RunError>>,
) -> Result<T, RunError> {
    tokio::time::timeout(config.phase_timeout(), work)
        .await
        .unwrap_or_else(|_| {
            Err(RunError::Deadline {
                phase,
                limit: config.run.phase_timeout.clone(),
            })
        })
}

/// Takes the warehouse lock, on a store that keeps it exclusive.
async fn take_lock(
    warehouse: &Location,
    info: LockInfo,
    config: &Config,
    force: bool,
) -> Result<Lock, RunError> {
    let lock = Lock::acquire(warehouse, info, config.lock_ttl(), force).await?;
    match lock.check_conditional_create().await {
        Ok(()) => Ok(lock),
        Err(e @ LockError::NoConditionalCreate) if config.run.allow_unconditional_store => {
            tracing::warn!("{e}; going on: run.allow_unconditional_store is set");
            Ok(lock)
        }
        Err(e) => {
            if let Err(release) = lock.release().await {
                tracing::warn!(error = %release, "cannot release the warehouse lock");
            }
            Err(e.into())
        }
    }
}

fn open_warehouse(config: &Config) -> Result<Location, StorageError> {
    Location::open(
        &config.resolve_location(config.warehouse.as_str()),
        &config.storage,
        true,
    )
}

/// `advocacy repair-manifest`: rebuilds the ingest manifest from the raw
/// zone, under the warehouse lock.
pub async fn repair_manifest(
    config_path: &std::path::Path,
    force_unlock: bool,
) -> Result<ingest::Repaired, RunError> {
    let config = Config::load(config_path)?;
    let started = Utc::now();
    let run_id = new_run_id(started);
    let warehouse = open_warehouse(&config)?;
    let info = LockInfo::for_this_process(&run_id, "repair-manifest", started);
    let repair = within("repairing the manifest", &config, async {
        Ok(ingest::repair_manifest(&warehouse, &run_id).await?)
    });
    with_lock(&config, &warehouse, info, force_unlock, repair).await
}

/// The run date: given (`--date`, or today), or taken from the data.
#[derive(Debug, Clone, Copy)]
enum RunDate {
    Given(NaiveDate),
    LatestComplete,
}

struct Run<'a> {
    step: Step,
    project: Option<&'a Project>,
    page: &'a PageSource,
    select: &'a [String],
    config: &'a Config,
    landing: &'a Location,
    warehouse: &'a Location,
    run_id: String,
    run_date: RunDate,
    today: NaiveDate,
    started: chrono::DateTime<Utc>,
    show_progress: bool,
    full_refresh: bool,
    dev: Option<&'a str>,
    contracts: BTreeMap<String, contract::Contract>,
    contract_warnings: Vec<String>,
}

impl Run<'_> {
    async fn steps(&self) -> Result<RunRecord, RunError> {
        let config = self.config;
        tracing::info!(run_id = %self.run_id, run_date = ?self.run_date, command = ?self.step, "run started");
        // The raw zone's load_date: the run date when it is known before
        // ingest, else the day the files are loaded.
        let load_date = match self.run_date {
            RunDate::Given(date) => date,
            RunDate::LatestComplete => self.today,
        };
        let ingest_options = IngestOptions {
            run_id: self.run_id.clone(),
            run_date: load_date,
            loaded_at: self.started,
            show_progress: self.show_progress,
            full_refresh: self.full_refresh,
        };
        let mut phases = Vec::new();
        let ingest_report = if self.step == Step::Build {
            IngestReport::default()
        } else {
            let started = std::time::Instant::now();
            let ingest = async {
                Ok(ingest::ingest(config, self.landing, self.warehouse, &ingest_options).await?)
            };
            let report = within("ingest", config, ingest).await?;
            let rows = report.sources.iter().map(|s| s.rows_read).sum();
            phases.push(PhaseTiming::since("ingest", started, rows));
            report
        };
        let mut build = pipeline::BuildReport::default();
        let mut run_date = load_date;
        let mut checks = Vec::new();
        let mut data_age = None;
        let mut unmapped = Vec::new();
        if let Some(project) = self.project {
            let ctx = engine::session(config).await?;
            engine::register_raw_tables(&ctx, self.warehouse, config.run.pii)?;
            // Sources are measured as of the given date, or with
            // `latest_complete` as of today, whose newest record dates the run.
            let started = std::time::Instant::now();
            let measured = within("checking the sources", config, async {
                Ok(freshness::measure(&ctx, config, load_date).await)
            })
            .await?;
            checks = match measured {
                Ok(data) => {
                    if let RunDate::LatestComplete = self.run_date {
                        run_date = freshness::latest_complete_date(&data, self.today);
                        tracing::info!(%run_date, "run date taken from the data (run.date: latest_complete)");
                    }
                    freshness::check(config, &data, &ingest_report, run_date)
                }
                // The models will meet the same store; the run goes on to
                // record what failed, publishing nothing built on a source.
                Err(e) => freshness::unchecked(config, &e.strip_backtrace()),
            };
            let rows = checks.iter().map(|c| c.rows).sum();
            phases.push(PhaseTiming::since("sources", started, rows));
            data_age = freshness::data_age(&checks, run_date, self.today);
            unmapped = freshness::unmapped_entities(config, project);
            let mut notices: Vec<String> =
                checks.iter().filter_map(|c| c.message.clone()).collect();
            notices.extend(unmapped.iter().cloned());
            notices.extend(ingest_report.warnings());
            if let Some(age) = &data_age {
                notices.push(format!("The {age}."));
            }
            for check in &checks {
                if let Some(message) = &check.message {
                    tracing::warn!(source = %check.source, "{message}");
                }
            }
            let options = BuildOptions {
                run_date,
                run_id: self.run_id.clone(),
                select: self.select.to_vec(),
                inputs_complete: !ingest_report.failed(),
                source_tests: checks.iter().filter_map(SourceCheck::test_result).collect(),
                held_back: freshness::held_back(&checks),
                contracts: self.contracts.clone(),
                full_refresh: self.full_refresh,
            };
            let models = async {
                if let Some(name) = self.dev {
                    let build =
                        pipeline::dev::build(&ctx, config, self.warehouse, project, &options, name);
                    return Ok(build.await?);
                }
                let mut build =
                    pipeline::build(&ctx, config, self.warehouse, project, &options).await?;
                // The page is the last stage, and only a full build's.
                if options.select.is_empty() {
                    let facts = RunFacts {
                        ingest: &ingest_report,
                        notices: &notices,
                    };
                    stage::publish_page(
                        config,
                        self.warehouse,
                        project,
                        self.page,
                        &mut build,
                        &options,
                        &facts,
                    )
                    .await;
                }
                Ok(build)
            };
            build = within("building and publishing the models", config, models).await?;
            phases.append(&mut build.phases);
        }
        let status = build.status(!ingest_report.failed());
        let exit_code = match status {
            "succeeded" => exit::SUCCESS,
            "tests failed" => exit::TESTS_FAILED,
            _ => exit::FAILED,
        };
        let finished = Utc::now();
        let record = RunRecord {
            format_version: crate::state_format::RUN_RECORD_VERSION,
            run_id: self.run_id.clone(),
            command: self.step,
            config_hash: config.hash.clone(),
            run_date,
            started_at: self.started.to_rfc3339(),
            finished_at: finished.to_rfc3339(),
            seconds: (finished - self.started).num_milliseconds() as f64 / 1000.0,
            status: status.into(),
            exit_code,
            ingest: ingest_report,
            sources: checks,
            data_age,
            models: build.models,
            tests: build.tests,
            warnings: [
                config.warnings(),
                unmapped,
                self.contract_warnings.clone(),
                build.warnings,
            ]
            .concat(),
            publication: build.publication,
            phases,
        };
        let written = within("writing the run record", config, async {
            Ok(match self.dev {
                Some(name) => write_dev_record(self.warehouse, name, &record).await,
                None => write_record(self.warehouse, &record).await,
            })
        })
        .await?;
        if let Err(lost) = written {
            // A store that went away fails the steps first and the record
            // then: the first failure is what the user needs to see.
            return Err(match record.first_failure() {
                Some(first) => RunError::Unrecorded {
                    first,
                    lost: Box::new(lost),
                },
                None => lost.into(),
            });
        }
        tracing::info!(run_id = %record.run_id, status = %record.status, "run finished");
        Ok(record)
    }
}

/// A dev build's record, `_dev/NAME/run.json`: the runs of `_runs/` are
/// production's.
async fn write_dev_record(
    warehouse: &Location,
    name: &str,
    record: &RunRecord,
) -> Result<(), StorageError> {
    let path = warehouse.path(&pipeline::dev::record_object(name));
    warehouse.put(&path, record.json().into_bytes()).await
}

/// `_runs/<run_id>.json`, then `_runs/latest.json`: written last, so a
/// record exists only for a run that got to the end.
async fn write_record(warehouse: &Location, record: &RunRecord) -> Result<(), StorageError> {
    let json = record.json();
    let own = warehouse.path(&crate::storage::run_record_object(&record.run_id));
    warehouse.put(&own, json.clone().into_bytes()).await?;
    crate::kill_point::reached("run-record-written");
    warehouse
        .put(&warehouse.path("_runs/latest.json"), json.into_bytes())
        .await
}
