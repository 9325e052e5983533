//! Report contracts. Every report's schema (column names, types,
//! nullability) is recorded when it is published to `reports/`, in
//! `_state/contracts/<report>.json` with the SQL that made it. A model
//! change that drops, renames or retypes a published column, or lets a
//! column that was never NULL be NULL, breaks every dashboard on that
//! report the next morning: `validate` refuses it and a run fails that
//! model (the published version stays), naming the report and the column.
//! Adding a column is not a break.
//!
//! A break that is meant is declared in models.yml, `contract: { version:
//! 2, deprecation_date: 2027-03-31 }`: version 2 is published as
//! `<name>_v2`, with a contract of its own, and version 1 keeps being
//! built from its recorded SQL and published under its own name through
//! its deprecation date, for the dashboards that have not moved yet.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use super::models::Model;
use super::report_output::bi_schema;
use super::spec::ModelsFile;
use super::{PipelineError, Project};
use crate::storage::Location;

/// Where contracts are kept, relative to the warehouse.
pub const DIR: &str = "_state/contracts";

/// The version of [`Contract`]'s format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub format_version: u32,
    pub report: String,
    pub model: String,
    pub version: u32,
    /// The run date that published it (YYYY-MM-DD).
    pub run_date: String,
    pub columns: Vec<ColumnContract>,
    /// The SQL that made it: what builds this version while a newer one is
    /// published beside it.
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnContract {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

pub fn object(report: &str) -> String {
    format!("{DIR}/{report}.json")
}

/// The report version `version` of `model` is published as.
pub fn report_name(model: &str, version: u32) -> String {
    match version {
        0 | 1 => model.to_string(),
        v => format!("{model}_v{v}"),
    }
}

/// The version models.yml declares for a model (1 when it declares none).
pub fn declared_version(spec: &ModelsFile, model: &str) -> u32 {
    spec.model(model)
        .and_then(|m| m.contract.as_ref())
        .map_or(1, |c| c.version)
}

impl Contract {
    /// The contract of `schema` as published (in its BI types).
    pub fn new(model: &Model, version: u32, schema: &Schema, run_date: NaiveDate) -> Contract {
        Contract {
            format_version: FORMAT_VERSION,
            report: model.report.clone(),
            model: model.name.clone(),
            version,
            run_date: run_date.to_string(),
            columns: schema
                .fields()
                .iter()
                .map(|f| ColumnContract {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            sql: model.sql.clone(),
        }
    }

    /// What `schema` (as published, in BI types) breaks of this contract.
    pub fn breaks(&self, schema: &Schema) -> Vec<String> {
        let mut breaks = Vec::new();
        for column in &self.columns {
            match schema.field_with_name(&column.name) {
                Err(_) => breaks.push(format!(
                    "column {} ({}) is gone: dropped or renamed",
                    column.name, column.data_type
                )),
                Ok(now) if now.data_type().to_string() != column.data_type => breaks.push(format!(
                    "column {} was {} and is now {}",
                    column.name,
                    column.data_type,
                    now.data_type()
                )),
                Ok(now) if now.is_nullable() && !column.nullable => breaks.push(format!(
                    "column {} was never NULL and now may be",
                    column.name
                )),
                Ok(_) => {}
            }
        }
        breaks
    }
}

/// The message for a model whose result would break its report's
/// contract.
pub fn broken(model: &Model, version: u32, breaks: &[String]) -> String {
    if let Some(previous) = model.previous_version {
        return format!(
            "{}: version {previous} of report {}, built from its recorded SQL, no longer matches \
             the schema it is published with: {}. The models it reads have changed under it: \
             to stop publishing it, set the deprecation_date of the newer version's contract in \
             models.yml to a past day",
            model.file.display(),
            model.report,
            breaks.join("; ")
        );
    }
    let next = version + 1;
    format!(
        "{}: report {} would break the schema it is published with: {}. Dashboards read these \
         columns: keep them, or declare the break in models.yml (contract: {{ version: {next}, \
         deprecation_date: YYYY-MM-DD }}) to publish it as {} beside {}",
        model.file.display(),
        model.report,
        breaks.join("; "),
        report_name(&model.name, next),
        model.report
    )
}

/// The recorded contracts of `reports` (those never published have none).
pub async fn load(
    warehouse: &Location,
    reports: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Contract>, String> {
    let mut contracts = BTreeMap::new();
    for report in reports {
        let path = warehouse.path(&object(&report));
        let Some(bytes) = warehouse.get_opt(&path).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let contract: Contract =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", object(&report)))?;
        if contract.format_version > FORMAT_VERSION {
            return Err(format!(
                "{} is of format {} and this release reads up to {FORMAT_VERSION}: upgrade advocacy",
                object(&report),
                contract.format_version
            ));
        }
        contracts.insert(report, contract);
    }
    Ok(contracts)
}

/// The reports whose contracts a project needs: every published model's,
/// and the version before a declared one.
pub fn needed(project: &Project) -> Vec<String> {
    let mut reports = Vec::new();
    for model in project.models.iter().filter(|m| m.publish) {
        reports.push(model.report.clone());
        let version = declared_version(&project.spec, &model.name);
        if version >= 2 {
            reports.push(report_name(&model.name, version - 1));
        }
    }
    reports
}

pub async fn record(warehouse: &Location, contract: &Contract) -> Result<(), String> {
    let json = serde_json::to_string_pretty(contract).expect("a contract serialises");
    warehouse
        .put(
            &warehouse.path(&object(&contract.report)),
            json.into_bytes(),
        )
        .await
        .map_err(|e| e.to_string())
}

/// `validate`'s check: every published model's planned result against its
/// report's contract.
pub fn check(
    project: &Project,
    planned: &BTreeMap<String, datafusion::arrow::datatypes::SchemaRef>,
    contracts: &BTreeMap<String, Contract>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for model in project.models.iter().filter(|m| m.publish) {
        let (Some(schema), Some(contract)) =
            (planned.get(&model.name), contracts.get(&model.report))
        else {
            continue;
        };
        let breaks = contract.breaks(&bi_schema(schema));
        if !breaks.is_empty() {
            let version = declared_version(&project.spec, &model.name);
            errors.push(broken(model, version, &breaks));
        }
    }
    errors
}

/// What models.yml's contracts and the report names must be, whatever the
/// warehouse holds (`Project::load` reports these with its own errors).
pub fn check_specs(project: &Project) -> Vec<String> {
    let mut errors = Vec::new();
    let mut reports: BTreeMap<&str, &str> = BTreeMap::new();
    for model in project.models.iter().filter(|m| m.publish) {
        if let Some(other) = reports.insert(&model.report, &model.name) {
            errors.push(format!(
                "models {other} and {} are both published as report {}: rename one, or declare \
                 another contract version",
                model.name, model.report
            ));
        }
    }
    for model in &project.models {
        let reserved = model
            .name
            .rsplit_once("__v")
            .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if reserved {
            errors.push(format!(
                "{}: a model name ending in __v<number> is kept for the previous versions of \
                 reports: rename {}",
                model.file.display(),
                model.name
            ));
        }
    }
    for spec in &project.spec.models {
        let Some(contract) = &spec.contract else {
            continue;
        };
        let name = &spec.name;
        if !project.models.iter().any(|m| &m.name == name && m.publish) {
            errors.push(format!(
                "models.yml: {name}: a contract is for a report (a model under reports/)"
            ));
        }
        if contract.version == 0 {
            errors.push(format!(
                "models.yml: {name}: contract version 0; versions start at 1"
            ));
        }
        match (&contract.deprecation_date, contract.version) {
            (None, v) if v >= 2 => errors.push(format!(
                "models.yml: {name}: contract version {v} needs the deprecation_date of version {} \
                 (the last day it is published)",
                v - 1
            )),
            (Some(date), _) if NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() => errors.push(
                format!("models.yml: {name}: deprecation_date {date:?} is not a date (YYYY-MM-DD)"),
            ),
            _ => {}
        }
    }
    errors
}

/// The previous versions still published beside a declared one: built from
/// their recorded SQL, each as a model `<name>__v<N-1>` published as its
/// own report, through its deprecation date (`today` in run.timezone).
/// After it, a warning that it is no longer refreshed.
pub fn previous_versions(
    project: &Project,
    contracts: &BTreeMap<String, Contract>,
    today: NaiveDate,
) -> (Vec<Model>, Vec<String>) {
    let mut models = Vec::new();
    let mut warnings = Vec::new();
    for model in project.models.iter().filter(|m| m.publish) {
        let version = declared_version(&project.spec, &model.name);
        if version < 2 {
            continue;
        }
        let previous = report_name(&model.name, version - 1);
        let Some(contract) = contracts.get(&previous) else {
            continue;
        };
        let until = project
            .spec
            .model(&model.name)
            .and_then(|m| m.contract.as_ref())
            .and_then(|c| c.deprecation_date.as_deref())
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        match until {
            Some(until) if today > until => warnings.push(format!(
                "report {previous} (version {} of {}) is deprecated since {until}: it is no longer \
                 refreshed; {} replaces it",
                version - 1,
                model.name,
                model.report
            )),
            _ => models.push(Model {
                name: format!("{}__v{}", model.name, version - 1),
                file: PathBuf::from(object(&previous)),
                sql: contract.sql.clone(),
                publish: true,
                report: previous,
                previous_version: Some(version - 1),
                incremental: None,
            }),
        }
    }
    (models, warnings)
}

impl Project {
    /// The project with these models added (previous versions of reports),
    /// ordered among the others.
    pub fn with_models(mut self, models: Vec<Model>) -> Result<Project, PipelineError> {
        if models.is_empty() {
            return Ok(self);
        }
        self.models.extend(models);
        let state = datafusion::prelude::SessionContext::new().state();
        let (deps, errors) = super::dag::dependencies(&state, &self.models);
        if !errors.is_empty() {
            return Err(PipelineError::Invalid(errors));
        }
        self.order = super::dag::build_order(&deps).map_err(|e| PipelineError::Invalid(vec![e]))?;
        self.deps = deps;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    fn model() -> Model {
        Model {
            name: "revenue".into(),
            file: PathBuf::from("queries/reports/revenue.sql"),
            sql: "SELECT 1".into(),
            publish: true,
            report: "revenue".into(),
            previous_version: None,
            incremental: None,
        }
    }

    fn schema(fields: Vec<Field>) -> Schema {
        Schema::new(fields)
    }

    #[test]
    fn dropping_retyping_or_letting_a_column_be_null_breaks_and_adding_does_not() {
        let published = schema(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("revenue", DataType::Float64, true),
            Field::new("orders", DataType::Int64, true),
        ]);
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let contract = Contract::new(&model(), 1, &published, date);
        let added = schema(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("revenue", DataType::Float64, true),
            Field::new("orders", DataType::Int64, true),
            Field::new("margin", DataType::Float64, true),
        ]);
        assert!(contract.breaks(&added).is_empty());
        // Never NULL before, non-null now: fine the other way round too.
        let tighter = schema(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("revenue", DataType::Float64, false),
            Field::new("orders", DataType::Int64, true),
        ]);
        assert!(contract.breaks(&tighter).is_empty());
        let broken_schema = schema(vec![
            Field::new("customer_id", DataType::Utf8, true),
            Field::new("revenue", DataType::Utf8, true),
            Field::new("order_count", DataType::Int64, true),
        ]);
        assert_eq!(
            contract.breaks(&broken_schema),
            [
                "column customer_id was never NULL and now may be",
                "column revenue was Float64 and is now Utf8",
                "column orders (Int64) is gone: dropped or renamed",
            ]
        );
    }

    #[test]
    fn versions_after_the_first_are_published_under_their_own_name() {
        assert_eq!(report_name("nps_trends", 1), "nps_trends");
        assert_eq!(report_name("nps_trends", 2), "nps_trends_v2");
        assert_eq!(report_name("nps_trends", 3), "nps_trends_v3");
    }
}
