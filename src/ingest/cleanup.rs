//! What interrupted runs leave in the warehouse: temporary outputs, and
//! published objects that no manifest entry owns.

use futures::TryStreamExt;
use object_store::ObjectMeta;

use super::IngestError;
use super::manifest::repair::{self, loaded_objects};
use super::manifest::{Manifest, ManifestError};
use crate::storage::Location;

/// Removes raw and quarantine objects that no manifest entry owns and
/// that an interrupted run left. A file's objects are published (renamed
/// into place) before its manifest entry is saved, so a run killed between
/// the two leaves objects whose rows would be read twice once the file
/// loads again. Such a run wrote no run record (`_runs/<run_id>.json`);
/// an unowned object of a run that did (or of a release before objects
/// named their run, under a manifest that records runs) means the manifest
/// is not this raw zone's, and the run stops before deleting anything. The
/// lock keeps other runs out meanwhile.
pub(super) async fn remove_unowned_objects(
    warehouse: &Location,
    manifest: &Manifest,
) -> Result<(), IngestError> {
    let owned: std::collections::HashSet<&str> = manifest
        .entries
        .iter()
        .flat_map(|e| [&e.raw_object, &e.quarantine_object])
        .flatten()
        .map(String::as_str)
        .collect();
    let unowned: Vec<ObjectMeta> = loaded_objects(warehouse)
        .await?
        .into_iter()
        .filter(|meta| !owned.contains(warehouse.relative(&meta.location).as_str()))
        .collect();
    // Manifests of format 1 name no runs: their unowned objects can only
    // be an interrupted run's, as before.
    let runs_recorded = manifest.entries.iter().any(|e| e.run_id.is_some());
    let mut finished_runs = std::collections::HashMap::new();
    for meta in &unowned {
        let relative = warehouse.relative(&meta.location);
        let run = repair::read_entry(warehouse, meta)
            .await
            .ok()
            .flatten()
            .and_then(|e| e.run_id);
        let foreign = match &run {
            Some(run) => match finished_runs.get(run) {
                Some(finished) => *finished,
                None => {
                    let record = warehouse.path(&format!("_runs/{run}.json"));
                    let finished = warehouse.exists(&record).await?;
                    finished_runs.insert(run.clone(), finished);
                    finished
                }
            },
            None => runs_recorded,
        };
        if foreign {
            let why = match run {
                Some(run) => format!("was loaded by run {run}, which finished"),
                None => "was loaded by an earlier release, before the runs the manifest \
                         names"
                    .into(),
            };
            return Err(ManifestError::Foreign {
                object: relative,
                why,
            }
            .into());
        }
    }
    for meta in unowned {
        let relative = warehouse.relative(&meta.location);
        tracing::warn!(object = %relative, "removing an object no manifest entry owns (left by an interrupted run)");
        warehouse.delete_if_exists(&meta.location).await?;
    }
    Ok(())
}

/// Removes `_state/tmp/<run_id>`, or all of `_state/tmp` for an empty id.
pub(super) async fn cleanup_tmp(warehouse: &Location, run_id: &str) {
    let prefix = warehouse.path(&format!("_state/tmp/{run_id}"));
    let listed: Result<Vec<ObjectMeta>, _> =
        warehouse.store.list(Some(&prefix)).try_collect().await;
    for meta in listed.unwrap_or_default() {
        let _ = warehouse.delete_if_exists(&meta.location).await;
    }
    if warehouse.url.scheme() == "file"
        && let Ok(dir) = warehouse.url.join(&format!("_state/tmp/{run_id}"))
        && let Ok(path) = dir.to_file_path()
    {
        // Local multipart staging files and empty folders are not listed.
        let _ = std::fs::remove_dir_all(path);
    }
}
