//! `advocacy diff`: what a change does to the reports before it is
//! published. `--dev NAME` compares each report a dev build made
//! (`_dev/NAME/models/`, see `crate::pipeline::dev`) with the one in
//! `reports/`; `--from-date D1 --to-date D2` compares the dated copies of
//! two runs in `history/` ("what changed since last night"). Rows are
//! matched by the key models.yml declares for the report (see
//! `compare`). Reads the warehouse, writes nothing.

mod compare;
mod render;

use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::Config;
use crate::pipeline::stamp::history_object;
use crate::pipeline::{PipelineError, Project, contract, dev, model_object};
use crate::run::RunError;
use crate::storage::report_object;
pub use compare::{Change, ColumnDiff, SchemaChange, TableDiff};

/// What the reports are compared against.
#[derive(Debug, Clone)]
pub enum Against {
    /// A dev build's reports against the published ones.
    Dev(String),
    /// The copies of two run dates in `history/`.
    Dates { from: NaiveDate, to: NaiveDate },
}

impl Against {
    /// The old and new sides' names, for people.
    fn labels(&self) -> (String, String) {
        match self {
            Against::Dev(name) => ("reports/".into(), format!("{}/", dev::dir(name))),
            Against::Dates { from, to } => (format!("history {from}"), format!("history {to}")),
        }
    }

    /// A report's old and new objects (a dev build keeps it as its model).
    fn objects(&self, report: &str, model: &str) -> (String, String) {
        match self {
            Against::Dev(name) => (
                report_object(report),
                model_object(&dev::models_dir(name), model),
            ),
            Against::Dates { from, to } => {
                (history_object(report, *from), history_object(report, *to))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub old: String,
    pub new: String,
    pub reports: Vec<ReportDiff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDiff {
    pub report: String,
    /// Compared, or why not (`only_new`, `only_old`).
    pub status: &'static str,
    pub old_object: String,
    pub new_object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<TableDiff>,
}

/// Compares `reports` (every published report when empty) on both sides.
/// A report named that is not one, a dev build that does not exist, or
/// nothing to compare at all is an error.
pub async fn diff(
    config_path: &Path,
    against: &Against,
    reports: &[String],
) -> Result<Diff, RunError> {
    let config = Config::load(config_path)?;
    let project = Project::load_valid(&config)?;
    let warehouse = crate::inspect::open_warehouse(&config)?;
    // Reports by the name they are published as, each with the model
    // whose key matches its rows; a previous version of a report still
    // published beside a declared new one is compared too.
    let mut published: std::collections::BTreeMap<String, String> = project
        .models
        .iter()
        .filter(|m| m.publish)
        .map(|m| (m.report.clone(), m.name.clone()))
        .collect();
    // (Not for a dev build, which builds the new version only.)
    for model in project.models.iter().filter(|m| m.publish) {
        let version = contract::declared_version(&project.spec, &model.name);
        if version >= 2 && !matches!(against, Against::Dev(_)) {
            let previous = contract::report_name(&model.name, version - 1);
            published.insert(previous, model.name.clone());
        }
    }
    let invalid = |message: String| RunError::Pipeline(PipelineError::Invalid(vec![message]));
    for name in reports {
        if !published.contains_key(name) {
            let list: Vec<&str> = published.keys().map(String::as_str).collect();
            return Err(invalid(format!(
                "{name} is not a report (the reports are {})",
                list.join(", ")
            )));
        }
    }
    if let Against::Dev(name) = against {
        dev::check_name(name)?;
        let record = warehouse.path(&dev::record_object(name));
        if !warehouse.exists(&record).await? {
            return Err(invalid(format!(
                "there is no dev build {name} in this warehouse: `advocacy build --dev {name}` makes one"
            )));
        }
    }
    let names: Vec<String> = match reports.is_empty() {
        true => published.keys().cloned().collect(),
        false => reports.to_vec(),
    };
    let ctx = crate::engine::local_session(&config)?;
    let (old, new) = against.labels();
    let mut out = Diff {
        old,
        new,
        reports: Vec::new(),
    };
    for name in names {
        let model = &published[&name];
        let (old_object, new_object) = against.objects(&name, model);
        let old_exists = warehouse.exists(&warehouse.path(&old_object)).await?;
        let new_exists = warehouse.exists(&warehouse.path(&new_object)).await?;
        let status = match (old_exists, new_exists) {
            (true, true) => "compared",
            (false, true) => "only_new",
            (true, false) => "only_old",
            (false, false) => "in_neither",
        };
        // A dev build makes only what its selection reaches: the others
        // are not news unless asked for by name.
        let explicit = reports.contains(&name);
        if !new_exists && matches!(against, Against::Dev(_)) && !explicit {
            continue;
        }
        if !old_exists && !new_exists && !explicit {
            continue;
        }
        let diff = match status {
            "compared" => {
                let key = project.spec.model(model).and_then(|spec| spec.key());
                let url = |object: &str| format!("{}{object}", warehouse.url);
                let (old_url, new_url) = (url(&old_object), url(&new_object));
                let compared = compare::compare(&ctx, &old_url, &new_url, key.as_deref());
                Some(compared.await.map_err(|e| {
                    RunError::Query(format!(
                        "{name}: comparing {old_object} with {new_object}: {}",
                        e.strip_backtrace()
                    ))
                })?)
            }
            _ => None,
        };
        out.reports.push(ReportDiff {
            report: name,
            status,
            old_object,
            new_object,
            diff,
        });
    }
    if !out.reports.iter().any(|r| r.status == "compared") {
        return Err(invalid(format!(
            "nothing to compare: no report is in both {} and {}",
            out.old, out.new
        )));
    }
    Ok(out)
}

impl Diff {
    /// The comparison as text: a block per report.
    pub fn render(&self) -> String {
        render::render(self)
    }
}
