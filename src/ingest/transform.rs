//! What happens to a record between its reader and validation when the
//! mapping asks for it: the source's `filter` skips rows, `{ sql: ... }`
//! column specs are evaluated, and with `line_items` the rows sharing an
//! order id become one order.
//!
//! Expressions run over batches (DataFusion evaluates columns, not rows),
//! so records are buffered here. Line items are held until the end of the
//! file, because an order's lines may be anywhere in it: memory grows with
//! the file (about 200 bytes a line of a UCI-shaped export, the raw line
//! kept for quarantine included; bench/line_items.sh).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringBuilder,
};
use datafusion::arrow::compute::take_record_batch;

use super::expressions::Evaluated;
use super::mapping::{LineItemInputs, Mapping};
use super::rows::Rejection;
use super::sink::{ChannelSink, FileError, Line, RecordSink};
use super::values;
use crate::config::LineAmount;
use crate::config::text_schema;

/// Records per batch of expression evaluation.
const BATCH_RECORDS: usize = 4096;

pub struct Transform<'a> {
    mapping: &'a Mapping,
    sink: &'a mut ChannelSink,
    pending: Pending,
    orders: Option<Orders>,
}

impl<'a> Transform<'a> {
    pub fn new(mapping: &'a Mapping, sink: &'a mut ChannelSink) -> Transform<'a> {
        Transform {
            mapping,
            sink,
            pending: Pending::new(mapping.read_width()),
            orders: mapping.line_items.clone().map(Orders::new),
        }
    }

    fn evaluates(&self) -> bool {
        !self.mapping.expressions.is_empty() || self.mapping.filter.is_some()
    }

    /// Evaluates what is pending, then loads the orders of a line-item file.
    pub fn finish(mut self) -> Result<(), FileError> {
        self.evaluate()?;
        if let Some(orders) = self.orders.take() {
            orders.finish(self.sink)?;
        }
        Ok(())
    }

    /// Runs the filter and the expressions over the pending records and
    /// passes each kept one on.
    fn evaluate(&mut self) -> Result<(), FileError> {
        if self.pending.rows.is_empty() {
            return Ok(());
        }
        let mapping = self.mapping;
        let (rows, raws, batch) = self.pending.take(mapping);
        let mut kept: Vec<u32> = Vec::with_capacity(rows.len());
        match &mapping.filter {
            None => kept.extend(0..rows.len() as u32),
            Some(filter) => {
                let verdicts = filter.evaluate(&batch);
                for (i, row) in rows.iter().enumerate() {
                    match verdicts.is_true(i) {
                        Ok(true) => kept.push(i as u32),
                        Ok(false) => self.sink.skip(*row)?,
                        Err(e) => {
                            let why = Rejection::new(None, format!("filter: {e}"));
                            let values = read_values(&batch, i, mapping.expressions.len());
                            self.deliver(*row, raws[i].clone(), &values, Some(why))?;
                        }
                    }
                }
            }
        }
        if kept.is_empty() {
            return Ok(());
        }
        let kept_batch = if kept.len() == rows.len() {
            batch.clone()
        } else {
            take_record_batch(&batch, &UInt32Array::from_iter_values(kept.iter().copied()))
                .map_err(|e| FileError::new(format!("cannot select filtered rows: {e}")))?
        };
        let evaluated: Vec<Evaluated> = mapping
            .expressions
            .iter()
            .map(|e| e.planned.evaluate(&kept_batch))
            .collect();
        for (k, &i) in kept.iter().enumerate() {
            let i = i as usize;
            let mut values = read_values(&batch, i, 0);
            let mut failure = None;
            for (expression, result) in mapping.expressions.iter().zip(&evaluated) {
                match result.text(k) {
                    Ok(value) => values.push(value),
                    Err(e) => {
                        values.push(None);
                        failure.get_or_insert_with(|| {
                            Rejection::new(Some(expression.field), format!("sql: {e}"))
                        });
                    }
                }
            }
            self.deliver(rows[i], raws[i].clone(), &values, failure)?;
        }
        Ok(())
    }

    /// A record after its expressions: to its order, or loaded or
    /// quarantined on its own.
    fn deliver(
        &mut self,
        row: i64,
        raw: String,
        values: &[Option<&str>],
        failure: Option<Rejection>,
    ) -> Result<(), FileError> {
        if let Some(orders) = &mut self.orders
            && orders.add(row, &raw, values, &failure)
        {
            return Ok(());
        }
        match failure {
            Some(why) => self.sink.reject(row, why, raw),
            None => self.sink.accept(row, values, &|| raw.clone()),
        }
    }
}

impl RecordSink for Transform<'_> {
    fn accept(
        &mut self,
        row: i64,
        values: &[Option<&str>],
        raw: &dyn Fn() -> String,
    ) -> Result<(), FileError> {
        if !self.evaluates() {
            return self.deliver(row, raw(), values, None);
        }
        self.pending.push(row, values, raw());
        if self.pending.rows.len() >= BATCH_RECORDS {
            self.evaluate()?;
        }
        Ok(())
    }

    fn reject(&mut self, row: i64, rejection: Rejection, raw: String) -> Result<(), FileError> {
        self.sink.reject(row, rejection, raw)
    }

    fn reject_mapped(
        &mut self,
        row: i64,
        rejection: Rejection,
        raw: String,
        values: &[Option<&str>],
    ) -> Result<(), FileError> {
        let mapping = self.mapping;
        let mut values = values.to_vec();
        values.resize(mapping.read_width() + mapping.expressions.len(), None);
        self.deliver(row, raw, &values, Some(rejection))
    }

    fn skip(&mut self, row: i64) -> Result<(), FileError> {
        self.sink.skip(row)
    }
}

/// Row `i`'s values as read, and `extra` NULLs for values not computed.
fn read_values(batch: &RecordBatch, i: usize, extra: usize) -> Vec<Option<&str>> {
    let mut values: Vec<Option<&str>> = batch
        .columns()
        .iter()
        .map(|column| {
            let text = column.as_string::<i32>();
            text.is_valid(i).then(|| text.value(i))
        })
        .collect();
    values.extend(std::iter::repeat_n(None, extra));
    values
}

/// Records waiting for their expressions, as text columns.
struct Pending {
    rows: Vec<i64>,
    raws: Vec<String>,
    columns: Vec<StringBuilder>,
}

impl Pending {
    fn new(width: usize) -> Pending {
        Pending {
            rows: Vec::new(),
            raws: Vec::new(),
            columns: (0..width).map(|_| StringBuilder::new()).collect(),
        }
    }

    fn push(&mut self, row: i64, values: &[Option<&str>], raw: String) {
        self.rows.push(row);
        self.raws.push(raw);
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.append_option(*value);
        }
    }

    fn take(&mut self, mapping: &Mapping) -> (Vec<i64>, Vec<String>, RecordBatch) {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let schema = text_schema(&mapping.read_names());
        // A source may read no column at all (constants and `filter: true`).
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows.len()));
        let batch =
            RecordBatch::try_new_with_options(schema, arrays, &options).expect("text columns");
        (
            std::mem::take(&mut self.rows),
            std::mem::take(&mut self.raws),
            batch,
        )
    }
}

/// The orders of a line-item file, in the order their first line came.
///
/// Kept compact because a whole file is held: every line's raw text goes
/// into one arena and its order links its lines by index, and `sum`
/// amounts are added up as they come. 1M UCI-shaped lines (73 MB) peaked
/// at 389 MiB with a `String` per raw line and per amount, 248 MiB this
/// way (bench/README.md).
struct Orders {
    inputs: LineItemInputs,
    by_id: HashMap<String, u32>,
    orders: Vec<Order>,
    lines: Vec<LineRef>,
    /// Every line's raw text, one after the other.
    raws: String,
}

/// One line: its row, where its raw text ends in the arena (it starts
/// where the previous line's ends), and the next line of its order.
struct LineRef {
    row: i64,
    raw_end: usize,
    next: u32,
}

const NO_LINE: u32 = u32::MAX;

struct Order {
    first_line: u32,
    last_line: u32,
    /// Every value: the first non-empty one among the lines.
    values: Vec<Option<Box<str>>>,
    /// `amount: sum`: the lines' amounts so far.
    total: Option<f64>,
    /// The first line that could not be used, and why.
    failure: Option<(i64, Rejection)>,
}

impl Orders {
    fn new(inputs: LineItemInputs) -> Orders {
        Orders {
            inputs,
            by_id: HashMap::new(),
            orders: Vec::new(),
            lines: Vec::new(),
            raws: String::new(),
        }
    }

    /// Adds a line to its order; false when it has no order id (it is then
    /// a record of its own, and fails validation for that).
    fn add(
        &mut self,
        row: i64,
        raw: &str,
        values: &[Option<&str>],
        failure: &Option<Rejection>,
    ) -> bool {
        let Some(id) = nonempty(values[self.inputs.order_id]) else {
            return false;
        };
        self.raws.push_str(raw);
        let line = self.lines.len() as u32;
        self.lines.push(LineRef {
            row,
            raw_end: self.raws.len(),
            next: NO_LINE,
        });
        let index = match self.by_id.get(id) {
            Some(&index) => {
                let order = &mut self.orders[index as usize];
                self.lines[order.last_line as usize].next = line;
                order.last_line = line;
                index
            }
            None => {
                let mut first = vec![None; values.len()];
                first[self.inputs.order_id] = Some(id.into());
                self.orders.push(Order {
                    first_line: line,
                    last_line: line,
                    values: first,
                    total: None,
                    failure: None,
                });
                let index = self.orders.len() as u32 - 1;
                self.by_id.insert(id.to_string(), index);
                index
            }
        };
        let order = &mut self.orders[index as usize];
        if order.failure.is_some() {
            return true;
        }
        if let Some(why) = failure {
            order.failure = Some((row, why.clone()));
            return true;
        }
        if self.inputs.mode == LineAmount::Sum {
            let amount = match nonempty(values[self.inputs.amount]) {
                None => Err(
                    "no amount: every line of an order summed by `line_items` needs one"
                        .to_string(),
                ),
                Some(text) => values::parse_float(text),
            };
            match amount {
                Ok(amount) => order.total = Some(order.total.unwrap_or(0.0) + amount),
                Err(e) => {
                    order.failure = Some((row, Rejection::new(Some("amount"), e)));
                    return true;
                }
            }
        }
        // Every other value: the first line that has one sets it, and no
        // later line may say otherwise (a second customer, another date).
        for &(j, field) in &self.inputs.fields {
            let Some(value) = nonempty(values[j]) else {
                continue;
            };
            match &order.values[j] {
                None => order.values[j] = Some(value.into()),
                Some(first) if **first == *value => {}
                Some(first) => {
                    let reason = format!("{value:?} differs from {first:?} on an earlier line");
                    order.failure = Some((row, Rejection::new(Some(field), reason)));
                    return true;
                }
            }
        }
        true
    }

    /// The lines of an order, with their raw text, in file order.
    fn lines_of(&self, order: &Order) -> Vec<Line<'_>> {
        let mut lines = Vec::new();
        let mut at = order.first_line;
        while at != NO_LINE {
            let line = &self.lines[at as usize];
            let start = match at {
                0 => 0,
                _ => self.lines[at as usize - 1].raw_end,
            };
            lines.push(Line {
                row: line.row,
                raw: &self.raws[start..line.raw_end],
            });
            at = line.next;
        }
        lines
    }

    fn finish(self, sink: &mut ChannelSink) -> Result<(), FileError> {
        for order in &self.orders {
            let lines = self.lines_of(order);
            let id = order.values[self.inputs.order_id]
                .as_deref()
                .unwrap_or_default();
            if let Some((row, why)) = &order.failure {
                let reason = format!("order {id}: row {row}: {}", why.reason);
                let why = Rejection::new(why.field.as_deref(), reason);
                sink.reject_lines(&lines, &why)?;
                continue;
            }
            let total = order.total.map(|t| t.to_string());
            let values: Vec<Option<&str>> = order
                .values
                .iter()
                .enumerate()
                .map(|(j, v)| match self.inputs.mode {
                    LineAmount::Sum if j == self.inputs.amount => total.as_deref(),
                    _ => v.as_deref(),
                })
                .collect();
            sink.accept_lines(&lines, &values)?;
        }
        Ok(())
    }
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(values::trim).filter(|v| !v.is_empty())
}
