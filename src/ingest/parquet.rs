//! Parquet reader: DataFusion reads the file; columns are cast to text
//! and go through the same mapping and validation as every other format,
//! so a Parquet export is held to the same rules as a CSV one.

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use tokio::runtime::Handle;

use super::mapping::Mapping;
use super::sink::{FileError, RecordSink};
use crate::storage::Location;

/// Must run on a blocking thread: it blocks on `handle` for each batch.
pub fn read_parquet(
    handle: &Handle,
    landing: &Location,
    relative: &str,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<Vec<String>, FileError> {
    // One partition keeps the file's row order, which `_row` reports.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    landing.register(&ctx);
    let url = format!("{}{relative}", landing.url);
    let unreadable =
        |e: &dyn std::fmt::Display| FileError::new(format!("not a readable Parquet file: {e}"));
    let df = handle
        .block_on(ctx.read_parquet(url, ParquetReadOptions::default()))
        .map_err(|e| unreadable(&e))?;
    let schema = df.schema().as_arrow().clone();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let indices: Vec<usize> = mapping
        .columns
        .iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| {
                let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                super::header::missing_column(name, &names, "file")
            })
        })
        .collect::<Result<_, _>>()?;
    let mut stream = handle
        .block_on(df.execute_stream())
        .map_err(|e| unreadable(&e))?;
    let mut row = 0i64;
    while let Some(batch) = handle.block_on(stream.next()) {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let columns: Vec<StringArray> = indices
            .iter()
            .map(|&i| as_text(batch.column(i).as_ref()))
            .collect::<Result<_, _>>()?;
        for r in 0..batch.num_rows() {
            row += 1;
            let values: Vec<Option<&str>> = columns
                .iter()
                .map(|c| c.is_valid(r).then(|| c.value(r)))
                .collect();
            let raw = || raw_record(&mapping.columns, &values);
            sink.accept(row, &values, &raw)?;
        }
    }
    Ok(names)
}

fn as_text(array: &dyn Array) -> Result<StringArray, FileError> {
    let text = cast(array, &DataType::Utf8)
        .map_err(|e| FileError::new(format!("cannot read a column as text: {e}")))?;
    Ok(text
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8 gives a StringArray")
        .clone())
}

fn raw_record(columns: &[String], values: &[Option<&str>]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .zip(values)
        .map(|(c, v)| {
            (
                c.clone(),
                v.map_or(serde_json::Value::Null, serde_json::Value::from),
            )
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}
