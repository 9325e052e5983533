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

/// Whether run `run_id` got to its end: it wrote its run record. A run
/// killed or stopped by an error in ingest wrote none.
pub async fn run_finished(warehouse: &Location, run_id: &str) -> Result<bool, StorageError> {
    warehouse
        .exists(&warehouse.path(&crate::storage::run_record_object(run_id)))
        .await
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
    /// Objects removed: those of an earlier load of a landing file that a
    /// later load replaced.
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
                "removed {removed} (an earlier load of a file a later load replaced)\n"
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
    // Per landing file (source, path), the loads found, by run; and the
    // run each object's own footer names (an object name is content
    // addressed, so a later load of the same content on the same day
    // writes over it).
    let mut loads: BTreeMap<(String, String), BTreeMap<String, ManifestEntry>> = BTreeMap::new();
    let mut written_by: BTreeMap<String, String> = BTreeMap::new();
    let mut unnamed = Vec::new();
    for meta in &objects {
        let relative = warehouse.relative(&meta.location);
        let entry = read_entry(warehouse, meta)
            .await
            .map_err(|e| ManifestError::Repair(format!("{relative}: {e}")))?;
        match entry {
            Some(entry) => {
                let run = entry.run_id.clone().unwrap_or_default();
                written_by.insert(relative, run.clone());
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
    let mut finished = BTreeSet::new();
    for run in loads.values().flat_map(|by_run| by_run.keys()) {
        if run_finished(warehouse, run).await? {
            finished.insert(run.clone());
        }
    }
    let mut entries = Vec::new();
    let mut removed = Vec::new();
    for (_, by_run) in loads {
        let Some(chosen) = choose(&by_run, &written_by, &finished) else {
            continue;
        };
        // Loads older than the chosen one were replaced by it: their
        // objects go, as the run that replaced them would have removed.
        for (run, entry) in &by_run {
            if *run < chosen.run_id.clone().unwrap_or_default() {
                removed.extend(
                    entry
                        .objects()
                        .filter(|o| written_by.get(*o) == Some(run))
                        .map(str::to_string),
                );
            }
        }
        entries.push(chosen);
    }
    entries.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
    removed.sort();
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

/// The load of one landing file the rebuilt manifest keeps: the newest
/// that is complete (its objects all there as it wrote them) or whose run
/// finished (`finished`: an object of it was lost later, by hand or by a
/// lifecycle rule); failing both, the newest with any object of its own.
/// A kept load that is not complete names only the objects it has. An
/// unfinished newer load (killed between its two objects) is passed over:
/// the next run removes what it left, and reads its file again.
fn choose(
    by_run: &BTreeMap<String, ManifestEntry>,
    written_by: &BTreeMap<String, String>,
    finished: &BTreeSet<String>,
) -> Option<ManifestEntry> {
    let own = |entry: &ManifestEntry, object: &str| written_by.get(object) == entry.run_id.as_ref();
    let settled = by_run.values().rev().find(|e| {
        e.objects().all(|o| own(e, o)) || e.run_id.as_ref().is_some_and(|r| finished.contains(r))
    });
    let candidates: Vec<&ManifestEntry> = match settled {
        Some(entry) => vec![entry],
        None => by_run.values().rev().collect(),
    };
    candidates.into_iter().find_map(|entry| {
        let keep = |object: &Option<String>| object.clone().filter(|o| own(entry, o));
        let partial = ManifestEntry {
            raw_object: keep(&entry.raw_object),
            quarantine_object: keep(&entry.quarantine_object),
            ..entry.clone()
        };
        // A load with none of its objects left is nothing to keep.
        partial.objects().next()?;
        if partial != *entry {
            tracing::warn!(
                source = %entry.source,
                file = %entry.path,
                "an object of this file's load is gone; keeping what there is"
            );
        }
        Some(partial)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(run: &str, raw: &str, quarantine: Option<&str>) -> ManifestEntry {
        ManifestEntry {
            source: "orders".into(),
            path: "orders.csv".into(),
            size: 10,
            e_tag: None,
            last_modified: 0,
            hash: format!("h-{run}"),
            rows_read: 3,
            rows_loaded: 2,
            rows_quarantined: 1,
            rows_skipped: 0,
            load_date: "2026-11-01".into(),
            raw_object: Some(raw.into()),
            quarantine_object: quarantine.map(str::to_string),
            duplicate_of: None,
            loaded_at: 0,
            columns: None,
            fingerprint: None,
            run_id: Some(run.into()),
        }
    }

    fn loads(entries: &[&ManifestEntry]) -> BTreeMap<String, ManifestEntry> {
        entries
            .iter()
            .map(|e| (e.run_id.clone().unwrap(), (*e).clone()))
            .collect()
    }

    fn written(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn the_newest_complete_load_is_kept() {
        let old = load("r1", "raw/a1", Some("q/a1"));
        let new = load("r2", "raw/a2", Some("q/a2"));
        let by = written(&[
            ("raw/a1", "r1"),
            ("q/a1", "r1"),
            ("raw/a2", "r2"),
            ("q/a2", "r2"),
        ]);
        let chosen = choose(&loads(&[&old, &new]), &by, &BTreeSet::new());
        assert_eq!(chosen, Some(new));
    }

    #[test]
    fn an_unfinished_newer_load_missing_an_object_is_passed_over() {
        // Killed between publishing its raw and its quarantine object.
        let old = load("r1", "raw/a1", Some("q/a1"));
        let new = load("r2", "raw/a2", Some("q/a2"));
        let by = written(&[("raw/a1", "r1"), ("q/a1", "r1"), ("raw/a2", "r2")]);
        let chosen = choose(&loads(&[&old, &new]), &by, &BTreeSet::new());
        assert_eq!(chosen, Some(old));
    }

    #[test]
    fn a_finished_load_that_lost_an_object_is_kept_without_it() {
        let old = load("r1", "raw/a1", Some("q/a1"));
        let new = load("r2", "raw/a2", Some("q/a2"));
        let by = written(&[("raw/a1", "r1"), ("q/a1", "r1"), ("raw/a2", "r2")]);
        let finished = BTreeSet::from(["r2".to_string()]);
        let chosen = choose(&loads(&[&old, &new]), &by, &finished).unwrap();
        assert_eq!(chosen.raw_object.as_deref(), Some("raw/a2"));
        assert_eq!(chosen.quarantine_object, None);
    }

    #[test]
    fn an_object_written_over_by_a_later_load_belongs_to_that_load() {
        // Same content reloaded the same day: the same object name, whose
        // footer now names the later run.
        let old = load("r1", "raw/a", None);
        let new = load("r2", "raw/a", None);
        let by = written(&[("raw/a", "r2")]);
        let chosen = choose(&loads(&[&old, &new]), &by, &BTreeSet::new());
        assert_eq!(chosen, Some(new));
        // Only the earlier load's footer left: nothing of the later is there.
        let by = written(&[("raw/a", "r1")]);
        let old_only = choose(
            &loads(&[&old, &load("r2", "raw/b", None)]),
            &by,
            &BTreeSet::new(),
        );
        assert_eq!(old_only, Some(old));
    }
}
