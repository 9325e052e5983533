//! SQL in a source mapping: column specs `{ sql: "<expression>" }` and row
//! filters `filter: "<predicate>"`, evaluated by DataFusion over batches of
//! the record's source fields (all text, as read).
//!
//! DataFusion parses, type-checks and evaluates them; this module only
//! finds which source fields an expression names (so readers supply them),
//! builds text batches and, when a batch fails, finds the rows that fail.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::error::DataFusionError;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, visit_expressions};

/// An expression from the config, parsed and checked against its own
/// source fields typed as text.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlExpression {
    pub text: String,
    /// The source fields it names, as DataFusion resolves them (quoted
    /// names as written, unquoted ones lower-cased), in order of appearance.
    pub fields: Vec<String>,
    /// The type it returns when every field is text.
    pub data_type: DataType,
}

impl SqlExpression {
    /// Parses `text`; a syntax error carries its line and column inside
    /// the expression, an unknown function or a type error says so.
    pub fn parse(text: &str) -> Result<SqlExpression, String> {
        let parsed = DFParser::parse_sql_into_expr(text).map_err(|e| syntax_error(text, e))?;
        let mut fields: Vec<String> = Vec::new();
        let _ = visit_expressions(&parsed.expr, |e| {
            if let SqlExpr::Identifier(ident) = e {
                let name = match ident.quote_style {
                    Some(_) => ident.value.clone(),
                    None => ident.value.to_lowercase(),
                };
                if !fields.contains(&name) {
                    fields.push(name);
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let schema = text_schema(&fields);
        let df_schema = DFSchema::try_from(schema.as_ref().clone())
            .map_err(|e| format!("SQL {text:?}: {e}"))?;
        let ctx = SessionContext::new();
        let expr = ctx
            .parse_sql_expr(text, &df_schema)
            .map_err(|e| format!("SQL {text:?}: {e}"))?;
        let physical = ctx
            .create_physical_expr(expr, &df_schema)
            .map_err(|e| format!("SQL {text:?}: {e}"))?;
        let data_type = physical
            .data_type(&schema)
            .map_err(|e| format!("SQL {text:?}: {e}"))?;
        Ok(SqlExpression {
            text: text.to_string(),
            fields,
            data_type,
        })
    }
}

/// sqlparser's message, with the position inside the expression: sqlparser
/// gives one for every token but the end of the text.
fn syntax_error(text: &str, error: DataFusionError) -> String {
    let message = match error {
        DataFusionError::SQL(e, _) => e.to_string(),
        other => other.strip_backtrace(),
    };
    if message.contains("Line: ") {
        return format!("SQL {text:?}: {message}");
    }
    let line = text.lines().count().max(1);
    let column = text.lines().last().map_or(0, |l| l.chars().count()) + 1;
    format!("SQL {text:?}: {message} at Line: {line}, Column: {column}")
}

impl<'de> serde::Deserialize<'de> for SqlExpression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SqlExpression::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A schema of nullable text columns with these names.
pub fn text_schema(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

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
        let ctx = SessionContext::new();
        // Checked when the config was read, over a schema of the same types.
        let expr = ctx
            .parse_sql_expr(&expression.text, &df_schema)
            .and_then(|e| ctx.create_physical_expr(e, &df_schema))
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

    #[test]
    fn names_the_fields_it_reads() {
        let e = SqlExpression::parse(r#"CAST("Quantity" AS DOUBLE) * CAST(unitprice AS DOUBLE)"#)
            .unwrap();
        assert_eq!(e.fields, ["Quantity", "unitprice"]);
        assert_eq!(e.data_type, DataType::Float64);
        let e = SqlExpression::parse(r#""reviewerID" || '-' || "asin""#).unwrap();
        assert_eq!(e.fields, ["reviewerID", "asin"]);
        let e = SqlExpression::parse(r#""eventData.id""#).unwrap();
        assert_eq!(e.fields, ["eventData.id"]);
        assert_eq!(e.data_type, DataType::Utf8);
    }

    #[test]
    fn syntax_errors_have_a_line_and_column() {
        // The end of the text: sqlparser gives no position, so we do.
        let err = SqlExpression::parse("CAST(\"a\" AS DOUBLE) *").unwrap_err();
        assert!(err.ends_with("found: EOF at Line: 1, Column: 22"), "{err}");
        let err = SqlExpression::parse("CAST(\"a\" AS DOUBLE) * )").unwrap_err();
        assert!(err.ends_with("found: ) at Line: 1, Column: 23"), "{err}");
        let err = SqlExpression::parse("no_such_function(\"a\")").unwrap_err();
        assert!(err.contains("no_such_function"), "{err}");
    }

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
