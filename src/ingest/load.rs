//! Loading one landing file: a reader on a blocking thread parses and
//! validates rows while an async task encodes them to Parquet, so parsing
//! and compression use both cores and memory stays bounded by the channel.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use indicatif::ProgressBar;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::input::ObjectReader;
use super::manifest::ManifestEntry;
use super::mapping::{LoadContext, Mapping};
use super::sink::{ChannelSink, FileError, Output, RecordSink, RowCounts};
use super::transform::Transform;
use crate::config::{Format, SourceConfig};
use crate::storage::Location;
use crate::storage::parquet_file::{ParquetFile, raw_writer_properties, writer_properties};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

/// The outcome of reading one file into temporary Parquet objects.
pub struct LoadedFile {
    /// The file's manifest entry: the job's, completed with the content
    /// hash, the counts, the columns (the header's or the Parquet
    /// schema's; `None` for JSON) and the names its objects will take.
    pub entry: ManifestEntry,
    pub bytes: u64,
    pub counts: RowCounts,
    /// Temporary object holding the loaded rows, if any.
    pub rows_object: Option<Path>,
    /// Temporary object holding the quarantined rows, if any.
    pub quarantine_object: Option<Path>,
    /// What the reader found suspicious (mapped JSON paths of optional
    /// fields that no record has).
    pub warnings: Vec<String>,
}

pub struct FileJob {
    pub ctx: Arc<LoadContext>,
    pub source: Arc<SourceConfig>,
    pub mapping: Arc<Mapping>,
    pub landing: Location,
    pub warehouse: Location,
    pub meta: ObjectMeta,
    /// The file's manifest entry as far as it is known before reading:
    /// every object written carries it, completed, in its metadata.
    pub entry: ManifestEntry,
    /// Folder in the warehouse for this file's temporary outputs.
    pub tmp_dir: Path,
    pub progress: ProgressBar,
}

pub async fn load_file(job: FileJob) -> Result<LoadedFile, FileError> {
    let relative = job.landing.relative(&job.meta.location);
    let (tx, mut rx) = mpsc::channel::<Output>(4);
    let reader = spawn_reader(&job, relative, tx);

    let mut rows_file: Option<ParquetFile> = None;
    let mut quarantine_file: Option<ParquetFile> = None;
    let mut write_error = None;
    while let Some(output) = rx.recv().await {
        let (slot, name, batch, properties) = match output {
            Output::Rows(b) => {
                let properties = raw_writer_properties(job.ctx.entity, &b.schema());
                (&mut rows_file, "rows.parquet", b, properties)
            }
            Output::Quarantine(b) => (
                &mut quarantine_file,
                "quarantine.parquet",
                b,
                writer_properties(),
            ),
        };
        let path = job.tmp_dir.clone().join(name);
        if let Err(e) = write_batch(slot, &job.warehouse, path, batch, properties).await {
            write_error = Some(e);
            break;
        }
    }
    drop(rx);
    let read_result = reader
        .await
        .map_err(|e| FileError::new(format!("reader thread failed: {e}")))?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let (read, counts) = read_result?;
    let mut entry = ManifestEntry {
        hash: read.hash,
        rows_read: counts.read,
        rows_loaded: counts.loaded,
        rows_quarantined: counts.quarantined,
        rows_skipped: counts.skipped,
        // Header names are data too: one may hold an address.
        columns: read
            .columns
            .map(|columns| columns.iter().map(|c| job.ctx.protect_name(c)).collect()),
        ..job.entry
    };
    entry.name_objects(
        job.ctx.entity,
        rows_file.is_some(),
        quarantine_file.is_some(),
    );
    // Each object names the file it came from, so the raw zone can be
    // told apart without the manifest (`advocacy repair-manifest`).
    let pairs = entry.key_values();
    Ok(LoadedFile {
        rows_object: close(rows_file, &pairs).await?,
        quarantine_object: close(quarantine_file, &pairs).await?,
        entry,
        bytes: read.bytes,
        counts,
        warnings: read.warnings,
    })
}

type ReadResult = Result<(FileRead, RowCounts), FileError>;

fn spawn_reader(
    job: &FileJob,
    relative: String,
    tx: mpsc::Sender<Output>,
) -> tokio::task::JoinHandle<ReadResult> {
    let handle = Handle::current();
    let ctx = job.ctx.clone();
    // What the rows and quarantine record as the file (`_file`): its name
    // as the manifest holds it, addresses redacted.
    let name = job.entry.path.clone();
    let source = job.source.clone();
    let mapping = job.mapping.clone();
    let landing = job.landing.clone();
    let store = job.landing.store.clone();
    let meta = job.meta.clone();
    let progress = job.progress.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = ChannelSink::new(ctx, mapping.clone(), &name, tx);
        let file = ReadJob {
            handle: &handle,
            source: &source,
            mapping: &mapping,
            landing: &landing,
            store: &store,
            meta: &meta,
            relative: &relative,
            progress,
        };
        let read = if mapping.transforms() {
            let mut transform = Transform::new(&mapping, &mut sink);
            let read = file.read(&mut transform)?;
            transform.finish()?;
            read
        } else {
            file.read(&mut sink)?
        };
        Ok((read, sink.finish()?))
    })
}

/// What reading one file needs, on the reader thread.
struct ReadJob<'a> {
    handle: &'a Handle,
    source: &'a SourceConfig,
    mapping: &'a Mapping,
    landing: &'a Location,
    store: &'a Arc<dyn object_store::ObjectStore>,
    meta: &'a ObjectMeta,
    relative: &'a str,
    progress: ProgressBar,
}

impl ReadJob<'_> {
    /// Reads every record into `records`; returns the content hash and
    /// size, and the file's columns when it has a header or a schema.
    fn read(self, records: &mut dyn RecordSink) -> Result<FileRead, FileError> {
        let (handle, mapping) = (self.handle, self.mapping);
        if self.source.format == Format::Parquet {
            let (hash, bytes) =
                handle.block_on(hash_object(self.store, &self.meta.location, &self.progress))?;
            let columns = super::parquet::read_parquet(
                handle,
                self.landing,
                self.relative,
                mapping,
                records,
            )?;
            return Ok(FileRead {
                hash,
                bytes,
                columns: Some(columns),
                warnings: Vec::new(),
            });
        }
        let result = handle
            .block_on(self.store.get(&self.meta.location))
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
        let mut input = ObjectReader::new(handle.clone(), result, self.progress);
        let pointer = self.source.records.as_deref();
        let encoding = self.source.encoding.as_deref();
        let (columns, warnings) = match self.source.format {
            Format::Csv => (
                super::csv::read_csv(&mut input, &self.source.csv, mapping, records)?,
                Vec::new(),
            ),
            Format::Json => (
                None,
                super::json::read_json_array(&mut input, encoding, pointer, mapping, records)?,
            ),
            Format::Jsonl => (
                None,
                super::json::read_json_lines(&mut input, encoding, pointer, mapping, records)?,
            ),
            Format::Parquet => unreachable!("handled above"),
        };
        let (hash, bytes) = input
            .finish()
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
        Ok(FileRead {
            hash,
            bytes,
            columns,
            warnings,
        })
    }
}

/// What reading a file found, besides its records.
pub struct FileRead {
    pub hash: String,
    pub bytes: u64,
    pub columns: Option<Vec<String>>,
    pub warnings: Vec<String>,
}

async fn write_batch(
    slot: &mut Option<ParquetFile>,
    warehouse: &Location,
    path: Path,
    batch: RecordBatch,
    properties: WriterProperties,
) -> Result<(), FileError> {
    let failed = |e: datafusion::parquet::errors::ParquetError| {
        FileError::new(format!("cannot write {path}: {e}"))
    };
    if slot.is_none() {
        let file = ParquetFile::create_with(warehouse, path.clone(), batch.schema(), properties);
        *slot = Some(file.map_err(failed)?);
    }
    let file = slot.as_mut().expect("created above");
    file.write(&batch).await.map_err(failed)
}

async fn close(file: Option<ParquetFile>, pairs: &[KeyValue]) -> Result<Option<Path>, FileError> {
    match file {
        None => Ok(None),
        Some(mut file) => {
            file.append_key_values(pairs.to_vec());
            let path = file.path().clone();
            file.close()
                .await
                .map_err(|e| FileError::new(format!("cannot write {path}: {e}")))?;
            Ok(Some(path))
        }
    }
}

/// Hashes an object by streaming it (Parquet is read by range requests,
/// which cannot feed a running hash).
async fn hash_object(
    store: &Arc<dyn object_store::ObjectStore>,
    path: &Path,
    progress: &ProgressBar,
) -> Result<(String, u64), FileError> {
    let mut stream = store
        .get(path)
        .await
        .map_err(|e| FileError::new(format!("cannot read: {e}")))?
        .into_stream();
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FileError::new(format!("cannot read: {e}")))?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok((hasher.finalize().to_hex().to_string(), bytes))
}
