//! `advocacy test --unit`: the unit tests of models.yml (`unit_tests:`,
//! dbt's shape). Each runs one model's SQL on a session of its own where
//! every table the model reads is a table in memory: the rows the test
//! gives, else empty with the table's schema (raw tables' from
//! `crate::schema`, models' as `validate` planned them). Nothing is read
//! from the landing folder or the warehouse. The expected rows are compared
//! on the columns they name (see `compare`).

mod compare;
mod fixture;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use serde::Serialize;

use super::spec::{ExpectSpec, FixtureRow, UnitTestSpec};
use super::{PipelineError, Project, parameters, scalar, select, sql_options, validate};
use crate::config::Config;
use fixture::{Fixture, typed_column};

/// Floats match when they differ by at most this times the expected
/// value's magnitude (or this, below 1), unless a test states its own.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// How one unit test went.
#[derive(Debug, Clone, Serialize)]
pub struct UnitResult {
    pub name: String,
    pub model: String,
    pub passed: bool,
    /// Why it failed: the rows missing and unexpected side by side, or the
    /// query's error.
    pub failure: Option<String>,
    pub seconds: f64,
}

impl UnitResult {
    /// One line, and the failure below it.
    pub fn describe(&self) -> String {
        let status = if self.passed { "PASS" } else { "FAIL" };
        let mut text = format!("{status} {} ({})\n", self.name, self.model);
        if let Some(failure) = &self.failure {
            text.push_str(failure);
        }
        text
    }
}

/// A unit test checked and ready to run.
struct Prepared<'a> {
    spec: &'a UnitTestSpec,
    run_date: NaiveDate,
    inputs: BTreeMap<String, RecordBatch>,
    /// Expected rows, columns in the model's order.
    expect: Fixture,
    tolerance: f64,
}

/// Every problem of every unit test (for `validate`), given the schema of
/// each model that planned: a model or input that does not exist or that
/// the model does not read, a column the table does not have, a value its
/// type cannot hold, a parameter the model does not read, a missing
/// `run_date` for a model that reads `$run_date`.
pub async fn check(
    config: &Config,
    project: &Project,
    model_schemas: &BTreeMap<String, SchemaRef>,
    default_date: NaiveDate,
) -> Vec<String> {
    let tables = table_schemas(config, model_schemas);
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for spec in &project.spec.unit_tests {
        if !names.insert(spec.name.as_str()) {
            errors.push(format!(
                "models.yml: unit test {} is defined twice",
                spec.name
            ));
        }
        let prefix = |e: String| format!("models.yml: unit test {}: {e}", spec.name);
        match prepare(spec, project, &tables, &config.queries_dir(), default_date) {
            Err(problems) => errors.extend(problems.into_iter().map(prefix)),
            Ok(prepared) => {
                let problems = check_parameters(config, project, &tables, &prepared).await;
                errors.extend(problems.into_iter().map(prefix));
            }
        }
    }
    errors
}

/// Runs the unit tests of the models `select` picks (every one when it is
/// empty). The project must validate first, unit tests included: an error
/// there is `PipelineError::Invalid`, as is a selection with no unit test.
pub async fn run(
    config: &Config,
    project: &Project,
    select: &[String],
    default_date: NaiveDate,
) -> Result<Vec<UnitResult>, PipelineError> {
    let validation = validate::validate(config, project, default_date).await;
    if !validation.errors.is_empty() {
        return Err(PipelineError::Invalid(validation.errors));
    }
    let chosen = chosen_tests(project, select)?;
    let tables = table_schemas(config, &validation.schemas);
    let mut results = Vec::with_capacity(chosen.len());
    for spec in chosen {
        let prepared = prepare(spec, project, &tables, &config.queries_dir(), default_date)
            .map_err(PipelineError::Invalid)?;
        results.push(execute(config, project, &tables, &prepared).await);
    }
    Ok(results)
}

fn chosen_tests<'a>(
    project: &'a Project,
    patterns: &[String],
) -> Result<Vec<&'a UnitTestSpec>, PipelineError> {
    let all = &project.spec.unit_tests;
    if all.is_empty() {
        return Err(PipelineError::Invalid(vec![
            "models.yml has no unit_tests to run".to_string(),
        ]));
    }
    if patterns.is_empty() {
        return Ok(all.iter().collect());
    }
    let models = select::select(patterns, &project.deps, &project.spec)
        .map_err(|e| PipelineError::Invalid(vec![e]))?;
    let chosen: Vec<&UnitTestSpec> = all.iter().filter(|t| models.contains(&t.model)).collect();
    if chosen.is_empty() {
        return Err(PipelineError::Invalid(vec![format!(
            "--select {} picks no model with a unit test",
            patterns.join(" ")
        )]));
    }
    Ok(chosen)
}

/// Raw tables and the models that planned, by name.
fn table_schemas(
    config: &Config,
    model_schemas: &BTreeMap<String, SchemaRef>,
) -> BTreeMap<String, SchemaRef> {
    let mut tables = validate::raw_schemas(config);
    tables.extend(model_schemas.iter().map(|(k, v)| (k.clone(), v.clone())));
    tables
}

fn prepare<'a>(
    spec: &'a UnitTestSpec,
    project: &Project,
    tables: &BTreeMap<String, SchemaRef>,
    queries: &Path,
    default_date: NaiveDate,
) -> Result<Prepared<'a>, Vec<String>> {
    let Some(reads) = project.deps.get(&spec.model) else {
        return Err(vec![
            match project.models.iter().any(|m| m.name == spec.model) {
                // Its own error (a parse error, a cycle) is reported already.
                true => format!("model {} could not be loaded", spec.model),
                false => format!("there is no model {}", spec.model),
            },
        ]);
    };
    let Some(output) = tables.get(&spec.model) else {
        return Err(vec![format!(
            "model {} does not plan (see its error)",
            spec.model
        )]);
    };
    let mut errors = Vec::new();
    let run_date = match &spec.run_date {
        None => default_date,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| {
            errors.push(format!("run_date {text:?} is not a date (YYYY-MM-DD)"));
            default_date
        }),
    };
    let mut inputs = BTreeMap::new();
    for given in &spec.given {
        let what = format!("given {}", given.input);
        if !reads.contains(&given.input) {
            let list: Vec<&str> = reads.iter().map(String::as_str).collect();
            errors.push(format!(
                "{what}: {} does not read {} (it reads {})",
                spec.model,
                given.input,
                list.join(", ")
            ));
            continue;
        }
        if inputs.contains_key(&given.input) {
            errors.push(format!("{what}: given twice"));
            continue;
        }
        let Some(schema) = tables.get(&given.input) else {
            errors.push(format!(
                "{what}: {} is not a raw table or a model, so a test cannot give it",
                given.input
            ));
            continue;
        };
        let batch = load_fixture(&given.rows, &given.csv, queries)
            .map_err(|e| vec![e])
            .and_then(|fixture| fixture.to_batch(schema));
        match batch {
            Ok(batch) => {
                inputs.insert(given.input.clone(), batch);
            }
            Err(problems) => errors.extend(problems.into_iter().map(|e| format!("{what}: {e}"))),
        }
    }
    let expect = match expected(&spec.expect, output, queries) {
        Ok(expect) => expect,
        Err(problems) => {
            errors.extend(problems.into_iter().map(|e| format!("expect: {e}")));
            Fixture {
                columns: Vec::new(),
                rows: Vec::new(),
            }
        }
    };
    let tolerance = spec.expect.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        errors.push(format!(
            "expect: tolerance {tolerance} is not a number >= 0"
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Prepared {
        spec,
        run_date,
        inputs,
        expect,
        tolerance,
    })
}

/// `rows` or `csv` (relative to the queries folder), exactly one.
fn load_fixture(
    rows: &Option<Vec<FixtureRow>>,
    csv: &Option<String>,
    queries: &Path,
) -> Result<Fixture, String> {
    match (rows, csv) {
        (Some(rows), None) => Fixture::from_rows(rows),
        (None, Some(file)) => Fixture::from_csv(&queries.join(file)),
        (Some(_), Some(_)) => Err("rows and csv are both given; write one".to_string()),
        (None, None) => Err("needs rows or csv".to_string()),
    }
}

/// The expected rows with their columns in the model's order, every value
/// checked against the column's type.
fn expected(spec: &ExpectSpec, output: &SchemaRef, queries: &Path) -> Result<Fixture, Vec<String>> {
    let fixture = load_fixture(&spec.rows, &spec.csv, queries).map_err(|e| vec![e])?;
    let unknown = fixture.unknown_columns(output);
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut columns = Vec::new();
    let mut order = Vec::new();
    let mut errors = Vec::new();
    for field in output.fields() {
        if let Some(j) = fixture.columns.iter().position(|c| c == field.name()) {
            if let Err(e) = typed_column(&fixture.column(j), field) {
                errors.push(e);
            }
            columns.push(field.name().clone());
            order.push(j);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let rows = fixture
        .rows
        .iter()
        .map(|r| order.iter().map(|&j| r[j].clone()).collect())
        .collect();
    Ok(Fixture { columns, rows })
}

/// A session where every table the model reads is the test's rows or
/// empty.
fn session(
    config: &Config,
    project: &Project,
    tables: &BTreeMap<String, SchemaRef>,
    prepared: &Prepared,
) -> datafusion::error::Result<datafusion::prelude::SessionContext> {
    let ctx = crate::engine::local_session(config)?;
    for table in &project.deps[&prepared.spec.model] {
        // A table function or a catalog table the model reads is the
        // session's own.
        let (schema, batches) = match (prepared.inputs.get(table), tables.get(table)) {
            (Some(batch), _) => (batch.schema(), vec![batch.clone()]),
            (None, Some(schema)) => (schema.clone(), vec![]),
            (None, None) => continue,
        };
        ctx.register_table(
            table.as_str(),
            Arc::new(MemTable::try_new(schema, vec![batches])?),
        )?;
    }
    Ok(ctx)
}

fn test_parameters(
    config: &Config,
    project: &Project,
    prepared: &Prepared,
) -> HashMap<String, ScalarValue> {
    let mut params = parameters(config, &project.spec, prepared.run_date);
    params.extend(
        prepared
            .spec
            .vars
            .iter()
            .map(|(name, value)| (name.clone(), scalar(value))),
    );
    params
}

/// A var the model does not read is a typo or a test of nothing; a model
/// that reads `$run_date` depends on the day, so its test must fix one.
async fn check_parameters(
    config: &Config,
    project: &Project,
    tables: &BTreeMap<String, SchemaRef>,
    prepared: &Prepared<'_>,
) -> Vec<String> {
    let spec = prepared.spec;
    let read = match session(config, project, tables, prepared) {
        Ok(ctx) => ctx
            .state()
            .create_logical_plan(&project.model(&spec.model).sql)
            .await
            .and_then(|plan| plan.get_parameter_names()),
        Err(e) => Err(e),
    };
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            return vec![format!(
                "{} does not plan: {}",
                spec.model,
                e.strip_backtrace()
            )];
        }
    };
    let mut errors = Vec::new();
    for name in spec.vars.keys() {
        if !read.contains(&format!("${name}")) {
            errors.push(format!("vars: {} does not read ${name}", spec.model));
        }
    }
    if spec.run_date.is_none() && read.contains("$run_date") {
        errors.push(format!(
            "{} reads $run_date: give the test a run_date, or its result depends on the day it runs",
            spec.model
        ));
    }
    errors
}

async fn execute(
    config: &Config,
    project: &Project,
    tables: &BTreeMap<String, SchemaRef>,
    prepared: &Prepared<'_>,
) -> UnitResult {
    let started = Instant::now();
    let spec = prepared.spec;
    let failure = match returned(config, project, tables, prepared).await {
        Ok(batch) => difference(prepared, &batch),
        Err(e) => Some(format!("    {} failed: {e}\n", spec.model)),
    };
    UnitResult {
        name: spec.name.clone(),
        model: spec.model.clone(),
        passed: failure.is_none(),
        failure,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// What the model returns on the test's tables, as one batch.
async fn returned(
    config: &Config,
    project: &Project,
    tables: &BTreeMap<String, SchemaRef>,
    prepared: &Prepared<'_>,
) -> Result<RecordBatch, String> {
    let explain = |e: datafusion::error::DataFusionError| e.strip_backtrace();
    let ctx = session(config, project, tables, prepared).map_err(explain)?;
    let sql = &project.model(&prepared.spec.model).sql;
    let df = ctx
        .sql_with_options(sql, sql_options())
        .await
        .and_then(|df| df.with_param_values(test_parameters(config, project, prepared)))
        .map_err(explain)?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(explain)?;
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

/// None when the returned rows are the expected ones; else the two sides.
fn difference(prepared: &Prepared, batch: &RecordBatch) -> Option<String> {
    let expect = &prepared.expect;
    let mut expected_columns = Vec::new();
    let mut actual_columns = Vec::new();
    for (j, name) in expect.columns.iter().enumerate() {
        let Ok(index) = batch.schema().index_of(name) else {
            return Some(format!("    the result has no column {name}\n"));
        };
        let field = batch.schema().field(index).clone();
        let typed = typed_column(&expect.column(j), &field)
            .and_then(|array| compare::cells(&array))
            .and_then(|e| Ok((e, compare::cells(batch.column(index))?)));
        match typed {
            Ok((e, a)) => {
                expected_columns.push(e);
                actual_columns.push(a);
            }
            Err(e) => return Some(format!("    expect: {e}\n")),
        }
    }
    let expected = compare::rows(&expected_columns, expect.rows.len());
    let actual = compare::rows(&actual_columns, batch.num_rows());
    let diff = compare::compare(
        &expected,
        &actual,
        prepared.spec.expect.ordered,
        prepared.tolerance,
    );
    if diff.is_empty() {
        return None;
    }
    let order = if prepared.spec.expect.ordered {
        "in order"
    } else {
        "as a multiset"
    };
    Some(format!(
        "    {} row(s) expected, {} returned, compared {order} on {}: {} missing, {} unexpected\n{}",
        expect.rows.len(),
        batch.num_rows(),
        expect.columns.join(", "),
        diff.missing.len(),
        diff.unexpected.len(),
        compare::render(&expect.columns, &diff)
    ))
}
