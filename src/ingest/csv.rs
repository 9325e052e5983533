//! CSV reader: our own pass with the `csv` crate rather than arrow-csv,
//! because quarantine needs per-row errors with physical line numbers and
//! arrow-csv fails whole batches (see DESIGN.md, "Engine facts").

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use super::load::{FileError, RecordSink};
use super::rows::{Mapping, Rejection};
use crate::config::CsvOptions;

/// Records per chunk handed from the tokenizing thread to the validating one.
const CHUNK_RECORDS: usize = 4096;

/// Tokenized records and the line each starts on.
struct Chunk {
    records: Vec<csv::ByteRecord>,
    lines: Vec<i64>,
    len: usize,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            records: Vec::with_capacity(CHUNK_RECORDS),
            lines: Vec::with_capacity(CHUNK_RECORDS),
            len: 0,
        }
    }

    /// Takes `record` by swapping it with a recycled slot, so the buffers
    /// of both are reused and no record is copied.
    fn push(&mut self, record: &mut csv::ByteRecord, line: i64) {
        if self.len == self.records.len() {
            self.records.push(csv::ByteRecord::new());
            self.lines.push(0);
        }
        std::mem::swap(&mut self.records[self.len], record);
        self.lines[self.len] = line;
        self.len += 1;
    }
}

/// Reads a CSV file in two stages on two threads: this one validates and
/// maps records (the sink), a scoped one tokenizes them, hashes the bytes
/// and counts lines. Chunks go back and forth over bounded channels, so
/// memory stays flat whatever the file size. Returns the header's columns.
pub fn read_csv(
    input: impl Read + Send,
    options: &CsvOptions,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<Option<Vec<String>>, FileError> {
    let mut raw = BufReader::with_capacity(1 << 16, input);
    let head = raw
        .fill_buf()
        .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
    if head.is_empty() {
        // "Nothing today" deliveries are empty files: 0 rows, no error
        // (the ingest warns).
        return Ok(None);
    }
    let decoded = Decoded::new(raw, options)?;
    let mut input = BufReader::with_capacity(
        1 << 16,
        LastByte {
            inner: decoded,
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
    let skip_matching = options
        .skip_matching
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| FileError::new(format!("csv.skip_matching: {e}")))?;
    let columns = options.header.then(|| header.clone());
    let mut file = CsvFile {
        width: header.len(),
        indices: resolve_columns(&header, &mapping.columns)?,
        columns: &mapping.columns,
        delimiter: options.delimiter as u8,
        skip_after_header: options.skip_after_header,
        skip_matching,
    };
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Chunk, FileError>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Chunk>();
    std::thread::scope(|scope| {
        scope.spawn(move || tokenize(reader, crlf, full_tx, empty_rx));
        for chunk in full_rx {
            let chunk = chunk?;
            for i in 0..chunk.len {
                file.emit(chunk.lines[i], &chunk.records[i], sink)?;
            }
            // The tokenizer may have finished; then the chunk is just dropped.
            let _ = empty_tx.send(chunk);
        }
        Ok(columns)
    })
}

/// The tokenizing stage. A full chunk is sent only once the next record
/// has been read, so the file's last record is still at hand at the end:
/// only then is it known whether it had a line terminator, which its line
/// number depends on.
fn tokenize<R: Read>(
    mut reader: csv::Reader<BufReader<LastByte<R>>>,
    crlf: bool,
    full: SyncSender<Result<Chunk, FileError>>,
    empty: Receiver<Chunk>,
) {
    let mut next = csv::ByteRecord::new();
    let mut chunk = Chunk::new();
    loop {
        match reader.read_byte_record(&mut next) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let _ = full.send(Err(csv_error(e)));
                return;
            }
        }
        let line = start_line(reader.position().line(), crlf, true, &next);
        if chunk.len == CHUNK_RECORDS {
            let recycled = empty.try_recv().unwrap_or_else(|_| Chunk::new());
            let ready = std::mem::replace(&mut chunk, recycled);
            if full.send(Ok(ready)).is_err() {
                return; // the validating stage stopped
            }
            chunk.len = 0;
        }
        chunk.push(&mut next, line);
    }
    let terminated = matches!(reader.get_ref().get_ref().last, Some(b'\n' | b'\r'));
    if chunk.len > 0 && !terminated {
        let last = chunk.len - 1;
        let end_line = reader.position().line();
        chunk.lines[last] = start_line(end_line, crlf, false, &chunk.records[last]);
    }
    if chunk.len > 0 {
        let _ = full.send(Ok(chunk));
    }
}

/// The file as UTF-8. UTF-8 passes through untouched (each field is checked
/// on its own later); `csv.encoding` or a byte-order mark (UTF-16, or
/// UTF-8's own, which would otherwise stick to the first column's name)
/// decodes through encoding_rs.
enum Decoded<R: Read> {
    Utf8(R),
    Decoding(encoding_rs_io::DecodeReaderBytes<R, Vec<u8>>),
}

impl<R: BufRead> Decoded<R> {
    fn new(mut input: R, options: &CsvOptions) -> Result<Decoded<R>, FileError> {
        let encoding = match &options.encoding {
            Some(label) => Some(
                encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                    FileError::new(format!("csv.encoding: unknown encoding {label:?}"))
                })?,
            ),
            None => None,
        };
        let head = input
            .fill_buf()
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
        let bom = [&[0xEF, 0xBB, 0xBF][..], &[0xFF, 0xFE], &[0xFE, 0xFF]]
            .iter()
            .any(|mark| head.starts_with(mark));
        if encoding.is_none() && !bom {
            return Ok(Decoded::Utf8(input));
        }
        let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(encoding)
            .build(input);
        Ok(Decoded::Decoding(decoder))
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Utf8(r) => r.read(buf),
            Decoded::Decoding(r) => r.read(buf),
        }
    }
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
    /// Records still to skip after the header.
    skip_after_header: usize,
    skip_matching: Option<regex::Regex>,
}

impl CsvFile<'_> {
    fn emit(
        &mut self,
        line: i64,
        record: &csv::ByteRecord,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let raw = || render(record, self.delimiter);
        if self.skip_after_header > 0 {
            self.skip_after_header -= 1;
            return sink.skip(line);
        }
        // Footers are matched before the field count: they rarely have
        // the header's number of fields.
        if let Some(pattern) = &self.skip_matching
            && pattern.is_match(&unquoted(record, self.delimiter))
        {
            return sink.skip(line);
        }
        if record.len() != self.width {
            let reason = format!("expected {} fields, found {}", self.width, record.len());
            return sink.reject(line, Rejection::new(None, reason), raw());
        }
        // One UTF-8 check of the whole record rather than one per field:
        // from_utf8 on short fields was 6% of the instructions of loading
        // an orders CSV (callgrind). A field is checked on its own only when
        // the record is not valid UTF-8 or the field does not begin and end
        // on a character boundary of it.
        let whole = std::str::from_utf8(record.as_slice()).ok();
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.indices.len());
        for (&index, column) in self.indices.iter().zip(self.columns) {
            let field = whole.and_then(|text| text.get(record.range(index)?));
            match field.map_or_else(|| std::str::from_utf8(&record[index]), Ok) {
                Ok(v) => values.push(Some(v)),
                Err(_) => {
                    let reason = format!("column {column:?} is not valid UTF-8");
                    // The values as far as they can be read: a line item
                    // still takes its order down with it.
                    let lossy: Vec<String> = self
                        .indices
                        .iter()
                        .map(|&i| String::from_utf8_lossy(&record[i]).into_owned())
                        .collect();
                    let lossy: Vec<Option<&str>> = lossy.iter().map(|v| Some(v.as_str())).collect();
                    return sink.reject_mapped(line, Rejection::new(None, reason), raw(), &lossy);
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
    let inner = memchr::memchr_iter(b'\n', record.as_slice()).count();
    last_line as i64 - inner as i64
}

/// Every mapped column must exist: a missing one means the export changed
/// shape, which no row-level quarantine can fix.
fn resolve_columns(header: &[String], wanted: &[String]) -> Result<Vec<usize>, FileError> {
    wanted
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                let available: Vec<&str> = header.iter().map(String::as_str).collect();
                super::header::missing_column(name, &available, "header")
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

/// The record's fields joined by the delimiter, without CSV quoting: the
/// line as a reader sees it, which `skip_matching` is matched against.
fn unquoted(record: &csv::ByteRecord, delimiter: u8) -> String {
    let fields: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
    fields.join(&char::from(delimiter).to_string())
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

    /// What the reader made of each record: its physical start line and
    /// its mapped values, or the reason it was rejected.
    type Outcome = (i64, Result<Vec<Option<String>>, String>);

    /// Reads `data` (no header row; `width` columns named a, b, c) with
    /// `mapped` as the columns the sink asks for.
    fn read(data: &[u8], width: usize, mapped: &[&str]) -> Vec<Outcome> {
        struct Records(Vec<Outcome>);
        impl RecordSink for Records {
            fn accept(
                &mut self,
                row: i64,
                values: &[Option<&str>],
                _: &dyn Fn() -> String,
            ) -> Result<(), FileError> {
                let values = values.iter().map(|v| v.map(str::to_string)).collect();
                self.0.push((row, Ok(values)));
                Ok(())
            }
            fn reject(&mut self, row: i64, why: Rejection, _: String) -> Result<(), FileError> {
                self.0.push((row, Err(why.reason)));
                Ok(())
            }
            fn skip(&mut self, row: i64) -> Result<(), FileError> {
                self.0.push((row, Err("skipped".into())));
                Ok(())
            }
        }
        let options = CsvOptions {
            header: false,
            column_names: ["a", "b", "c"][..width]
                .iter()
                .map(|c| c.to_string())
                .collect(),
            ..CsvOptions::default()
        };
        let columns = mapped
            .iter()
            .zip(["kind", "value"])
            .map(|(from, field)| {
                let spec = crate::config::ColumnSpec {
                    from: Some(from.to_string()),
                    ..Default::default()
                };
                (field.to_string(), spec)
            })
            .collect();
        let source = crate::config::SourceConfig {
            name: "s".into(),
            entity: crate::schema::Entity::Identities,
            format: crate::config::Format::Csv,
            path: "x".into(),
            csv: options.clone(),
            records: None,
            columns,
            filter: None,
            line_items: None,
        };
        let mut records = Records(Vec::new());
        read_csv(data, &options, &Mapping::new(&source), &mut records).unwrap();
        records.0
    }

    /// Reads every record and returns its physical start line.
    fn lines_of(data: &str) -> Vec<i64> {
        read(data.as_bytes(), 1, &[])
            .into_iter()
            .map(|(line, _)| line)
            .collect()
    }

    #[test]
    fn each_mapped_field_must_be_utf8_on_its_own() {
        let some = |v: &str| Some(v.to_string());
        // "\xC3" ends field a and "\xA9" begins field b: together they are
        // "é", so the record is valid UTF-8 while neither field is.
        let got = read(b"\xC3,\xA9\n\xC3\xA9,x\n", 2, &["a", "b"]);
        assert_eq!(got[0], (1, Err("column \"a\" is not valid UTF-8".into())));
        assert_eq!(got[1], (2, Ok(vec![some("é"), some("x")])));
        // An invalid byte in a column nobody maps does not reject the row.
        let got = read(b"\xC3\xA9,x,\xFF\n", 3, &["a", "b"]);
        assert_eq!(got, [(1, Ok(vec![some("é"), some("x")]))]);
        let got = read(b"ok,\xFF\n", 2, &["a", "b"]);
        assert_eq!(got, [(1, Err("column \"b\" is not valid UTF-8".into()))]);
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
