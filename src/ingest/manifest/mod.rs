//! The ingest manifest, `_state/ingest_manifest.parquet`: one row per
//! landing object a source has seen, so re-runs skip what is loaded, a
//! changed file replaces its rows, and a renamed copy is recognised. What
//! to do with each file is decided in [`plan`].
//!
//! Every raw and quarantine object also carries its own entry in its
//! Parquet key-value metadata ([`ENTRY_KEY`]), so the raw zone describes
//! itself: a lost manifest is rebuilt from it ([`repair`]), never by
//! deleting it and reloading what the landing still holds.

mod plan;
pub mod repair;

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

use crate::schema::{Entity, timestamp_type};
use crate::state_format::{self, NewerFormat};
use crate::storage::{Location, StorageError};
pub use plan::{Action, Outcome, Policy, ReadReason, after_read, plan};

pub const MANIFEST_PATH: &str = "_state/ingest_manifest.parquet";

/// The manifest's format: 1 before versions were recorded, 2 with the
/// `run_id` column and raw objects that carry their own entry.
pub const FORMAT_VERSION: u32 = 2;
/// Parquet key-value key of a state file's format version.
pub const FORMAT_KEY: &str = "advocacy.format_version";
/// Parquet key-value key under which a raw or quarantine object holds the
/// manifest entry of the landing file it was loaded from (JSON).
pub const ENTRY_KEY: &str = "advocacy.ingest";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub source: String,
    /// Landing path relative to the landing location.
    pub path: String,
    pub size: u64,
    pub e_tag: Option<String>,
    /// Microseconds since the epoch.
    pub last_modified: i64,
    pub hash: String,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    /// Rows that are not records (label rows, footers, filtered out).
    pub rows_skipped: u64,
    pub load_date: String,
    /// Warehouse-relative raw object holding this file's rows.
    pub raw_object: Option<String>,
    pub quarantine_object: Option<String>,
    /// Set when the content was already loaded under another path.
    pub duplicate_of: Option<String>,
    pub loaded_at: i64,
    /// The file's columns (header or Parquet schema; `None` for JSON), so a
    /// column new to the source is reported once.
    pub columns: Option<Vec<String>>,
    /// The source's [`crate::config::SourceConfig::fingerprint`] when the
    /// file was loaded; `None` in manifests written before fingerprints
    /// (such a file takes the current one on the next run, unreloaded).
    pub fingerprint: Option<String>,
    /// The run that loaded the rows (`None` in manifests of format 1).
    #[serde(default)]
    pub run_id: Option<String>,
}

impl ManifestEntry {
    /// Names the raw and quarantine objects of a file's rows: content
    /// addressed, under the load date.
    pub fn name_objects(&mut self, entity: Entity, rows: bool, quarantined: bool) {
        let (date, source, hash) = (&self.load_date, &self.source, &self.hash);
        self.raw_object = rows.then(|| {
            format!(
                "raw/{}/load_date={date}/{source}-{hash}.parquet",
                entity.name()
            )
        });
        self.quarantine_object =
            quarantined.then(|| format!("quarantine/{source}/load_date={date}/{hash}.parquet"));
    }

    /// The raw and quarantine objects holding this file's rows.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        [&self.raw_object, &self.quarantine_object]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The key-value metadata a raw or quarantine object carries: this
    /// entry and the manifest format it follows.
    pub fn key_values(&self) -> Vec<KeyValue> {
        vec![
            format_key_value(),
            KeyValue::new(
                ENTRY_KEY.into(),
                serde_json::to_string(self).expect("entries serialise"),
            ),
        ]
    }
}

#[derive(Debug, Default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

/// What ends a run rather than let it delete or reload raw data.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "{MANIFEST_PATH} is unreadable ({0}); nothing was deleted: run \
         `advocacy repair-manifest` to rebuild it from the raw zone"
    )]
    Corrupt(String),
    #[error(transparent)]
    Newer(#[from] NewerFormat),
    #[error(
        "{MANIFEST_PATH} is missing but the warehouse holds loaded data ({example}); \
         nothing was deleted: run `advocacy repair-manifest` to rebuild it from the raw zone"
    )]
    Missing { example: String },
    #[error(
        "{object} is not in {MANIFEST_PATH} but {why}: the manifest does not describe \
         this raw zone (restored from a backup, or copied from another warehouse?); \
         nothing was deleted: run `advocacy repair-manifest` to rebuild it from the raw zone"
    )]
    Foreign { object: String, why: String },
    #[error("{MANIFEST_PATH} cannot be rebuilt: {0}")]
    Repair(String),
}

fn schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("source", false),
        text("path", false),
        int("size"),
        text("e_tag", true),
        Field::new("last_modified", timestamp_type(), false),
        text("hash", false),
        int("rows_read"),
        int("rows_loaded"),
        int("rows_quarantined"),
        text("load_date", false),
        text("raw_object", true),
        text("quarantine_object", true),
        text("duplicate_of", true),
        Field::new("loaded_at", timestamp_type(), false),
        // Added after the first release: manifests written before it have
        // no such column, and their files skipped nothing.
        int("rows_skipped"),
        // Added with schema-drift reports: a JSON list of column names.
        text("columns", true),
        // Added with config-change reloads.
        text("fingerprint", true),
        // Added in format 2.
        text("run_id", true),
    ]))
}

/// The key-value pair naming the manifest format a file follows.
fn format_key_value() -> KeyValue {
    KeyValue::new(FORMAT_KEY.into(), FORMAT_VERSION.to_string())
}

/// The format version in a state file's key-value metadata (1 without).
pub fn format_version(pairs: Option<&Vec<KeyValue>>) -> Result<u32, String> {
    let value = pairs
        .into_iter()
        .flatten()
        .find(|kv| kv.key == FORMAT_KEY)
        .and_then(|kv| kv.value.as_deref());
    match value {
        None => Ok(state_format::unversioned()),
        Some(v) => v
            .parse()
            .map_err(|_| format!("format version {v:?} is not a number")),
    }
}

impl Manifest {
    /// The manifest, or `None` when there is none (a new warehouse, or a
    /// lost manifest: the caller tells them apart). One that cannot be
    /// read, or is of a newer format, is an error.
    pub async fn load(warehouse: &Location) -> Result<Option<Manifest>, ManifestError> {
        let Some(bytes) = warehouse.get_opt(&warehouse.path(MANIFEST_PATH)).await? else {
            return Ok(None);
        };
        let corrupt = |e: &dyn std::fmt::Display| ManifestError::Corrupt(e.to_string());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(&e))?;
        let version = format_version(builder.metadata().file_metadata().key_value_metadata())
            .map_err(|e| corrupt(&e))?;
        state_format::check(MANIFEST_PATH, version, FORMAT_VERSION)?;
        let reader = builder.build().map_err(|e| corrupt(&e))?;
        let mut entries = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(&e))?;
            entries.extend(decode(&batch).map_err(|e| corrupt(&e))?);
        }
        Ok(Some(Manifest { entries }))
    }

    /// Replaces the manifest with one put, so a crash leaves the old one.
    pub async fn save(&self, warehouse: &Location) -> Result<(), ManifestError> {
        let batch = encode(&self.entries);
        let mut bytes = Vec::new();
        let properties = crate::storage::parquet_file::base_properties()
            .set_key_value_metadata(Some(vec![format_key_value()]))
            .build();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema(), Some(properties))
            .map_err(|e| ManifestError::Corrupt(e.to_string()))?;
        writer
            .write(&batch)
            .and_then(|_| writer.close().map(|_| ()))
            .map_err(|e| ManifestError::Corrupt(e.to_string()))?;
        warehouse.put(&warehouse.path(MANIFEST_PATH), bytes).await?;
        Ok(())
    }

    pub fn find(&self, source: &str, path: &str) -> Option<&ManifestEntry> {
        self.entries
            .iter()
            .find(|e| e.source == source && e.path == path)
    }

    /// A loaded (not duplicate) entry of this source with this content.
    pub fn find_content(&self, source: &str, hash: &str) -> Option<&ManifestEntry> {
        self.entries
            .iter()
            .find(|e| e.source == source && e.hash == hash && e.duplicate_of.is_none())
    }

    /// Copies whose original no longer holds the content they duplicate
    /// (it changed in place, or was itself replaced).
    pub fn orphaned_duplicates(&self, source: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.source == source)
            .filter(|e| match &e.duplicate_of {
                Some(original) => self
                    .find(source, original)
                    .is_none_or(|o| o.hash != e.hash || o.duplicate_of.is_some()),
                None => false,
            })
            .map(|e| e.path.clone())
            .collect()
    }

    pub fn remove(&mut self, source: &str, path: &str) {
        self.entries
            .retain(|e| !(e.source == source && e.path == path));
    }

    pub fn upsert(&mut self, entry: ManifestEntry) {
        match self
            .entries
            .iter_mut()
            .find(|e| e.source == entry.source && e.path == entry.path)
        {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
        self.entries
            .sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
    }
}

fn encode(entries: &[ManifestEntry]) -> RecordBatch {
    let text = |f: &dyn Fn(&ManifestEntry) -> Option<String>| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<StringArray>())
    };
    let int = |f: &dyn Fn(&ManifestEntry) -> i64| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<Int64Array>())
    };
    let ts = |f: &dyn Fn(&ManifestEntry) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(entries.iter().map(f).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let columns = vec![
        text(&|e| Some(e.source.clone())),
        text(&|e| Some(e.path.clone())),
        int(&|e| e.size as i64),
        text(&|e| e.e_tag.clone()),
        ts(&|e| e.last_modified),
        text(&|e| Some(e.hash.clone())),
        int(&|e| e.rows_read as i64),
        int(&|e| e.rows_loaded as i64),
        int(&|e| e.rows_quarantined as i64),
        text(&|e| Some(e.load_date.clone())),
        text(&|e| e.raw_object.clone()),
        text(&|e| e.quarantine_object.clone()),
        text(&|e| e.duplicate_of.clone()),
        ts(&|e| e.loaded_at),
        int(&|e| e.rows_skipped as i64),
        text(&|e| {
            e.columns
                .as_ref()
                .map(|c| serde_json::to_string(c).expect("strings serialise"))
        }),
        text(&|e| e.fingerprint.clone()),
        text(&|e| e.run_id.clone()),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns follow the schema")
}

fn decode(batch: &RecordBatch) -> Result<Vec<ManifestEntry>, String> {
    let text = |name: &str| -> Result<&StringArray, String> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| format!("column {name} missing or not text"))
    };
    let int = |name: &str| -> Result<&Int64Array, String> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| format!("column {name} missing or not an integer"))
    };
    let ts = |name: &str| -> Result<&TimestampMicrosecondArray, String> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .ok_or_else(|| format!("column {name} missing or not a timestamp"))
    };
    let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    let (source, path, e_tag, hash) = (
        text("source")?,
        text("path")?,
        text("e_tag")?,
        text("hash")?,
    );
    let (load_date, raw, quarantine, dup) = (
        text("load_date")?,
        text("raw_object")?,
        text("quarantine_object")?,
        text("duplicate_of")?,
    );
    let (size, read, loaded, quarantined) = (
        int("size")?,
        int("rows_read")?,
        int("rows_loaded")?,
        int("rows_quarantined")?,
    );
    let (modified, loaded_at) = (ts("last_modified")?, ts("loaded_at")?);
    let columns = match batch.column_by_name("columns") {
        Some(_) => Some(text("columns")?),
        None => None,
    };
    let fingerprint = match batch.column_by_name("fingerprint") {
        Some(_) => Some(text("fingerprint")?),
        None => None,
    };
    let run_id = match batch.column_by_name("run_id") {
        Some(_) => Some(text("run_id")?),
        None => None,
    };
    let skipped = batch
        .column_by_name("rows_skipped")
        .map(|_| int("rows_skipped"))
        .transpose()?;
    Ok((0..batch.num_rows())
        .map(|i| ManifestEntry {
            source: source.value(i).to_string(),
            path: path.value(i).to_string(),
            size: size.value(i) as u64,
            e_tag: opt(e_tag, i),
            last_modified: modified.value(i),
            hash: hash.value(i).to_string(),
            rows_read: read.value(i) as u64,
            rows_loaded: loaded.value(i) as u64,
            rows_quarantined: quarantined.value(i) as u64,
            rows_skipped: skipped.map_or(0, |s| s.value(i) as u64),
            load_date: load_date.value(i).to_string(),
            raw_object: opt(raw, i),
            quarantine_object: opt(quarantine, i),
            duplicate_of: opt(dup, i),
            loaded_at: loaded_at.value(i),
            columns: columns
                .and_then(|c| opt(c, i))
                .and_then(|json| serde_json::from_str(&json).ok()),
            fingerprint: fingerprint.and_then(|f| opt(f, i)),
            run_id: run_id.and_then(|r| opt(r, i)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_round_trip() {
        let entry = ManifestEntry {
            source: "crm".into(),
            path: "crm/a.csv".into(),
            size: 10,
            e_tag: None,
            last_modified: 5,
            hash: "ab".into(),
            rows_read: 3,
            rows_loaded: 2,
            rows_quarantined: 1,
            rows_skipped: 4,
            load_date: "2026-01-02".into(),
            raw_object: Some("raw/x.parquet".into()),
            quarantine_object: None,
            duplicate_of: None,
            loaded_at: 7,
            columns: Some(vec!["Id".into(), "Name, first".into()]),
            fingerprint: Some("f1".into()),
            run_id: Some("20261101T020000Z-0a1b2c3d".into()),
        };
        let batch = encode(std::slice::from_ref(&entry));
        assert_eq!(decode(&batch).unwrap(), vec![entry.clone()]);
        // A manifest written before rows_skipped, columns, fingerprint and
        // run_id existed reads as 0 skipped, no columns known, no
        // fingerprint and no run.
        let old = batch
            .project(&(0..batch.num_columns() - 4).collect::<Vec<_>>())
            .unwrap();
        assert!(old.column_by_name("rows_skipped").is_none());
        let expected = ManifestEntry {
            rows_skipped: 0,
            columns: None,
            fingerprint: None,
            run_id: None,
            ..entry
        };
        assert_eq!(decode(&old).unwrap(), vec![expected]);
    }
}
