//! CSV reader: our own pass with the `csv` crate rather than arrow-csv,
//! because quarantine needs per-row errors with physical line numbers and
//! arrow-csv fails whole batches (see DESIGN.md, "Engine facts").

use std::io::{BufRead, BufReader, Read};

use super::load::{FileError, RecordSink};
use super::rows::{Mapping, Rejection};
use crate::config::CsvOptions;

pub fn read_csv(
    input: impl Read,
    options: &CsvOptions,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    let mut input = BufReader::with_capacity(
        1 << 16,
        LastByte {
            inner: input,
            last: None,
        },
    );
    let crlf = ends_lines_with_crlf(
        input
            .fill_buf()
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?,
    );
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
    let file = CsvFile {
        width: header.len(),
        indices: resolve_columns(&header, &mapping.columns)?,
        columns: &mapping.columns,
        delimiter: options.delimiter as u8,
    };
    // One record of lookahead: only at the end of the file is it known
    // whether the last record had a line terminator, which its line
    // number depends on.
    let mut current = csv::ByteRecord::new();
    let mut pending = csv::ByteRecord::new();
    let mut pending_end: Option<u64> = None;
    loop {
        match reader.read_byte_record(&mut current) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e)),
        }
        std::mem::swap(&mut current, &mut pending);
        let end = pending_end.replace(reader.position().line());
        if let Some(end) = end {
            file.emit(start_line(end, crlf, true, &current), &current, sink)?;
        }
    }
    if let Some(end) = pending_end {
        let terminated = matches!(reader.get_ref().get_ref().last, Some(b'\n' | b'\r'));
        file.emit(start_line(end, crlf, terminated, &pending), &pending, sink)?;
    }
    Ok(())
}

/// Remembers the last byte read, to tell whether a file ends in a newline.
struct LastByte<R> {
    inner: R,
    last: Option<u8>,
}

impl<R: Read> Read for LastByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

struct CsvFile<'a> {
    width: usize,
    indices: Vec<usize>,
    columns: &'a [String],
    delimiter: u8,
}

impl CsvFile<'_> {
    fn emit(
        &self,
        line: i64,
        record: &csv::ByteRecord,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let raw = || render(record, self.delimiter);
        if record.len() != self.width {
            let reason = format!("expected {} fields, found {}", self.width, record.len());
            return sink.reject(line, Rejection::new(None, reason), raw());
        }
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.indices.len());
        for (&index, column) in self.indices.iter().zip(self.columns) {
            match std::str::from_utf8(&record[index]) {
                Ok(v) => values.push(Some(v)),
                Err(_) => {
                    let reason = format!("column {column:?} is not valid UTF-8");
                    return sink.reject(line, Rejection::new(None, reason), raw());
                }
            }
        }
        sink.accept(line, &values, &raw)
    }
}

fn ends_lines_with_crlf(head: &[u8]) -> bool {
    head.iter()
        .position(|&b| b == b'\n')
        .is_some_and(|i| i > 0 && head[i - 1] == b'\r')
}

/// The physical line a record starts on. csv's own record positions lag
/// behind blank lines and CRLF terminators, so this counts back from where
/// the parser stopped: just after the record's terminating `\n` (LF files)
/// or `\r` (CRLF files) or at the end of the file, less the newlines quoted
/// inside the record.
fn start_line(end_line: u64, crlf: bool, terminated: bool, record: &csv::ByteRecord) -> i64 {
    let last_line = if terminated && !crlf {
        end_line.saturating_sub(1)
    } else {
        end_line
    };
    let inner: usize = record
        .iter()
        .map(|field| field.iter().filter(|&&b| b == b'\n').count())
        .sum();
    last_line as i64 - inner as i64
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
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every record and returns its physical start line.
    fn lines_of(data: &str) -> Vec<i64> {
        struct Lines(Vec<i64>);
        impl RecordSink for Lines {
            fn accept(
                &mut self,
                row: i64,
                _: &[Option<&str>],
                _: &dyn Fn() -> String,
            ) -> Result<(), FileError> {
                self.0.push(row);
                Ok(())
            }
            fn reject(&mut self, row: i64, _: Rejection, _: String) -> Result<(), FileError> {
                self.0.push(row);
                Ok(())
            }
        }
        let options = CsvOptions {
            header: false,
            column_names: vec!["a".into()],
            ..CsvOptions::default()
        };
        let source = crate::config::SourceConfig {
            name: "s".into(),
            entity: crate::schema::Entity::Identities,
            format: crate::config::Format::Csv,
            path: "x".into(),
            csv: options.clone(),
            records: None,
            columns: vec![],
        };
        let mut lines = Lines(Vec::new());
        read_csv(
            data.as_bytes(),
            &options,
            &Mapping::new(&source),
            &mut lines,
        )
        .unwrap();
        lines.0
    }

    #[test]
    fn line_numbers_count_blank_lines_quoted_newlines_and_crlf() {
        assert_eq!(lines_of("h\na\n\"b\nc\"\n\nd\n"), [1, 2, 3, 6]);
        assert_eq!(lines_of("h\r\na\r\n\r\n\"x\r\ny\",3\r\nd"), [1, 2, 4, 6]);
        assert_eq!(lines_of("h\na"), [1, 2]);
        assert_eq!(lines_of("h\r\na"), [1, 2]);
        assert_eq!(lines_of("h\n\"a\nb\""), [1, 2]);
    }
}
