//! Writing one export file to the destination (a local folder or any
//! object store) record by record, as blocks of customers are generated.
//!
//! Each file is an `object_store` multipart upload: local files are
//! staged under a temporary name and renamed when complete, objects appear
//! only when the upload completes, so a scheduler watching the landing area
//! never picks up a half-written export.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;

use super::{FileSummary, Written};

/// The records of one file from one block: their text back to back, and
/// where each ends.
#[derive(Default)]
pub(super) struct Records {
    text: String,
    ends: Vec<usize>,
}

impl Records {
    pub fn push(&mut self, record: &str) {
        self.text.push_str(record);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|k| self.get(k))
    }
}

/// How a file's records are laid out.
#[derive(Clone)]
pub(super) struct Layout {
    /// Written before the first record (BOM, header, JSON wrapper).
    pub header: String,
    /// Written after every record (CSV, JSONL) ...
    pub terminator: &'static str,
    /// ... or between records (JSON arrays).
    pub separator: &'static str,
    /// Written after the last record.
    pub footer: String,
}

/// Hands buffered bytes to the upload in pieces of this size.
const CHUNK: usize = 8 << 20;

pub(super) struct Sink {
    rel: String,
    description: &'static str,
    layout: Layout,
    writer: BufWriter,
    buf: Vec<u8>,
    rows: u64,
    bad: u64,
    duplicates: u64,
    good: u64,
    pending_bad: VecDeque<(u64, String)>,
    bytes: u64,
}

fn io_error(rel: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{rel}: {e}"))
}

impl Sink {
    pub fn create(
        store: Arc<dyn ObjectStore>,
        path: Path,
        rel: &str,
        description: &'static str,
        layout: Layout,
    ) -> Sink {
        let mut sink = Sink {
            rel: rel.to_string(),
            description,
            // Two parts in flight per file bound memory at a dozen files x
            // 2 x CHUNK however slow the store is.
            writer: BufWriter::with_capacity(store, path, CHUNK).with_max_concurrency(2),
            buf: Vec::with_capacity(CHUNK + (1 << 16)),
            layout,
            rows: 0,
            bad: 0,
            duplicates: 0,
            good: 0,
            pending_bad: VecDeque::new(),
            bytes: 0,
        };
        let header = std::mem::take(&mut sink.layout.header);
        sink.buf.extend_from_slice(header.as_bytes());
        sink
    }

    /// Spreads the deliberately bad `records` evenly among the first
    /// `expected_good` good ones (the first block's), so line numbers in
    /// the quarantine are worth checking.
    pub fn plan_bad(&mut self, expected_good: usize, records: Vec<String>) {
        let n = records.len() as u64;
        for (j, rec) in records.into_iter().enumerate() {
            let at = (j as u64 + 1) * expected_good as u64 / (n + 1);
            self.pending_bad.push_back((at, rec));
        }
    }

    fn record(&mut self, text: &str) {
        if self.rows > 0 {
            self.buf.extend_from_slice(self.layout.separator.as_bytes());
        }
        self.buf.extend_from_slice(text.as_bytes());
        self.buf
            .extend_from_slice(self.layout.terminator.as_bytes());
        self.rows += 1;
    }

    fn flush_bad(&mut self, up_to: u64) {
        while self.pending_bad.front().is_some_and(|(at, _)| *at <= up_to) {
            let (_, rec) = self.pending_bad.pop_front().expect("checked");
            self.record(&rec);
            self.bad += 1;
        }
    }

    pub fn good(&mut self, text: &str) {
        self.flush_bad(self.good);
        self.record(text);
        self.good += 1;
    }

    /// A re-export of a record already written: valid, but staging must
    /// dedup it by primary key.
    pub fn duplicate(&mut self, text: &str) {
        self.good(text);
        self.duplicates += 1;
    }

    /// Writes a block's records; `duplicates` lists (after record, copy of
    /// record) pairs within the block.
    pub fn block(
        &mut self,
        rt: &Runtime,
        records: &Records,
        duplicates: &[(usize, usize)],
    ) -> io::Result<()> {
        for (k, text) in records.iter().enumerate() {
            self.good(text);
            for &(_, of) in duplicates.iter().filter(|(after, _)| *after == k) {
                self.duplicate(records.get(of));
            }
        }
        self.upload(rt, false)
    }

    fn upload(&mut self, rt: &Runtime, all: bool) -> io::Result<()> {
        if (self.buf.len() < CHUNK && !all) || self.buf.is_empty() {
            return Ok(());
        }
        self.bytes += self.buf.len() as u64;
        let bytes = Bytes::from(std::mem::take(&mut self.buf));
        self.buf.reserve(CHUNK + (1 << 16));
        rt.block_on(self.writer.put(bytes))
            .map_err(|e| io_error(&self.rel, e))
    }

    pub fn finish(mut self, rt: &Runtime) -> io::Result<Written> {
        self.flush_bad(u64::MAX);
        let footer = std::mem::take(&mut self.layout.footer);
        self.buf.extend_from_slice(footer.as_bytes());
        self.upload(rt, true)?;
        rt.block_on(self.writer.shutdown())
            .map_err(|e| io_error(&self.rel, e))?;
        Ok(Written {
            summary: FileSummary {
                path: self.rel,
                rows: self.rows,
                bad_rows: self.bad,
            },
            description: self.description,
            duplicates: self.duplicates,
            bytes: self.bytes,
        })
    }

    /// Gives up on the upload (an error elsewhere): nothing half-written
    /// stays behind.
    pub fn abort(mut self, rt: &Runtime) {
        let _ = rt.block_on(self.writer.abort());
    }
}
