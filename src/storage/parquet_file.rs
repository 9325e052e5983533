//! Writing Parquet objects: one streamed object per table file, zstd,
//! statistics, invisible to readers until complete. A large object goes up
//! as a multipart upload, and one that fails (a write, the last part or
//! the completion) or is given up is aborted, so the store keeps no
//! orphaned parts (S3 and GCS bill for them and never clean them up).

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::async_writer::AsyncFileWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use datafusion::parquet::schema::types::ColumnPath;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::task::{JoinHandle, JoinSet};

use crate::schema::Entity;
use crate::storage::Location;

/// zstd level 3 is the usual balance: close to level 9's size at a
/// fraction of the CPU, which matters when ingest is CPU-bound.
pub fn writer_properties() -> WriterProperties {
    base_properties().build()
}

/// Intermediate models (`_state/models/`, read only by later models):
/// zstd level 1, since they are written once per run and read once or
/// twice, so encoding time matters more than size; reports keep level 3.
pub fn intermediate_writer_properties() -> WriterProperties {
    fast_properties().build()
}

/// Raw-zone files: as [`writer_properties`], but without dictionary
/// encoding for the columns that are (nearly) unique per row: keys, row
/// numbers, timestamps and amounts. A dictionary cannot shrink those, and
/// building it only to throw it away is a large share of ingest CPU.
/// Text columns carry no min/max statistics: staging reads raw files
/// whole, never pruning on a text value, and comparing every string to
/// the page's min and max was 5.5% of the instructions of loading an
/// orders CSV (callgrind). Numbers and timestamps keep theirs.
pub fn raw_writer_properties(entity: Entity, schema: &Schema) -> WriterProperties {
    // zstd level 1 for the raw zone: ingest is CPU-bound and raw files are
    // rewritten by every changed export; reports keep level 3.
    let mut builder = fast_properties();
    for field in schema.fields() {
        let unique = entity.primary_key().contains(&field.name().as_str())
            || field.name() == "_row"
            || matches!(
                field.data_type(),
                DataType::Float64 | DataType::Timestamp(_, _)
            ) && field.name() != "_loaded_at";
        if unique {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
        if field.data_type() == &DataType::Utf8 {
            builder = builder.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::None,
            );
        }
    }
    builder.build()
}

/// As [`base_properties`], with zstd level 1: for files where encoding
/// time matters more than size.
fn fast_properties() -> WriterPropertiesBuilder {
    base_properties().set_compression(Compression::ZSTD(
        ZstdLevel::try_new(1).expect("valid level"),
    ))
}

/// zstd level 3, page statistics, bounded row groups: what every Parquet
/// file we write starts from.
pub fn base_properties() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        // 128Ki rows: several row groups per million rows, so readers
        // (DataFusion here, DuckDB or Spark in BI) scan one file on several
        // cores, and the writer buffers a bounded row group, not 512Ki rows.
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by(format!("advocacy {}", env!("CARGO_PKG_VERSION")))
}

/// Objects up to this size go up in one put; larger ones as a multipart
/// upload of parts of exactly this size (the last one smaller): above S3's
/// 5 MiB minimum, and equal, as R2 requires.
pub const PART_SIZE: usize = 16 * 1024 * 1024;

/// Parts of one object uploading at once (object_store's `BufWriter` default).
const PARTS_IN_FLIGHT: usize = 8;

/// A Parquet object being written. Small objects go up in one put, large
/// ones as a multipart upload completed on [`ParquetFile::close`]; either
/// way the object appears whole or not at all. When a write or the close
/// fails, the multipart upload is aborted before the error is returned;
/// [`ParquetFile::abort`] gives a file up explicitly, and a file dropped
/// unfinished (its caller failed elsewhere) has its upload aborted in the
/// background (see [`wait_for_aborts`]).
pub struct ParquetFile {
    /// `None` once closed or aborted.
    writer: Option<AsyncArrowWriter<Upload>>,
    path: Path,
    rows: u64,
}

impl ParquetFile {
    pub fn create(
        location: &Location,
        path: Path,
        schema: SchemaRef,
    ) -> Result<ParquetFile, ParquetError> {
        ParquetFile::create_with(location, path, schema, writer_properties())
    }

    pub fn create_with(
        location: &Location,
        path: Path,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> Result<ParquetFile, ParquetError> {
        let upload = Upload::new(location.store.clone(), path.clone());
        let writer = AsyncArrowWriter::try_new(upload, schema, Some(properties))?;
        Ok(ParquetFile {
            writer: Some(writer),
            path,
            rows: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let writer = self.writer.as_mut().ok_or_else(|| finished(&self.path))?;
        self.rows += batch.num_rows() as u64;
        if let Err(e) = writer.write(batch).await {
            self.give_up().await;
            return Err(e);
        }
        Ok(())
    }

    /// Adds key-value pairs to the footer, for what is known only once
    /// every row is written (the content hash of the file they came from).
    pub fn append_key_values(&mut self, pairs: Vec<KeyValue>) {
        if let Some(writer) = self.writer.as_mut() {
            for pair in pairs {
                writer.append_key_value_metadata(pair);
            }
        }
    }

    /// Completes the object; returns rows and bytes written.
    pub async fn close(mut self) -> Result<(u64, u64), ParquetError> {
        let writer = self.writer.as_mut().ok_or_else(|| finished(&self.path))?;
        if let Err(e) = writer.finish().await {
            self.give_up().await;
            return Err(e);
        }
        let bytes = writer.bytes_written() as u64;
        self.writer = None;
        Ok((self.rows, bytes))
    }

    /// Gives the object up: nothing appears, and a multipart upload already
    /// started is aborted.
    pub async fn abort(mut self) -> Result<(), ParquetError> {
        match self.writer.take() {
            Some(writer) => writer.into_inner().abort().await.map_err(external),
            None => Ok(()),
        }
    }

    /// After a failed write or close: abort, keeping the first error.
    async fn give_up(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(e) = writer.into_inner().abort().await
        {
            tracing::warn!(path = %self.path, error = %e, "cannot abort the multipart upload");
        }
    }
}

fn finished(path: &Path) -> ParquetError {
    ParquetError::General(format!("{path}: already closed or failed"))
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// Where a [`ParquetFile`]'s bytes go: buffered up to [`PART_SIZE`] and
/// put whole, or, past that, a multipart upload that this type aborts on
/// every failure of its own, and on drop when left unfinished.
/// (object_store's `BufWriter` cannot: after a failed shutdown its
/// `abort()` panics, and a part failing during the shutdown drops the
/// upload without aborting it.) Measured against the build that still
/// used `BufWriter` (commit 0e63c00), the nightly run on 100,000 generated
/// customers from an empty warehouse: 6.98 s against 6.68 s median wall,
/// pairwise ratio 1.04 (spread 0.93 to 1.14, `farm-bench -n 5`), within
/// the noise and including this stop's other changes.
struct Upload {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Bytes not yet sent, less than one part.
    buffer: Vec<Bytes>,
    buffered: usize,
    multipart: Option<Multipart>,
    /// Completed or aborted: nothing left to clean up.
    done: bool,
}

struct Multipart {
    upload: Box<dyn MultipartUpload>,
    parts: JoinSet<object_store::Result<()>>,
}

impl Upload {
    fn new(store: Arc<dyn ObjectStore>, path: Path) -> Upload {
        Upload {
            store,
            path,
            buffer: Vec::new(),
            buffered: 0,
            multipart: None,
            done: false,
        }
    }

    async fn write_bytes(&mut self, mut bytes: Bytes) -> object_store::Result<()> {
        while self.buffered + bytes.len() >= PART_SIZE {
            let head = bytes.split_to(PART_SIZE - self.buffered);
            self.buffer.push(head);
            let part = self.take_buffer();
            self.send_part(part).await?;
        }
        if !bytes.is_empty() {
            self.buffered += bytes.len();
            self.buffer.push(bytes);
        }
        Ok(())
    }

    fn take_buffer(&mut self) -> PutPayload {
        self.buffered = 0;
        std::mem::take(&mut self.buffer).into_iter().collect()
    }

    /// Starts the multipart upload on the first part; waits while
    /// [`PARTS_IN_FLIGHT`] parts are uploading.
    async fn send_part(&mut self, part: PutPayload) -> object_store::Result<()> {
        if self.multipart.is_none() {
            let upload = self.store.put_multipart(&self.path).await?;
            self.multipart = Some(Multipart {
                upload,
                parts: JoinSet::new(),
            });
        }
        let multipart = self.multipart.as_mut().expect("started above");
        // A part that already failed stops the writing now, not at the close.
        while let Some(done) = multipart.parts.try_join_next() {
            joined(done)?;
        }
        while multipart.parts.len() >= PARTS_IN_FLIGHT {
            join_part(&mut multipart.parts).await?;
        }
        multipart.parts.spawn(multipart.upload.put_part(part));
        Ok(())
    }

    async fn finish(&mut self) -> object_store::Result<()> {
        if self.multipart.is_none() {
            let payload = self.take_buffer();
            self.store.put(&self.path, payload).await?;
            self.done = true;
            return Ok(());
        }
        if self.buffered > 0 {
            let part = self.take_buffer();
            self.send_part(part).await?;
        }
        let multipart = self.multipart.as_mut().expect("checked above");
        while !multipart.parts.is_empty() {
            join_part(&mut multipart.parts).await?;
        }
        multipart.upload.complete().await?;
        self.done = true;
        Ok(())
    }

    /// Cancels the parts in flight and aborts the multipart upload.
    async fn abort(&mut self) -> object_store::Result<()> {
        self.buffer.clear();
        self.buffered = 0;
        if self.done {
            return Ok(());
        }
        self.done = true;
        match self.multipart.as_mut() {
            None => Ok(()),
            Some(multipart) => {
                multipart.parts.shutdown().await;
                multipart.upload.abort().await
            }
        }
    }

    /// A failed step aborts the upload; the step's error is returned (it
    /// names the object: object_store's errors carry its URL).
    async fn or_abort(&mut self, result: object_store::Result<()>) -> Result<(), ParquetError> {
        let Err(e) = result else { return Ok(()) };
        if let Err(abort) = self.abort().await {
            tracing::warn!(path = %self.path, error = %abort, "cannot abort the multipart upload");
        }
        Err(external(e))
    }
}

async fn join_part(parts: &mut JoinSet<object_store::Result<()>>) -> object_store::Result<()> {
    match parts.join_next().await {
        None => Ok(()),
        Some(done) => joined(done),
    }
}

fn joined(
    done: Result<object_store::Result<()>, tokio::task::JoinError>,
) -> object_store::Result<()> {
    done.map_err(|e| object_store::Error::Generic {
        store: "multipart upload",
        source: Box::new(e),
    })?
}

impl AsyncFileWriter for Upload {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, Result<(), ParquetError>> {
        async move {
            let result = self.write_bytes(bytes).await;
            self.or_abort(result).await
        }
        .boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, Result<(), ParquetError>> {
        async move {
            let result = self.finish().await;
            self.or_abort(result).await
        }
        .boxed()
    }
}

/// A multipart upload left unfinished (its [`ParquetFile`] dropped after
/// the caller failed elsewhere, e.g. a query error mid-stream) is aborted
/// on a background task: `Drop` cannot wait.
impl Drop for Upload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(mut multipart) = self.multipart.take() else {
            return;
        };
        multipart.parts.abort_all();
        let path = self.path.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(async move {
                    if let Err(e) = multipart.upload.abort().await {
                        tracing::warn!(path = %path, error = %e, "cannot abort the multipart upload");
                    }
                });
                pending_aborts()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(task);
            }
            Err(_) => tracing::warn!(
                path = %path,
                "multipart upload left unfinished outside the async runtime; not aborted"
            ),
        }
    }
}

fn pending_aborts() -> &'static Mutex<Vec<JoinHandle<()>>> {
    static PENDING: OnceLock<Mutex<Vec<JoinHandle<()>>>> = OnceLock::new();
    PENDING.get_or_init(|| Mutex::new(Vec::new()))
}

/// Waits for the aborts of multipart uploads whose [`ParquetFile`] was
/// dropped unfinished. Call it before the process exits: the runtime's
/// shutdown would otherwise cancel an abort still in flight.
pub async fn wait_for_aborts() {
    loop {
        let tasks =
            std::mem::take(&mut *pending_aborts().lock().unwrap_or_else(|e| e.into_inner()));
        if tasks.is_empty() {
            return;
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}
