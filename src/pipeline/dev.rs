//! `advocacy build --dev NAME`: the selected models and everything
//! downstream of them built into `_dev/NAME/` of the warehouse, the
//! unselected models they read taken from production's last results where
//! those were computed from the same inputs (see `super::fingerprint`).
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

/// The selected models and every model they read, directly or not: the
/// ones read are reused from production's `_state/models/` where their
/// fingerprint matches, and computed into the dev build otherwise.
fn with_upstream(project: &Project, selected: &BTreeSet<String>) -> BTreeSet<String> {
    let mut all = selected.clone();
    for model in selected {
        all.extend(super::dag::ancestors(&project.deps, model));
    }
    all
}

/// One warning per model read that production's last result could not
/// stand in for (a backfill since the nightly left its own date's results
/// there, or the SQL or data changed since), so this build computed it.
async fn computed_upstream(
    warehouse: &Location,
    report: &BuildReport,
    selected: &BTreeSet<String>,
    run_date: chrono::NaiveDate,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let computed = report.models.iter().filter(|m| {
        !selected.contains(&m.model)
            && m.reused.is_none()
            && matches!(m.status, super::ModelStatus::Success)
    });
    for model in computed {
        let made_for =
            match stamp::read_stamp(warehouse, &super::materialised_path(&model.model)).await {
                Ok(stamp::Stamped::By(stamp)) => format!("of run date {}", stamp.run_date),
                Ok(stamp::Stamped::Missing) => "missing".to_string(),
                Ok(stamp::Stamped::Unstamped) => "of an unknown run date".to_string(),
                Err(e) => format!("unreadable ({e})"),
            };
        warnings.push(format!(
            "built {} too: its last result in _state/models/ ({made_for}) was not computed from \
             this build's inputs (run date {run_date})",
            model.model
        ));
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
    let selected = selection(project, &options.select)?;
    let to = execute::Destination {
        models_dir: &models_dir(name),
        // A dev build is where a change is tried: `advocacy diff` shows
        // its schema changes, and validate and the run refuse a break.
        contracts: &Default::default(),
        reuse_from: (!options.full_refresh).then_some(execute::STATE_MODELS),
        always_build: &selected,
    };
    let all = with_upstream(project, &selected);
    let mut report =
        super::build_and_test(ctx, config, warehouse, project, options, &all, &to).await;
    let computed = computed_upstream(warehouse, &report, &selected, options.run_date).await;
    report.warnings = [computed, std::mem::take(&mut report.warnings)].concat();
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
