//! Running models: each is planned, executed as a stream and materialised
//! once to `_state/models/<name>.parquet`, which its consumers then read;
//! or, when its fingerprint equals its last result's (see `fingerprint`),
//! that result is reused without executing anything. Independent models
//! run concurrently, bounded by the number of cores, the longest remaining
//! chain of work first (see `schedule`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use tokio::task::JoinSet;

use super::contract::{Contract, broken, declared_version};
use super::diagnostics::describe;
use super::fingerprint::{self, Fingerprints, ModelFacts, RawTables};
use super::incremental::{self, IncrementalSpec, Touched};
use super::models::Model;
use super::report_output::{bi_schema, deterministic_order, single_sorted_stream, to_bi_types};
use super::schedule::{self, Queue};
use super::spec::Joins;
use super::stamp::{self, Stamp};
use super::{DaysComputed, ModelReport, ModelStatus, Project, Reused, sql_options};
use crate::storage::Location;
use crate::storage::parquet_file::{
    ParquetFile, intermediate_writer_properties, writer_properties,
};

/// Where a production build materialises its models.
pub const STATE_MODELS: &str = "_state/models";

/// A model's object in a folder of materialised models.
pub fn model_object(dir: &str, name: &str) -> String {
    format!("{dir}/{name}.parquet")
}

pub fn materialised_path(name: &str) -> String {
    model_object(STATE_MODELS, name)
}

/// Registers a model's last materialised result (or, failing that, the
/// report it publishes as) as a table; `false` when it has never been
/// built.
pub async fn register_materialised(
    ctx: &SessionContext,
    warehouse: &Location,
    model: &Model,
) -> Result<bool, DataFusionError> {
    Ok(register_last_result(ctx, warehouse, model).await?.is_some())
}

/// Like [`register_materialised`], returning the registered result's
/// fingerprint (`Some(None)` when it has none, as a published report's
/// copy is not trusted to be the materialised result's).
async fn register_last_result(
    ctx: &SessionContext,
    warehouse: &Location,
    model: &Model,
) -> Result<Option<Option<String>>, DataFusionError> {
    let name = model.name.as_str();
    if model.incremental.is_some() {
        let Some(state) = incremental::load_state(warehouse, STATE_MODELS, name).await? else {
            return Ok(None);
        };
        incremental::register(ctx, warehouse, &state, name, None).await?;
        return Ok(Some(state.fingerprint));
    }
    let materialised = materialised_path(name);
    let footer = stamp::read_footer(warehouse, &materialised)
        .await
        .map_err(DataFusionError::Execution)?;
    if let Some(footer) = footer {
        register_object(ctx, warehouse, name, &materialised).await?;
        return Ok(Some(fingerprint::of_footer(&footer)));
    }
    let report = crate::storage::report_object(&model.report);
    let published = model.publish
        && warehouse
            .exists(&warehouse.path(&report))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
    if published {
        register_object(ctx, warehouse, name, &report).await?;
        return Ok(Some(None));
    }
    Ok(None)
}

/// Registers `relative` (a Parquet object) as table `name`.
async fn register_object(
    ctx: &SessionContext,
    warehouse: &Location,
    name: &str,
    relative: &str,
) -> Result<(), DataFusionError> {
    let url = format!("{}{relative}", warehouse.url);
    ctx.deregister_table(name)?;
    ctx.register_parquet(name, url, ParquetReadOptions::default())
        .await?;
    Ok(())
}

/// Registers every model's last materialised result (or published
/// report), for ad-hoc queries and data tests outside a build. Returns the
/// models that have never been built.
pub async fn register_models(
    ctx: &SessionContext,
    warehouse: &Location,
    project: &Project,
) -> Result<Vec<String>, DataFusionError> {
    let mut missing = Vec::new();
    for name in &project.order {
        if !register_materialised(ctx, warehouse, project.model(name)).await? {
            missing.push(name.clone());
        }
    }
    Ok(missing)
}

/// Why a model did not build.
enum Failure {
    /// The memory pool ran out: worth another try with the whole pool.
    OutOfMemory(String),
    Other(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::OutOfMemory(m) | Failure::Other(m) => m,
        }
    }
}

/// A model task's outcome: name, what it built or why not, seconds.
type Finished = (String, Result<Built, Failure>, f64);

/// What building a model wrote, or which earlier result it reused.
#[derive(Default)]
struct Built {
    rows: u64,
    bytes: u64,
    /// Bytes its operators spilled to disk under the memory limit.
    spilled_bytes: u64,
    schema: Option<SchemaRef>,
    fingerprint: Option<String>,
    reused: Option<Reused>,
    /// The days it changed, for the incremental models that read it.
    touched: Touched,
}

struct Job {
    ctx: SessionContext,
    model: Model,
    params: HashMap<String, ScalarValue>,
    warehouse: Location,
    known_tables: Vec<String>,
    /// The run, written into every materialised file's metadata.
    stamp: Stamp,
    /// The key models.yml declares (its unique tests), for the row order
    /// of a published report without an ORDER BY.
    key: Option<Vec<String>>,
    /// Where it is materialised ([`STATE_MODELS`], or a dev build's).
    models_dir: String,
    /// Its report's contract, and the version models.yml declares.
    contract: Option<(Contract, u32)>,
    /// The fingerprints of the tables it reads.
    inputs: Fingerprints,
    /// The folder whose result of this model is reused when its
    /// fingerprint matches; `None` to compute it whatever.
    reuse_from: Option<String>,
    /// The raw tables as the run found them.
    raw: Arc<RawTables>,
    /// What this run changed of the models it reads.
    upstream: BTreeMap<String, Touched>,
    run_date: chrono::NaiveDate,
}

/// Where a build materialises its models, the contracts its reports are
/// held to, and which earlier results it may reuse.
pub struct Destination<'a> {
    /// [`STATE_MODELS`], or a dev build's folder.
    pub models_dir: &'a str,
    pub contracts: &'a BTreeMap<String, Contract>,
    /// The folder of earlier results a model may reuse when its fingerprint
    /// matches ([`STATE_MODELS`]); `None` under `--full-refresh`.
    pub reuse_from: Option<&'a str>,
    /// Models computed whatever their fingerprint (a dev build's own).
    pub always_build: &'a BTreeSet<String>,
}

/// What the models of a run are computed from, beside their SQL.
pub struct RunInputs<'a> {
    pub params: &'a HashMap<String, ScalarValue>,
    /// The run, stamped on every result it computes.
    pub stamp: &'a Stamp,
    /// The raw tables as the run found them.
    pub raw: &'a RawTables,
    pub run_date: chrono::NaiveDate,
}

/// Builds the selected models into `to.models_dir`; the unselected ones
/// they read are production's last results. Each model report carries
/// its result's fingerprint.
pub async fn execute(
    ctx: &SessionContext,
    project: &Project,
    selected: &BTreeSet<String>,
    warehouse: &Location,
    run: &RunInputs<'_>,
    to: &Destination<'_>,
) -> Vec<ModelReport> {
    let mut reports: BTreeMap<String, ModelReport> = BTreeMap::new();
    let mut missing_upstream: BTreeMap<String, String> = BTreeMap::new();
    let mut fingerprints = fingerprint::of_raw_tables(run.raw);
    let raw = Arc::new(run.raw.clone());
    // What each model built this run changed; a model not built this run
    // (read from an earlier one) changed nothing.
    let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
    for name in &project.order {
        if selected.contains(name) {
            continue;
        }
        let needed = selected.iter().any(|s| project.deps[s].contains(name));
        if needed {
            match register_last_result(ctx, warehouse, project.model(name)).await {
                Ok(Some(fingerprint)) => {
                    fingerprints.insert(name.clone(), fingerprint);
                }
                Ok(None) => {
                    missing_upstream.insert(
                        name.clone(),
                        format!("upstream model {name} is not selected and has never been built; select it too (+model)"),
                    );
                }
                Err(e) => {
                    missing_upstream.insert(name.clone(), format!("cannot read {name}: {e}"));
                }
            }
        }
    }

    let limit = std::thread::available_parallelism().map_or(2, |n| n.get());
    let in_order: Vec<&String> = project
        .order
        .iter()
        .filter(|n| selected.contains(*n))
        .collect();
    let seconds = schedule::previous_seconds(warehouse).await;
    let mut queue = Queue::new(
        schedule::by_priority(&in_order, &project.deps, &seconds),
        limit,
    );
    let upstream = |name: &str| -> Vec<&String> {
        project.deps[name]
            .iter()
            .filter(|t| selected.contains(*t))
            .collect()
    };
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut task_names: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        // Start every model the queue lets start.
        while let Some(name) = queue.take_ready(upstream) {
            let model = project.model(name);
            let blocked = upstream(name)
                .iter()
                .find(|u| !matches!(reports[**u].status, ModelStatus::Success))
                .map(|u| format!("upstream model {u} did not build"))
                .or_else(|| {
                    project.deps[name]
                        .iter()
                        .find_map(|t| missing_upstream.get(t).cloned())
                });
            if let Some(reason) = blocked {
                reports.insert(name.clone(), skipped(model, reason));
                continue;
            }
            queue.started(name);
            let sort_merge = project
                .spec
                .model(name)
                .is_some_and(|spec| spec.joins == Joins::SortMerge);
            let job = Job {
                ctx: match sort_merge {
                    true => with_sort_merge_joins(ctx),
                    false => ctx.clone(),
                },
                model: model.clone(),
                params: run.params.clone(),
                warehouse: warehouse.clone(),
                known_tables: project.known_tables(),
                stamp: run.stamp.clone(),
                key: project.spec.model(name).and_then(|spec| spec.key()),
                models_dir: to.models_dir.to_string(),
                contract: to
                    .contracts
                    .get(&model.report)
                    .filter(|_| model.publish)
                    .map(|c| (c.clone(), declared_version(&project.spec, name))),
                inputs: inputs_of(project, name, &fingerprints),
                reuse_from: to
                    .reuse_from
                    .filter(|_| !to.always_build.contains(name))
                    .map(str::to_string),
                raw: raw.clone(),
                upstream: project.deps[name]
                    .iter()
                    .filter_map(|t| Some((t.clone(), days_for(project, name, t, touched.get(t)?))))
                    .collect(),
                run_date: run.run_date,
            };
            let handle = running.spawn(async move {
                let started = Instant::now();
                let result = run_model(&job).await;
                (job.model.name, result, started.elapsed().as_secs_f64())
            });
            task_names.insert(handle.id(), name.clone());
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        // A panic inside a model (DataFusion or a function) fails that
        // model only; the run goes on and still releases its lock.
        let (name, result, seconds) = match done {
            Ok(finished) => finished,
            Err(e) => {
                let name = task_names.get(&e.id()).cloned().unwrap_or_default();
                let failure = Failure::Other(format!("the model's task failed: {e}"));
                (name, Err(failure), 0.0)
            }
        };
        let name_ref = project
            .order
            .iter()
            .find(|n| **n == name)
            .expect("in order");
        let out_of_memory = matches!(result, Err(Failure::OutOfMemory(_)));
        if queue.finished(name_ref, out_of_memory) {
            if let Err(Failure::OutOfMemory(message)) = &result {
                tracing::warn!(model = %name, "{message}; trying again once the models running beside it are done");
            }
            continue;
        }
        let changed = match &result {
            Ok(built) => built.touched.clone(),
            Err(_) => Touched::All,
        };
        let report = finished(
            project.model(&name),
            result.map_err(Failure::message),
            seconds,
        );
        fingerprints.insert(name.clone(), report.fingerprint.clone());
        touched.insert(name.clone(), changed);
        reports.insert(name, report);
    }
    project
        .order
        .iter()
        .filter_map(|name| reports.remove(name))
        .collect()
}

/// A session like `ctx` (the same tables, memory pool and functions) that
/// plans sort-merge joins instead of hash joins (models.yml `joins:`).
fn with_sort_merge_joins(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state.config_mut().options_mut().optimizer.prefer_hash_join = false;
    SessionContext::new_with_state(state)
}

/// The fingerprints of the stored tables a model reads. A name that is
/// neither a raw table nor a model (a table function) holds no data of
/// its own: its arguments are in the SQL.
fn inputs_of(project: &Project, name: &str, fingerprints: &Fingerprints) -> Fingerprints {
    let known = project.known_tables();
    project.deps[name]
        .iter()
        .filter(|table| known.contains(*table))
        .map(|table| (table.clone(), fingerprints.get(table).cloned().flatten()))
        .collect()
}

fn skipped(model: &Model, reason: String) -> ModelReport {
    tracing::warn!(model = %model.name, "{reason}");
    ModelReport {
        model: model.name.clone(),
        file: model.file.display().to_string(),
        status: ModelStatus::Skipped,
        published: false,
        rows: 0,
        bytes_written: 0,
        seconds: 0.0,
        rows_per_second: 0.0,
        spilled_bytes: 0,
        error: Some(reason),
        schema: None,
        fingerprint: None,
        reused: None,
        days_computed: None,
    }
}

fn finished(model: &Model, result: Result<Built, String>, seconds: f64) -> ModelReport {
    let (status, built, error) = match result {
        Ok(built) => (ModelStatus::Success, built, None),
        Err(e) => {
            tracing::error!(model = %model.name, error = %e, "model failed");
            (ModelStatus::Failed, Built::default(), Some(e))
        }
    };
    let (rows, spilled_bytes, schema) = (built.rows, built.spilled_bytes, built.schema);
    // At default verbosity too (the `advocacy::progress` target): a run
    // under a scheduler says what it has done as it goes.
    let reused = built.reused.is_some();
    tracing::info!(target: "advocacy::progress", model = %model.name, status = ?status, reused, rows, seconds, spilled_bytes, "model done");
    ModelReport {
        model: model.name.clone(),
        file: model.file.display().to_string(),
        status,
        published: false,
        rows,
        bytes_written: built.bytes,
        seconds,
        // A reused result was not written this run.
        rows_per_second: match built.reused {
            Some(_) => 0.0,
            None => crate::timing::per_second(rows, seconds),
        },
        spilled_bytes,
        error,
        schema,
        fingerprint: built.fingerprint,
        days_computed: match (&model.incremental, &built.reused, built.touched) {
            (Some(_), None, Touched::All) => Some(DaysComputed::All("all")),
            (Some(_), None, Touched::Days { days, .. }) => {
                Some(DaysComputed::Days(days.into_iter().collect()))
            }
            (Some(_), None, Touched::Nothing) => Some(DaysComputed::Days(Vec::new())),
            _ => None,
        },
        reused: built.reused,
    }
}

/// Plans, executes and materialises one model.
async fn run_model(job: &Job) -> Result<Built, Failure> {
    let model = &job.model;
    let file = model.file.display().to_string();
    let explain = |e: DataFusionError| explain_error(&file, &model.sql, e, &job.known_tables);
    let relative = model_object(&job.models_dir, &model.name);
    let write_error =
        |e: &dyn std::fmt::Display| Failure::Other(format!("{file}: cannot write {relative}: {e}"));
    let df = job
        .ctx
        .sql_with_options(&model.sql, sql_options())
        .await
        .map_err(explain)?;
    // A model that reads the clock or a random source computes something
    // else each time: it has no fingerprint, and is never reused.
    let facts = match params_read(df.logical_plan(), &job.params).map_err(explain)? {
        Some(params) if !calls_volatile(df.logical_plan()) => Some(ModelFacts {
            model,
            key: job.key.as_deref().filter(|_| model.publish),
            params,
        }),
        _ => None,
    };
    let fingerprint = facts
        .as_ref()
        .and_then(|facts| fingerprint::model(facts, &job.inputs));
    let df = df
        .with_param_values(job.params.clone())
        .and_then(|df| {
            if model.publish {
                deterministic_order(df, job.key.as_deref())
            } else {
                Ok(df)
            }
        })
        .map_err(explain)?;
    let produced = df.schema().as_arrow().clone();
    let schema = if model.publish {
        bi_schema(&produced)
    } else {
        Arc::new(produced)
    };
    if let Some((contract, version)) = &job.contract {
        let breaks = contract.breaks(&schema);
        if !breaks.is_empty() {
            return Err(Failure::Other(broken(model, *version, &breaks)));
        }
    }
    if let Some(spec) = &model.incremental {
        return run_incremental(job, spec, facts, fingerprint, schema)
            .await
            .map_err(explain);
    }
    if let (Some(dir), Some(fingerprint)) = (&job.reuse_from, &fingerprint)
        && let Some(reused) = reuse(job, dir, fingerprint).await.map_err(explain)?
    {
        return Ok(Built {
            schema: Some(schema),
            touched: Touched::Nothing,
            ..reused
        });
    }
    let started = Instant::now();
    let task = Arc::new(df.task_ctx());
    let plan = single_sorted_stream(df.create_physical_plan().await.map_err(explain)?);
    let mut stream = execute_stream(plan.clone(), task).map_err(explain)?;
    let path = job.warehouse.path(&relative);
    let properties = if model.publish {
        writer_properties()
    } else {
        intermediate_writer_properties()
    }
    .into_builder()
    .set_key_value_metadata(Some(key_values(&job.stamp, fingerprint.as_deref())))
    .build();
    let mut out = ParquetFile::create_with(&job.warehouse, path, schema.clone(), properties)
        .map_err(|e| write_error(&e))?;
    while let Some(batch) = stream.next().await {
        let mut batch = batch.map_err(explain)?;
        if model.publish {
            batch = to_bi_types(batch, &schema).map_err(explain)?;
        }
        out.write(&batch).await.map_err(|e| write_error(&e))?;
    }
    out.append_key_values(vec![KeyValue::new(
        fingerprint::SECONDS_KEY.into(),
        format!("{:.3}", started.elapsed().as_secs_f64()),
    )]);
    let (rows, bytes) = out.close().await.map_err(|e| write_error(&e))?;
    crate::kill_point::reached("model-materialised");
    register_object(&job.ctx, &job.warehouse, &model.name, &relative)
        .await
        .map_err(explain)?;
    Ok(Built {
        rows,
        bytes,
        spilled_bytes: spilled_bytes(plan.as_ref()),
        schema: Some(schema),
        fingerprint,
        reused: None,
        touched: Touched::All,
    })
}

/// What model `input` changed, as model `name` takes it: the days an
/// incremental model changed are days of `name` only when both are kept
/// by a day column of the same name (stg_orders and int_daily by
/// order_date). A model kept by another day (customers by signup_date)
/// changed rows that `name` may read for any of its days: every day.
fn days_for(project: &Project, name: &str, input: &str, touched: &Touched) -> Touched {
    let by = |model: &str| project.model(model).incremental.as_ref().map(|i| &i.by);
    match touched {
        Touched::Days { .. } if by(input).is_none() || by(input) != by(name) => Touched::All,
        other => other.clone(),
    }
}

/// An incremental model: its result reused when nothing it reads changed,
/// else the days that changed computed (see `incremental`).
async fn run_incremental(
    job: &Job,
    spec: &IncrementalSpec,
    facts: Option<ModelFacts<'_>>,
    fingerprint: Option<String>,
    schema: SchemaRef,
) -> Result<Built, DataFusionError> {
    let model = &job.model;
    let fail = |message: String| DataFusionError::Plan(message);
    // Its days run to the run date, given as $end_date: a model whose
    // rows of a day read the run date would change every day.
    let definition = match facts {
        Some(facts) if facts.params.contains_key("run_date") => {
            return Err(fail(incremental::reads_run_date(model)));
        }
        Some(facts)
            if let Some(day) = incremental::DAY_PARAMS
                .iter()
                .find(|p| spec.merge.is_some() && facts.params.contains_key(**p)) =>
        {
            return Err(fail(incremental::reads_days(model, day)));
        }
        Some(mut facts) => {
            for range in incremental::DAY_PARAMS {
                facts.params.remove(range);
            }
            fingerprint::model(&facts, &Fingerprints::new())
        }
        None => None,
    };
    let stored = match &job.reuse_from {
        Some(dir) => incremental::load_state(&job.warehouse, dir, &model.name).await?,
        None => None,
    };
    // A merged model's rows are the same whatever the run date, and its
    // readers see them up to it (see `incremental::shown_through`).
    let base = fingerprint;
    let fingerprint = incremental::fingerprint(
        spec,
        base.as_deref(),
        stored.as_ref().and_then(|s| s.latest_day),
        job.run_date,
    );
    if let (Some(dir), Some(fingerprint), Some(state)) = (&job.reuse_from, &fingerprint, stored)
        && state.fingerprint.as_deref() == Some(fingerprint.as_str())
        && state.definition == definition.clone().unwrap_or_default()
    {
        incremental::register(
            &job.ctx,
            &job.warehouse,
            &state,
            &model.name,
            Some(schema.clone()),
        )
        .await?;
        let rows = job.ctx.table(model.name.as_str()).await?.count().await? as u64;
        return Ok(Built {
            rows,
            schema: Some(schema),
            fingerprint: Some(fingerprint.clone()),
            reused: Some(Reused {
                object: incremental::folder(dir, &model.name),
                run_date: Some(state.run_date),
                run_id: Some(state.run_id),
                seconds: Some(state.seconds),
                in_place: *dir == job.models_dir,
            }),
            touched: Touched::Nothing,
            ..Built::default()
        });
    }
    let computation = incremental::Computation {
        ctx: &job.ctx,
        warehouse: &job.warehouse,
        model,
        spec,
        params: &job.params,
        models_dir: &job.models_dir,
        stamp: &job.stamp,
        schema: schema.clone(),
        key: job.key.as_deref(),
        inputs: &job.inputs,
        raw: &job.raw,
        upstream: &job.upstream,
        run_date: job.run_date,
        // A model without a fingerprint never matches its state.
        definition: definition.unwrap_or_else(|| format!("unrepeatable {}", job.stamp.run_id)),
        fingerprint: base,
        full: job.reuse_from.is_none(),
    };
    let written = computation.run().await?;
    Ok(Built {
        rows: written.rows,
        bytes: written.bytes,
        schema: Some(schema),
        fingerprint: written.fingerprint,
        touched: written.touched,
        ..Built::default()
    })
}

/// What a materialised result's footer says: the run that made it and
/// what it was made from.
fn key_values(stamp: &Stamp, fingerprint: Option<&str>) -> Vec<KeyValue> {
    let mut pairs = stamp.key_values();
    if let Some(fingerprint) = fingerprint {
        pairs.push(KeyValue::new(
            fingerprint::KEY.into(),
            fingerprint.to_string(),
        ));
    }
    pairs
}

/// Whether a plan calls a function whose result is not fixed by its
/// arguments (`now()`, `random()`, `uuid()`).
fn calls_volatile(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(call) = e
                    && call.func.signature().volatility != Volatility::Immutable
                {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// The parameters a planned plan reads, with this run's values; `None`
/// when it reads one the run does not have (it fails when it runs).
pub(super) fn params_read(
    plan: &LogicalPlan,
    params: &HashMap<String, ScalarValue>,
) -> Result<Option<BTreeMap<String, ScalarValue>>, DataFusionError> {
    Ok(plan
        .get_parameter_names()?
        .into_iter()
        .map(|placeholder| {
            // DataFusion names a placeholder as written: `$run_date`.
            let name = placeholder.strip_prefix('$').unwrap_or(&placeholder);
            Some((name.to_string(), params.get(name)?.clone()))
        })
        .collect())
}

/// The model's result in `dir` when its fingerprint is `fingerprint`,
/// registered as the model's table; `None` when there is none to reuse.
async fn reuse(job: &Job, dir: &str, fingerprint: &str) -> Result<Option<Built>, DataFusionError> {
    let relative = model_object(dir, &job.model.name);
    let footer = match stamp::read_footer(&job.warehouse, &relative).await {
        Ok(Some(footer)) => footer,
        Ok(None) => return Ok(None),
        Err(e) => {
            // Computing it again is always right; only slower.
            tracing::warn!(model = %job.model.name, error = %e, "cannot read the last result; computing it again");
            return Ok(None);
        }
    };
    if fingerprint::of_footer(&footer).as_deref() != Some(fingerprint) {
        return Ok(None);
    }
    register_object(&job.ctx, &job.warehouse, &job.model.name, &relative).await?;
    let made_by = Stamp::from_footer(&footer);
    Ok(Some(Built {
        rows: u64::try_from(footer.file_metadata().num_rows()).unwrap_or(0),
        fingerprint: Some(fingerprint.to_string()),
        reused: Some(Reused {
            in_place: dir == job.models_dir,
            object: relative,
            run_date: made_by.as_ref().map(|s| s.run_date),
            run_id: made_by.map(|s| s.run_id),
            seconds: fingerprint::seconds_of_footer(&footer),
        }),
        ..Built::default()
    }))
}

/// Bytes every operator of an executed plan spilled to disk.
fn spilled_bytes(plan: &dyn ExecutionPlan) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan
        .children()
        .into_iter()
        .map(|child| spilled_bytes(child.as_ref()))
        .sum::<u64>()
}

/// Points at the file and line, and turns running out of memory into
/// advice naming the operator and the setting that helps.
fn explain_error(file: &str, sql: &str, error: DataFusionError, known: &[String]) -> Failure {
    match error.find_root() {
        // The memory pool refusing an allocation; running out of spill disk
        // is the other kind of exhaustion, and no retry helps it.
        DataFusionError::ResourcesExhausted(detail) if detail.contains("allocate") => {
            Failure::OutOfMemory(out_of_memory(file, detail, Where::Local))
        }
        // A Ballista job's failure reaches the client as text: another
        // try with this process's pool would not help the executors.
        DataFusionError::Execution(message) => match executor_out_of_memory(message) {
            Some(detail) => Failure::Other(out_of_memory(file, detail, Where::Cluster)),
            None => Failure::Other(describe(file, sql, &error, known)),
        },
        _ => Failure::Other(describe(file, sql, &error, known)),
    }
}

/// Where a query ran out of memory, for the advice on which limit to raise.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Where {
    Local,
    Cluster,
}

/// The allocation an executor's memory pool refused, from the text of a
/// failed Ballista job ("... Resources exhausted: Failed to allocate ...").
fn executor_out_of_memory(message: &str) -> Option<&str> {
    let (_, detail) = message.split_once("Resources exhausted: ")?;
    detail.contains("allocate").then_some(detail)
}

fn out_of_memory(file: &str, detail: &str, at: Where) -> String {
    // DataFusion names the consumer: "... additional 7.3 MB for
    // HashJoinInput[1] with ...".
    let consumer = detail
        .split(" for ")
        .nth(1)
        .and_then(|rest| rest.split(['[', ' ']).next())
        .unwrap_or("an operator");
    let limit = match at {
        Where::Local => "run.memory_limit",
        Where::Cluster => "the executors' --memory-pool-size",
    };
    let advice = if consumer.starts_with("HashJoin") {
        format!(
            "a hash join keeps its whole build side in memory and cannot spill: raise \
             {limit}, or let joins spill by planning sort-merge joins \
             (DATAFUSION_OPTIMIZER_PREFER_HASH_JOIN=false)"
        )
    } else {
        format!("raise {limit}")
    };
    format!(
        "{file}: ran out of memory in {consumer} ({}); {advice}",
        detail.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sort_merge_session_plans_sort_merge_joins_on_the_same_tables() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE a AS VALUES (1, 'x'), (2, 'y')")
            .await
            .unwrap();
        ctx.sql("CREATE TABLE b AS VALUES (2, 'z'), (3, 'w')")
            .await
            .unwrap();
        let sql = "SELECT a.column2, b.column2 FROM a JOIN b ON a.column1 = b.column1";
        let plan = |ctx: SessionContext| async move {
            let df = ctx.sql(sql).await.unwrap();
            let physical = df.clone().create_physical_plan().await.unwrap();
            let text = datafusion::physical_plan::displayable(physical.as_ref())
                .indent(false)
                .to_string();
            (text, df.collect().await.unwrap())
        };
        let (hash, hash_rows) = plan(ctx.clone()).await;
        let (sort_merge, sort_merge_rows) = plan(with_sort_merge_joins(&ctx)).await;
        assert!(hash.contains("HashJoinExec"), "{hash}");
        assert!(sort_merge.contains("SortMergeJoin"), "{sort_merge}");
        assert_eq!(hash_rows, sort_merge_rows);
        // The session it came from still plans hash joins.
        assert!(plan(ctx).await.0.contains("HashJoinExec"));
    }

    #[tokio::test]
    async fn the_parameters_read_are_found_by_name_with_their_values() {
        let ctx = SessionContext::new();
        let plan = |sql: &str| {
            let state = ctx.state();
            let sql = sql.to_string();
            async move { state.create_logical_plan(&sql).await.unwrap() }
        };
        let params: HashMap<String, ScalarValue> = [
            ("a".to_string(), ScalarValue::Int64(Some(1))),
            ("b".to_string(), ScalarValue::Utf8(Some("x".into()))),
            ("unread".to_string(), ScalarValue::Int64(Some(3))),
        ]
        .into();
        let read = params_read(
            &plan("SELECT $a AS a WHERE (SELECT $b) = 'x'").await,
            &params,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            read,
            BTreeMap::from([
                ("a".to_string(), ScalarValue::Int64(Some(1))),
                ("b".to_string(), ScalarValue::Utf8(Some("x".into()))),
            ])
        );
        assert_eq!(
            params_read(&plan("SELECT $missing").await, &params).unwrap(),
            None
        );
        assert!(!calls_volatile(&plan("SELECT abs(-1)").await));
        assert!(calls_volatile(
            &plan("SELECT 1 WHERE (SELECT random()) < 2").await
        ));
        assert!(calls_volatile(&plan("SELECT now()").await));
    }

    #[test]
    fn an_executor_out_of_memory_names_the_operator_and_the_executor_limit() {
        let remote = DataFusionError::Execution(
            "Job abc failed: Error in stage 2: Resources exhausted: Failed to allocate \
             additional 7.3 MB for HashJoinInput[1] with 1.0 MB already allocated"
                .into(),
        );
        let Failure::Other(message) = explain_error("m.sql", "SELECT 1", remote, &[]) else {
            panic!("a cluster's failure is not retried with this process's pool");
        };
        assert!(
            message.starts_with("m.sql: ran out of memory in HashJoinInput (Failed to allocate"),
            "{message}"
        );
        assert!(
            message.contains("raise the executors' --memory-pool-size, or let joins spill"),
            "{message}"
        );
        let local = DataFusionError::ResourcesExhausted(
            "Failed to allocate additional 1 MB for ExternalSorter[0]".into(),
        );
        let Failure::OutOfMemory(message) = explain_error("m.sql", "SELECT 1", local, &[]) else {
            panic!("a local pool's refusal is retried");
        };
        assert!(message.ends_with("; raise run.memory_limit"), "{message}");
        assert_eq!(executor_out_of_memory("Job failed: no such table"), None);
    }
}
