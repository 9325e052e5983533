//! Column lineage: where a report column comes from. Every model is
//! planned in order as `validate` plans it (no data read), and each of its
//! columns is traced through its logical plan to the columns of the tables
//! it reads (`plan`); chained, those lead from a report column through the
//! models to the raw entity fields, and from there, by the config's
//! mappings, to the sources and export columns that fill them (`sources`).
//! `advocacy lineage <report>.<column>` prints that; `advocacy dag --format
//! json` carries every model's columns with the columns each is computed
//! from.

mod plan;
mod sources;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use serde::Serialize;

use super::diagnostics::describe;
use super::{PipelineError, Project, parameters, sql_options, validate};
use crate::config::Config;
pub use plan::Source;
pub use sources::SourceField;

/// Per model, per column (in the model's order), the columns of the tables
/// it reads that the column is computed from.
pub type Graph = BTreeMap<String, Vec<(String, BTreeSet<Source>)>>;

/// Plans every model in order and traces each column.
pub async fn graph(
    config: &Config,
    project: &Project,
    run_date: NaiveDate,
) -> Result<Graph, PipelineError> {
    let engine = |e: datafusion::error::DataFusionError| PipelineError::Io(e.to_string());
    let ctx = validate::empty_raw_tables(config).map_err(engine)?;
    let params = parameters(config, &project.spec, run_date);
    let known = project.known_tables();
    let mut graph = Graph::new();
    for name in &project.order {
        let model = project.model(name);
        let file = model.file.display().to_string();
        let invalid = |e: datafusion::error::DataFusionError| {
            PipelineError::Invalid(vec![describe(&file, &model.sql, &e, &known)])
        };
        let df = ctx
            .sql_with_options(&model.sql, sql_options())
            .await
            .and_then(|df| df.with_param_values(params.clone()))
            .map_err(invalid)?;
        let columns = plan::lineage(df.logical_plan()).map_err(invalid)?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        graph.insert(
            name.clone(),
            schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .zip(columns)
                .collect(),
        );
        let table = MemTable::try_new(schema, vec![vec![]]).map_err(engine)?;
        ctx.register_table(name.as_str(), Arc::new(table))
            .map_err(engine)?;
    }
    Ok(graph)
}

/// Everything one column is computed from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trace {
    pub model: String,
    pub column: String,
    /// Upstream models and their columns, in build order.
    pub models: Vec<(String, BTreeSet<String>)>,
    /// Raw tables and their columns.
    pub raw: BTreeMap<String, BTreeSet<String>>,
    /// Where each raw column comes from in each source that fills it.
    pub sources: Vec<SourceField>,
}

/// The upstream columns of `model.column`, all the way down.
pub fn trace(
    config: &Config,
    project: &Project,
    graph: &Graph,
    model: &str,
    column: &str,
) -> Result<Trace, String> {
    let columns = graph
        .get(model)
        .ok_or_else(|| format!("there is no model {model}"))?;
    if !columns.iter().any(|(c, _)| c == column) {
        let list: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        return Err(format!(
            "{model} has no column {column} (its columns are {})",
            list.join(", ")
        ));
    }
    let mut models: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut raw: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen: BTreeSet<Source> = BTreeSet::new();
    let mut queue: VecDeque<Source> = VecDeque::from([(model.to_string(), column.to_string())]);
    while let Some((table, name)) = queue.pop_front() {
        let Some(columns) = graph.get(&table) else {
            raw.entry(table).or_default().insert(name);
            continue;
        };
        let upstream = columns
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        for source in upstream {
            if seen.insert(source.clone()) {
                if graph.contains_key(&source.0) {
                    models
                        .entry(source.0.clone())
                        .or_default()
                        .insert(source.1.clone());
                }
                queue.push_back(source);
            }
        }
    }
    let order = |name: &String| project.order.iter().position(|m| m == name);
    let mut models: Vec<(String, BTreeSet<String>)> = models.into_iter().collect();
    models.sort_by_key(|(name, _)| std::cmp::Reverse(order(name)));
    let sources = sources::fields(config, &raw);
    Ok(Trace {
        model: model.to_string(),
        column: column.to_string(),
        models,
        raw,
        sources,
    })
}

impl Trace {
    /// The trace as text: models nearest first, then raw fields, then the
    /// export columns behind them.
    pub fn render(&self) -> String {
        let mut out = format!("{}.{} is computed from\n", self.model, self.column);
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        if !self.models.is_empty() {
            out.push_str("  models (nearest first):\n");
            for (model, columns) in &self.models {
                out.push_str(&format!("    {model}: {}\n", list(columns)));
            }
        }
        if !self.raw.is_empty() {
            out.push_str("  raw fields:\n");
            for (table, columns) in &self.raw {
                out.push_str(&format!("    {table}: {}\n", list(columns)));
            }
        }
        if !self.sources.is_empty() {
            out.push_str("  sources (config mappings):\n");
            for field in &self.sources {
                out.push_str(&format!(
                    "    {} ({}): {}.{} <- {}\n",
                    field.source, field.entity, field.raw_table, field.raw_column, field.from
                ));
            }
        }
        if self.models.is_empty() && self.raw.is_empty() {
            out.push_str("  nothing: it is a constant or a parameter\n");
        }
        out
    }
}

/// `advocacy dag --format json`: every model in build order with what it
/// reads and, per column, the `table.column`s it is computed from.
pub fn graph_json(project: &Project, graph: &Graph) -> String {
    let published = project.published();
    let models: Vec<serde_json::Value> = project
        .order
        .iter()
        .map(|name| {
            let columns: Vec<serde_json::Value> = graph[name]
                .iter()
                .map(|(column, from)| {
                    let from: Vec<String> = from.iter().map(|(t, c)| format!("{t}.{c}")).collect();
                    serde_json::json!({ "name": column, "from": from })
                })
                .collect();
            serde_json::json!({
                "name": name,
                "kind": if published.contains(name) { "report" } else { "model" },
                "reads": project.deps[name],
                "columns": columns,
            })
        })
        .collect();
    let json = serde_json::json!({ "models": models });
    format!("{}\n", serde_json::to_string_pretty(&json).expect("JSON"))
}
