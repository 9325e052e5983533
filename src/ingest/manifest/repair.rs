//! `advocacy repair-manifest`: the manifest rebuilt from the raw zone's
//! own objects. Each raw and quarantine object carries the entry of the
//! landing file it was loaded from ([`ENTRY_KEY`]), so the rebuilt
//! manifest knows every loaded file as the lost one did: nothing is
//! reloaded twice (each file keeps its size, version and load time) and
//! nothing is lost (no raw object is deleted unless a newer load of the
//! same landing file replaces it, as a run would have done).

use std::collections::{BTreeMap, BTreeSet};

use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};

use super::{ENTRY_KEY, FORMAT_VERSION, MANIFEST_PATH, Manifest, ManifestEntry, ManifestError};
use crate::state_format;
use crate::storage::{Location, StorageError};

/// The zones whose objects the manifest owns.
const LOADED_ZONES: [&str; 2] = ["raw", "quarantine"];

/// Every object of the raw and quarantine zones.
pub async fn loaded_objects(warehouse: &Location) -> Result<Vec<ObjectMeta>, StorageError> {
    let mut objects = Vec::new();
    for zone in LOADED_ZONES {
        let prefix = warehouse.path(zone);
        let listed: Vec<ObjectMeta> = warehouse
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::object("list", &prefix, e))?;
        objects.extend(listed);
    }
    Ok(objects)
}

/// The path of one raw or quarantine object, if there is any.
pub async fn first_loaded_object(warehouse: &Location) -> Result<Option<String>, StorageError> {
    for zone in LOADED_ZONES {
        let prefix = warehouse.path(zone);
        let mut listing = warehouse.store.list(Some(&prefix));
        if let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| StorageError::object("list", &prefix, e))?
        {
            return Ok(Some(warehouse.relative(&meta.location)));
        }
    }
    Ok(None)
}

/// The entry a raw or quarantine object carries (one footer read);
/// `None` for an object written before objects carried one.
pub async fn read_entry(
    warehouse: &Location,
    meta: &ObjectMeta,
) -> Result<Option<ManifestEntry>, String> {
    let metadata = DFParquetMetadata::new(warehouse.store.as_ref(), meta)
        .fetch_metadata()
        .await
        .map_err(|e| format!("cannot read its footer: {e}"))?;
    let pairs = metadata.file_metadata().key_value_metadata();
    let version = super::format_version(pairs)?;
    state_format::check(&warehouse.relative(&meta.location), version, FORMAT_VERSION)
        .map_err(|e| e.to_string())?;
    let Some(json) = pairs
        .into_iter()
        .flatten()
        .find(|kv| kv.key == ENTRY_KEY)
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| format!("its {ENTRY_KEY} metadata is not an entry: {e}"))
}

/// What a repair found and did.
#[derive(Debug)]
pub struct Repaired {
    pub manifest: Manifest,
    /// Raw and quarantine objects read.
    pub objects: usize,
    /// Objects removed: an earlier load of a landing file that a later
    /// load replaced, or the part of an interrupted load whose other
    /// object never appeared.
    pub removed: Vec<String>,
    /// Where the manifest that was there went, if there was one.
    pub kept_as: Option<String>,
}

impl Repaired {
    pub fn summary(&self) -> String {
        let sources: BTreeSet<&str> = self
            .manifest
            .entries
            .iter()
            .map(|e| e.source.as_str())
            .collect();
        let rows: u64 = self.manifest.entries.iter().map(|e| e.rows_loaded).sum();
        let mut out = format!(
            "rebuilt {MANIFEST_PATH} from {} raw and quarantine objects: {} landing files \
             of {} sources, {rows} rows loaded\n",
            self.objects,
            self.manifest.entries.len(),
            sources.len()
        );
        for removed in &self.removed {
            out.push_str(&format!(
                "removed {removed} (replaced by a later load of its file)\n"
            ));
        }
        if let Some(kept) = &self.kept_as {
            out.push_str(&format!("the manifest that was there is kept as {kept}\n"));
        }
        out
    }
}

/// Rebuilds the manifest from the raw and quarantine objects and saves it;
/// the one that was there (unreadable, or not this raw zone's) is kept
/// beside it under the run id. Runs under the warehouse lock.
pub async fn rebuild(warehouse: &Location, run_id: &str) -> Result<Repaired, ManifestError> {
    let objects = loaded_objects(warehouse).await?;
    // Per landing file (source, path), the loads found, by run.
    let mut loads: BTreeMap<(String, String), BTreeMap<String, ManifestEntry>> = BTreeMap::new();
    let mut present = BTreeSet::new();
    let mut unnamed = Vec::new();
    for meta in &objects {
        let relative = warehouse.relative(&meta.location);
        let entry = read_entry(warehouse, meta)
            .await
            .map_err(|e| ManifestError::Repair(format!("{relative}: {e}")))?;
        present.insert(relative.clone());
        match entry {
            Some(entry) => {
                let run = entry.run_id.clone().unwrap_or_default();
                loads
                    .entry((entry.source.clone(), entry.path.clone()))
                    .or_default()
                    .insert(run, entry);
            }
            None => unnamed.push(relative),
        }
    }
    if let Some(first) = unnamed.first() {
        return Err(ManifestError::Repair(format!(
            "{} objects (such as {first}) were written before raw objects named their landing \
             file; move them out of the warehouse, repair, and load their landing files again",
            unnamed.len()
        )));
    }
    let mut entries = Vec::new();
    let mut removed = Vec::new();
    for (_, by_run) in loads {
        // The newest load whose objects are all there is the file's; the
        // others were replaced (or never finished).
        let complete = |e: &ManifestEntry| {
            [&e.raw_object, &e.quarantine_object]
                .into_iter()
                .flatten()
                .all(|o| present.contains(o))
        };
        let chosen = by_run.values().rev().find(|e| complete(e)).cloned();
        for entry in by_run.values() {
            if Some(entry) != chosen.as_ref() {
                removed.extend(
                    [&entry.raw_object, &entry.quarantine_object]
                        .into_iter()
                        .flatten()
                        .filter(|o| present.contains(*o))
                        .filter(|o| chosen.as_ref().is_none_or(|c| !owns(c, o)))
                        .cloned(),
                );
            }
        }
        entries.extend(chosen);
    }
    entries.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
    removed.sort();
    removed.dedup();
    let kept_as = keep_previous(warehouse, run_id).await?;
    let manifest = Manifest { entries };
    manifest.save(warehouse).await?;
    // Only once the manifest no longer names them.
    for object in &removed {
        warehouse.delete_if_exists(&warehouse.path(object)).await?;
    }
    Ok(Repaired {
        manifest,
        objects: objects.len(),
        removed,
        kept_as,
    })
}

fn owns(entry: &ManifestEntry, object: &str) -> bool {
    entry.raw_object.as_deref() == Some(object)
        || entry.quarantine_object.as_deref() == Some(object)
}

/// Copies the manifest that is there (if any) aside before it is replaced.
async fn keep_previous(warehouse: &Location, run_id: &str) -> Result<Option<String>, StorageError> {
    let from = warehouse.path(MANIFEST_PATH);
    if !warehouse.exists(&from).await? {
        return Ok(None);
    }
    let kept = format!("{MANIFEST_PATH}.replaced-{run_id}");
    let to = warehouse.path(&kept);
    warehouse
        .store
        .copy(&from, &to)
        .await
        .map_err(|e| StorageError::object("copy", &from, e))?;
    Ok(Some(kept))
}
