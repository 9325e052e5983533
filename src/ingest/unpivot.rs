//! `unpivot:` for wide files (the ECB's one column per currency): each
//! column not kept becomes a row of its own, with the column's name and
//! its cell, before anything is mapped. The CSV and JSON readers hand over
//! a record's kept values and its other cells; this module makes the rows.

use serde_json::Value;

use super::sink::{FileError, RecordSink};
use crate::config::Unpivot;

/// Where each column the mapping reads comes from in an unpivoted row.
enum Slot {
    /// The kept column at this index of `keep`.
    Kept(usize),
    Name,
    Value,
}

pub(super) struct Wide<'a> {
    unpivot: &'a Unpivot,
    slots: Vec<Slot>,
}

impl<'a> Wide<'a> {
    /// `columns` are the mapping's source columns, each a kept column, the
    /// name or the value (the config checks this).
    pub(super) fn new(unpivot: &'a Unpivot, columns: &[String]) -> Wide<'a> {
        let slots = columns
            .iter()
            .map(|c| match unpivot.keep.iter().position(|k| k == c) {
                Some(i) => Slot::Kept(i),
                None if *c == unpivot.name => Slot::Name,
                None => Slot::Value,
            })
            .collect();
        Wide { unpivot, slots }
    }

    /// The kept columns, in `keep` order.
    pub(super) fn keep(&self) -> &[String] {
        &self.unpivot.keep
    }

    /// One row per cell of `cells` (column name, cell text; `None` for a
    /// JSON null), all numbered `row`. A cell equal to one of
    /// `skip_values` (trimmed; a null as the empty text) is a skipped row,
    /// and so is an empty cell of a column without a name (a trailing
    /// delimiter). The raw record of each row is a JSON object of the kept
    /// columns and its own cell, so a quarantined one names its column.
    pub(super) fn emit<'c>(
        &self,
        row: i64,
        kept: &[Option<&str>],
        cells: impl Iterator<Item = (&'c str, Option<&'c str>)>,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        for (column, cell) in cells {
            let name = column.trim();
            let text = cell.map_or("", super::values::trim);
            let skipped = self.unpivot.skip_values.iter().any(|s| s.trim() == text);
            if skipped || (name.is_empty() && text.is_empty()) {
                sink.skip(row)?;
                continue;
            }
            let values: Vec<Option<&str>> = self
                .slots
                .iter()
                .map(|slot| match slot {
                    Slot::Kept(i) => kept[*i],
                    Slot::Name => Some(name),
                    Slot::Value => cell,
                })
                .collect();
            let raw = || self.raw(kept, column, cell);
            sink.accept(row, &values, &raw)?;
        }
        Ok(())
    }

    /// `{"<kept>": ..., "<column>": ...}`, in that order: an unpivoted
    /// row's raw record.
    pub(super) fn raw(&self, kept: &[Option<&str>], column: &str, cell: Option<&str>) -> String {
        let text = |v: Option<&str>| v.map_or(Value::Null, |t| Value::String(t.to_string()));
        let pairs: Vec<String> = self
            .unpivot
            .keep
            .iter()
            .map(String::as_str)
            .zip(kept.iter().copied())
            .chain([(column, cell)])
            .map(|(name, value)| format!("{}:{}", Value::String(name.to_string()), text(value)))
            .collect();
        format!("{{{}}}", pairs.join(","))
    }
}

/// A name that occurs twice (compared trimmed), if any.
pub(super) fn duplicate<'n>(names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let mut seen = std::collections::HashSet::new();
    names.map(str::trim).find(|name| !seen.insert(*name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::rows::Rejection;

    #[derive(Default)]
    struct Rows {
        rows: Vec<(i64, Vec<Option<String>>, String)>,
        skipped: usize,
    }

    impl RecordSink for Rows {
        fn accept(
            &mut self,
            row: i64,
            values: &[Option<&str>],
            raw: &dyn Fn() -> String,
        ) -> Result<(), FileError> {
            let values = values.iter().map(|v| v.map(str::to_string)).collect();
            self.rows.push((row, values, raw()));
            Ok(())
        }
        fn reject(&mut self, _: i64, _: Rejection, _: String) -> Result<(), FileError> {
            unreachable!("unpivot rejects nothing itself")
        }
        fn skip(&mut self, _: i64) -> Result<(), FileError> {
            self.skipped += 1;
            Ok(())
        }
    }

    #[test]
    fn every_cell_not_kept_is_a_row_and_skip_values_are_skipped() {
        let unpivot = Unpivot {
            keep: vec!["Date".into()],
            name: "currency".into(),
            value: "rate".into(),
            skip_values: vec!["N/A".into(), "".into()],
        };
        let columns = ["rate".to_string(), "Date".into(), "currency".into()];
        let wide = Wide::new(&unpivot, &columns);
        let mut sink = Rows::default();
        let cells = [
            (" USD", Some(" 1.05")),
            ("CYP", Some("N/A")),
            ("JPY", Some("")),
            ("GBP", None),
            ("", Some("")),
            ("BGN", Some("x")),
        ];
        wide.emit(3, &[Some("2026-12-04")], cells.into_iter(), &mut sink)
            .unwrap();
        let some = |v: &str| Some(v.to_string());
        assert_eq!(
            sink.rows,
            [
                (
                    3,
                    vec![some(" 1.05"), some("2026-12-04"), some("USD")],
                    r#"{"Date":"2026-12-04"," USD":" 1.05"}"#.to_string()
                ),
                (
                    3,
                    vec![some("x"), some("2026-12-04"), some("BGN")],
                    r#"{"Date":"2026-12-04","BGN":"x"}"#.to_string()
                ),
            ]
        );
        assert_eq!(sink.skipped, 4);
    }
}
