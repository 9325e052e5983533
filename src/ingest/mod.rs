//! Ingest: every configured source's landing files are read, mapped onto
//! a canonical entity, validated row by row and written to the raw zone as
//! Parquet; bad rows go to quarantine. Per file, rows read = rows loaded +
//! rows quarantined + rows skipped (label rows, footers, rows a filter
//! leaves out), and the manifest makes re-runs idempotent.

mod csv;
pub mod expressions;
mod header;
mod input;
mod json;
mod json_paths;
mod load;
pub mod manifest;
mod parquet;
pub mod rows;
mod transform;
pub mod values;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use globset::GlobMatcher;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use object_store::ObjectMeta;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::{Config, SourceConfig};
use crate::schema::Entity;
use crate::storage::{Location, StorageError};
use load::{FileJob, LoadedFile, RowCounts};
use manifest::{Manifest, ManifestEntry, ManifestError};
use rows::{LoadContext, Mapping};
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum FileStatus {
    Loaded,
    /// Same path, size and version (or content) as already loaded.
    Unchanged,
    /// Same content as another landing file already loaded.
    Duplicate {
        of: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    #[serde(flatten)]
    pub status: FileStatus,
    pub bytes: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub rows_skipped: u64,
    /// Columns of the file that the mapping does not read and that no
    /// earlier file of the source had: reported once, then known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
    /// Wall time of reading, validating and writing the file.
    pub seconds: f64,
    /// Rows read per second.
    pub rows_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub entity: String,
    pub files: Vec<FileReport>,
    /// Set when the source could not be listed at all.
    pub error: Option<String>,
    /// Sums over the files: rows_read = rows_loaded + rows_quarantined +
    /// rows_skipped.
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub rows_skipped: u64,
}

impl SourceReport {
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .files
                .iter()
                .any(|f| matches!(f.status, FileStatus::Failed { .. }))
    }

    fn add_totals(&mut self) {
        let mut t = RowCounts::default();
        for f in &self.files {
            t.read += f.rows_read;
            t.loaded += f.rows_loaded;
            t.quarantined += f.rows_quarantined;
            t.skipped += f.rows_skipped;
        }
        self.rows_read = t.read;
        self.rows_loaded = t.loaded;
        self.rows_quarantined = t.quarantined;
        self.rows_skipped = t.skipped;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub sources: Vec<SourceReport>,
}

impl IngestReport {
    pub fn failed(&self) -> bool {
        self.sources.iter().any(SourceReport::failed)
    }

    /// A fixed-width table for the end of a run.
    pub fn summary_table(&self) -> String {
        let w = self
            .sources
            .iter()
            .map(|s| s.source.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        let f = self
            .sources
            .iter()
            .flat_map(|s| s.files.iter().map(|f| f.path.len()))
            .chain([11])
            .max()
            .unwrap_or(11);
        let row = |source: &str, file: &str, status: &str, counts: [&dyn std::fmt::Display; 6]| {
            let [r, l, q, k, s, rate] = counts;
            format!(
                "{source:<w$} {file:<f$} {status:<10} {r:>10} {l:>10} {q:>12} {k:>8} {s:>8} {rate:>10}\n"
            )
        };
        let mut out = row(
            "source",
            "file",
            "status",
            [
                &"read",
                &"loaded",
                &"quarantined",
                &"skipped",
                &"seconds",
                &"rows/s",
            ],
        );
        for source in &self.sources {
            if let Some(error) = &source.error {
                out.push_str(&format!("{:<w$} {error}\n", source.source));
            }
            if source.files.is_empty() && source.error.is_none() {
                out.push_str(&format!("{:<w$} (no files matched)\n", source.source));
            }
            for file in &source.files {
                let status = match &file.status {
                    FileStatus::Loaded => "loaded",
                    FileStatus::Unchanged => "unchanged",
                    FileStatus::Duplicate { .. } => "duplicate",
                    FileStatus::Failed { .. } => "FAILED",
                };
                out.push_str(&row(
                    &source.source,
                    &file.path,
                    status,
                    [
                        &file.rows_read,
                        &file.rows_loaded,
                        &file.rows_quarantined,
                        &file.rows_skipped,
                        &format!("{:.2}", file.seconds),
                        &format!("{:.0}", file.rows_per_second),
                    ],
                ));
                if let FileStatus::Failed { error } = &file.status {
                    out.push_str(&format!("{:<w$}   error: {error}\n", ""));
                }
                if !file.ignored_columns.is_empty() {
                    let columns = file.ignored_columns.join(", ");
                    out.push_str(&format!(
                        "{:<w$}   new columns, not mapped (ignored): {columns}\n",
                        ""
                    ));
                }
            }
            if source.files.len() > 1 {
                out.push_str(&row(
                    &source.source,
                    "(all files)",
                    "",
                    [
                        &source.rows_read,
                        &source.rows_loaded,
                        &source.rows_quarantined,
                        &source.rows_skipped,
                        &"",
                        &"",
                    ],
                ));
            }
        }
        out
    }
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
    let manifest = Manifest::load(warehouse).await?;
    remove_unowned_objects(warehouse, &manifest).await?;
    let manifest = Mutex::new(manifest);
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    // Sources load side by side: their progress bars share one display.
    let bars = MultiProgress::new();
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
        let files = list_matching(run.landing, &run.source.path).await;
        let bytes: u64 = files.iter().flatten().map(|f| f.size).sum();
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

struct SourceRun<'a> {
    ctx: Arc<LoadContext>,
    source: Arc<SourceConfig>,
    landing: &'a Location,
    warehouse: &'a Location,
    options: &'a IngestOptions,
    tmp_prefix: String,
    bars: &'a MultiProgress,
}

impl SourceRun<'_> {
    /// Loads the source's landing files (`listed`: what matched its path, or
    /// why they could not be listed).
    async fn ingest(
        &self,
        manifest: &Mutex<Manifest>,
        listed: Result<Vec<ObjectMeta>, String>,
    ) -> Result<SourceReport, IngestError> {
        let mut report = SourceReport {
            source: self.source.name.clone(),
            entity: self.source.entity.name().to_string(),
            files: Vec::new(),
            error: None,
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_skipped: 0,
        };
        let files = match listed {
            Ok(files) => files,
            Err(e) => {
                report.error = Some(e);
                return Ok(report);
            }
        };
        tracing::info!(source = %self.source.name, files = files.len(), "ingesting source");
        let mapping = Arc::new(Mapping::new(&self.source));
        for (n, meta) in files.iter().enumerate() {
            let file = self
                .timed_ingest_file(manifest, mapping.clone(), meta.clone(), n)
                .await?;
            report.files.push(file);
        }
        // A copy whose original changed in place no longer has its rows
        // anywhere: forget it and load it as a file of its own.
        let orphans = manifest.lock().await.orphaned_duplicates(&self.source.name);
        for path in orphans {
            manifest.lock().await.remove(&self.source.name, &path);
            if let Some((n, meta)) = files
                .iter()
                .enumerate()
                .find(|(_, m)| self.landing.relative(&m.location) == path)
            {
                let file = self
                    .timed_ingest_file(manifest, mapping.clone(), meta.clone(), files.len() + n)
                    .await?;
                report.files.push(file);
            } else {
                manifest.lock().await.save(self.warehouse).await?;
            }
        }
        for file in &report.files {
            tracing::info!(
                source = %self.source.name,
                file = %file.path,
                status = ?file.status,
                rows_read = file.rows_read,
                rows_loaded = file.rows_loaded,
                rows_quarantined = file.rows_quarantined,
                rows_skipped = file.rows_skipped,
                "file done"
            );
        }
        report.add_totals();
        Ok(report)
    }

    async fn timed_ingest_file(
        &self,
        manifest: &Mutex<Manifest>,
        mapping: Arc<Mapping>,
        meta: ObjectMeta,
        n: usize,
    ) -> Result<FileReport, IngestError> {
        let started = std::time::Instant::now();
        let mut file = self.ingest_file(manifest, mapping, meta, n).await?;
        file.seconds = started.elapsed().as_secs_f64();
        file.rows_per_second = crate::timing::per_second(file.rows_read, file.seconds);
        Ok(file)
    }

    async fn ingest_file(
        &self,
        manifest: &Mutex<Manifest>,
        mapping: Arc<Mapping>,
        meta: ObjectMeta,
        n: usize,
    ) -> Result<FileReport, IngestError> {
        let path = self.landing.relative(&meta.location);
        let previous = manifest
            .lock()
            .await
            .find(&self.source.name, &path)
            .cloned();
        let mut file = FileReport {
            path: path.clone(),
            status: FileStatus::Unchanged,
            bytes: meta.size,
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_skipped: 0,
            ignored_columns: Vec::new(),
            seconds: 0.0,
            rows_per_second: 0.0,
        };
        if let Some(prev) = previous.as_ref().filter(|p| same_version(p, &meta)) {
            if self.loaded_as_configured(prev) {
                if prev.fingerprint.is_none() {
                    // Loaded before fingerprints were recorded: take the
                    // current one rather than reload every file on the
                    // upgrade.
                    let mut manifest = manifest.lock().await;
                    manifest.upsert(ManifestEntry {
                        fingerprint: Some(self.source.fingerprint.clone()),
                        ..prev.clone()
                    });
                    manifest.save(self.warehouse).await?;
                }
                return Ok(file);
            }
            let why = match self.options.full_refresh {
                true => "--full-refresh",
                false => "the source's mapping, PII salt or mode, or time zone changed",
            };
            tracing::info!(source = %self.source.name, file = %path, reason = why, "loading the file again");
        }
        let job = FileJob {
            ctx: self.ctx.clone(),
            source: self.source.clone(),
            mapping: mapping.clone(),
            landing: self.landing.clone(),
            warehouse: self.warehouse.clone(),
            meta: meta.clone(),
            tmp_dir: self.warehouse.path(&format!("{}/{n}", self.tmp_prefix)),
            progress: self.progress_bar(&path, meta.size),
        };
        let loaded = match load::load_file(job).await {
            Ok(loaded) => loaded,
            Err(e) => {
                let error = format!("{}: {}", self.landing_display(&path), e.message);
                tracing::error!(source = %self.source.name, file = %path, error = %e.message, "file failed");
                file.status = FileStatus::Failed { error };
                return Ok(file);
            }
        };
        crate::kill_point::reached("file-loaded");
        file.bytes = loaded.bytes;
        if loaded.bytes == 0 {
            tracing::warn!(source = %self.source.name, file = %path, "the file is empty: 0 rows loaded");
        }
        let entry = self.entry(&path, &meta, &loaded);
        let mut manifest = manifest.lock().await;
        file.ignored_columns = self.new_unmapped_columns(&manifest, &mapping, &loaded);
        if !file.ignored_columns.is_empty() {
            tracing::warn!(
                source = %self.source.name,
                file = %path,
                columns = %file.ignored_columns.join(", "),
                "new columns the mapping does not read (ignored)"
            );
        }
        if let Some(prev) = previous
            .as_ref()
            .filter(|p| p.hash == loaded.hash && self.loaded_as_configured(p))
        {
            // Touched but identical: keep the rows, remember the new version.
            self.discard(&loaded).await?;
            manifest.upsert(ManifestEntry {
                size: meta.size,
                e_tag: meta.e_tag.clone(),
                last_modified: entry.last_modified,
                fingerprint: entry.fingerprint.clone(),
                ..prev.clone()
            });
        } else if let Some(original) = manifest
            .find_content(&self.source.name, &loaded.hash)
            .filter(|e| e.path != path)
            .cloned()
        {
            self.discard(&loaded).await?;
            file.status = FileStatus::Duplicate {
                of: original.path.clone(),
            };
            let duplicate = ManifestEntry {
                rows_read: 0,
                rows_loaded: 0,
                rows_quarantined: 0,
                rows_skipped: 0,
                raw_object: None,
                quarantine_object: None,
                duplicate_of: Some(original.path),
                ..entry
            };
            // A file changed into a copy of another: its earlier rows go.
            if let Some(prev) = &previous {
                self.remove_previous(prev, &duplicate).await?;
            }
            manifest.upsert(duplicate);
        } else {
            let entry = self.publish(entry, &loaded).await?;
            crate::kill_point::reached("raw-published");
            if let Some(prev) = &previous {
                self.remove_previous(prev, &entry).await?;
            }
            file.status = FileStatus::Loaded;
            file.rows_read = loaded.counts.read;
            file.rows_loaded = loaded.counts.loaded;
            file.rows_quarantined = loaded.counts.quarantined;
            file.rows_skipped = loaded.counts.skipped;
            manifest.upsert(entry);
        }
        manifest.save(self.warehouse).await?;
        crate::kill_point::reached("manifest-saved");
        Ok(file)
    }

    /// Whether the entry's rows were loaded as the config says today: not
    /// under `--full-refresh`, and with this fingerprint (or before
    /// fingerprints were recorded).
    fn loaded_as_configured(&self, entry: &ManifestEntry) -> bool {
        !self.options.full_refresh
            && entry
                .fingerprint
                .as_ref()
                .is_none_or(|f| *f == self.source.fingerprint)
    }

    /// Columns of this file the mapping does not read and no file of the
    /// source loaded before had (on a source's first file: every column
    /// it does not read).
    fn new_unmapped_columns(
        &self,
        manifest: &Manifest,
        mapping: &Mapping,
        loaded: &LoadedFile,
    ) -> Vec<String> {
        let Some(columns) = &loaded.columns else {
            return Vec::new();
        };
        let seen: std::collections::BTreeSet<&str> = manifest
            .entries
            .iter()
            .filter(|e| e.source == self.source.name)
            .flat_map(|e| e.columns.iter().flatten())
            .map(String::as_str)
            .collect();
        columns
            .iter()
            .filter(|c| !mapping.columns.contains(c) && !seen.contains(c.as_str()))
            .cloned()
            .collect()
    }

    fn entry(&self, path: &str, meta: &ObjectMeta, loaded: &LoadedFile) -> ManifestEntry {
        ManifestEntry {
            source: self.source.name.clone(),
            path: path.to_string(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified.timestamp_micros(),
            hash: loaded.hash.clone(),
            rows_read: loaded.counts.read,
            rows_loaded: loaded.counts.loaded,
            rows_quarantined: loaded.counts.quarantined,
            rows_skipped: loaded.counts.skipped,
            load_date: self.options.run_date.to_string(),
            raw_object: None,
            quarantine_object: None,
            duplicate_of: None,
            loaded_at: self.options.loaded_at.timestamp_micros(),
            columns: loaded.columns.clone(),
            fingerprint: Some(self.source.fingerprint.clone()),
        }
    }

    /// Moves the temporary outputs to their content-addressed names.
    async fn publish(
        &self,
        mut entry: ManifestEntry,
        loaded: &LoadedFile,
    ) -> Result<ManifestEntry, IngestError> {
        let date = self.options.run_date;
        let source = &self.source.name;
        let hash = &loaded.hash;
        if let Some(tmp) = &loaded.rows_object {
            let name = format!(
                "raw/{}/load_date={date}/{source}-{hash}.parquet",
                self.source.entity.name()
            );
            self.warehouse
                .rename(tmp, &self.warehouse.path(&name))
                .await?;
            entry.raw_object = Some(name);
        }
        if let Some(tmp) = &loaded.quarantine_object {
            let name = format!("quarantine/{source}/load_date={date}/{hash}.parquet");
            self.warehouse
                .rename(tmp, &self.warehouse.path(&name))
                .await?;
            entry.quarantine_object = Some(name);
        }
        Ok(entry)
    }

    /// A file changed in place: its earlier rows are replaced, not added to.
    async fn remove_previous(
        &self,
        previous: &ManifestEntry,
        current: &ManifestEntry,
    ) -> Result<(), IngestError> {
        for (old, new) in [
            (&previous.raw_object, &current.raw_object),
            (&previous.quarantine_object, &current.quarantine_object),
        ] {
            if let Some(old) = old.as_ref().filter(|o| Some(*o) != new.as_ref()) {
                self.warehouse
                    .delete_if_exists(&self.warehouse.path(old))
                    .await?;
            }
        }
        Ok(())
    }

    async fn discard(&self, loaded: &LoadedFile) -> Result<(), IngestError> {
        for tmp in [&loaded.rows_object, &loaded.quarantine_object]
            .into_iter()
            .flatten()
        {
            self.warehouse.delete_if_exists(tmp).await?;
        }
        Ok(())
    }

    fn landing_display(&self, path: &str) -> String {
        format!("{}{path}", self.landing.url)
    }

    fn progress_bar(&self, path: &str, size: u64) -> ProgressBar {
        const MIN_BYTES: u64 = 8 * 1024 * 1024;
        if !self.options.show_progress || size < MIN_BYTES {
            return ProgressBar::hidden();
        }
        // indicatif draws nothing when stderr is not a terminal.
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("{} {path}", self.source.name));
        self.bars.add(bar)
    }
}

/// Unchanged when size and version match; object stores without an e_tag
/// fall back to the modification time.
fn same_version(entry: &ManifestEntry, meta: &ObjectMeta) -> bool {
    entry.size == meta.size
        && match (&entry.e_tag, &meta.e_tag) {
            (Some(a), Some(b)) => a == b,
            _ => entry.last_modified == meta.last_modified.timestamp_micros(),
        }
}

/// Lists landing objects under the glob's literal prefix and keeps those
/// that match it, in path order so loads are deterministic.
async fn list_matching(landing: &Location, pattern: &str) -> Result<Vec<ObjectMeta>, String> {
    let matcher: GlobMatcher = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("path {pattern:?} is not a valid glob: {e}"))?
        .compile_matcher();
    let literal_end = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
    let folder = pattern[..literal_end]
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir);
    let prefix = landing.path(folder);
    let mut files: Vec<ObjectMeta> = landing
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| format!("cannot list {}{folder}: {e}", landing.url))?;
    files.retain(|m| matcher.is_match(landing.relative(&m.location)));
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

/// Removes raw and quarantine objects that no manifest entry owns. A file's
/// objects are published (renamed into place) before its manifest entry
/// is saved, so a run killed between the two leaves objects whose rows
/// would otherwise be read twice once the file loads again; without a
/// manifest (moved away, then `--full-refresh`) the raw zone is rebuilt
/// from the landing files. The lock keeps other runs out meanwhile.
async fn remove_unowned_objects(
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
async fn cleanup_tmp(warehouse: &Location, run_id: &str) {
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

/// The raw-zone folder of an entity, relative to the warehouse.
pub fn raw_folder(entity: Entity) -> String {
    format!("raw/{}", entity.name())
}
