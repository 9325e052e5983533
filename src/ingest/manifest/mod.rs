//! The ingest manifest, `_state/ingest_manifest.parquet`: one row per
//! landing object a source has seen, so re-runs skip what is loaded, a
//! changed file replaces its rows, and a renamed copy is recognised. What
//! to do with each file is decided in [`plan`].

mod plan;

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::schema::timestamp_type;
use crate::storage::parquet_file::writer_properties;
use crate::storage::{Location, StorageError};
pub use plan::{Action, Outcome, Policy, ReadReason, after_read, plan};

pub const MANIFEST_PATH: &str = "_state/ingest_manifest.parquet";

#[derive(Debug, Clone, PartialEq)]
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
}

#[derive(Debug, Default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{MANIFEST_PATH} is unreadable ({0}); move it away and run with --full-refresh")]
    Corrupt(String),
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
    ]))
}

impl Manifest {
    pub async fn load(warehouse: &Location) -> Result<Manifest, ManifestError> {
        let Some(bytes) = warehouse.get_opt(&warehouse.path(MANIFEST_PATH)).await? else {
            return Ok(Manifest::default());
        };
        let corrupt = |e: &dyn std::fmt::Display| ManifestError::Corrupt(e.to_string());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| corrupt(&e))?
            .build()
            .map_err(|e| corrupt(&e))?;
        let mut entries = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(&e))?;
            entries.extend(decode(&batch).map_err(|e| corrupt(&e))?);
        }
        Ok(Manifest { entries })
    }

    /// Replaces the manifest with one put, so a crash leaves the old one.
    pub async fn save(&self, warehouse: &Location) -> Result<(), ManifestError> {
        let batch = encode(&self.entries);
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema(), Some(writer_properties()))
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
        };
        let batch = encode(std::slice::from_ref(&entry));
        assert_eq!(decode(&batch).unwrap(), vec![entry.clone()]);
        // A manifest written before rows_skipped, columns and fingerprint
        // existed reads as 0 skipped, no columns known and no fingerprint.
        let old = batch
            .project(&(0..batch.num_columns() - 3).collect::<Vec<_>>())
            .unwrap();
        assert!(old.column_by_name("rows_skipped").is_none());
        let expected = ManifestEntry {
            rows_skipped: 0,
            columns: None,
            fingerprint: None,
            ..entry
        };
        assert_eq!(decode(&old).unwrap(), vec![expected]);
    }
}
