//! One source's part of a run: each listed landing file is skipped, read
//! and published, or recorded as a copy, as the manifest's plan says.

use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use object_store::ObjectMeta;
use tokio::sync::Mutex;

use super::listing::Listing;
use super::load::{self, FileJob, LoadedFile};
use super::manifest::{self, Action, Manifest, ManifestEntry, Outcome, Policy, ReadReason};
use super::mapping::{LoadContext, Mapping};
use super::report::{FileReport, FileStatus, SourceReport, truncation_warning};
use super::{IngestError, IngestOptions};
use crate::config::SourceConfig;
use crate::storage::Location;

pub(super) struct SourceRun<'a> {
    pub(super) ctx: Arc<LoadContext>,
    pub(super) source: Arc<SourceConfig>,
    pub(super) landing: &'a Location,
    pub(super) warehouse: &'a Location,
    pub(super) options: &'a IngestOptions,
    pub(super) tmp_prefix: String,
    pub(super) bars: &'a MultiProgress,
    /// The source's fingerprint with the salt's key in it: what each
    /// loaded file records (see [`crate::config::SourceConfig::fingerprint`]).
    pub(super) fingerprint: String,
}

impl SourceRun<'_> {
    /// Loads the source's landing files (`listed`: what matched its path, or
    /// why they could not be listed).
    pub(super) async fn ingest(
        &self,
        manifest: &Mutex<Manifest>,
        listed: Result<Listing, String>,
    ) -> Result<SourceReport, IngestError> {
        let mut report = SourceReport {
            source: self.source.name.clone(),
            entity: self.source.entity.name().to_string(),
            files: Vec::new(),
            error: None,
            warnings: Vec::new(),
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_skipped: 0,
        };
        let files = match listed {
            Ok(listing) => {
                for (path, why) in listing.refused {
                    let (path, why) = (self.ctx.protect_name(&path), self.ctx.protect_name(&why));
                    let error = format!("{}: {why}", self.landing_display(&path));
                    tracing::error!(source = %self.source.name, file = %path, error = %why, "file failed");
                    let mut file = FileReport::unread(path, 0);
                    file.status = FileStatus::Failed { error };
                    report.files.push(file);
                }
                listing.files
            }
            Err(e) => {
                report.error = Some(e);
                return Ok(report);
            }
        };
        tracing::info!(source = %self.source.name, files = files.len(), "ingesting source");
        let mapping = Arc::new(Mapping::new(&self.source));
        let earlier = self.earlier_file_rows(&*manifest.lock().await);
        let actions = manifest::plan(&*manifest.lock().await, &self.policy(), &files, |m| {
            self.landing_name(m)
        });
        for (n, (meta, action)) in files.iter().zip(actions).enumerate() {
            let file =
                timed(self.ingest_file(manifest, mapping.clone(), meta.clone(), action, n)).await?;
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
                .find(|(_, m)| self.landing_name(m) == path)
            {
                let action = Action::Read {
                    previous: None,
                    reason: ReadReason::New,
                };
                let n = files.len() + n;
                let file =
                    timed(self.ingest_file(manifest, mapping.clone(), meta.clone(), action, n))
                        .await?;
                report.files.push(file);
            } else {
                manifest.lock().await.save(self.warehouse).await?;
            }
        }
        for file in &report.files {
            // A file loaded before and read again (changed in place, a new
            // mapping, --full-refresh) is not a new delivery to judge.
            let reloaded = earlier.iter().any(|(path, _)| *path == file.path);
            let others: Vec<u64> = earlier.iter().map(|(_, rows)| *rows).collect();
            let warning = (!reloaded)
                .then(|| truncation_warning(&self.source.name, file, &others))
                .flatten();
            if let Some(warning) = warning {
                tracing::warn!("{warning}");
                report.warnings.push(warning);
            }
            tracing::info!(
                target: "advocacy::progress",
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

    /// Rows read from each file of this source loaded by earlier runs,
    /// newest first, with its path: what a new file is compared with.
    fn earlier_file_rows(&self, manifest: &Manifest) -> Vec<(String, u64)> {
        let this_run = self.options.loaded_at.timestamp_micros();
        let mut earlier: Vec<&ManifestEntry> = manifest
            .entries
            .iter()
            .filter(|e| e.source == self.source.name && e.duplicate_of.is_none())
            .filter(|e| e.loaded_at < this_run)
            .collect();
        earlier.sort_by_key(|e| std::cmp::Reverse(e.loaded_at));
        earlier
            .into_iter()
            .map(|e| (e.path.clone(), e.rows_read))
            .collect()
    }

    fn policy(&self) -> Policy<'_> {
        Policy {
            source: &self.source.name,
            fingerprint: &self.fingerprint,
            legacy_fingerprint: &self.source.legacy_fingerprint,
            full_refresh: self.options.full_refresh,
        }
    }

    async fn ingest_file(
        &self,
        manifest: &Mutex<Manifest>,
        mapping: Arc<Mapping>,
        meta: ObjectMeta,
        action: Action,
        n: usize,
    ) -> Result<FileReport, IngestError> {
        let path = self.landing_name(&meta);
        let mut file = FileReport::unread(path.clone(), meta.size);
        let (previous, reason) = match action {
            Action::Skip => return Ok(file),
            Action::RecordFingerprint(entry) => {
                let mut manifest = manifest.lock().await;
                manifest.upsert(entry);
                manifest.save(self.warehouse).await?;
                return Ok(file);
            }
            Action::Read { previous, reason } => {
                if let Some(why) = reason.reload() {
                    tracing::info!(source = %self.source.name, file = %path, reason = why, "loading the file again");
                }
                (previous, reason)
            }
        };
        // The same bytes loaded again (--full-refresh, a new mapping) keep
        // their original load time: "the latest load wins" must not hand
        // a correction back to the export it corrected.
        let loaded_at = match (&previous, reason) {
            (Some(prev), ReadReason::FullRefresh | ReadReason::ConfigChanged) => prev.loaded_at,
            _ => self.ctx.loaded_at,
        };
        let job = FileJob {
            ctx: Arc::new(LoadContext {
                loaded_at,
                ..(*self.ctx).clone()
            }),
            source: self.source.clone(),
            mapping: mapping.clone(),
            landing: self.landing.clone(),
            warehouse: self.warehouse.clone(),
            meta: meta.clone(),
            entry: self.entry(&path, &meta, loaded_at),
            tmp_dir: self.warehouse.path(&format!("{}/{n}", self.tmp_prefix)),
            progress: self.progress_bar(&path, meta.size),
        };
        let loaded = match load::load_file(job).await {
            Ok(loaded) => loaded,
            Err(e) => {
                let message = self.ctx.protect_name(&e.message);
                let error = format!("{}: {message}", self.landing_display(&path));
                tracing::error!(source = %self.source.name, file = %path, error = %message, "file failed");
                file.status = FileStatus::Failed { error };
                return Ok(file);
            }
        };
        crate::kill_point::reached("file-loaded");
        file.bytes = loaded.bytes;
        for warning in &loaded.warnings {
            tracing::warn!(source = %self.source.name, file = %path, "{warning}");
        }
        file.warnings = loaded.warnings.clone();
        if loaded.bytes == 0 {
            tracing::warn!(source = %self.source.name, file = %path, "the file is empty: 0 rows loaded");
        }
        let entry = loaded.entry.clone();
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
        let mut replaced = None;
        let outcome = manifest::after_read(
            &manifest,
            &self.policy(),
            &path,
            previous.as_ref(),
            &entry.hash,
        );
        match outcome {
            Outcome::SameContent(prev) => {
                // Touched but identical: keep the rows, remember the new version.
                self.discard(&loaded).await?;
                manifest.upsert(ManifestEntry {
                    size: meta.size,
                    e_tag: meta.e_tag.clone(),
                    last_modified: entry.last_modified,
                    fingerprint: entry.fingerprint.clone(),
                    ..*prev
                });
            }
            Outcome::CopyOf(original) => {
                self.discard(&loaded).await?;
                file.status = FileStatus::Duplicate {
                    of: original.clone(),
                };
                let duplicate = ManifestEntry {
                    rows_read: 0,
                    rows_loaded: 0,
                    rows_quarantined: 0,
                    rows_skipped: 0,
                    raw_object: None,
                    quarantine_object: None,
                    duplicate_of: Some(original),
                    ..entry
                };
                // A file changed into a copy of another: its earlier rows go.
                replaced = previous.map(|prev| (prev, duplicate.clone()));
                manifest.upsert(duplicate);
            }
            Outcome::NewRows => {
                self.publish(&entry, &loaded).await?;
                crate::kill_point::reached("raw-published");
                replaced = previous.map(|prev| (prev, entry.clone()));
                file.status = FileStatus::Loaded;
                file.rows_read = loaded.counts.read;
                file.rows_loaded = loaded.counts.loaded;
                file.rows_quarantined = loaded.counts.quarantined;
                file.rows_skipped = loaded.counts.skipped;
                manifest.upsert(entry);
            }
        }
        manifest.save(self.warehouse).await?;
        crate::kill_point::reached("manifest-saved");
        // Only now that the manifest names the new load: a run stopped in
        // between leaves objects of an older load than the manifest's, which
        // the next run removes, never a manifest naming removed objects.
        if let Some((prev, current)) = &replaced {
            self.remove_previous(prev, current).await?;
        }
        Ok(file)
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
        let Some(columns) = &loaded.entry.columns else {
            return Vec::new();
        };
        // An unpivoted file reads every column: those not kept are rows.
        if self.source.unpivot.is_some() {
            return Vec::new();
        }
        let seen: std::collections::BTreeSet<&str> = manifest
            .entries
            .iter()
            .filter(|e| e.source == self.source.name)
            .flat_map(|e| e.columns.iter().flatten())
            .map(String::as_str)
            .collect();
        // The columns are stored with addresses redacted; so are the
        // mapping's, to compare them.
        let mapped: std::collections::BTreeSet<String> = mapping
            .columns
            .iter()
            .map(|c| self.ctx.protect_name(c))
            .collect();
        columns
            .iter()
            .filter(|c| !mapped.contains(*c) && !seen.contains(c.as_str()))
            .cloned()
            .collect()
    }

    /// The file's entry as known before reading it; the load adds what
    /// reading finds (content hash, counts, columns, object names).
    fn entry(&self, path: &str, meta: &ObjectMeta, loaded_at: i64) -> ManifestEntry {
        ManifestEntry {
            source: self.source.name.clone(),
            path: path.to_string(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified.timestamp_micros(),
            hash: String::new(),
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_skipped: 0,
            load_date: self.options.run_date.to_string(),
            raw_object: None,
            quarantine_object: None,
            duplicate_of: None,
            loaded_at,
            columns: None,
            fingerprint: Some(self.fingerprint.clone()),
            run_id: Some(self.options.run_id.clone()),
        }
    }

    /// Moves the temporary outputs to the content-addressed names their
    /// entry gives them.
    async fn publish(&self, entry: &ManifestEntry, loaded: &LoadedFile) -> Result<(), IngestError> {
        for (tmp, name) in [
            (&loaded.rows_object, &entry.raw_object),
            (&loaded.quarantine_object, &entry.quarantine_object),
        ] {
            if let (Some(tmp), Some(name)) = (tmp, name) {
                self.warehouse
                    .rename(tmp, &self.warehouse.path(name))
                    .await?;
            }
        }
        Ok(())
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

    /// A listed file's name in the manifest, the rows (`_file`), the run
    /// record and the output: its landing path with any address in it
    /// redacted (unless `pii: keep`). Only reading it uses the path itself.
    fn landing_name(&self, meta: &ObjectMeta) -> String {
        self.ctx
            .protect_name(&self.landing.relative(&meta.location))
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

/// A file's report with the wall time of `work` and its rows per second.
async fn timed(
    work: impl std::future::Future<Output = Result<FileReport, IngestError>>,
) -> Result<FileReport, IngestError> {
    let started = std::time::Instant::now();
    let mut file = work.await?;
    file.seconds = started.elapsed().as_secs_f64();
    file.rows_per_second = crate::timing::per_second(file.rows_read, file.seconds);
    Ok(file)
}
