//! How a report is written: its rows in a deterministic order, as one
//! sorted stream, and its columns in types every BI tool reads.

use std::sync::Arc;

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Column;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// A published report's rows are written in a deterministic order, so
/// that re-running a date on the same inputs gives identical tables: the
/// model's own ORDER BY, else the key its tests declare, else all its
/// (sortable) columns. Intermediate models are not sorted: only reports
/// are read by people and BI tools, and sorting every intermediate result
/// by every column was the largest cost of a run at a million customers.
pub fn deterministic_order(
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
pub fn bi_schema(schema: &Schema) -> SchemaRef {
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
/// stream by splitting it round-robin into `target_partitions`
/// partitions, each sorted, which the single writer then reads interleaved
/// in whatever order they finish (a report's first two batches came out swapped under memory
/// pressure). A value that does not fit (an unsigned above i64::MAX) fails
/// the model rather than being published wrong.
pub fn to_bi_types(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
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
pub fn single_sorted_stream(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
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
    use datafusion::prelude::SessionContext;

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
