//! `advocacy validate`'s check of `queries/report.yml`: every chart plans
//! against the reports' schemas as the pipeline's check planned them
//! (`crate::pipeline::validate`), with the columns its kind draws.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::PageFile;
use super::data;
use super::spec::ChartSpec;
use super::stage::PageSource;
use crate::config::Config;
use crate::pipeline::diagnostics::describe;
use crate::pipeline::validate::plan;
use crate::pipeline::{Project, bi_schema, parameters};

/// What the charts' check found.
#[derive(Debug, Default)]
pub struct ChartCheck {
    pub errors: Vec<String>,
    /// Charts that plan with the columns they draw.
    pub charts_checked: usize,
}

/// report.yml: every chart's SQL plans against the published reports'
/// schemas (`models`: each model's as `validate` planned it) and the run
/// tables (nothing else: the page reads only what is published), with the
/// columns of the types its kind draws.
pub async fn check(
    config: &Config,
    project: &Project,
    models: &BTreeMap<String, SchemaRef>,
    run_date: NaiveDate,
) -> ChartCheck {
    let mut result = ChartCheck::default();
    let page = match PageSource::load(config) {
        PageSource::Page(page) => page,
        PageSource::Absent => return result,
        PageSource::Invalid(errors) => {
            result.errors = errors;
            return result;
        }
    };
    let params = &parameters(config, &project.spec, run_date);
    let ctx = match crate::engine::local_session(config) {
        Ok(ctx) => ctx,
        Err(e) => {
            result
                .errors
                .push(format!("cannot set up the query engine: {e}"));
            return result;
        }
    };
    let mut known: Vec<String> = data::RUN_TABLES.iter().map(|t| t.to_string()).collect();
    for name in project.published() {
        let history = data::history_table(&name);
        if let Some(schema) = models.get(&name) {
            // As the report is written, in its BI types.
            let schema = bi_schema(schema);
            let empty = MemTable::try_new(schema.clone(), vec![vec![]]).expect("empty table");
            let _ = ctx.register_table(name.as_str(), Arc::new(empty));
            // The dated copies: the same columns and their run date.
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new(data::HISTORY_RUN_DATE, DataType::Date32, false));
            let dated = Arc::new(Schema::new(fields));
            let empty = MemTable::try_new(dated, vec![vec![]]).expect("empty table");
            let _ = ctx.register_table(history.as_str(), Arc::new(empty));
        }
        known.push(name);
        known.push(history);
    }
    let no_ingest = crate::ingest::IngestReport::default();
    if let Err(e) = data::register_run_tables(&ctx, &no_ingest, &[]) {
        result
            .errors
            .push(format!("cannot set up the run tables: {e}"));
        return result;
    }
    for chart in &page.spec.charts {
        let (_, unknown) = chart.with_params(params);
        for name in unknown {
            result.errors.push(format!(
                "{}: chart {}: ${name} is not a parameter (vars of models.yml or the config, run_date, timezone, currency)",
                chart.at(&page.path),
                chart.id
            ));
        }
        let schema = match plan(&ctx, &chart.sql, params).await {
            Ok(schema) => schema,
            Err(e) => {
                let message = plan_error(&ctx, &page, chart, &e, params, &known).await;
                result.errors.push(message);
                continue;
            }
        };
        let problems = column_problems(chart, &schema);
        if problems.is_empty() {
            result.charts_checked += 1;
        }
        for problem in problems {
            result.errors.push(format!(
                "{}: chart {}: {problem}",
                chart.at(&page.path),
                chart.id
            ));
        }
    }
    result
}

/// A chart's SQL error at its line and column in report.yml: planned again
/// as laid out in the file, so that DataFusion's position is the file's.
/// The chart's id goes on the first line, before the source line and caret.
async fn plan_error(
    ctx: &SessionContext,
    page: &PageFile,
    chart: &ChartSpec,
    error: &DataFusionError,
    params: &HashMap<String, ScalarValue>,
    known: &[String],
) -> String {
    let file = page.path.display().to_string();
    let located = match chart.sql_as_in_file() {
        Some(laid_out) => match plan(ctx, &laid_out, params).await {
            Err(e) => Some(describe(&file, &laid_out, &e, known)),
            Ok(_) => None,
        },
        None => None,
    };
    let Some(message) = located else {
        // A folded or quoted value: the chart's line, DataFusion's message.
        let text = error.strip_backtrace();
        let first = text.lines().next().unwrap_or_default();
        return format!("{}: chart {}: {first}", chart.at(&page.path), chart.id);
    };
    let (first, rest) = message.split_once('\n').unwrap_or((&message, ""));
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!("\n{rest}")
    };
    format!("{first} (chart {}){rest}", chart.id)
}

/// What is wrong with the columns a chart draws: missing, or not of the
/// type its role needs.
fn column_problems(chart: &ChartSpec, schema: &Schema) -> Vec<String> {
    use super::spec::Kind;
    let mut problems = Vec::new();
    for (role, column) in chart.required_columns() {
        let Ok(field) = schema.field_with_name(column) else {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            problems.push(format!(
                "column {column} ({role}) is not in its result (columns: {})",
                columns.join(", ")
            ));
            continue;
        };
        let numeric = match (role, column) {
            // A heatmap's y is a category, a line's or a bar's a number.
            ("y", _) => chart.kind != Kind::Heatmap,
            ("y.low" | "y.high" | "value", _) => true,
            ("figures", c) => matches!(c, "value" | "margin" | "change"),
            _ => false,
        };
        let data_type = field.data_type();
        if numeric && !data_type.is_numeric() && !data_type.is_null() {
            problems.push(format!(
                "column {column} ({role}) is {data_type}, not a number"
            ));
        }
        // Any other type would read as "not tested" on every tile.
        let flag = role == "figures" && column == "significant";
        if flag && !matches!(data_type, DataType::Boolean | DataType::Null) {
            problems.push(format!(
                "column {column} ({role}) is {data_type}, not a boolean"
            ));
        }
    }
    problems
}
