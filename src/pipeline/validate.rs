//! `advocacy validate`: plans every model, in order, against the raw-zone
//! schemas without reading data, and collects every error at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::diagnostics::describe;
use super::spec::TestKind;
use super::{Project, parameters, sql_options};
use crate::config::{Config, Pii};
use crate::schema::Entity;

#[derive(Debug, Default)]
pub struct Validation {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub models_checked: usize,
    /// Charts of report.yml that plan with the columns they draw.
    pub charts_checked: usize,
}

pub async fn validate(config: &Config, project: &Project, run_date: NaiveDate) -> Validation {
    let mut result = Validation {
        errors: [project.errors.clone(), project.page_errors.clone()].concat(),
        warnings: config.warnings(),
        ..Validation::default()
    };
    let ctx = match empty_raw_tables(config) {
        Ok(ctx) => ctx,
        Err(e) => {
            result
                .errors
                .push(format!("cannot set up the query engine: {e}"));
            return result;
        }
    };
    let params = parameters(config, &project.spec, run_date);
    let known = project.known_tables();
    let mut broken: BTreeSet<String> = BTreeSet::new();
    for name in &project.order {
        let model = project.model(name);
        if let Some(up) = project.deps[name].iter().find(|t| broken.contains(*t)) {
            result.warnings.push(format!(
                "{}: not checked, it reads {up} which has errors",
                model.file.display()
            ));
            broken.insert(name.clone());
            continue;
        }
        let file = model.file.display().to_string();
        match plan(&ctx, &model.sql, &params).await {
            Ok(schema) => {
                let table = MemTable::try_new(schema, vec![vec![]]).expect("empty table");
                let _ = ctx.register_table(name.as_str(), Arc::new(table));
                result.models_checked += 1;
            }
            Err(e) => {
                result.errors.push(describe(&file, &model.sql, &e, &known));
                broken.insert(name.clone());
            }
        }
    }
    check_spec(&ctx, project, &broken, &params, &mut result).await;
    if let Some(page) = &project.page {
        check_page(&ctx, config, project, page, &params, &mut result).await;
    }
    result
}

/// report.yml: every chart's SQL plans against the published reports'
/// schemas and the run tables (nothing else: the page reads only what is
/// published), and returns the columns the chart draws.
async fn check_page(
    models: &SessionContext,
    config: &Config,
    project: &Project,
    page: &crate::page::PageFile,
    params: &HashMap<String, ScalarValue>,
    result: &mut Validation,
) {
    let ctx = match crate::engine::local_session(config) {
        Ok(ctx) => ctx,
        Err(e) => {
            result
                .errors
                .push(format!("cannot set up the query engine: {e}"));
            return;
        }
    };
    let mut known: Vec<String> = crate::page::data::RUN_TABLES
        .iter()
        .map(|t| t.to_string())
        .collect();
    for name in project.published() {
        let history = crate::page::data::history_table(&name);
        if let Ok(table) = models.table_provider(name.as_str()).await {
            // As the report is written, in its BI types.
            let schema = super::report_output::bi_schema(&table.schema());
            let empty = MemTable::try_new(schema.clone(), vec![vec![]]).expect("empty table");
            let _ = ctx.register_table(name.as_str(), Arc::new(empty));
            // The dated copies: the same columns and their run date.
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new(
                crate::page::data::HISTORY_RUN_DATE,
                DataType::Date32,
                false,
            ));
            let dated = Arc::new(Schema::new(fields));
            let empty = MemTable::try_new(dated, vec![vec![]]).expect("empty table");
            let _ = ctx.register_table(history.as_str(), Arc::new(empty));
        }
        known.push(name);
        known.push(history);
    }
    let no_ingest = crate::ingest::IngestReport::default();
    if let Err(e) = crate::page::data::register_run_tables(&ctx, &no_ingest, &[]) {
        result
            .errors
            .push(format!("cannot set up the run tables: {e}"));
        return;
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
                let message = plan_error(&ctx, page, chart, &e, params, &known).await;
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
}

/// A chart's SQL error at its line and column in report.yml: planned again
/// as laid out in the file, so that DataFusion's position is the file's.
/// The chart's id goes on the first line, before the source line and caret.
async fn plan_error(
    ctx: &SessionContext,
    page: &crate::page::PageFile,
    chart: &crate::page::spec::ChartSpec,
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
fn column_problems(chart: &crate::page::spec::ChartSpec, schema: &Schema) -> Vec<String> {
    use crate::page::spec::Kind;
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

/// Planning and physical planning catch unknown tables and columns, type
/// errors and missing parameters, all without touching data.
async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: &std::collections::HashMap<String, datafusion::common::ScalarValue>,
) -> Result<datafusion::arrow::datatypes::SchemaRef, DataFusionError> {
    let df = ctx
        .sql_with_options(sql, sql_options())
        .await?
        .with_param_values(params.clone())?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    df.create_physical_plan().await?;
    Ok(schema)
}

fn empty_raw_tables(config: &Config) -> Result<SessionContext, DataFusionError> {
    let ctx = crate::engine::local_session(config)?;
    for entity in Entity::ALL {
        let schema = entity.arrow_schema(config.run.pii == Pii::Keep);
        let table = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(entity.table_name(), Arc::new(table))?;
    }
    Ok(ctx)
}

/// models.yml: documented models must exist, tests must plan, and a
/// documented column that does not exist is a warning.
async fn check_spec(
    ctx: &SessionContext,
    project: &Project,
    broken: &BTreeSet<String>,
    params: &std::collections::HashMap<String, datafusion::common::ScalarValue>,
    result: &mut Validation,
) {
    for spec in &project.spec.models {
        if !project.deps.contains_key(&spec.name) {
            if !project.models.iter().any(|m| m.name == spec.name) {
                result.errors.push(format!(
                    "models.yml: model {} is documented but there is no {}.sql",
                    spec.name, spec.name
                ));
            }
            continue;
        }
        if broken.contains(&spec.name) {
            continue;
        }
        let Some(columns) = super::data_tests::table_columns(ctx, &spec.name).await else {
            continue;
        };
        result
            .warnings
            .extend(spec.missing_column_warnings(&columns));
        for (column, test) in spec.all_tests() {
            if let TestKind::Relationships { to, .. } = &test.kind
                && !project.deps.contains_key(to)
                && !project.known_tables().contains(to)
            {
                result.errors.push(format!(
                    "models.yml: {}: relationships test points at unknown model {to}",
                    spec.name
                ));
                continue;
            }
            let sql = super::data_tests::failing_rows_sql(&spec.name, column, &test.kind);
            let planned = ctx
                .sql_with_options(&sql, sql_options())
                .await
                .and_then(|df| df.with_param_values(params.clone()));
            if let Err(e) = planned {
                result.errors.push(format!(
                    "models.yml: {} test on {}{}: {}",
                    test.kind.name(),
                    spec.name,
                    column.map(|c| format!(".{c}")).unwrap_or_default(),
                    e.strip_backtrace()
                ));
            }
        }
    }
}
