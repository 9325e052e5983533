//! CSV reader: our own pass with the `csv` crate rather than arrow-csv,
//! because quarantine needs per-row errors with physical line numbers and
//! arrow-csv fails whole batches (see DESIGN.md, "Engine facts").

mod tokenizer;

use std::io::{BufRead, BufReader, Read};

use super::decode::Decoded;
use super::mapping::Mapping;
use super::rows::Rejection;
use super::sink::{FileError, RecordSink};
use super::unpivot::Wide;
use crate::config::{CsvOptions, Unpivot};
use tokenizer::{Chunk, Recorder, Tokenizer, reader_builder};

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
    let decoded = Decoded::new(raw, options.encoding.as_deref())?;
    let input = BufReader::with_capacity(1 << 16, decoded);
    let mut reader = reader_builder(options)
        .has_headers(options.header)
        .from_reader(Recorder::new(input));
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
    let wide = match &mapping.unpivot {
        Some(unpivot) => Some(WideCsv::new(unpivot, &mapping.columns, &header)?),
        None => None,
    };
    let indices = match wide {
        Some(_) => Vec::new(),
        None => resolve_columns(&header, &mapping.columns)?,
    };
    let mut file = CsvFile {
        width: header.len(),
        indices,
        wide,
        columns: &mapping.columns,
        delimiter: options.delimiter as u8,
        skip_after_header: options.skip_after_header,
        skip_matching,
    };
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Chunk, FileError>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Chunk>();
    let tokenizer = Tokenizer {
        options,
        width: header.len(),
        line_offset: 0,
        origin: 0,
    };
    std::thread::scope(|scope| {
        scope.spawn(move || tokenizer.run(reader, full_tx, empty_rx));
        for chunk in full_rx {
            let chunk = chunk?;
            for i in 0..chunk.len {
                match &chunk.broken[i] {
                    Some(reason) => {
                        file.reject_broken(chunk.lines[i], reason, &chunk.records[i], sink)?
                    }
                    None => file.emit(chunk.lines[i], &chunk.records[i], sink)?,
                }
            }
            // The tokenizer may have finished; then the chunk is just dropped.
            let _ = empty_tx.send(chunk);
        }
        Ok(columns)
    })
}

struct CsvFile<'a> {
    width: usize,
    indices: Vec<usize>,
    /// An unpivoted file's layout; then `indices` is empty.
    wide: Option<WideCsv<'a>>,
    columns: &'a [String],
    delimiter: u8,
    /// Records still to skip after the header.
    skip_after_header: usize,
    skip_matching: Option<regex::Regex>,
}

impl CsvFile<'_> {
    /// A broken record: its first line, quarantined as it was written.
    fn reject_broken(
        &mut self,
        line: i64,
        reason: &str,
        record: &csv::ByteRecord,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let raw = String::from_utf8_lossy(record.get(0).unwrap_or_default()).into_owned();
        sink.reject(line, Rejection::new(None, reason.to_string()), raw)
    }

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
        if let Some(wide) = &self.wide {
            return wide.emit(line, record, sink);
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

/// An unpivoted CSV: where the kept columns are, and the others' names.
struct WideCsv<'a> {
    wide: Wide<'a>,
    header: &'a [String],
    kept: Vec<usize>,
    pivoted: Vec<(usize, &'a str)>,
}

impl<'a> WideCsv<'a> {
    fn new(
        unpivot: &'a Unpivot,
        columns: &[String],
        header: &'a [String],
    ) -> Result<WideCsv<'a>, FileError> {
        let wide = Wide::new(unpivot, columns);
        // Two columns of one name would make rows that cannot be told
        // apart (or a kept column that is also a row).
        if let Some(name) = super::unpivot::duplicate(header.iter().map(String::as_str)) {
            return Err(FileError::new(format!(
                "the header names {name:?} twice, so `unpivot` cannot tell its columns apart"
            )));
        }
        let kept = resolve_columns(header, wide.keep())?;
        let pivoted = header
            .iter()
            .enumerate()
            .filter(|(i, _)| !kept.contains(i))
            .map(|(i, name)| (i, name.as_str()))
            .collect();
        Ok(WideCsv {
            wide,
            header,
            kept,
            pivoted,
        })
    }

    /// A record's rows, one per column not kept. A row whose cell (or a
    /// kept cell) is not UTF-8 is quarantined, naming the column.
    fn emit(
        &self,
        line: i64,
        record: &csv::ByteRecord,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let text = |i: usize| std::str::from_utf8(&record[i]);
        let kept_bad = self.kept.iter().copied().find(|&i| text(i).is_err());
        let kept: Vec<Option<&str>> = self.kept.iter().map(|&i| text(i).ok()).collect();
        for &(i, name) in &self.pivoted {
            let Some(column) = kept_bad.or(text(i).is_err().then_some(i)) else {
                self.wide
                    .emit(line, &kept, [(name, text(i).ok())].into_iter(), sink)?;
                continue;
            };
            let header = self.header[column].as_str();
            let reason = format!("column {header:?} is not valid UTF-8");
            let lossy = |i: usize| String::from_utf8_lossy(&record[i]);
            let kept: Vec<_> = self.kept.iter().map(|&k| lossy(k)).collect();
            let kept: Vec<Option<&str>> = kept.iter().map(|t| Some(t.as_ref())).collect();
            let raw = self.wide.raw(&kept, name, Some(&lossy(i)));
            sink.reject(line, Rejection::new(None, reason), raw)?;
        }
        Ok(())
    }
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
            unpivot: None,
            encoding: None,
            columns,
            filter: None,
            line_items: None,
            required: true,
            freshness: crate::config::Freshness::default(),
            follow_symlinks: false,
            fingerprint: String::new(),
            legacy_fingerprint: String::new(),
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
        assert_eq!(lines_of("h\r\na\r\n\r\n\"x\r\ny\"\r\nd"), [1, 2, 4, 6]);
        assert_eq!(lines_of("h\na"), [1, 2]);
        assert_eq!(lines_of("h\r\na"), [1, 2]);
        assert_eq!(lines_of("h\n\"a\nb\""), [1, 2]);
    }

    #[test]
    fn an_unterminated_quote_quarantines_its_line_and_reading_resumes() {
        let some = |v: &str| Some(v.to_string());
        for data in [
            "C1,a,\"Ana\nC2,b,Bob\nC3,c,Cy\n",
            "C1,a,\"Ana\r\nC2,b,Bob\r\nC3,c,Cy\r\n",
            "C1,a,\"Ana\nC2,b,Bob\nC3,c,Cy",
        ] {
            let got = read(data.as_bytes(), 3, &["a", "c"]);
            assert_eq!(got.len(), 3, "{data:?}: {got:?}");
            assert_eq!(
                got[0],
                (
                    1,
                    Err(
                        "unterminated quote: the quote opened on line 1 is never closed \
                         (lines 1-3 would merge into one record); line 1 is quarantined \
                         alone and reading resumes at line 2"
                            .into()
                    )
                ),
                "{data:?}"
            );
            assert_eq!(got[1], (2, Ok(vec![some("C2"), some("Bob")])), "{data:?}");
            assert_eq!(got[2], (3, Ok(vec![some("C3"), some("Cy")])), "{data:?}");
        }
    }

    #[test]
    fn a_quote_closed_by_a_later_lines_quote_does_not_merge_lines() {
        let some = |v: &str| Some(v.to_string());
        let got = read(
            b"C1,a,\"Ana\nC2,b,Bob\nC3,c,\"Cy\"\nC4,d,Di\n",
            3,
            &["a", "c"],
        );
        assert_eq!(
            got[0],
            (
                1,
                Err(
                    "unbalanced quote: the quote opened on line 1 closes on line 3 with \
                     more text after it (lines 1-3 would merge into one record); line 1 is \
                     quarantined alone and reading resumes at line 2"
                        .into()
                )
            )
        );
        assert_eq!(got[1], (2, Ok(vec![some("C2"), some("Bob")])));
        assert_eq!(got[2], (3, Ok(vec![some("C3"), some("Cy")])));
        assert_eq!(got[3], (4, Ok(vec![some("C4"), some("Di")])));
        assert_eq!(got.len(), 4);
        // The quote that never closes may open on a later line of a record
        // that began with a sound multi-line field: the record up to the
        // end of that line goes, then reading goes on.
        let got = read(b"1,\"a\nb\",\"c\n2,x,y\n", 3, &["a", "c"]);
        assert_eq!(
            got[0],
            (
                1,
                Err(
                    "unterminated quote: the quote opened on line 2 is never closed (lines \
                     1-3 would merge into one record); lines 1-2 are quarantined as one \
                     record and reading resumes at line 3"
                        .into()
                )
            )
        );
        assert_eq!(got[1], (3, Ok(vec![some("2"), some("y")])));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_multi_line_record_of_the_wrong_width_is_read_line_by_line() {
        let some = |v: &str| Some(v.to_string());
        let got = read(b"1,a,\"x\n2,b,\",y\n3,c,z\n", 3, &["a", "c"]);
        assert_eq!(
            got[0],
            (
                1,
                Err(
                    "a record over lines 1-2 has 4 fields, not 3: a quote opened on line 1 \
                     most likely runs on into the next lines; line 1 is quarantined alone and \
                     reading resumes at line 2"
                        .into()
                )
            )
        );
        assert!(
            got[1]
                .1
                .as_ref()
                .unwrap_err()
                .starts_with("unterminated quote")
        );
        assert_eq!(got[2], (3, Ok(vec![some("3"), some("z")])));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn sound_multi_line_fields_and_escaped_quotes_stay_one_record() {
        let some = |v: &str| Some(v.to_string());
        let got = read(b"1,\"say \"\"hi\"\"\nthere\",c\n2,x,\"\"\n", 3, &["b", "c"]);
        assert_eq!(
            got,
            [
                (1, Ok(vec![some("say \"hi\"\nthere"), some("c")])),
                (3, Ok(vec![some("x"), some("")])),
            ]
        );
    }
}
