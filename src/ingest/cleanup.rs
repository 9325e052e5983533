//! What interrupted runs leave in the warehouse: temporary outputs, and
//! published objects that no manifest entry owns.

use futures::TryStreamExt;
use object_store::ObjectMeta;

use super::IngestError;
use super::manifest::Manifest;
use crate::storage::{Location, StorageError};

/// Removes raw and quarantine objects that no manifest entry owns. A file's
/// objects are published (renamed into place) before its manifest entry
/// is saved, so a run killed between the two leaves objects whose rows
/// would otherwise be read twice once the file loads again; without a
/// manifest (moved away, then `--full-refresh`) the raw zone is rebuilt
/// from the landing files. The lock keeps other runs out meanwhile.
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
    for zone in ["raw", "quarantine"] {
        let prefix = warehouse.path(zone);
        let listed: Vec<ObjectMeta> = warehouse
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::object("list", &prefix, e))?;
        for meta in listed {
            let relative = warehouse.relative(&meta.location);
            if !owned.contains(relative.as_str()) {
                tracing::warn!(object = %relative, "removing an object no manifest entry owns (left by an interrupted run)");
                warehouse.delete_if_exists(&meta.location).await?;
            }
        }
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
