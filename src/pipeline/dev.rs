//! `advocacy build --dev NAME`: the selected models and everything
//! downstream of them built into `_dev/NAME/` of the warehouse, the
//! unselected models they read taken from production's last results.
//! Nothing under `reports/`, `history/`, `_state/` or `_runs/` is written,
//! and no `_SUCCESS`: dashboards never see a dev build. `advocacy diff
//! --dev NAME` then compares its reports with the published ones.

use std::collections::BTreeSet;

use datafusion::prelude::SessionContext;

use super::{BuildOptions, BuildReport, PipelineError, Project, execute, select, stamp};
use crate::config::Config;
use crate::storage::Location;

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

/// Removes every object under `_dev/NAME/` (object_store's bulk delete:
/// one request per thousand objects on S3).
async fn clear(warehouse: &Location, name: &str) -> Result<(), PipelineError> {
    use futures::{StreamExt, TryStreamExt};
    let prefix = warehouse.path(&dir(name));
    let listed = warehouse
        .store
        .list(Some(&prefix))
        .map_ok(|object| object.location)
        .boxed();
    warehouse
        .store
        .delete_stream(listed)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| PipelineError::Io(format!("cannot clear {}/: {e}", dir(name))))?;
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
    let to = execute::Destination {
        models_dir: &models_dir(name),
        // A dev build is where a change is tried: `advocacy diff` shows
        // its schema changes, and validate and the run refuse a break.
        contracts: &Default::default(),
    };
    let mut report =
        super::build_and_test(ctx, config, warehouse, project, options, &selected, &to).await;
    report.warnings = [stale, std::mem::take(&mut report.warnings)].concat();
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
