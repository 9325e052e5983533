//! What interrupted runs leave in the warehouse: temporary outputs, and
//! published objects that no manifest entry owns.

use futures::TryStreamExt;
use object_store::ObjectMeta;

use super::IngestError;
use super::manifest::repair::{self, loaded_objects};
use super::manifest::{Manifest, ManifestEntry, ManifestError};
use crate::storage::Location;

/// Removes raw and quarantine objects that no manifest entry owns, when
/// they are provably leftovers; stops the run, deleting nothing, when one
/// is not. Leftovers are of two kinds:
/// - a file's objects are published (renamed into place) before its entry
///   is saved, so a run killed between the two leaves objects whose rows
///   would be read twice once the file loads again; such a run wrote no
///   run record (`_runs/<run_id>.json`);
/// - a file loaded again has its earlier objects removed after its new
///   entry is saved, so a run killed between the two leaves objects of a
///   load older than the one the manifest holds for that file.
///
/// An unowned object of a finished run that is not older than the
/// manifest's load of its file, one whose footer cannot be read, or one
/// written before objects named their load (under a manifest that names
/// runs) means the manifest is not this raw zone's. The lock keeps other
/// runs out meanwhile.
pub(super) async fn remove_unowned_objects(
    warehouse: &Location,
    manifest: &Manifest,
) -> Result<(), IngestError> {
    let owned: std::collections::HashSet<&str> = manifest
        .entries
        .iter()
        .flat_map(ManifestEntry::objects)
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
        let foreign = |why: String| ManifestError::Foreign {
            object: relative.clone(),
            why,
        };
        let entry = repair::read_entry(warehouse, meta)
            .await
            .map_err(|e| foreign(format!("cannot be told apart ({e})")))?;
        let Some(entry) = entry else {
            if runs_recorded {
                return Err(foreign(
                    "was written by an earlier release, before the runs the manifest names".into(),
                )
                .into());
            }
            continue;
        };
        let run = entry.run_id.clone().unwrap_or_default();
        let newer_load_saved = manifest
            .find(&entry.source, &entry.path)
            .and_then(|saved| saved.run_id.as_deref())
            .is_some_and(|saved_run| saved_run > run.as_str());
        if newer_load_saved {
            continue;
        }
        let finished = match finished_runs.get(&run) {
            Some(finished) => *finished,
            None => {
                let finished = repair::run_finished(warehouse, &run).await?;
                finished_runs.insert(run.clone(), finished);
                finished
            }
        };
        if finished {
            return Err(foreign(format!("was loaded by run {run}, which finished")).into());
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
