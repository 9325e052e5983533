//! CSV reader: our own pass with the `csv` crate rather than arrow-csv,
//! because quarantine needs per-row errors with physical line numbers and
//! arrow-csv fails whole batches (see DESIGN.md, "Engine facts").

use std::io::Read;

use super::load::{FileError, RecordSink};
use super::rows::{Mapping, Rejection};
use crate::config::CsvOptions;

pub fn read_csv(
    input: impl Read,
    options: &CsvOptions,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter as u8)
        .quote(options.quote as u8)
        .has_headers(options.header)
        .flexible(true)
        .from_reader(input);
    let header: Vec<String> = if options.header {
        let record = reader
            .byte_headers()
            .map_err(|e| FileError::new(format!("cannot read the header row: {e}")))?;
        record
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect()
    } else {
        options.column_names.clone()
    };
    let indices = resolve_columns(&header, &mapping.columns)?;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e)),
        }
        let line = record.position().map_or(0, |p| p.line()) as i64;
        let raw = || render(&record, options.delimiter as u8);
        if record.len() != header.len() {
            let reason = format!("expected {} fields, found {}", header.len(), record.len());
            sink.reject(line, Rejection::new(None, reason), raw())?;
            continue;
        }
        let mut values: Vec<Option<&str>> = Vec::with_capacity(indices.len());
        let mut bad_utf8 = None;
        for (&index, column) in indices.iter().zip(&mapping.columns) {
            match std::str::from_utf8(&record[index]) {
                Ok(v) => values.push(Some(v)),
                Err(_) => {
                    bad_utf8 = Some(column);
                    break;
                }
            }
        }
        if let Some(column) = bad_utf8 {
            let reason = format!("column {column:?} is not valid UTF-8");
            sink.reject(line, Rejection::new(None, reason), raw())?;
            continue;
        }
        sink.accept(line, &values, &raw)?;
    }
    Ok(())
}

/// Every mapped column must exist: a missing one means the export changed
/// shape, which no row-level quarantine can fix.
fn resolve_columns(header: &[String], wanted: &[String]) -> Result<Vec<usize>, FileError> {
    wanted
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                FileError::new(format!(
                    "mapped column {name:?} is not in the header (columns: {})",
                    header.join(", ")
                ))
            })
        })
        .collect()
}

fn csv_error(e: csv::Error) -> FileError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    FileError::new(format!("cannot read CSV{at}: {e}"))
}

/// The record as CSV text, for the quarantine's raw_record column.
fn render(record: &csv::ByteRecord, delimiter: u8) -> String {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = writer.write_byte_record(record);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_string()
}
