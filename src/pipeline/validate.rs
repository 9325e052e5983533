//! `advocacy validate`: plans every model, in order, against the raw-zone
//! schemas without reading data, and collects every error at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
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
    /// The result schema of every model that planned, for what plans on
    /// top of the models (the report page's charts, `crate::page::check`).
    pub schemas: BTreeMap<String, SchemaRef>,
}

pub async fn validate(config: &Config, project: &Project, run_date: NaiveDate) -> Validation {
    let mut result = Validation {
        errors: project.errors.clone(),
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
                let (errors, warnings) =
                    super::incremental::check_model(&ctx, model, &schema).await;
                result.errors.extend(errors);
                result.warnings.extend(warnings);
                let table = MemTable::try_new(schema.clone(), vec![vec![]]).expect("empty table");
                let _ = ctx.register_table(name.as_str(), Arc::new(table));
                result.schemas.insert(name.clone(), schema);
                result.models_checked += 1;
            }
            Err(e) => {
                result.errors.push(describe(&file, &model.sql, &e, &known));
                broken.insert(name.clone());
            }
        }
    }
    check_spec(&ctx, project, &broken, &params, &mut result).await;
    let unit = super::unit::check(config, project, &result.schemas, run_date).await;
    result.errors.extend(unit);
    result
}

/// The published reports' contracts, read from the warehouse when it can
/// be (a project not yet run has none): a planned model that breaks its
/// report's is an error. Separate from [`validate`], which reads nothing
/// (`test --unit` validates too, and needs no warehouse).
pub async fn check_contracts(
    config: &Config,
    project: &Project,
    run_date: NaiveDate,
    result: &mut Validation,
) {
    // Not created: a local warehouse that is not there yet has published
    // nothing.
    let Ok(warehouse) = crate::storage::Location::open(
        &config.resolve_location(config.warehouse.as_str()),
        &config.storage,
        false,
    ) else {
        return;
    };
    let contracts = super::contract::load(&warehouse, super::contract::needed(project)).await;
    match contracts {
        Ok(contracts) => {
            let errors = super::contract::check(project, &result.schemas, &contracts);
            result.errors.extend(errors);
            let errors =
                check_previous_versions(config, project, &contracts, run_date, result).await;
            result.errors.extend(errors);
        }
        Err(e) => result.warnings.push(format!(
            "the published reports' schemas were not checked: cannot read their contracts ({e})"
        )),
    }
}

/// The previous versions of reports a run would still publish, rebuilt
/// from their recorded SQL: each must still plan on today's models and
/// keep the schema it is published with, or every night fails it.
async fn check_previous_versions(
    config: &Config,
    project: &Project,
    contracts: &BTreeMap<String, super::contract::Contract>,
    run_date: NaiveDate,
    result: &Validation,
) -> Vec<String> {
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    let (previous, _) =
        super::contract::previous_versions(project, contracts, crate::clock::today_in(tz));
    if previous.is_empty() {
        return Vec::new();
    }
    let ctx = match empty_raw_tables(config) {
        Ok(ctx) => ctx,
        Err(e) => return vec![format!("cannot set up the query engine: {e}")],
    };
    for (name, schema) in &result.schemas {
        let table = MemTable::try_new(schema.clone(), vec![vec![]]).expect("empty table");
        let _ = ctx.register_table(name.as_str(), Arc::new(table));
    }
    let params = parameters(config, &project.spec, run_date);
    let mut errors = Vec::new();
    for model in &previous {
        match plan(&ctx, &model.sql, &params).await {
            Err(e) => errors.push(format!(
                "{}: version {} of report {}, built from its recorded SQL, no longer plans on \
                 today's models: {}. To stop publishing it, set the deprecation_date of the \
                 newer version's contract in models.yml to a past day",
                model.file.display(),
                model.previous_version.unwrap_or(1),
                model.report,
                e.strip_backtrace().trim_end_matches('.')
            )),
            Ok(schema) => {
                let breaks = contracts[&model.report].breaks(&super::bi_schema(&schema));
                if !breaks.is_empty() {
                    errors.push(super::contract::broken(model, 1, &breaks));
                }
            }
        }
    }
    errors
}

/// Planning and physical planning catch unknown tables and columns, type
/// errors and missing parameters, all without touching data.
pub async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: &HashMap<String, ScalarValue>,
) -> Result<SchemaRef, DataFusionError> {
    let df = ctx
        .sql_with_options(sql, sql_options())
        .await?
        .with_param_values(params.clone())?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    df.create_physical_plan().await?;
    Ok(schema)
}

/// Every raw table's schema, by table name, as this config loads them.
pub fn raw_schemas(config: &Config) -> BTreeMap<String, SchemaRef> {
    Entity::ALL
        .iter()
        .map(|e| (e.table_name(), e.arrow_schema(config.run.pii == Pii::Keep)))
        .collect()
}

pub(crate) fn empty_raw_tables(config: &Config) -> Result<SessionContext, DataFusionError> {
    let ctx = crate::engine::local_session(config)?;
    for (name, schema) in raw_schemas(config) {
        let table = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
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
