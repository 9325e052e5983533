//! SQL in a source mapping: column specs `{ sql: "<expression>" }` and row
//! filters `filter: "<predicate>"`, evaluated by DataFusion over batches of
//! the record's source fields (all text, as read).
//!
//! DataFusion parses and type-checks them when the config is read
//! (`config::SqlExpression`) and evaluates them here; this module only
//! plans them over the columns a reader supplies and, when a batch fails,
//! finds the rows that fail.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;

use crate::config::SqlExpression;
#[cfg(test)]
use crate::config::text_schema;

/// An expression planned against the columns a reader supplies.
pub struct Planned {
    expr: Arc<dyn PhysicalExpr>,
    /// What each row's value is cast to: text for a column spec (it is then
    /// parsed as the field's type), boolean for a filter.
    output: DataType,
}

impl Planned {
    /// Plans `expression` over `schema` (text columns named as the reader
    /// supplies them, a superset of the expression's fields).
    pub fn new(expression: &SqlExpression, schema: &SchemaRef, output: DataType) -> Planned {
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).expect("text columns");
        // Checked when the config was read, over a schema of the same types.
        let expr = crate::config::expression::plan(&expression.text, &df_schema)
            .expect("checked when the config was read");
        Planned { expr, output }
    }

    /// Evaluates every row of `batch`. A batch fails as a whole when one
    /// row does (`CAST('x' AS DOUBLE)`): then each row is evaluated alone,
    /// so only the rows that fail are reported, each with its own error.
    pub fn evaluate(&self, batch: &RecordBatch) -> Evaluated {
        match self.evaluate_batch(batch) {
            Ok(array) => Evaluated::Batch(array),
            Err(_) => Evaluated::Rows(
                (0..batch.num_rows())
                    .map(|i| self.evaluate_batch(&batch.slice(i, 1)))
                    .collect(),
            ),
        }
    }

    fn evaluate_batch(&self, batch: &RecordBatch) -> Result<ArrayRef, String> {
        let value = self
            .expr
            .evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|e| e.strip_backtrace())?;
        cast(&value, &self.output).map_err(|e| e.to_string())
    }
}

/// One expression's values for a batch of rows.
pub enum Evaluated {
    Batch(ArrayRef),
    /// Per row, a one-row array or the row's error.
    Rows(Vec<Result<ArrayRef, String>>),
}

impl Evaluated {
    /// Row `i` as text (`None` for NULL), or why it failed.
    pub fn text(&self, i: usize) -> Result<Option<&str>, &str> {
        let (array, index) = self.at(i)?;
        let array = array.as_string::<i32>();
        Ok(array.is_valid(index).then(|| array.value(index)))
    }

    /// Row `i` of a filter: true, false (NULL counts as false), or why it
    /// failed.
    pub fn is_true(&self, i: usize) -> Result<bool, &str> {
        let (array, index) = self.at(i)?;
        let array = array.as_boolean();
        Ok(array.is_valid(index) && array.value(index))
    }

    fn at(&self, i: usize) -> Result<(&ArrayRef, usize), &str> {
        match self {
            Evaluated::Batch(array) => Ok((array, i)),
            Evaluated::Rows(rows) => match &rows[i] {
                Ok(array) => Ok((array, 0)),
                Err(e) => Err(e.as_str()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(values: &[Option<&str>]) -> RecordBatch {
        let schema = text_schema(&["q".to_string()]);
        let column: ArrayRef =
            Arc::new(datafusion::arrow::array::StringArray::from(values.to_vec()));
        RecordBatch::try_new(schema, vec![column]).unwrap()
    }

    #[test]
    fn only_the_failing_rows_fail() {
        let expression = SqlExpression::parse(r#"CAST("q" AS DOUBLE) * 2"#).unwrap();
        let schema = text_schema(&["q".to_string()]);
        let planned = Planned::new(&expression, &schema, DataType::Utf8);
        let evaluated = planned.evaluate(&batch(&[Some("1.5"), Some("x"), None]));
        assert_eq!(evaluated.text(0), Ok(Some("3.0")));
        let error = evaluated.text(1).unwrap_err();
        assert!(error.contains("'x'"), "{error}");
        assert_eq!(evaluated.text(2), Ok(None));
    }

    #[test]
    fn filters_keep_only_true_rows() {
        let expression = SqlExpression::parse(r#""q" NOT LIKE 'C%'"#).unwrap();
        let schema = text_schema(&["q".to_string()]);
        let planned = Planned::new(&expression, &schema, DataType::Boolean);
        let evaluated = planned.evaluate(&batch(&[Some("536365"), Some("C536383"), None]));
        assert_eq!(evaluated.is_true(0), Ok(true));
        assert_eq!(evaluated.is_true(1), Ok(false));
        assert_eq!(evaluated.is_true(2), Ok(false));
    }
}
