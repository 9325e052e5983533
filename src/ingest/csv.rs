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
    /// Why a record is broken (then it holds its first line as one field).
    broken: Vec<Option<String>>,
    len: usize,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            records: Vec::with_capacity(CHUNK_RECORDS),
            lines: Vec::with_capacity(CHUNK_RECORDS),
            broken: Vec::with_capacity(CHUNK_RECORDS),
            len: 0,
        }
    }

    /// Takes `record` by swapping it with a recycled slot, so the buffers
    /// of both are reused and no record is copied.
    fn push(&mut self, record: &mut csv::ByteRecord, line: i64, broken: Option<String>) {
        if self.len == self.records.len() {
            self.records.push(csv::ByteRecord::new());
            self.lines.push(0);
            self.broken.push(None);
        }
        std::mem::swap(&mut self.records[self.len], record);
        self.lines[self.len] = line;
        self.broken[self.len] = broken;
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
    let mut input = BufReader::with_capacity(1 << 16, decoded);
    let crlf = ends_lines_with_crlf(
        input
            .fill_buf()
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?,
    );
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
    let tokenizer = Tokenizer {
        options,
        width: header.len(),
        crlf,
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

fn reader_builder(options: &CsvOptions) -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(options.delimiter as u8)
        .quote(options.quote as u8)
        .flexible(true);
    builder
}

/// The tokenizing stage. A full chunk is sent only once the next record
/// has been read, so the file's last record is still at hand at the end:
/// only then is it known whether it had a line terminator, which its line
/// number depends on.
///
/// The csv crate ends a quoted field only at the next quote, so a quote
/// left open swallows the lines after it into one field (to the end of
/// the file, or to some later quote). A record spanning several lines is
/// therefore checked against its raw bytes: if its quoting is not sound
/// (a quote still open at the end of the file, or a closing quote
/// followed by more of the field) or it has not the header's number of
/// fields (a quote that some later quote closed), only its first line is taken as the
/// broken record and reading starts again at the next line, so the lines
/// it swallowed are read, and counted, one by one.
struct Tokenizer<'a> {
    options: &'a CsvOptions,
    /// The header's number of fields.
    width: usize,
    crlf: bool,
    /// Physical lines before the current csv reader's first line.
    line_offset: i64,
    /// Byte offset (in the decoded stream) of the current reader's start.
    origin: u64,
}

impl Tokenizer<'_> {
    fn run<R: Read>(
        mut self,
        mut reader: csv::Reader<Recorder<R>>,
        full: SyncSender<Result<Chunk, FileError>>,
        empty: Receiver<Chunk>,
    ) {
        let mut next = csv::ByteRecord::new();
        let mut chunk = Chunk::new();
        loop {
            let start = self.origin + reader.position().byte();
            let start_line_seen = self.line_offset + reader.position().line() as i64;
            reader.get_mut().forget_before(start);
            match reader.read_byte_record(&mut next) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let _ = full.send(Err(csv_error(e)));
                    return;
                }
            }
            let mut line =
                self.line_offset + start_line(reader.position().line(), self.crlf, true, &next);
            let mut broken = None;
            if memchr::memchr(b'\n', next.as_slice()).is_some() {
                let end = self.origin + reader.position().byte();
                if let Some(split) =
                    self.check_record(reader.get_ref(), start, end, start_line_seen, next.len())
                {
                    line = split.line;
                    broken = Some(split.reason);
                    next.clear();
                    next.push_field(&split.text);
                    reader = self.restart(reader, split.resume_at, split.last_line);
                }
            }
            if chunk.len == CHUNK_RECORDS {
                let recycled = empty.try_recv().unwrap_or_else(|_| Chunk::new());
                let ready = std::mem::replace(&mut chunk, recycled);
                if full.send(Ok(ready)).is_err() {
                    return; // the validating stage stopped
                }
                chunk.len = 0;
            }
            chunk.push(&mut next, line, broken);
        }
        let terminated = matches!(reader.get_ref().last, Some(b'\n' | b'\r'));
        if chunk.len > 0 && !terminated && chunk.broken[chunk.len - 1].is_none() {
            let last = chunk.len - 1;
            let end_line = reader.position().line();
            chunk.lines[last] =
                self.line_offset + start_line(end_line, self.crlf, false, &chunk.records[last]);
        }
        if chunk.len > 0 {
            let _ = full.send(Ok(chunk));
        }
    }

    /// Checks the multi-line record of `fields` fields in bytes
    /// `start..end` (`start` being on line `start_line`); `None` when its
    /// quoting is sound and it has the header's width.
    fn check_record<R>(
        &self,
        recorder: &Recorder<R>,
        start: u64,
        end: u64,
        start_line: i64,
        fields: usize,
    ) -> Option<Split> {
        let raw = recorder.kept(start, end);
        // The reader's start includes blank lines and the `\n` of a CRLF
        // that ended the record before; the record proper begins after them.
        let lead = raw
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')
            .unwrap_or(raw.len());
        let record = &raw[lead..];
        // Counted from the bytes: the end-based count of the sound path
        // would take the newlines the open quote swallowed for quoted ones.
        let line = start_line + count_newlines(&raw[..lead]);
        let quoting = quoting_fault(
            record,
            self.options.delimiter as u8,
            self.options.quote as u8,
        );
        if quoting.is_none() && fields == self.width {
            return None;
        }
        // The broken record runs to the end of the line its bad quote
        // opened on (for a wrong width, where that was is not known: its
        // first line).
        let (what, split_at) = match quoting {
            Some(fault) => {
                let opened = line + count_newlines(&record[..fault.opened]);
                let last_line = line + count_newlines(&record[..fault.at]);
                let what = match fault.kind {
                    QuoteFault::Unterminated => format!(
                        "unterminated quote: the quote opened on line {opened} is never closed \
                         (lines {line}-{last_line} would merge into one record)"
                    ),
                    QuoteFault::TextAfterClosingQuote => format!(
                        "unbalanced quote: the quote opened on line {opened} closes on line \
                         {last_line} with more text after it (lines {line}-{last_line} would \
                         merge into one record)"
                    ),
                };
                (what, fault.opened + first_line_end(&record[fault.opened..]))
            }
            None => {
                let body = record.len() - trailing_line_breaks(record);
                let last_line = line + count_newlines(&record[..body]);
                let what = format!(
                    "a record over lines {line}-{last_line} has {fields} fields, not {}: \
                     a quote opened on line {line} most likely runs on into the next lines",
                    self.width
                );
                (what, first_line_end(record))
            }
        };
        let text = &record[..split_at];
        let last_line = line + count_newlines(text);
        let kept = match last_line == line {
            true => format!("line {line} is quarantined alone"),
            false => format!("lines {line}-{last_line} are quarantined as one record"),
        };
        let next_line = last_line + 1;
        Some(Split {
            line,
            last_line,
            reason: format!("{what}; {kept} and reading resumes at line {next_line}"),
            text: text.strip_suffix(b"\r").unwrap_or(text).to_vec(),
            resume_at: start + (lead + (split_at + 1).min(record.len())) as u64,
        })
    }

    /// A new csv reader from byte `resume_at`, which begins the line after
    /// `broken_line`: the bytes the old reader had buffered past it are
    /// replayed before the rest of the stream.
    fn restart<R: Read>(
        &mut self,
        reader: csv::Reader<Recorder<R>>,
        resume_at: u64,
        broken_line: i64,
    ) -> csv::Reader<Recorder<R>> {
        let mut recorder = reader.into_inner();
        recorder.rewind_to(resume_at);
        self.origin = resume_at;
        self.line_offset = broken_line;
        reader_builder(self.options)
            .has_headers(false)
            .from_reader(recorder)
    }
}

/// A broken record cut short, and where reading resumes.
struct Split {
    line: i64,
    last_line: i64,
    reason: String,
    text: Vec<u8>,
    resume_at: u64,
}

enum QuoteFault {
    Unterminated,
    TextAfterClosingQuote,
}

struct Fault {
    kind: QuoteFault,
    /// Offsets in the record of the quote that opened the faulty field and
    /// of the byte where the fault shows.
    opened: usize,
    at: usize,
}

/// RFC 4180 quoting, checked over one record's raw bytes: a quoted field
/// ends at a quote followed by the delimiter, a line break or the end, and
/// `""` is an escaped quote. A quote inside an unquoted field is a literal,
/// as the csv crate reads it.
fn quoting_fault(record: &[u8], delimiter: u8, quote: u8) -> Option<Fault> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        AfterQuote,
    }
    let mut state = State::FieldStart;
    let mut opened = 0;
    for (at, &b) in record.iter().enumerate() {
        state = match state {
            State::FieldStart if b == quote => {
                opened = at;
                State::Quoted
            }
            State::FieldStart | State::Unquoted if b == delimiter || b == b'\n' || b == b'\r' => {
                State::FieldStart
            }
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == quote => State::AfterQuote,
            State::Quoted => State::Quoted,
            State::AfterQuote if b == quote => State::Quoted,
            State::AfterQuote if b == delimiter || b == b'\n' || b == b'\r' => State::FieldStart,
            State::AfterQuote => {
                return Some(Fault {
                    kind: QuoteFault::TextAfterClosingQuote,
                    opened,
                    at,
                });
            }
        };
    }
    (state == State::Quoted).then(|| Fault {
        kind: QuoteFault::Unterminated,
        opened,
        // The last byte that is not the record's own terminator.
        at: record.len() - trailing_line_breaks(record),
    })
}

/// The offset of the first line break (`\n`, or a `\r` not followed by
/// `\n`), or the record's length.
fn first_line_end(record: &[u8]) -> usize {
    for (i, &b) in record.iter().enumerate() {
        if b == b'\n' {
            return i;
        }
        if b == b'\r' && record.get(i + 1) != Some(&b'\n') {
            return i;
        }
    }
    record.len()
}

fn trailing_line_breaks(record: &[u8]) -> usize {
    record
        .iter()
        .rev()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count()
}

/// Newlines in `bytes`: lines as the csv crate counts them (a bare `\r`
/// ends a record but not a line).
fn count_newlines(bytes: &[u8]) -> i64 {
    memchr::memchr_iter(b'\n', bytes).count() as i64
}

/// The stream handed to the csv reader, remembering what it handed out
/// since the current record began, so a broken record's bytes can be
/// looked at and the lines after its first read again. It also remembers
/// the last byte, to tell whether the file ends in a newline.
struct Recorder<R> {
    inner: R,
    /// Bytes to hand out again before reading `inner` (after a restart).
    replay: Vec<u8>,
    replayed: usize,
    /// Bytes handed out, from stream offset `kept_from` on.
    kept: Vec<u8>,
    kept_from: u64,
    last: Option<u8>,
}

/// How much handed-out data is kept before it is dropped up to the
/// current record: enough that the drop is rare, little enough to matter
/// for nothing.
const KEEP_BYTES: usize = 1 << 20;

impl<R> Recorder<R> {
    fn new(inner: R) -> Recorder<R> {
        Recorder {
            inner,
            replay: Vec::new(),
            replayed: 0,
            kept: Vec::new(),
            kept_from: 0,
            last: None,
        }
    }

    /// Drops what was handed out before `offset` (the current record's
    /// start), once enough has built up.
    fn forget_before(&mut self, offset: u64) {
        if self.kept.len() >= KEEP_BYTES {
            let drop = (offset - self.kept_from) as usize;
            self.kept.drain(..drop);
            self.kept_from = offset;
        }
    }

    fn kept(&self, start: u64, end: u64) -> &[u8] {
        &self.kept[(start - self.kept_from) as usize..(end - self.kept_from) as usize]
    }

    /// Hands out everything from `offset` again.
    fn rewind_to(&mut self, offset: u64) {
        let mut replay = self.kept[(offset - self.kept_from) as usize..].to_vec();
        replay.extend_from_slice(&self.replay[self.replayed..]);
        self.replay = replay;
        self.replayed = 0;
        self.kept.clear();
        self.kept_from = offset;
    }
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if self.replayed < self.replay.len() {
            let n = buf.len().min(self.replay.len() - self.replayed);
            buf[..n].copy_from_slice(&self.replay[self.replayed..self.replayed + n]);
            self.replayed += n;
            n
        } else {
            self.inner.read(buf)?
        };
        if n > 0 {
            self.kept.extend_from_slice(&buf[..n]);
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
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
            fingerprint: String::new(),
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

    #[test]
    fn quoting_faults_are_found_only_where_a_reader_would_merge() {
        let fault = |r: &str| quoting_fault(r.as_bytes(), b',', b'"').map(|f| (f.opened, f.at));
        assert_eq!(fault("a,\"b\nc\",d\n").map(|_| ()), None);
        assert_eq!(fault("5\" tv,\"x\ny\"\n").map(|_| ()), None);
        assert_eq!(fault("a,\"b\nc"), Some((2, 6)));
        assert_eq!(fault("a,\"b\nc,\"d\n"), Some((2, 8)));
        assert_eq!(first_line_end(b"ab\r\ncd"), 3);
        assert_eq!(first_line_end(b"ab\rcd"), 2);
        assert_eq!(count_newlines(b"a\r\nb\rc\nd"), 2);
    }
}
