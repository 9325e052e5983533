//! The analyst's commands, which read but never write the warehouse:
//! `validate`, `dag`, `test` and `query`.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::config::Config;
use crate::engine;
use crate::page;
use crate::pipeline::dag::{self, GraphFormat};
use crate::pipeline::data_tests::{self, TestResult};
use crate::pipeline::lineage;
use crate::pipeline::unit::UnitResult;
use crate::pipeline::validate;
use crate::pipeline::{self, Project, sql_options};
use crate::run::RunError;
use crate::storage::Location;

fn run_date(config: &Config, date: Option<NaiveDate>) -> NaiveDate {
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    date.unwrap_or_else(|| crate::clock::today_in(tz))
}

pub(crate) fn open_warehouse(config: &Config) -> Result<Location, RunError> {
    Ok(Location::open(
        &config.resolve_location(config.warehouse.as_str()),
        &config.storage,
        true,
    )?)
}

/// What `validate` found, in the models and then in the report page.
#[derive(Debug, Default)]
pub struct Checked {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub models_checked: usize,
    pub charts_checked: usize,
}

/// Checks the config and plans every model, then every chart of the
/// report page on top of them, without reading data.
pub async fn validate(config_path: &Path, date: Option<NaiveDate>) -> Result<Checked, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load(&config)?;
    let run_date = run_date(&config, date);
    let mut models = validate::validate(&config, &project, run_date).await;
    validate::check_contracts(&config, &project, run_date, &mut models).await;
    let charts = page::check::check(&config, &project, &models.schemas, run_date).await;
    Ok(Checked {
        errors: [models.errors, charts.errors].concat(),
        warnings: models.warnings,
        models_checked: models.models_checked,
        charts_checked: charts.charts_checked,
    })
}

/// The model graph as text, DOT, Mermaid or JSON (with column lineage).
pub async fn dag(config_path: &Path, format: GraphFormat) -> Result<String, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    if format == GraphFormat::Json {
        let graph = lineage::graph(&config, &project, run_date(&config, None)).await?;
        return Ok(lineage::graph_json(&project, &graph));
    }
    let mut out = dag::render(&project.deps, &project.order, &project.published(), format);
    if format == GraphFormat::Text {
        out.push_str(&format!(
            "\nA run loads {} source(s) into the raw zone, builds these {} model(s) in this order \
             (independent ones concurrently) and publishes {} report(s).\n",
            config.sources.len(),
            project.order.len(),
            project.published().len()
        ));
    }
    Ok(out)
}

/// Runs the data tests against the models' last materialised results:
/// those of the models `select` picks, every model's when it is empty.
pub async fn test(
    config_path: &Path,
    date: Option<NaiveDate>,
    select: &[String],
) -> Result<(Vec<TestResult>, Vec<String>), RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    pipeline::check_select(&project, select)?;
    let warehouse = open_warehouse(&config)?;
    let ctx = engine::session(&config).await?;
    engine::register_raw_tables(&ctx, &warehouse, config.run.pii)?;
    let missing = pipeline::register_models(&ctx, &warehouse, &project).await?;
    let built: BTreeSet<String> = project
        .order
        .iter()
        .filter(|m| !missing.contains(m))
        .cloned()
        .collect();
    if built.is_empty() && !project.order.is_empty() {
        return Err(RunError::NothingBuilt);
    }
    let tested: BTreeSet<String> = match select.is_empty() {
        true => built,
        false => {
            let chosen = pipeline::select::select(select, &project.deps, &project.spec)
                .map_err(|e| pipeline::PipelineError::Invalid(vec![e]))?;
            built.intersection(&chosen).cloned().collect()
        }
    };
    let params = crate::pipeline::parameters(&config, &project.spec, run_date(&config, date));
    let (results, mut warnings) = data_tests::run(&ctx, &project, &tested, &params, None).await;
    for name in missing {
        if project.spec.model(&name).is_some() {
            warnings.push(format!(
                "{name} has never been built; its tests were not run"
            ));
        }
    }
    Ok((results, warnings))
}

/// Runs the unit tests of models.yml (of the models `select` picks), on
/// the rows they give: no landing folder, no warehouse.
pub async fn unit_test(
    config_path: &Path,
    date: Option<NaiveDate>,
    select: &[String],
) -> Result<Vec<UnitResult>, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    pipeline::check_select(&project, select)?;
    let run_date = run_date(&config, date);
    Ok(pipeline::unit::run(&config, &project, select, run_date).await?)
}

/// `advocacy lineage <model>.<column>`: every column it is computed from,
/// down to the export columns.
pub async fn lineage(config_path: &Path, target: &str) -> Result<lineage::Trace, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    let invalid = |e: String| RunError::Pipeline(pipeline::PipelineError::Invalid(vec![e]));
    let (model, column) = target.split_once('.').ok_or_else(|| {
        invalid(format!(
            "{target:?}: name a column as <report>.<column>, e.g. nps_trends.nps"
        ))
    })?;
    // A report published under a version's name (`revenue_v2`) is its
    // model's.
    let model = project
        .models
        .iter()
        .find(|m| m.publish && m.report == model && m.name != model)
        .map_or(model, |m| m.name.as_str());
    let graph = lineage::graph(&config, &project, run_date(&config, None)).await?;
    lineage::trace(&config, &project, &graph, model, column).map_err(invalid)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// Ad-hoc SELECT over raw tables, models and reports.
pub async fn query(
    config_path: &Path,
    sql: &str,
    format: OutputFormat,
) -> Result<String, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    let warehouse = open_warehouse(&config)?;
    let ctx = engine::session(&config).await?;
    engine::register_raw_tables(&ctx, &warehouse, config.run.pii)?;
    pipeline::register_models(&ctx, &warehouse, &project).await?;
    let params = crate::pipeline::parameters(&config, &project.spec, run_date(&config, None));
    let known = project.known_tables();
    let explain = |e: datafusion::error::DataFusionError| {
        RunError::Query(crate::pipeline::diagnostics::describe(
            "query", sql, &e, &known,
        ))
    };
    let df = ctx
        .sql_with_options(sql, sql_options())
        .await
        .and_then(|df| df.with_param_values(params))
        .map_err(explain)?;
    let batches = df.collect().await.map_err(explain)?;
    render(&batches, format).map_err(|e| RunError::Query(e.to_string()))
}

fn render(
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<String, datafusion::arrow::error::ArrowError> {
    match format {
        OutputFormat::Table => Ok(format!("{}\n", pretty_format_batches(batches)?)),
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::Writer::new(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
        }
        OutputFormat::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            Ok(format!(
                "{}\n",
                String::from_utf8_lossy(&writer.into_inner())
            ))
        }
    }
}
