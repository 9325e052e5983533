//! Running models: each is planned, executed as a stream and materialised
//! once to `_state/models/<name>.parquet`, which its consumers then read.
//! Independent models run concurrently, bounded by the number of cores,
//! the longest remaining chain of work first (see `schedule`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, execute_stream};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use tokio::task::JoinSet;

use super::diagnostics::describe;
use super::models::Model;
use super::schedule;
use super::{ModelReport, ModelStatus, Project, sql_options};
use crate::storage::Location;
use crate::storage::parquet_file::{
    ParquetFile, intermediate_writer_properties, writer_properties,
};

pub fn materialised_path(name: &str) -> String {
    format!("_state/models/{name}.parquet")
}

/// Registers a model's last materialised result (or, failing that, its
/// published report) as a table; `false` when it has never been built.
pub async fn register_materialised(
    ctx: &SessionContext,
    warehouse: &Location,
    name: &str,
) -> Result<bool, DataFusionError> {
    for relative in [
        materialised_path(name),
        format!("reports/{name}/{name}.parquet"),
    ] {
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
    models: &[String],
) -> Result<Vec<String>, DataFusionError> {
    let mut missing = Vec::new();
    for name in models {
        if !register_materialised(ctx, warehouse, name).await? {
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
}

struct Job {
    ctx: SessionContext,
    model: Model,
    params: HashMap<String, ScalarValue>,
    warehouse: Location,
    known_tables: Vec<String>,
    /// The key models.yml declares (its unique tests), for the row order
    /// of a published report without an ORDER BY.
    key: Option<Vec<String>>,
}

pub async fn execute(
    ctx: &SessionContext,
    project: &Project,
    selected: &BTreeSet<String>,
    warehouse: &Location,
    params: &HashMap<String, ScalarValue>,
) -> Vec<ModelReport> {
    let mut reports: BTreeMap<String, ModelReport> = BTreeMap::new();
    let mut missing_upstream: BTreeMap<String, String> = BTreeMap::new();
    for name in &project.order {
        if selected.contains(name) {
            continue;
        }
        let needed = selected.iter().any(|s| project.deps[s].contains(name));
        if needed {
            match register_materialised(ctx, warehouse, name).await {
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
    let mut pending = schedule::by_priority(&in_order, &project.deps, &seconds);
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut in_flight: BTreeSet<String> = BTreeSet::new();
    let mut task_names: HashMap<tokio::task::Id, String> = HashMap::new();
    // Models that ran out of memory while another model ran beside them get
    // one more try alone, with the whole pool: running models concurrently
    // must never make a run fail that would fit one model at a time. While
    // such a model waits, nothing new starts; once it runs, nothing joins it.
    let mut overlapped: BTreeSet<String> = BTreeSet::new();
    let mut retry_alone: BTreeSet<String> = BTreeSet::new();
    loop {
        // Start every pending model whose selected upstream models are done.
        let retry_waiting = pending.iter().any(|n| retry_alone.contains(*n));
        let retry_running = in_flight.iter().any(|n| retry_alone.contains(n));
        let mut index = 0;
        while index < pending.len() && running.len() < limit && !retry_running {
            let name = pending[index];
            let is_retry = retry_alone.contains(name);
            if (retry_waiting && !is_retry) || (is_retry && !running.is_empty()) {
                index += 1;
                continue;
            }
            let upstream: Vec<&String> = project.deps[name]
                .iter()
                .filter(|t| selected.contains(*t))
                .collect();
            if upstream
                .iter()
                .any(|u| in_flight.contains(*u) || pending.contains(u))
            {
                index += 1;
                continue;
            }
            pending.remove(index);
            let model = project.model(name);
            let blocked = upstream
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
            in_flight.insert(name.clone());
            let job = Job {
                ctx: ctx.clone(),
                model: model.clone(),
                params: params.clone(),
                warehouse: warehouse.clone(),
                known_tables: project.known_tables(),
                key: project.spec.model(name).and_then(|spec| spec.key()),
            };
            let handle = running.spawn(async move {
                let started = Instant::now();
                let result = run_model(&job).await;
                (job.model.name, result, started.elapsed().as_secs_f64())
            });
            task_names.insert(handle.id(), name.clone());
            if is_retry {
                // Nothing joins a model retried alone.
                break;
            }
            if in_flight.len() > 1 {
                overlapped.extend(in_flight.iter().cloned());
            }
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
        in_flight.remove(&name);
        if let Err(Failure::OutOfMemory(message)) = &result
            && overlapped.contains(&name)
            && !retry_alone.contains(&name)
        {
            tracing::warn!(model = %name, "{message}; trying again once the models running beside it are done");
            retry_alone.insert(name.clone());
            pending.insert(
                0,
                project
                    .order
                    .iter()
                    .find(|n| **n == name)
                    .expect("in order"),
            );
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
    let (rows, spilled_bytes) = (built.rows, built.spilled_bytes);
    tracing::info!(model = %model.name, status = ?status, rows, seconds, spilled_bytes, "model done");
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
    }
}

/// Plans, executes and materialises one model.
async fn run_model(job: &Job) -> Result<Built, Failure> {
    let model = &job.model;
    let file = model.file.display().to_string();
    let explain = |e: DataFusionError| explain_error(&file, &model.sql, e, &job.known_tables);
    let write_error = |e: &dyn std::fmt::Display| {
        Failure::Other(format!(
            "{file}: cannot write {}: {e}",
            materialised_path(&model.name)
        ))
    };
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
    let task = Arc::new(df.task_ctx());
    let plan = single_sorted_stream(df.create_physical_plan().await.map_err(explain)?);
    let mut stream = execute_stream(plan.clone(), task).map_err(explain)?;
    let relative = materialised_path(&model.name);
    let path = job.warehouse.path(&relative);
    let properties = if model.publish {
        writer_properties()
    } else {
        intermediate_writer_properties()
    };
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

/// A published report's rows are written in a deterministic order, so
/// that re-running a date on the same inputs gives identical tables: the
/// model's own ORDER BY, else the key its tests declare, else all its
/// (sortable) columns. Intermediate models are not sorted: only reports
/// are read by people and BI tools, and sorting every intermediate result
/// by every column was the largest cost of a run at a million customers.
fn deterministic_order(
    df: DataFrame,
    key: Option<&[String]>,
) -> Result<DataFrame, DataFusionError> {
    if has_order(df.logical_plan()) {
        return Ok(df);
    }
    // The declared key first, then every other sortable column: a key test
    // ignores NULLs and may only warn, so equal keys can still be published
    // and need a tie-break. A key naming a missing column (the data tests
    // warn about it) is left out rather than failing the model.
    let sortable: Vec<Column> = df
        .schema()
        .iter()
        .filter(|(_, f)| !f.data_type().is_nested())
        .map(|(qualifier, f)| Column::from((qualifier, f)))
        .collect();
    let mut order: Vec<Column> = key
        .unwrap_or_default()
        .iter()
        .filter_map(|name| sortable.iter().find(|c| &c.name == name).cloned())
        .collect();
    for column in sortable {
        if !order.contains(&column) {
            order.push(column);
        }
    }
    let keys: Vec<SortExpr> = order
        .into_iter()
        .map(|c| Expr::Column(c).sort(true, true))
        .collect();
    if keys.is_empty() {
        Ok(df)
    } else {
        df.sort(keys)
    }
}

/// The type a published column is written as, when BI tools do not read
/// the one the query produced: unsigned integers (NTILE and ROW_NUMBER give
/// UInt64, which Spark reads as decimal(20,0) and several BI connectors
/// refuse) become Int64, and Arrow's view and dictionary encodings, which
/// only Arrow readers know, their plain types. `None`: written as it is.
fn bi_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Some(DataType::Int64)
        }
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        DataType::Float16 => Some(DataType::Float64),
        DataType::Dictionary(_, value) => Some(bi_type(value).unwrap_or(*value.clone())),
        _ => None,
    }
}

/// The schema a report is written with: its columns in types every BI
/// tool reads (see [`bi_type`]).
fn bi_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match bi_type(f.data_type()) {
            Some(target) => f.as_ref().clone().with_data_type(target),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Casts a report batch's columns to `schema` (from [`bi_schema`]). The
/// casts happen here, as the batches are written, and not as a projection
/// in the plan: DataFusion parallelises a projection over a sorted
/// stream by splitting it round-robin into two partitions, each sorted,
/// which the single writer then reads interleaved in whatever order they
/// finish (a report's first two batches came out swapped under memory
/// pressure). A value that does not fit (an unsigned above i64::MAX) fails
/// the model rather than being published wrong.
fn to_bi_types(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
    let same = |(a, b): (&FieldRef, &FieldRef)| a.data_type() == b.data_type();
    if batch
        .schema()
        .fields()
        .iter()
        .zip(schema.fields())
        .all(same)
    {
        return Ok(batch);
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast_with_options(column, field.data_type(), &strict))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A plan whose output is sorted but split over several partitions (each
/// sorted) is merged back into one sorted stream; reading it with
/// `execute_stream` would concatenate the partitions in arrival order.
fn single_sorted_stream(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if plan.output_partitioning().partition_count() <= 1 {
        return plan;
    }
    match plan.output_ordering() {
        Some(ordering) => Arc::new(SortPreservingMergeExec::new(ordering.clone(), plan)),
        None => plan,
    }
}

fn has_order(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Sort(_) => true,
        LogicalPlan::Projection(p) => has_order(&p.input),
        LogicalPlan::Limit(l) => has_order(&l.input),
        LogicalPlan::SubqueryAlias(a) => has_order(&a.input),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, UInt64Array};
    use datafusion::arrow::datatypes::Int64Type;

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

    /// A sorted report with a column to cast, planned on two partitions.
    async fn sorted_report() -> DataFrame {
        use datafusion::prelude::SessionConfig;
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.sql(
            "SELECT x, arrow_cast(x * 2, 'UInt64') AS u \
             FROM generate_series(1, 30000) AS t(x) ORDER BY x DESC",
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_sorted_plan_split_over_partitions_is_merged_back_in_order() {
        // What the casts did when they were a projection in the plan: the
        // projection is parallelised round-robin, two sorted partitions.
        let df = sorted_report().await;
        let cast_in_plan = df
            .clone()
            .select(vec![
                Expr::Column(Column::from_name("x")),
                datafusion::prelude::cast(Expr::Column(Column::from_name("u")), DataType::Int64)
                    .alias("u"),
            ])
            .unwrap();
        let split = cast_in_plan.create_physical_plan().await.unwrap();
        assert_eq!(split.output_partitioning().partition_count(), 2);
        let merged = single_sorted_stream(split);
        assert_eq!(merged.output_partitioning().partition_count(), 1);
        let batches = datafusion::physical_plan::collect(merged, Arc::new(df.task_ctx()))
            .await
            .unwrap();
        let xs: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(xs, (1..=30000).rev().collect::<Vec<i64>>());

        // The plan as it is now run: one sorted stream, cast as written.
        let plan = sorted_report().await.create_physical_plan().await.unwrap();
        assert_eq!(plan.output_partitioning().partition_count(), 1);
    }

    #[tokio::test]
    async fn report_columns_are_cast_for_bi_tools_as_they_are_written() {
        let batches = sorted_report().await.collect().await.unwrap();
        let schema = bi_schema(&batches[0].schema());
        assert_eq!(schema.field(1).data_type(), &DataType::Int64);
        let cast = to_bi_types(batches[0].clone(), &schema).unwrap();
        assert_eq!(cast.column(1).as_primitive::<Int64Type>().value(0), 60000);

        let too_big = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("u", DataType::UInt64, false)])),
            vec![Arc::new(UInt64Array::from(vec![u64::MAX]))],
        )
        .unwrap();
        let error = to_bi_types(too_big.clone(), &bi_schema(&too_big.schema())).unwrap_err();
        assert!(error.to_string().contains("Can't cast value"), "{error}");
    }
}
