//! Ingest: every configured source's landing files are read, mapped onto
//! a canonical entity, validated row by row and written to the raw zone as
//! Parquet; bad rows go to quarantine. Per file, rows read = rows loaded +
//! rows quarantined + rows skipped (label rows, footers, rows a filter
//! leaves out), and the manifest makes re-runs idempotent.

mod cleanup;
mod csv;
mod decode;
mod expressions;
mod header;
mod input;
mod json;
mod json_lookup;
mod json_paths;
mod json_pointer;
mod listing;
mod load;
mod manifest;
mod mapping;
mod parquet;
mod quarantine;
mod report;
mod rows;
mod sink;
mod source;
mod transform;
mod unpivot;
mod values;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use indicatif::MultiProgress;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::schema::Entity;
use crate::storage::{Location, StorageError};
use cleanup::{cleanup_tmp, remove_unowned_objects};
use listing::list_matching;
pub use manifest::repair::Repaired;
use manifest::{Manifest, ManifestError};
use mapping::LoadContext;
pub use report::{FileReport, FileStatus, IngestReport, SourceReport};
use source::SourceRun;
use values::DateBounds;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub struct IngestOptions {
    pub run_id: String,
    /// The logical run date: the raw zone's `load_date` partition.
    pub run_date: NaiveDate,
    pub loaded_at: DateTime<Utc>,
    pub show_progress: bool,
    /// Load every landing file again, whatever the manifest says.
    pub full_refresh: bool,
}

/// Loads every new or changed landing file of every source.
pub async fn ingest(
    config: &Config,
    landing: &Location,
    warehouse: &Location,
    options: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    // Temporary outputs of runs that were interrupted; the lock guarantees
    // no other run is using them.
    cleanup_tmp(warehouse, "").await;
    let manifest = open_manifest(warehouse).await?;
    remove_unowned_objects(warehouse, &manifest).await?;
    let manifest = Mutex::new(manifest);
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    // Sources load side by side: their progress bars share one display.
    let bars = MultiProgress::new();
    // Derived once per run: the slow key is the point.
    let salt_key = crate::pii::salt_key(config.salt());
    let mut runs = Vec::new();
    for (index, source) in config.sources.iter().enumerate() {
        let ctx = Arc::new(LoadContext {
            source: source.name.clone(),
            entity: source.entity,
            pii: config.run.pii,
            salt: config.salt().to_string(),
            tz,
            bounds: DateBounds::until_tomorrow(),
            loaded_at: options.loaded_at.timestamp_micros(),
            batch_rows: config.run.batch_rows,
        });
        let run = SourceRun {
            ctx,
            source: Arc::new(source.clone()),
            landing,
            warehouse,
            options,
            tmp_prefix: format!("_state/tmp/{}/{index}", options.run_id),
            bars: &bars,
            fingerprint: crate::pii::sha256_hex(
                format!("{}\nsalt_key={salt_key}\n", source.fingerprint).as_bytes(),
            ),
        };
        runs.push(run);
    }
    // Sources load side by side, as many as there are cores (two to four):
    // one file keeps about 1.4 cores busy (its reader thread tokenizes and
    // validates; encoding Parquet runs here, on this task), so two at once
    // fill a 2-core machine (1M customers' exports: 9.0 s -> 7.7 s). Sources
    // share only the manifest; a file holds its lock from publishing its raw
    // objects to saving its entry, so the manifest never lists an object
    // that is not there. Every source is run to its end even when another
    // fails: dropping one mid-file could leave a published raw object that
    // no manifest entry owns.
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    // The largest first, and a free slot goes to the next source as soon as
    // any finishes: in config order, with results taken in that order, a
    // small source done early held its slot until the large one before it
    // finished, and the largest export came last (1M customers: 17.7 s).
    // Each source's files are listed once, here: their sizes set the order
    // and the load reads the same listing.
    let mut listed = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter().enumerate() {
        let files = list_matching(run.landing, &run.source).await;
        let bytes: u64 = files
            .as_ref()
            .map_or(0, |l| l.files.iter().map(|f| f.size).sum());
        listed.push((bytes, index, files));
    }
    listed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let manifest = &manifest;
    let runs = &runs;
    let mut results: Vec<(usize, Result<SourceReport, IngestError>)> = futures::stream::iter(
        listed,
    )
    .map(|(_, index, files)| async move { (index, runs[index].ingest(manifest, files).await) })
    .buffer_unordered(parallel)
    .collect()
    .await;
    results.sort_by_key(|(index, _)| *index);
    let sources = results
        .into_iter()
        .map(|(_, result)| result)
        .collect::<Result<Vec<_>, _>>()?;
    cleanup_tmp(warehouse, &options.run_id).await;
    Ok(IngestReport { sources })
}

/// The manifest, or an empty one for a new warehouse, saved at once: from
/// then on a missing manifest can only mean a lost one. A lost manifest
/// stops the run (the raw zone is never rebuilt by deleting it and
/// reloading what the landing still holds), as does one that cannot be
/// read or is of a newer format.
async fn open_manifest(warehouse: &Location) -> Result<Manifest, IngestError> {
    if let Some(manifest) = Manifest::load(warehouse).await? {
        return Ok(manifest);
    }
    if let Some(example) = manifest::repair::first_loaded_object(warehouse).await? {
        return Err(ManifestError::Missing { example }.into());
    }
    let manifest = Manifest::default();
    manifest.save(warehouse).await?;
    Ok(manifest)
}

/// Rebuilds the ingest manifest from the raw zone (`advocacy
/// repair-manifest`); the caller holds the warehouse lock.
pub async fn repair_manifest(warehouse: &Location, run_id: &str) -> Result<Repaired, IngestError> {
    cleanup_tmp(warehouse, "").await;
    Ok(manifest::repair::rebuild(warehouse, run_id).await?)
}

/// The raw-zone folder of an entity, relative to the warehouse.
pub fn raw_folder(entity: Entity) -> String {
    format!("raw/{}", entity.name())
}
