//! What the page's charts query: the published report tables, read back
//! from `reports/`, and this run's row accounting and data tests as the
//! tables `run_sources` and `run_tests`. A chart's result comes back as
//! columns of display text, with numbers beside the text where the
//! column is numeric.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array, as_boolean_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::ingest::IngestReport;
use crate::storage::Location;

/// The run's own tables, and their columns (validated against too).
pub const RUN_TABLES: [&str; 2] = ["run_sources", "run_tests"];

fn run_sources_schema() -> SchemaRef {
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("entity", DataType::Utf8, false),
        count("files"),
        count("files_failed"),
        count("rows_read"),
        count("rows_loaded"),
        count("rows_quarantined"),
        count("rows_skipped"),
        Field::new("error", DataType::Utf8, true),
    ]))
}

fn run_tests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, true),
        Field::new("test", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("passed", DataType::Boolean, false),
        Field::new("failures", DataType::UInt64, false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

fn text(values: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<StringArray>())
}

fn counts(values: impl IntoIterator<Item = u64>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<UInt64Array>())
}

fn run_sources(ingest: &IngestReport) -> Result<RecordBatch, DataFusionError> {
    let s = &ingest.sources;
    let failed_files = |source: &crate::ingest::SourceReport| {
        source
            .files
            .iter()
            .filter(|f| matches!(f.status, crate::ingest::FileStatus::Failed { .. }))
            .count() as u64
    };
    Ok(RecordBatch::try_new(
        run_sources_schema(),
        vec![
            text(s.iter().map(|x| Some(x.source.clone()))),
            text(s.iter().map(|x| Some(x.entity.clone()))),
            counts(s.iter().map(|x| x.files.len() as u64)),
            counts(s.iter().map(failed_files)),
            counts(s.iter().map(|x| x.rows_read)),
            counts(s.iter().map(|x| x.rows_loaded)),
            counts(s.iter().map(|x| x.rows_quarantined)),
            counts(s.iter().map(|x| x.rows_skipped)),
            text(s.iter().map(|x| x.error.clone())),
        ],
    )?)
}

/// One data test's outcome, as `run_tests` holds it (the pipeline fills
/// these in from its own results: the page does not depend on it).
#[derive(Debug, Clone)]
pub struct RunTest {
    pub model: String,
    pub column: Option<String>,
    pub test: String,
    /// "error" or "warn".
    pub severity: String,
    pub passed: bool,
    pub failures: u64,
    pub error: Option<String>,
}

fn run_tests(tests: &[RunTest]) -> Result<RecordBatch, DataFusionError> {
    let severity = |t: &RunTest| t.severity.clone();
    Ok(RecordBatch::try_new(
        run_tests_schema(),
        vec![
            text(tests.iter().map(|t| Some(t.model.clone()))),
            text(tests.iter().map(|t| t.column.clone())),
            text(tests.iter().map(|t| Some(t.test.clone()))),
            text(tests.iter().map(|t| Some(severity(t)))),
            Arc::new(
                tests
                    .iter()
                    .map(|t| Some(t.passed))
                    .collect::<BooleanArray>(),
            ),
            counts(tests.iter().map(|t| t.failures)),
            text(tests.iter().map(|t| t.error.clone())),
        ],
    )?)
}

/// Registers `run_sources` and `run_tests` (empty ones for `validate`).
pub fn register_run_tables(
    ctx: &SessionContext,
    ingest: &IngestReport,
    tests: &[RunTest],
) -> Result<(), DataFusionError> {
    let sources = run_sources(ingest)?;
    let tests = run_tests(tests)?;
    for (name, batch) in RUN_TABLES.iter().zip([sources, tests]) {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(*name, Arc::new(table))?;
    }
    Ok(())
}

/// The column a report's history table adds: the run date of each copy.
pub const HISTORY_RUN_DATE: &str = "run_date";

/// The name a report's dated copies are queried by: every run's version
/// of `customer_clv` is `customer_clv_history`, with its `run_date`.
pub fn history_table(report: &str) -> String {
    format!("{report}_history")
}

/// Registers each report as a table of its name, read from its object
/// (relative to the warehouse: `reports/...`, or a backfill's dated copy).
pub async fn register_reports(
    ctx: &SessionContext,
    warehouse: &Location,
    reports: &[(String, String)],
) -> Result<(), DataFusionError> {
    warehouse.register(ctx);
    for (name, object) in reports {
        let url = format!("{}{object}", warehouse.url);
        ctx.register_parquet(name.as_str(), url, ParquetReadOptions::default())
            .await?;
    }
    Ok(())
}

/// Registers the dated copies of the reports that `sql` reads as
/// `<name>_history` (those not registered yet), with the current report's
/// columns and `run_date`. Only those a chart names: a table over every
/// report's history would read the footer of every dated copy each night.
/// The schema is given, not inferred, so an older copy without a column
/// fails only the chart that reads it.
pub async fn register_histories(
    ctx: &SessionContext,
    warehouse: &Location,
    reports: &[String],
    sql: &str,
) -> Result<(), DataFusionError> {
    for name in reports {
        let history = history_table(name);
        let named = regex::RegexBuilder::new(&format!(r"\b{history}\b"))
            .case_insensitive(true)
            .build()
            .expect("a table name is a valid pattern");
        if !named.is_match(sql) || ctx.table_exist(history.as_str())? {
            continue;
        }
        let schema = ctx.table_provider(name.as_str()).await?.schema();
        let options = ParquetReadOptions::default()
            .schema(&schema)
            .table_partition_cols(vec![(HISTORY_RUN_DATE.into(), DataType::Date32)]);
        let url = warehouse.folder_url(&format!("history/{name}"));
        ctx.register_parquet(history.as_str(), url, options).await?;
    }
    Ok(())
}

/// One column of a chart's result.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// As text, `None` for NULL.
    pub text: Vec<Option<String>>,
    /// For numeric columns: the values as f64.
    pub number: Option<Vec<Option<f64>>>,
    /// For boolean columns.
    pub boolean: Option<Vec<Option<bool>>>,
}

/// A chart's query result.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: usize,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Runs a chart's SQL with the run's parameters.
pub async fn query(
    ctx: &SessionContext,
    sql: &str,
    params: &HashMap<String, ScalarValue>,
) -> Result<Table, DataFusionError> {
    let df = ctx
        .sql_with_options(sql, crate::engine::sql_options())
        .await?
        .with_param_values(params.clone())?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    to_table(&schema, &batches)
}

fn to_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table, DataFusionError> {
    let options = FormatOptions::default().with_null("");
    let mut columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            text: Vec::new(),
            number: f.data_type().is_numeric().then(Vec::new),
            boolean: (f.data_type() == &DataType::Boolean).then(Vec::new),
        })
        .collect();
    let mut rows = 0;
    for batch in batches {
        rows += batch.num_rows();
        for (column, array) in columns.iter_mut().zip(batch.columns()) {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            for row in 0..array.len() {
                column.text.push(
                    array
                        .is_valid(row)
                        .then(|| formatter.value(row).to_string()),
                );
            }
            if let Some(numbers) = column.number.as_mut() {
                let floats = cast(array, &DataType::Float64)?;
                let floats = floats
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Float64Array>()
                    .expect("cast to Float64");
                numbers.extend(floats.iter().map(|v| v.filter(|v| v.is_finite())));
            }
            if let Some(booleans) = column.boolean.as_mut() {
                booleans.extend(as_boolean_array(array).iter());
            }
        }
    }
    Ok(Table { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_come_back_as_text_with_numbers_beside_them() {
        let ctx = SessionContext::new();
        let params = HashMap::from([("run_date".to_string(), ScalarValue::from("2025-06-30"))]);
        let table = query(
            &ctx,
            "SELECT 'a' AS k, CAST(1.5 AS DOUBLE) AS v, true AS b, CAST(NULL AS BIGINT) AS n, \
             $run_date AS d UNION ALL SELECT 'b', 2, false, 7, $run_date",
            &params,
        )
        .await
        .unwrap();
        assert_eq!(table.rows, 2);
        let v = table.column("v").unwrap();
        assert_eq!(v.number.as_ref().unwrap(), &vec![Some(1.5), Some(2.0)]);
        assert_eq!(v.text, vec![Some("1.5".into()), Some("2.0".into())]);
        let n = table.column("n").unwrap();
        assert_eq!(n.number.as_ref().unwrap(), &vec![None, Some(7.0)]);
        assert_eq!(n.text[0], None);
        let b = table.column("b").unwrap();
        assert_eq!(b.boolean.as_ref().unwrap(), &vec![Some(true), Some(false)]);
        assert!(table.column("k").unwrap().number.is_none());
        assert_eq!(
            table.column("d").unwrap().text[1].as_deref(),
            Some("2025-06-30")
        );
    }
}
