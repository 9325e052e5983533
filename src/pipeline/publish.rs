//! Publishing a report: `reports/<name>/<name>.parquet` replaced as one
//! object (one put, or one completed multipart upload), plus a dated copy
//! under `history/`.

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::parquet_file::ParquetFile;
use crate::storage::Location;

pub struct Published {
    pub rows: u64,
    pub bytes: u64,
}

pub async fn publish_report(
    warehouse: &Location,
    name: &str,
    schema: SchemaRef,
    batches: &[RecordBatch],
    run_date: NaiveDate,
) -> Result<Published, String> {
    let current = format!("reports/{name}/{name}.parquet");
    let dated = format!("history/{name}/run_date={run_date}/{name}.parquet");
    let mut published = Published { rows: 0, bytes: 0 };
    for relative in [current, dated] {
        let path = warehouse.path(&relative);
        let fail = |e: &dyn std::fmt::Display| format!("cannot write {relative}: {e}");
        let mut file =
            ParquetFile::create(warehouse, path, schema.clone()).map_err(|e| fail(&e))?;
        for batch in batches {
            file.write(batch).await.map_err(|e| fail(&e))?;
        }
        let (rows, bytes) = file.close().await.map_err(|e| fail(&e))?;
        published = Published { rows, bytes };
    }
    Ok(published)
}
