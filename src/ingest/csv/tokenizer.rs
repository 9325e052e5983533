//! The tokenizing stage of the CSV reader, on its own thread: records
//! with their physical start lines, checked for sound quoting so that a
//! quote left open never swallows the lines after it.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::config::CsvOptions;
use crate::ingest::sink::FileError;

/// Records per chunk handed from the tokenizing thread to the validating one.
const CHUNK_RECORDS: usize = 4096;

/// Tokenized records and the line each starts on.
pub(super) struct Chunk {
    pub(super) records: Vec<csv::ByteRecord>,
    pub(super) lines: Vec<i64>,
    /// Why a record is broken (then it holds its first line as one field).
    pub(super) broken: Vec<Option<String>>,
    pub(super) len: usize,
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

pub(super) fn reader_builder(options: &CsvOptions) -> csv::ReaderBuilder {
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
pub(super) struct Tokenizer<'a> {
    pub(super) options: &'a CsvOptions,
    /// The header's number of fields.
    pub(super) width: usize,
    /// Physical lines before the current csv reader's first line.
    pub(super) line_offset: i64,
    /// Byte offset (in the decoded stream) of the current reader's start.
    pub(super) origin: u64,
}

impl Tokenizer<'_> {
    pub(super) fn run<R: Read>(
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
            // Each record's own line end decides (exports appended to by
            // two tools mix CRLF and LF): the parser stops after the `\r`
            // of a CRLF, with its `\n` still ahead, and after a bare `\n`.
            let end = self.origin + reader.position().byte();
            let by_cr = reader.get_ref().kept(end - 1, end) == b"\r";
            let mut line =
                self.line_offset + start_line(reader.position().line(), by_cr, true, &next);
            let mut broken = None;
            if memchr::memchr(b'\n', next.as_slice()).is_some()
                && let Some(split) =
                    self.check_record(reader.get_ref(), start, end, start_line_seen, next.len())
            {
                line = split.line;
                broken = Some(split.reason);
                next.clear();
                next.push_field(&split.text);
                reader = self.restart(reader, split.resume_at, split.last_line);
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
                self.line_offset + start_line(end_line, false, false, &chunk.records[last]);
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
pub(super) fn count_newlines(bytes: &[u8]) -> i64 {
    memchr::memchr_iter(b'\n', bytes).count() as i64
}

/// The stream handed to the csv reader, remembering what it handed out
/// since the current record began, so a broken record's bytes can be
/// looked at and the lines after its first read again. It also remembers
/// the last byte, to tell whether the file ends in a newline.
pub(super) struct Recorder<R> {
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
    pub(super) fn new(inner: R) -> Recorder<R> {
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

/// The physical line a record starts on. csv's own record positions lag
/// behind blank lines and CRLF terminators, so this counts back from where
/// the parser stopped: just after the record's terminating `\n` (an LF
/// line end) or `\r` (`by_cr`: a CRLF one) or at the end of the file, less
/// the newlines quoted inside the record.
pub(super) fn start_line(
    end_line: u64,
    by_cr: bool,
    terminated: bool,
    record: &csv::ByteRecord,
) -> i64 {
    let last_line = if terminated && !by_cr {
        end_line.saturating_sub(1)
    } else {
        end_line
    };
    let inner = memchr::memchr_iter(b'\n', record.as_slice()).count();
    last_line as i64 - inner as i64
}

pub(super) fn csv_error(e: csv::Error) -> FileError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    FileError::new(format!("cannot read CSV{at}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
