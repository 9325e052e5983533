//! Where readers put records: [`RecordSink`], the interface every reader
//! (CSV, JSON, Parquet) and the line-item transform write to, and
//! [`ChannelSink`], which validates each record into a batch of loaded or
//! quarantined rows and hands full batches to the Parquet writer.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use tokio::sync::mpsc;

use super::mapping::{LoadContext, Mapping};
use super::quarantine::QuarantineRows;
use super::rows::{EntityRows, Rejection};

/// A problem that makes a whole file unusable (missing column, not JSON,
/// unreadable); rows of such a file are not loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub message: String,
}

impl FileError {
    pub fn new(message: impl Into<String>) -> FileError {
        FileError {
            message: message.into(),
        }
    }
}

/// Where readers deliver records. `accept` validates and either loads or
/// quarantines; `reject` quarantines a record the reader could not map;
/// `skip` counts a row that is not a record (a label row, a footer, one a
/// filter leaves out).
pub trait RecordSink {
    fn accept(
        &mut self,
        row: i64,
        values: &[Option<&str>],
        raw: &dyn Fn() -> String,
    ) -> Result<(), FileError>;
    fn reject(&mut self, row: i64, rejection: Rejection, raw: String) -> Result<(), FileError>;
    /// Quarantines a record whose values were read but that cannot be
    /// used (a lookup that finds nothing). Only line items need the
    /// values: the record's order is quarantined with it.
    fn reject_mapped(
        &mut self,
        row: i64,
        rejection: Rejection,
        raw: String,
        _values: &[Option<&str>],
    ) -> Result<(), FileError> {
        self.reject(row, rejection, raw)
    }
    fn skip(&mut self, row: i64) -> Result<(), FileError>;
}

pub enum Output {
    Rows(RecordBatch),
    Quarantine(RecordBatch),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub read: u64,
    pub loaded: u64,
    pub quarantined: u64,
    pub skipped: u64,
}

/// One source row of a record made of several (an order's lines).
pub struct Line<'a> {
    pub row: i64,
    pub raw: &'a str,
}

pub struct ChannelSink {
    rows: EntityRows,
    quarantine: QuarantineRows,
    tx: mpsc::Sender<Output>,
    counts: RowCounts,
    quarantine_batch: usize,
}

impl ChannelSink {
    /// A sink for one file (`relative` is its path in the landing area)
    /// that hands full batches of rows and of quarantined rows to `tx`.
    pub fn new(
        ctx: Arc<LoadContext>,
        mapping: Arc<Mapping>,
        relative: &str,
        tx: mpsc::Sender<Output>,
    ) -> ChannelSink {
        let quarantine_batch = ctx.batch_rows.min(8192);
        ChannelSink {
            rows: EntityRows::new(ctx.clone(), mapping, relative),
            quarantine: QuarantineRows::new(ctx, relative),
            tx,
            counts: RowCounts::default(),
            quarantine_batch,
        }
    }

    /// Sends what is left and returns the file's counts.
    pub fn finish(mut self) -> Result<RowCounts, FileError> {
        self.flush()?;
        Ok(self.counts)
    }

    fn send(&self, output: Output) -> Result<(), FileError> {
        self.tx
            .blocking_send(output)
            .map_err(|_| FileError::new("the Parquet writer stopped"))
    }

    /// Loads one record made of several source rows, or quarantines every
    /// one of them: the counts stay in source rows either way.
    pub fn accept_lines(
        &mut self,
        lines: &[Line],
        values: &[Option<&str>],
    ) -> Result<(), FileError> {
        let rows = lines.len() as u64;
        self.counts.read += rows;
        match self.rows.push(lines[0].row, values) {
            Ok(()) => {
                self.counts.loaded += rows;
                if self.rows.is_full() {
                    let batch = self.rows.finish();
                    self.send(Output::Rows(batch))?;
                }
                Ok(())
            }
            Err(rejection) => {
                for line in lines {
                    self.quarantine(line.row, &rejection, line.raw)?;
                }
                Ok(())
            }
        }
    }

    /// Quarantines every line of one record for the same reason.
    pub fn reject_lines(&mut self, lines: &[Line], why: &Rejection) -> Result<(), FileError> {
        self.counts.read += lines.len() as u64;
        for line in lines {
            self.quarantine(line.row, why, line.raw)?;
        }
        Ok(())
    }

    fn quarantine(&mut self, row: i64, rejection: &Rejection, raw: &str) -> Result<(), FileError> {
        self.quarantine.push(row, rejection, raw);
        self.counts.quarantined += 1;
        if self.quarantine.len() >= self.quarantine_batch {
            let batch = self.quarantine.finish();
            self.send(Output::Quarantine(batch))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FileError> {
        if !self.rows.is_empty() {
            let batch = self.rows.finish();
            self.send(Output::Rows(batch))?;
        }
        if !self.quarantine.is_empty() {
            let batch = self.quarantine.finish();
            self.send(Output::Quarantine(batch))?;
        }
        Ok(())
    }
}

impl RecordSink for ChannelSink {
    fn accept(
        &mut self,
        row: i64,
        values: &[Option<&str>],
        raw: &dyn Fn() -> String,
    ) -> Result<(), FileError> {
        self.counts.read += 1;
        match self.rows.push(row, values) {
            Ok(()) => {
                self.counts.loaded += 1;
                if self.rows.is_full() {
                    let batch = self.rows.finish();
                    self.send(Output::Rows(batch))?;
                }
                Ok(())
            }
            Err(rejection) => self.quarantine(row, &rejection, &raw()),
        }
    }

    fn reject(&mut self, row: i64, rejection: Rejection, raw: String) -> Result<(), FileError> {
        self.counts.read += 1;
        self.quarantine(row, &rejection, &raw)
    }

    fn skip(&mut self, _row: i64) -> Result<(), FileError> {
        self.counts.read += 1;
        self.counts.skipped += 1;
        Ok(())
    }
}
