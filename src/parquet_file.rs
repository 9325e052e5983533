//! Writing Parquet objects: one streamed object per table file, zstd,
//! statistics, invisible to readers until complete.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use datafusion::parquet::schema::types::ColumnPath;
use object_store::buffered::BufWriter;
use object_store::path::Path;

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

fn base_properties() -> WriterPropertiesBuilder {
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

/// A Parquet object being written. Small objects go up in one put, large
/// ones as a multipart upload completed on [`ParquetFile::close`]; either
/// way the object appears whole or not at all.
pub struct ParquetFile {
    writer: AsyncArrowWriter<BufWriter>,
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
        let buf = BufWriter::with_capacity(location.store.clone(), path.clone(), 16 * 1024 * 1024);
        let writer = AsyncArrowWriter::try_new(buf, schema, Some(properties))?;
        Ok(ParquetFile {
            writer,
            path,
            rows: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await
    }

    /// Completes the object; returns rows and bytes written.
    pub async fn close(mut self) -> Result<(u64, u64), ParquetError> {
        self.writer.finish().await?;
        let bytes = self.writer.bytes_written() as u64;
        Ok((self.rows, bytes))
    }
}
