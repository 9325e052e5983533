//! The commands a scheduler runs (`run`, `ingest`): config, storage,
//! ingest, models and publishing in order, ending with the run record.

use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use crate::config::{Config, ConfigError, redact};
use crate::engine;
use crate::ingest::{self, IngestError, IngestOptions, IngestReport};
use crate::lock::{Lock, LockError, LockInfo};
use crate::pipeline::{self, ModelReport, PipelineError};
use crate::storage::{Location, StorageError};

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
    #[error("interrupted (Ctrl-C); the lock was released and nothing half-written was published")]
    Interrupted,
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(_) | RunError::Pipeline(PipelineError::Invalid(_)) => exit::INVALID,
            RunError::Lock(_) => exit::LOCKED,
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
}

pub struct RunOptions {
    pub config: PathBuf,
    pub date: Option<NaiveDate>,
    pub show_progress: bool,
    /// Remove another run's lock first (that run must be dead).
    pub force_unlock: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
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
    pub models: Vec<ModelReport>,
}

impl RunRecord {
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if !self.ingest.sources.is_empty() {
            out.push_str(&self.ingest.summary_table());
        }
        if !self.models.is_empty() {
            out.push('\n');
            out.push_str(
                &pipeline::BuildReport {
                    models: self.models.clone(),
                }
                .summary_table(),
            );
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
    let run_date = options.date.unwrap_or_else(|| crate::clock::today_in(tz));
    let run_id = new_run_id(started);
    let landing = Location::open(
        &config.resolve_location(config.landing.as_str()),
        &config,
        false,
    )?;
    let warehouse = Location::open(
        &config.resolve_location(config.warehouse.as_str()),
        &config,
        true,
    )?;
    let info = LockInfo {
        run_id: run_id.clone(),
        host: crate::lock::host_name(),
        pid: std::process::id(),
        command: format!("{step:?}").to_lowercase(),
        started_at: started,
    };
    let lock = Lock::acquire(&warehouse, info, config.lock_ttl(), options.force_unlock).await?;
    tracing::info!(run_id = %run_id, run_date = %run_date, command = ?step, "run started");
    let run = Run {
        step,
        config: &config,
        landing: &landing,
        warehouse: &warehouse,
        run_id,
        run_date,
        started,
        show_progress: options.show_progress,
    };
    let result = tokio::select! {
        result = run.steps() => result,
        _ = tokio::signal::ctrl_c() => Err(RunError::Interrupted),
    };
    let released = lock.release().await;
    let record = result?;
    released?;
    Ok(record)
}

struct Run<'a> {
    step: Step,
    config: &'a Config,
    landing: &'a Location,
    warehouse: &'a Location,
    run_id: String,
    run_date: NaiveDate,
    started: chrono::DateTime<Utc>,
    show_progress: bool,
}

impl Run<'_> {
    async fn steps(&self) -> Result<RunRecord, RunError> {
        let config = self.config;
        let ingest_options = IngestOptions {
            run_id: self.run_id.clone(),
            run_date: self.run_date,
            loaded_at: self.started,
            show_progress: self.show_progress,
        };
        let ingest_report =
            ingest::ingest(config, self.landing, self.warehouse, &ingest_options).await?;
        let mut models = Vec::new();
        if self.step == Step::Run {
            let ctx = engine::session(config)?;
            engine::register_raw_tables(&ctx, self.warehouse, config.run.pii)?;
            models = pipeline::build(&ctx, config, self.warehouse, self.run_date)
                .await?
                .models;
        }
        let failed = ingest_report.failed()
            || models
                .iter()
                .any(|m| !matches!(m.status, pipeline::ModelStatus::Success));
        let exit_code = if failed { exit::FAILED } else { exit::SUCCESS };
        let finished = Utc::now();
        let record = RunRecord {
            run_id: self.run_id.clone(),
            command: self.step,
            config_hash: config.hash.clone(),
            run_date: self.run_date,
            started_at: self.started.to_rfc3339(),
            finished_at: finished.to_rfc3339(),
            seconds: (finished - self.started).num_milliseconds() as f64 / 1000.0,
            status: if failed {
                "failed".into()
            } else {
                "succeeded".into()
            },
            exit_code,
            ingest: ingest_report,
            models,
        };
        write_record(self.warehouse, &record).await?;
        tracing::info!(run_id = %record.run_id, status = %record.status, "run finished");
        Ok(record)
    }
}

/// `_runs/<run_id>.json`, then `_runs/latest.json`: written last, so a
/// record exists only for a run that got to the end.
async fn write_record(warehouse: &Location, record: &RunRecord) -> Result<(), StorageError> {
    let json = redact(&serde_json::to_string_pretty(record).expect("record serialises"));
    let own = warehouse.path(&format!("_runs/{}.json", record.run_id));
    warehouse.put(&own, json.clone().into_bytes()).await?;
    warehouse
        .put(&warehouse.path("_runs/latest.json"), json.into_bytes())
        .await
}
