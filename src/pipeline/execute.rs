//! Running models: each is planned, executed as a stream and materialised
//! once to `_state/models/<name>.parquet`, which its consumers then read.
//! Independent models run concurrently, bounded by the number of cores,
//! the longest remaining chain of work first (see `schedule`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use tokio::task::JoinSet;

use super::contract::{Contract, broken, declared_version};
use super::diagnostics::describe;
use super::models::Model;
use super::report_output::{bi_schema, deterministic_order, single_sorted_stream, to_bi_types};
use super::schedule::{self, Queue};
use super::stamp::Stamp;
use super::{ModelReport, ModelStatus, Project, sql_options};
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
    let name = model.name.as_str();
    let mut objects = vec![materialised_path(name)];
    if model.publish {
        objects.push(crate::storage::report_object(&model.report));
    }
    for relative in objects {
        let exists = warehouse
            .exists(&warehouse.path(&relative))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        if exists {
            let url = format!("{}{relative}", warehouse.url);
            ctx.deregister_table(name)?;
            ctx.register_parquet(name, url, ParquetReadOptions::default())
                .await?;
            return Ok(true);
        }
    }
    Ok(false)
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

/// What building a model wrote.
#[derive(Default)]
struct Built {
    rows: u64,
    bytes: u64,
    /// Bytes its operators spilled to disk under the memory limit.
    spilled_bytes: u64,
    schema: Option<SchemaRef>,
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
}

/// Where a build materialises its models, and the contracts its reports
/// are held to.
pub struct Destination<'a> {
    /// [`STATE_MODELS`], or a dev build's folder.
    pub models_dir: &'a str,
    pub contracts: &'a BTreeMap<String, Contract>,
}

/// Builds the selected models into `to.models_dir`; the unselected ones
/// they read are production's last results.
pub async fn execute(
    ctx: &SessionContext,
    project: &Project,
    selected: &BTreeSet<String>,
    warehouse: &Location,
    params: &HashMap<String, ScalarValue>,
    stamp: &Stamp,
    to: &Destination<'_>,
) -> Vec<ModelReport> {
    let mut reports: BTreeMap<String, ModelReport> = BTreeMap::new();
    let mut missing_upstream: BTreeMap<String, String> = BTreeMap::new();
    for name in &project.order {
        if selected.contains(name) {
            continue;
        }
        let needed = selected.iter().any(|s| project.deps[s].contains(name));
        if needed {
            match register_materialised(ctx, warehouse, project.model(name)).await {
                Ok(true) => {}
                Ok(false) => {
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
            let job = Job {
                ctx: ctx.clone(),
                model: model.clone(),
                params: params.clone(),
                warehouse: warehouse.clone(),
                known_tables: project.known_tables(),
                stamp: stamp.clone(),
                key: project.spec.model(name).and_then(|spec| spec.key()),
                models_dir: to.models_dir.to_string(),
                contract: to
                    .contracts
                    .get(&model.report)
                    .filter(|_| model.publish)
                    .map(|c| (c.clone(), declared_version(&project.spec, name))),
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
        let report = finished(
            project.model(&name),
            result.map_err(Failure::message),
            seconds,
        );
        reports.insert(name, report);
    }
    project
        .order
        .iter()
        .filter_map(|name| reports.remove(name))
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
    tracing::info!(target: "advocacy::progress", model = %model.name, status = ?status, rows, seconds, spilled_bytes, "model done");
    ModelReport {
        model: model.name.clone(),
        file: model.file.display().to_string(),
        status,
        published: false,
        rows,
        bytes_written: built.bytes,
        seconds,
        rows_per_second: crate::timing::per_second(rows, seconds),
        spilled_bytes,
        error,
        schema,
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
        .and_then(|df| df.with_param_values(job.params.clone()))
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
    .set_key_value_metadata(Some(job.stamp.key_values()))
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
    let (rows, bytes) = out.close().await.map_err(|e| write_error(&e))?;
    crate::kill_point::reached("model-materialised");
    let url = format!("{}{relative}", job.warehouse.url);
    job.ctx
        .deregister_table(model.name.as_str())
        .map_err(explain)?;
    job.ctx
        .register_parquet(model.name.as_str(), url, ParquetReadOptions::default())
        .await
        .map_err(explain)?;
    Ok(Built {
        rows,
        bytes,
        spilled_bytes: spilled_bytes(plan.as_ref()),
        schema: Some(schema),
    })
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
