//! `advocacy build --dev NAME`: the selected models and everything
//! downstream of them built into `_dev/NAME/` of the warehouse, the
//! unselected models they read taken from production's last results.
//! Nothing under `reports/`, `history/`, `_state/` or `_runs/` is written,
//! and no `_SUCCESS`: dashboards never see a dev build. `advocacy diff
//! --dev NAME` then compares its reports with the published ones.

use std::collections::BTreeSet;
use std::time::Instant;

use datafusion::prelude::SessionContext;

use super::{
    BuildOptions, BuildReport, PipelineError, Project, data_tests, execute, parameters, select,
    stamp,
};
use crate::config::Config;
use crate::storage::Location;
use crate::timing::PhaseTiming;

/// The folder of a dev build.
pub fn dir(name: &str) -> String {
    format!("_dev/{name}")
}

/// Where a dev build materialises its models (reports included).
pub fn models_dir(name: &str) -> String {
    format!("{}/models", dir(name))
}

/// The dev build's run record.
pub fn record_object(name: &str) -> String {
    format!("{}/run.json", dir(name))
}

/// A dev name is one path segment of letters, digits, `-`, `_` and `.`
/// (not leading), so `_dev/NAME/` can never point outside `_dev/`.
pub fn check_name(name: &str) -> Result<(), PipelineError> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match fine {
        true => Ok(()),
        false => Err(PipelineError::Invalid(vec![format!(
            "--dev {name:?}: a dev build's name is up to 64 letters, digits, '-', '_' or '.' (not first)"
        )])),
    }
}

/// The models `patterns` select and every model downstream of them (all
/// of them without patterns): what a change to the selected SQL can move.
pub fn selection(
    project: &Project,
    patterns: &[String],
) -> Result<BTreeSet<String>, PipelineError> {
    if patterns.is_empty() {
        return Ok(project.order.iter().cloned().collect());
    }
    let picked = select::select(patterns, &project.deps, &project.spec)
        .map_err(|e| PipelineError::Invalid(vec![e]))?;
    let mut all = picked.clone();
    for model in &picked {
        all.extend(super::dag::descendants(&project.deps, model));
    }
    Ok(all)
}

/// Removes every object under `_dev/NAME/`.
async fn clear(warehouse: &Location, name: &str) -> Result<(), PipelineError> {
    use futures::TryStreamExt;
    let prefix = warehouse.path(&dir(name));
    let objects: Vec<object_store::ObjectMeta> = warehouse
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| PipelineError::Io(format!("cannot list {}/: {e}", dir(name))))?;
    for object in objects {
        warehouse
            .delete_if_exists(&object.location)
            .await
            .map_err(|e| PipelineError::Io(e.to_string()))?;
    }
    Ok(())
}

/// Adds to `selected` every unselected model it reads (directly or
/// through another added one) whose last result in `_state/models/` was
/// not made for `run_date`: a backfill since the nightly leaves its own
/// date's results there, and a dev build on them would differ from the
/// published reports for that reason alone. One warning per model added.
async fn stale_upstream(
    warehouse: &Location,
    project: &Project,
    selected: &mut BTreeSet<String>,
    run_date: chrono::NaiveDate,
) -> Vec<String> {
    let mut warnings = Vec::new();
    // Readers come after what they read: walking back, a model added here
    // is itself looked through before its own inputs are.
    for name in project.order.iter().rev() {
        if selected.contains(name) || !selected.iter().any(|s| project.deps[s].contains(name)) {
            continue;
        }
        let made_for = match stamp::read_stamp(warehouse, &super::materialised_path(name)).await {
            Ok(stamp::Stamped::By(stamp)) if stamp.run_date == run_date => continue,
            Ok(stamp::Stamped::By(stamp)) => format!("of run date {}", stamp.run_date),
            Ok(stamp::Stamped::Missing) => "missing".to_string(),
            Ok(stamp::Stamped::Unstamped) => "of an unknown run date".to_string(),
            Err(e) => format!("unreadable ({e})"),
        };
        warnings.push(format!(
            "built {name} too: its last result in _state/models/ is {made_for}, not {run_date}"
        ));
        selected.insert(name.clone());
    }
    warnings
}

/// Builds and tests a dev build's models. Data tests are reported as in
/// a production build (a failure is exit 3), and nothing is published.
pub async fn build(
    ctx: &SessionContext,
    config: &Config,
    warehouse: &Location,
    project: &Project,
    options: &BuildOptions,
    name: &str,
) -> Result<BuildReport, PipelineError> {
    // What an earlier build of this name left would be compared as if
    // this one had made it.
    clear(warehouse, name).await?;
    let mut selected = selection(project, &options.select)?;
    let stale = stale_upstream(warehouse, project, &mut selected, options.run_date).await;
    let params = parameters(config, &project.spec, options.run_date);
    let stamp = stamp::Stamp {
        run_date: options.run_date,
        run_id: options.run_id.clone(),
    };
    let started = Instant::now();
    let models = execute::execute(
        ctx,
        project,
        &selected,
        warehouse,
        &params,
        &stamp,
        &execute::Destination {
            models_dir: &models_dir(name),
            // A dev build is where a change is tried: `advocacy diff` shows
            // its schema changes, and validate and the run refuse a break.
            contracts: &Default::default(),
        },
    )
    .await;
    let rows: u64 = models.iter().map(|m| m.rows).sum();
    let mut report = BuildReport {
        models,
        ..BuildReport::default()
    };
    report
        .phases
        .push(PhaseTiming::since("models", started, rows));
    let built: BTreeSet<String> = report
        .models
        .iter()
        .filter(|m| matches!(m.status, super::ModelStatus::Success))
        .map(|m| m.model.clone())
        .collect();
    let started = Instant::now();
    let (tests, warnings) = data_tests::run(ctx, project, &built, &params).await;
    report
        .phases
        .push(PhaseTiming::since("tests", started, rows));
    report.tests = [options.source_tests.clone(), tests].concat();
    report.warnings = [stale, warnings].concat();
    report.warnings.push(format!(
        "dev build {name} in {}/: nothing was published; `advocacy diff --dev {name}` compares its reports with the published ones",
        dir(name)
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_name_is_one_safe_path_segment() {
        for fine in ["alice", "pr-123", "nps_v2", "a.b"] {
            assert!(check_name(fine).is_ok(), "{fine}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
