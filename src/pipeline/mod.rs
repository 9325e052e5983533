//! The SQL pipeline: models discovered under `queries/`, ordered by their
//! dependencies, validated, run concurrently on one DataFusion session,
//! tested, and the reports published.

pub mod contract;
pub mod dag;
pub mod data_tests;
pub mod dev;
pub mod diagnostics;
mod execute;
pub mod fingerprint;
pub mod incremental;
pub mod lineage;
pub mod models;
pub mod publish;
mod report_output;
mod schedule;
pub mod select;
pub mod spec;
pub mod stamp;
pub mod test_results;
pub mod unit;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::Date32Type;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::{Config, VarValue};
use crate::schema::Entity;
use crate::storage::Location;
use crate::timing::PhaseTiming;
use data_tests::TestResult;
use models::Model;
use spec::{ModelsFile, Severity};

pub use execute::{
    STATE_MODELS, materialised_path, model_object, register_materialised, register_models,
};
pub use report_output::bi_schema;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Io(String),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// The models of a project with their documentation, dependencies and
/// build order.
pub struct Project {
    pub models: Vec<Model>,
    pub spec: ModelsFile,
    /// Tables each model reads (models and raw tables alike).
    pub deps: BTreeMap<String, BTreeSet<String>>,
    pub order: Vec<String>,
    /// Problems found while loading (parse errors, refused statements);
    /// the models concerned are left out of `deps` and `order`.
    pub errors: Vec<String>,
}

impl Project {
    pub fn load(config: &Config) -> Result<Project, PipelineError> {
        let queries = config.queries_dir();
        let models = models::discover(&queries)?;
        let spec = ModelsFile::load(&queries.join("models.yml"))
            .map_err(|e| PipelineError::Invalid(vec![e]))?;
        let state = SessionContext::new().state();
        let (deps, mut errors) = dag::dependencies(&state, &models);
        let order = match dag::build_order(&deps) {
            Ok(order) => order,
            Err(cycle) => {
                errors.push(cycle);
                Vec::new()
            }
        };
        let mut models = models;
        for model in models.iter_mut().filter(|m| m.publish) {
            model.report =
                contract::report_name(&model.name, contract::declared_version(&spec, &model.name));
        }
        for model in &mut models {
            model.incremental = spec.model(&model.name).and_then(|m| m.incremental.clone());
        }
        let mut project = Project {
            models,
            spec,
            deps,
            order,
            errors,
        };
        let contract_errors = contract::check_specs(&project);
        project.errors.extend(contract_errors);
        project.errors.extend(incremental::check_specs(&project));
        Ok(project)
    }

    /// Like [`Project::load`], but any problem is an error (exit 2).
    pub fn load_valid(config: &Config) -> Result<Project, PipelineError> {
        let project = Project::load(config)?;
        if project.errors.is_empty() {
            Ok(project)
        } else {
            Err(PipelineError::Invalid(project.errors))
        }
    }

    pub fn model(&self, name: &str) -> &Model {
        self.models
            .iter()
            .find(|m| m.name == name)
            .expect("models in the order exist")
    }

    pub fn published(&self) -> BTreeSet<String> {
        self.models
            .iter()
            .filter(|m| m.publish)
            .map(|m| m.name.clone())
            .collect()
    }

    /// The names the published models are published as (`reports/<name>/`).
    pub fn published_reports(&self) -> BTreeSet<String> {
        self.models
            .iter()
            .filter(|m| m.publish)
            .map(|m| m.report.clone())
            .collect()
    }

    /// Every table a model may read: raw tables and models.
    pub fn known_tables(&self) -> Vec<String> {
        let mut known: Vec<String> = Entity::ALL.iter().map(|e| e.table_name()).collect();
        known.extend(self.models.iter().map(|m| m.name.clone()));
        known
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Success,
    Failed,
    /// Not built because a model it reads failed.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub model: String,
    pub file: String,
    pub status: ModelStatus,
    pub published: bool,
    pub rows: u64,
    pub bytes_written: u64,
    pub seconds: f64,
    /// Rows written per second.
    pub rows_per_second: f64,
    /// Bytes spilled to disk because the model's sorts, aggregations or
    /// joins did not fit in its share of `run.memory_limit`.
    pub spilled_bytes: u64,
    pub error: Option<String>,
    /// The schema it was written with (a report's in BI types): its
    /// contract when it is published.
    #[serde(skip)]
    pub schema: Option<datafusion::arrow::datatypes::SchemaRef>,
    /// What its result was computed from (see [`fingerprint`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Set when an earlier run's result was reused, its fingerprint being
    /// this run's: nothing was computed or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<Reused>,
    /// An incremental model's days computed this run: `"all"`, or the
    /// days (see [`incremental`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_computed: Option<DaysComputed>,
}

/// The days an incremental model computed.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DaysComputed {
    /// `"all"`.
    All(&'static str),
    Days(Vec<NaiveDate>),
}

/// An earlier result a model reused.
#[derive(Debug, Clone, Serialize)]
pub struct Reused {
    /// The Parquet object reused, relative to the warehouse.
    pub object: String,
    /// The run that computed it (absent for a result without a stamp).
    pub run_date: Option<NaiveDate>,
    pub run_id: Option<String>,
    /// The seconds that run took to compute it: what computing it again
    /// would cost (the order of the next runs' models goes by it).
    pub seconds: Option<f64>,
    /// Whether it is where this build materialises its models: a dev
    /// build reading production's result does not test it again.
    #[serde(skip)]
    pub in_place: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub models: Vec<ModelReport>,
    pub tests: Vec<TestResult>,
    pub warnings: Vec<String>,
    /// Set when `_SUCCESS` was written: every model built, every
    /// error-severity test passed, every report published.
    pub success_marker: bool,
    /// Models, data tests and publishing, timed.
    pub phases: Vec<PhaseTiming>,
    /// Where this run's reports went; `None` when nothing was published.
    pub publication: Option<Publication>,
}

/// Where a build published: `reports/` (and `history/`), or, for a
/// backfill, `history/` only.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub target: publish::Target,
    /// The newest run in `reports/` before this one published.
    pub newest_before: Option<stamp::Stamp>,
}

impl Publication {
    pub fn backfill(&self) -> bool {
        self.target == publish::Target::HistoryOnly
    }

    /// The summary's line for a backfill.
    pub fn describe(&self, run_date: NaiveDate) -> Option<String> {
        let newest = self.newest_before.as_ref().filter(|_| self.backfill())?;
        Some(format!(
            "backfill: run date {run_date} is before the newest published run date {} (run {}); \
             reports/, reports/index.html and reports/_SUCCESS are left as they were, and this \
             run's reports and page are under history/<report>/run_date={run_date}/",
            newest.run_date, newest.run_id
        ))
    }
}

impl BuildReport {
    /// The run's status as its record and its page say it: "failed" when
    /// an input or a model failed, else "tests failed" when an
    /// error-severity test did, else "succeeded".
    pub fn status(&self, inputs_complete: bool) -> &'static str {
        if !inputs_complete || self.models_failed() {
            "failed"
        } else if self.tests_failed() {
            "tests failed"
        } else {
            "succeeded"
        }
    }

    pub fn models_failed(&self) -> bool {
        self.models
            .iter()
            .any(|m| !matches!(m.status, ModelStatus::Success))
    }

    pub fn tests_failed(&self) -> bool {
        self.tests
            .iter()
            .any(|t| !t.passed && t.severity == Severity::Error)
    }
}

/// Named parameters every model may use: the defaults in models.yml's
/// `vars`, overridden by the config's `vars`, and from the config's `run`
/// settings `$run_date`, `$timezone` and `$currency`.
pub fn parameters(
    config: &Config,
    spec: &ModelsFile,
    run_date: NaiveDate,
) -> HashMap<String, ScalarValue> {
    let mut params: HashMap<String, ScalarValue> = spec
        .vars
        .iter()
        .chain(&config.vars)
        .map(|(name, value)| (name.clone(), scalar(value)))
        .collect();
    params.insert(
        "run_date".into(),
        ScalarValue::Date32(Some(Date32Type::from_naive_date(run_date))),
    );
    // The days an incremental model computes (see `incremental`): all of
    // them, unless a run asks for fewer.
    params.extend(incremental::day_params(incremental::first_day(), run_date));
    params.insert(
        "timezone".into(),
        ScalarValue::Utf8(Some(config.run.timezone.clone())),
    );
    params.insert(
        "currency".into(),
        ScalarValue::Utf8(Some(config.run.currency.clone())),
    );
    params.insert(
        "brand_handles".into(),
        ScalarValue::Utf8(Some(config.brand_handle_lines())),
    );
    params
}

pub(crate) fn scalar(value: &VarValue) -> ScalarValue {
    match value {
        VarValue::Bool(b) => ScalarValue::Boolean(Some(*b)),
        VarValue::Int(i) => ScalarValue::Int64(Some(*i)),
        VarValue::Float(f) => ScalarValue::Float64(Some(*f)),
        VarValue::Text(t) => ScalarValue::Utf8(Some(t.clone())),
    }
}

pub use crate::engine::sql_options;

pub struct BuildOptions {
    pub run_date: NaiveDate,
    pub run_id: String,
    /// `--select` patterns; empty means every model.
    pub select: Vec<String>,
    /// False when ingest failed: reports still publish from what loaded,
    /// but the run is not marked successful.
    pub inputs_complete: bool,
    /// The sources' checks that warned or failed, reported with the data
    /// tests (see `crate::freshness`).
    pub source_tests: Vec<TestResult>,
    /// Raw tables whose sources failed their checks: no report built on
    /// them is published.
    pub held_back: BTreeSet<String>,
    /// The published reports' contracts (see [`contract`]): a model whose
    /// result breaks its report's fails.
    pub contracts: BTreeMap<String, contract::Contract>,
    /// `--full-refresh`: compute every model and run every data test, even
    /// where an earlier result was computed from the same inputs.
    pub full_refresh: bool,
}

/// Checks `--select` patterns against the project, before a run reads
/// anything: a misspelled model is an error at once, not after the
/// ingest.
pub fn check_select(project: &Project, patterns: &[String]) -> Result<(), PipelineError> {
    if patterns.is_empty() {
        return Ok(());
    }
    select::select(patterns, &project.deps, &project.spec)
        .map(|_| ())
        .map_err(|e| PipelineError::Invalid(vec![e]))
}

/// Builds the selected models in dependency order (independent ones
/// concurrently), runs their data tests, and publishes the reports whose
/// error-severity tests pass. A failed model skips the models that read it.
/// (The report page is the run's next stage, `crate::page::stage`.)
pub async fn build(
    ctx: &SessionContext,
    config: &Config,
    warehouse: &Location,
    project: &Project,
    options: &BuildOptions,
) -> Result<BuildReport, PipelineError> {
    let selected = if options.select.is_empty() {
        project.order.iter().cloned().collect()
    } else {
        select::select(&options.select, &project.deps, &project.spec)
            .map_err(|e| PipelineError::Invalid(vec![e]))?
    };
    let to = execute::Destination {
        models_dir: execute::STATE_MODELS,
        contracts: &options.contracts,
        reuse_from: (!options.full_refresh).then_some(execute::STATE_MODELS),
        always_build: &BTreeSet::new(),
    };
    let mut report = build_and_test(ctx, config, warehouse, project, options, &selected, &to).await;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    crate::kill_point::reached("tests-run");
    let started = Instant::now();
    // A backfill never moves `reports/` backwards: the newest run date
    // published keeps it, and an earlier date writes `history/` only.
    let newest_before = stamp::newest_published(warehouse, &project.published_reports()).await;
    // A published run date after today (a mistyped `--date`) does not
    // count, or it would keep every nightly out of `reports/` until then.
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    let today = crate::clock::today_in(tz);
    let target = match &newest_before {
        Some(newest) if options.run_date < newest.run_date && newest.run_date <= today => {
            publish::Target::HistoryOnly
        }
        _ => publish::Target::Latest,
    };
    publish_reports(warehouse, project, &mut report, options, target)
        .await
        .map_err(PipelineError::Io)?;
    report.publication = Some(Publication {
        target,
        newest_before,
    });
    if let Some(line) = report
        .publication
        .as_ref()
        .and_then(|p| p.describe(options.run_date))
    {
        tracing::warn!("{line}");
    }
    let rows_published = rows_where(&report.models, |m| m.published);
    report
        .phases
        .push(PhaseTiming::since("publish", started, rows_published));
    // `_SUCCESS` means every report of the project is this run's: a
    // `--select` build that published only some of them does not write it.
    let every_report_published = project.models.iter().filter(|m| m.publish).all(|m| {
        report
            .models
            .iter()
            .any(|entry| entry.model == m.name && entry.published)
    });
    // A backfill leaves the marker to the run whose reports are in
    // `reports/`; a run that replaced some of them removed it before the
    // first one (see `publish_reports`).
    if target == publish::Target::Latest
        && options.inputs_complete
        && every_report_published
        && !report.models_failed()
        && !report.tests_failed()
    {
        crate::kill_point::reached("reports-published");
        let stamp = stamp::Stamp {
            run_date: options.run_date,
            run_id: options.run_id.clone(),
        };
        publish::write_success_marker(warehouse, &stamp)
            .await
            .map_err(PipelineError::Io)?;
        report.success_marker = true;
    }
    Ok(report)
}

/// The models and tests phases of a build, production's or a dev build's:
/// builds `selected` into `to` and runs the data tests of those that built.
async fn build_and_test(
    ctx: &SessionContext,
    config: &Config,
    warehouse: &Location,
    project: &Project,
    options: &BuildOptions,
    selected: &BTreeSet<String>,
    to: &execute::Destination<'_>,
) -> BuildReport {
    let params = parameters(config, &project.spec, options.run_date);
    let stamp = stamp::Stamp {
        run_date: options.run_date,
        run_id: options.run_id.clone(),
    };
    let started = Instant::now();
    let raw = fingerprint::raw_tables(warehouse, config.run.pii).await;
    let run = execute::RunInputs {
        params: &params,
        stamp: &stamp,
        raw: &raw,
        run_date: options.run_date,
    };
    let mut report = BuildReport {
        models: execute::execute(ctx, project, selected, warehouse, &run, to).await,
        ..BuildReport::default()
    };
    let rows_built = rows_where(&report.models, |_| true);
    report
        .phases
        .push(PhaseTiming::since("models", started, rows_built));
    // A result reused from elsewhere (a dev build reading production's)
    // is tested where it was made.
    let built: BTreeSet<String> = report
        .models
        .iter()
        .filter(|m| matches!(m.status, ModelStatus::Success))
        .filter(|m| m.reused.as_ref().is_none_or(|r| r.in_place))
        .map(|m| m.model.clone())
        .collect();
    let started = Instant::now();
    let mut fingerprints = fingerprint::of_raw_tables(&raw);
    fingerprints.extend(
        report
            .models
            .iter()
            .map(|m| (m.model.clone(), m.fingerprint.clone())),
    );
    // Only production's results are kept: a dev build's models are new.
    let production = to.models_dir == execute::STATE_MODELS;
    let previous = match production && to.reuse_from.is_some() {
        true => test_results::load(warehouse).await,
        false => test_results::Previous::default(),
    };
    let reuse = data_tests::Reuse {
        fingerprints: &fingerprints,
        previous: &previous,
    };
    let (tests, warnings) = data_tests::run(ctx, project, &built, &params, Some(&reuse)).await;
    if production && let Err(e) = test_results::save(warehouse, &tests, previous, &built).await {
        report.warnings.push(e);
    }
    let rows_tested = rows_where(&report.models, |m| tests.iter().any(|t| t.model == m.model));
    report
        .phases
        .push(PhaseTiming::since("tests", started, rows_tested));
    report.tests = [options.source_tests.clone(), tests].concat();
    report.warnings = warnings;
    report
}

/// Rows of the models that `keep` selects, for a phase's rows per second.
fn rows_where(models: &[ModelReport], keep: impl Fn(&ModelReport) -> bool) -> u64 {
    models.iter().filter(|m| keep(m)).map(|m| m.rows).sum()
}

/// Publishes every built report model whose error-severity tests passed;
/// a report that fails its tests keeps its previous published version.
/// Before the first report in `reports/` is replaced, `_SUCCESS` goes: it
/// names a run whose reports are all there, which is no longer true.
async fn publish_reports(
    warehouse: &Location,
    project: &Project,
    report: &mut BuildReport,
    options: &BuildOptions,
    target: publish::Target,
) -> Result<(), String> {
    let run_date = options.run_date;
    let mut marker_removed = false;
    // A failed error-severity test blocks its model's report and every
    // report built on that model: they were computed from data known bad.
    // So does a source that failed its checks, through its raw table.
    let mut blocked: BTreeSet<String> = report
        .tests
        .iter()
        .filter(|t| !t.passed && t.severity == Severity::Error)
        .map(|t| t.model.clone())
        .chain(options.held_back.iter().cloned())
        .collect();
    for model in blocked.clone() {
        blocked.extend(dag::descendants(&project.deps, &model));
    }
    for entry in &mut report.models {
        let model = project.model(&entry.model);
        if !model.publish || !matches!(entry.status, ModelStatus::Success) {
            continue;
        }
        if blocked.contains(&entry.model) {
            tracing::warn!(model = %entry.model, "data tests or source checks failed; the previous report stays published");
            continue;
        }
        if target == publish::Target::Latest && !marker_removed {
            publish::remove_success_marker(warehouse).await?;
            marker_removed = true;
        }
        match publish::publish_report(warehouse, &entry.model, &model.report, run_date, target)
            .await
        {
            Ok(bytes) => {
                entry.published = true;
                entry.bytes_written += bytes;
                // What is in `reports/` now is the contract dashboards hold
                // the next change to.
                if target == publish::Target::Latest
                    && let Some(schema) = &entry.schema
                {
                    let version = model
                        .previous_version
                        .unwrap_or_else(|| contract::declared_version(&project.spec, &model.name));
                    let recorded = contract::Contract::new(model, version, schema, run_date);
                    // The report is out; what fails here is the check of the
                    // next change against it, which reads the older record.
                    if let Err(e) = contract::record(warehouse, &recorded).await {
                        report.warnings.push(format!(
                            "{}: cannot record the contract of report {}: {e}",
                            contract::object(&model.report),
                            model.report
                        ));
                    }
                }
            }
            Err(e) => {
                tracing::error!(model = %entry.model, error = %e, "publish failed");
                entry.status = ModelStatus::Failed;
                entry.error = Some(e);
            }
        }
    }
    Ok(())
}

/// The end-of-run tables for models and tests.
pub fn summary_table(models: &[ModelReport], tests: &[TestResult]) -> String {
    let mut out = format!(
        "{:<28} {:<8} {:<9} {:>10} {:>12} {:>9} {:>10}\n",
        "model", "status", "published", "rows", "bytes", "seconds", "rows/s"
    );
    for m in models {
        let status = match m.status {
            ModelStatus::Success if m.reused.is_some() => "reused",
            ModelStatus::Success => "ok",
            ModelStatus::Failed => "FAILED",
            ModelStatus::Skipped => "skipped",
        };
        out.push_str(&format!(
            "{:<28} {:<8} {:<9} {:>10} {:>12} {:>9.2} {:>10.0}\n",
            m.model,
            status,
            if m.published { "yes" } else { "-" },
            m.rows,
            m.bytes_written,
            m.seconds,
            m.rows_per_second
        ));
        if let Some(error) = &m.error {
            for line in error.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    if !tests.is_empty() {
        let failed: Vec<&TestResult> = tests.iter().filter(|t| !t.passed).collect();
        let reused = tests.iter().filter(|t| t.reused).count();
        let reused = match reused {
            0 => String::new(),
            n => format!(" ({n} reused: same test, same inputs)"),
        };
        out.push_str(&format!(
            "\ndata tests: {} passed, {} failed{reused}\n",
            tests.len() - failed.len(),
            failed.len()
        ));
        for t in failed {
            out.push_str(&t.describe());
        }
    }
    out
}
