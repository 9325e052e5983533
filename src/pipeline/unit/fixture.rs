//! A unit test's rows as written (YAML rows or a CSV file), and as Arrow
//! columns of the table they stand for.
//!
//! Every value is read as text and cast to the column's type by Arrow's
//! own cast (`cast_with_options`, not safe): the same parsing of dates,
//! timestamps, numbers and booleans the engine applies to text, and a
//! value it cannot parse is an error rather than a NULL.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;
use serde_yaml::Value;

use crate::pipeline::diagnostics::closest;
use crate::pipeline::spec::FixtureRow;

/// Rows of named columns, every value text or NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub columns: Vec<String>,
    /// `rows[i][j]` is row i's value of `columns[j]`.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Fixture {
    /// YAML rows: the columns are every key any row names; a key a row
    /// leaves out is NULL there, as is `null` (`~`).
    pub fn from_rows(rows: &[FixtureRow]) -> Result<Fixture, String> {
        let mut columns: Vec<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
        columns.sort();
        columns.dedup();
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let mut values = Vec::with_capacity(columns.len());
            for column in &columns {
                let value = match row.get(column) {
                    None => None,
                    Some(value) => scalar_text(value).map_err(|kind| {
                        format!(
                            "row {}, column {column}: {kind} is not a value (write text, a number, true/false or null)",
                            i + 1
                        )
                    })?,
                };
                values.push(value);
            }
            out.push(values);
        }
        Ok(Fixture { columns, rows: out })
    }

    /// A CSV file with a header line; an empty field is NULL.
    pub fn from_csv(path: &Path) -> Result<Fixture, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| match e.position() {
                Some(pos) => format!("{}: line {}: {e}", path.display(), pos.line()),
                None => format!("{}: {e}", path.display()),
            })?;
            rows.push(
                record
                    .iter()
                    .map(|v| (!v.is_empty()).then(|| v.to_string()))
                    .collect(),
            );
        }
        Ok(Fixture { columns, rows })
    }

    /// The values of column `j`, top to bottom.
    pub fn column(&self, j: usize) -> Vec<Option<&str>> {
        self.rows.iter().map(|r| r[j].as_deref()).collect()
    }

    /// The fixture as a batch of `schema`'s columns: columns it does not
    /// name are NULL; one the schema does not have is an error, as is a
    /// value the column's type cannot hold (naming the row, 1-based).
    /// Every column of the batch may hold NULL, even one the table never
    /// leaves empty: a test writes out only the columns its rule reads.
    pub fn to_batch(&self, schema: &SchemaRef) -> Result<RecordBatch, Vec<String>> {
        let schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<Field>>(),
        ));
        let mut errors = self.unknown_columns(&schema);
        let mut arrays = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let array = match self.columns.iter().position(|c| c == field.name()) {
                Some(j) => typed_column(&self.column(j), field).unwrap_or_else(|e| {
                    errors.push(e);
                    new_null_array(field.data_type(), self.rows.len())
                }),
                None => new_null_array(field.data_type(), self.rows.len()),
            };
            arrays.push(array);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Rows are counted explicitly: a schema without columns still has them.
        let options = datafusion::arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(self.rows.len()));
        RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|e| vec![e.to_string()])
    }

    /// An error for every column the schema does not have.
    pub fn unknown_columns(&self, schema: &SchemaRef) -> Vec<String> {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        self.columns
            .iter()
            .filter(|c| !names.contains(c))
            .map(|c| match closest(c, &names) {
                Some(near) => format!("no column {c} (did you mean {near}?)"),
                None => format!("no column {c} (the columns are {})", names.join(", ")),
            })
            .collect()
    }
}

/// A scalar's text; what a sequence or mapping is, for the error.
fn scalar_text(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Sequence(_) => Err("a list"),
        Value::Mapping(_) => Err("a mapping"),
        Value::Tagged(_) => Err("a tagged value"),
    }
}

/// Text values cast to `field`'s type; the error names the first row
/// (1-based) whose value does not parse.
pub fn typed_column(values: &[Option<&str>], field: &Field) -> Result<ArrayRef, String> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let text: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    match cast_with_options(&text, field.data_type(), &options) {
        Ok(array) => Ok(array),
        Err(e) => {
            let (row, value) = values
                .iter()
                .enumerate()
                .find(|(_, v)| {
                    let one: ArrayRef = Arc::new(StringArray::from(vec![**v]));
                    cast_with_options(&one, field.data_type(), &options).is_err()
                })
                .map(|(i, v)| (i + 1, v.unwrap_or("")))
                .unwrap_or((0, ""));
            Err(match row {
                0 => format!("column {}: {e}", field.name()),
                _ => format!(
                    "row {row}, column {}: {value:?} is not a {}",
                    field.name(),
                    field.data_type()
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;

    fn rows(yaml: &str) -> Vec<FixtureRow> {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("score", DataType::Int64, true),
            Field::new("day", DataType::Date32, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("share", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    #[test]
    fn yaml_rows_become_typed_columns_and_what_is_left_out_is_null() {
        let fixture = Fixture::from_rows(&rows(
            "- { id: a, score: 9, day: 2026-01-05, at: '2026-01-05T10:30:00Z', ok: true }\n\
             - { id: b, share: 0.25, score: ~ }\n",
        ))
        .unwrap();
        assert_eq!(fixture.columns, ["at", "day", "id", "ok", "score", "share"]);
        let batch = fixture.to_batch(&schema()).unwrap();
        let text = pretty_format_batches(&[batch]).unwrap().to_string();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "+----+-------+------------+----------------------+-------+------+",
                "| id | score | day        | at                   | share | ok   |",
                "+----+-------+------------+----------------------+-------+------+",
                "| a  | 9     | 2026-01-05 | 2026-01-05T10:30:00Z |       | true |",
                "| b  |       |            |                      | 0.25  |      |",
                "+----+-------+------------+----------------------+-------+------+",
            ]
        );
    }

    #[test]
    fn a_value_the_type_cannot_hold_names_its_row_and_column() {
        let fixture = Fixture::from_rows(&rows(
            "- { score: 9 }\n- { score: nine, day: 2026-02-30 }\n",
        ))
        .unwrap();
        let errors = fixture.to_batch(&schema()).unwrap_err();
        assert_eq!(
            errors,
            [
                "row 2, column score: \"nine\" is not a Int64",
                "row 2, column day: \"2026-02-30\" is not a Date32",
            ]
        );
    }

    #[test]
    fn an_unknown_column_is_an_error_with_the_nearest_name() {
        let fixture = Fixture::from_rows(&rows("- { scor: 1, zz_unrelated: 2 }\n")).unwrap();
        let errors = fixture.to_batch(&schema()).unwrap_err();
        assert_eq!(
            errors,
            [
                "no column scor (did you mean score?)",
                "no column zz_unrelated (the columns are id, score, day, at, share, ok)",
            ]
        );
    }

    #[test]
    fn a_list_is_not_a_value() {
        let err = Fixture::from_rows(&rows("- { id: a }\n- { id: [a, b] }\n")).unwrap_err();
        assert_eq!(
            err,
            "row 2, column id: a list is not a value (write text, a number, true/false or null)"
        );
    }

    #[test]
    fn csv_fields_are_text_and_empty_ones_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, "id,score\na,9\nb,\n").unwrap();
        let fixture = Fixture::from_csv(&path).unwrap();
        assert_eq!(fixture.columns, ["id", "score"]);
        assert_eq!(
            fixture.rows,
            [
                vec![Some("a".to_string()), Some("9".to_string())],
                vec![Some("b".to_string()), None]
            ]
        );
        std::fs::write(&path, "id,score\na,9,extra\n").unwrap();
        let err = Fixture::from_csv(&path).unwrap_err();
        assert!(err.contains("f.csv: line 2:"), "{err}");
    }
}
