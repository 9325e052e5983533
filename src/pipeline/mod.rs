//! The SQL pipeline: models discovered under `queries/`, ordered by their
//! dependencies, run on one DataFusion session, and the reports published.

pub mod dag;
pub mod models;
pub mod publish;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::{Config, VarValue};
use crate::storage::Location;
use models::Model;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Io(String),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Success,
    Failed,
    /// Not built because a model it reads failed.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub model: String,
    pub file: String,
    pub status: ModelStatus,
    pub published: bool,
    pub rows: u64,
    pub bytes_written: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub models: Vec<ModelReport>,
}

impl BuildReport {
    pub fn failed(&self) -> bool {
        self.models
            .iter()
            .any(|m| !matches!(m.status, ModelStatus::Success))
    }

    pub fn summary_table(&self) -> String {
        let mut out = format!(
            "{:<28} {:<8} {:>10} {:>12} {:>9}\n",
            "model", "status", "rows", "bytes", "seconds"
        );
        for m in &self.models {
            let status = match m.status {
                ModelStatus::Success => "ok",
                ModelStatus::Failed => "FAILED",
                ModelStatus::Skipped => "skipped",
            };
            out.push_str(&format!(
                "{:<28} {:<8} {:>10} {:>12} {:>9.2}\n",
                m.model, status, m.rows, m.bytes_written, m.seconds
            ));
            if let Some(error) = &m.error {
                out.push_str(&format!("{:<28}   error: {error}\n", ""));
            }
        }
        out
    }
}

/// Named parameters every model may use: the config's vars and `$run_date`.
pub fn parameters(config: &Config, run_date: NaiveDate) -> HashMap<String, ScalarValue> {
    let mut params: HashMap<String, ScalarValue> = config
        .vars
        .iter()
        .map(|(name, value)| {
            let scalar = match value {
                VarValue::Bool(b) => ScalarValue::Boolean(Some(*b)),
                VarValue::Int(i) => ScalarValue::Int64(Some(*i)),
                VarValue::Float(f) => ScalarValue::Float64(Some(*f)),
                VarValue::Text(t) => ScalarValue::Utf8(Some(t.clone())),
            };
            (name.clone(), scalar)
        })
        .collect();
    params.insert(
        "run_date".into(),
        ScalarValue::Date32(Some(crate::ingest::values::date_to_days(run_date))),
    );
    params
}

fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Builds every model in dependency order; each result is materialised
/// once as an in-memory table its consumers read, and reports are
/// published. A failed model skips the models that read it.
pub async fn build(
    ctx: &SessionContext,
    config: &Config,
    warehouse: &Location,
    run_date: NaiveDate,
) -> Result<BuildReport, PipelineError> {
    let models = models::discover(&config.queries_dir())?;
    let deps = dag::dependencies(&ctx.state(), &models).map_err(PipelineError::Invalid)?;
    let order = dag::build_order(&deps).map_err(|e| PipelineError::Invalid(vec![e]))?;
    let by_name: HashMap<&str, &Model> = models.iter().map(|m| (m.name.as_str(), m)).collect();
    let params = parameters(config, run_date);
    let mut report = BuildReport::default();
    let mut broken: Vec<String> = Vec::new();
    for name in order {
        let model = by_name[name.as_str()];
        let upstream_broken = deps[&name].iter().find(|t| broken.contains(t));
        let mut entry = ModelReport {
            model: name.clone(),
            file: model.file.display().to_string(),
            status: ModelStatus::Success,
            published: false,
            rows: 0,
            bytes_written: 0,
            seconds: 0.0,
            error: None,
        };
        if let Some(up) = upstream_broken {
            entry.status = ModelStatus::Skipped;
            entry.error = Some(format!("upstream model {up} did not build"));
            broken.push(name.clone());
            report.models.push(entry);
            continue;
        }
        let started = Instant::now();
        match run_model(ctx, model, &params, warehouse, run_date).await {
            Ok((rows, bytes)) => {
                entry.rows = rows;
                entry.bytes_written = bytes;
                entry.published = model.publish;
            }
            Err(e) => {
                tracing::error!(model = %name, error = %e, "model failed");
                entry.status = ModelStatus::Failed;
                entry.error = Some(e);
                broken.push(name.clone());
            }
        }
        entry.seconds = started.elapsed().as_secs_f64();
        tracing::info!(model = %name, status = ?entry.status, rows = entry.rows, "model done");
        report.models.push(entry);
    }
    Ok(report)
}

async fn run_model(
    ctx: &SessionContext,
    model: &Model,
    params: &HashMap<String, ScalarValue>,
    warehouse: &Location,
    run_date: NaiveDate,
) -> Result<(u64, u64), String> {
    let file = model.file.display();
    let df = ctx
        .sql_with_options(&model.sql, sql_options())
        .await
        .and_then(|df| df.with_param_values(params.clone()))
        .map_err(|e| format!("{file}: {e}"))?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| format!("{file}: {e}"))?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let table = MemTable::try_new(schema.clone(), vec![batches.clone()])
        .map_err(|e| format!("{file}: {e}"))?;
    ctx.deregister_table(model.name.as_str())
        .map_err(|e| format!("{file}: {e}"))?;
    ctx.register_table(model.name.as_str(), Arc::new(table))
        .map_err(|e| format!("{file}: {e}"))?;
    if !model.publish {
        return Ok((rows, 0));
    }
    let published =
        publish::publish_report(warehouse, &model.name, schema, &batches, run_date).await?;
    Ok((published.rows, published.bytes))
}
