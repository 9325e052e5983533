//! A SQL expression in a source mapping (`{ sql: ... }`, `filter:`),
//! parsed and type-checked by DataFusion when the config is read, so a
//! broken one is a config error with its line and column. Evaluating it
//! over records is ingest's part (`ingest::expressions`).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Ident, visit_expressions, visit_expressions_mut,
};

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
        let fields = fields_of(&parsed.expr);
        let schema = text_schema(&fields);
        let df_schema = DFSchema::try_from(schema.as_ref().clone())
            .map_err(|e| format!("SQL {text:?}: {e}"))?;
        let physical = plan(text, &df_schema).map_err(|e| format!("SQL {text:?}: {e}"))?;
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

/// The source fields an expression names, as DataFusion resolves them
/// (quoted names as written, unquoted ones lower-cased), in order of
/// appearance.
fn fields_of(expr: &SqlExpr) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    let _ = visit_expressions(expr, |e| {
        let name = match e {
            SqlExpr::Identifier(ident) if ident.quote_style.is_some() => ident.value.clone(),
            SqlExpr::Identifier(ident) => ident.value.to_lowercase(),
            _ => return ControlFlow::<()>::Continue(()),
        };
        if !fields.contains(&name) {
            fields.push(name);
        }
        ControlFlow::Continue(())
    });
    fields
}

/// A condition over the elements of a JSON array (a lookup's `where`),
/// whose names are paths in an element, as written: `field.type` is the
/// path, not a column of a table `field`, and case counts, as in JSON.
/// It is rewritten with every name quoted, then parsed as any expression.
pub fn parse_element_condition(text: &str) -> Result<SqlExpression, String> {
    let mut parsed = DFParser::parse_sql_into_expr(text).map_err(|e| syntax_error(text, e))?;
    let _ = visit_expressions_mut(&mut parsed.expr, |e| {
        let path = match e {
            SqlExpr::Identifier(ident) => ident.value.clone(),
            SqlExpr::CompoundIdentifier(parts) => {
                let parts: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                parts.join(".")
            }
            _ => return ControlFlow::<()>::Continue(()),
        };
        *e = SqlExpr::Identifier(Ident::with_quote('"', path));
        ControlFlow::Continue(())
    });
    if fields_of(&parsed.expr).is_empty() {
        return Err(format!(
            "{text:?} names no field of the elements, so it holds for all of them or none"
        ));
    }
    let expression = SqlExpression::parse(&parsed.expr.to_string())
        .map_err(|e| format!("where {text:?}: {e}"))?;
    if !matches!(expression.data_type, DataType::Boolean | DataType::Null) {
        return Err(format!(
            "{text:?} is not a condition (it gives {}, not true or false)",
            expression.data_type
        ));
    }
    Ok(expression)
}

/// Plans an expression over `schema` as a query plans its expressions:
/// types coerced, then simplified. Some functions only work simplified:
/// DataFusion's `coalesce`, `nvl` and `ifnull` are rewritten to CASE by
/// the simplifier and fail if evaluated as they are ("coalesce should have
/// been simplified to case"), so `validate` and ingest plan through here
/// alike. Our functions are registered, so a mapping may call what the
/// models call.
pub fn plan(text: &str, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>, DataFusionError> {
    let ctx = SessionContext::new();
    crate::functions::register(&ctx);
    let state = ctx.state();
    // `now()` and `current_date()` are simplified to the planning instant,
    // as a query's are to its start; unsimplified they fail when evaluated.
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_config_options(Arc::new(state.config_options().as_ref().clone()))
        .with_query_execution_start_time(Some(chrono::Utc::now()))
        .build();
    let simplifier = ExprSimplifier::new(context);
    let expr = ctx.parse_sql_expr(text, schema)?;
    let expr = simplifier.simplify(simplifier.coerce(expr, schema)?)?;
    ctx.create_physical_expr(expr, schema)
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

/// A DataFusion SQL expression, as text.
impl schemars::JsonSchema for SqlExpression {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SqlExpression".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
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

    /// Every function the README's mapping examples use, and the ones
    /// the simplifier rewrites (coalesce and its aliases), works when
    /// evaluated, not only when planned.
    #[test]
    fn functions_that_only_work_simplified_evaluate() {
        use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
        let cases = [
            (r#"COALESCE("a", "b")"#, ["x", "y"]),
            (r#"coalesce("a", 'none')"#, ["x", "none"]),
            (r#"nvl("a", "b")"#, ["x", "y"]),
            (r#"ifnull("a", "b")"#, ["x", "y"]),
            (r#"nullif("b", 'y')"#, ["", ""]),
            (r#"CASE WHEN "a" IS NULL THEN "b" ELSE "a" END"#, ["x", "y"]),
            (r#""a" || '-' || COALESCE("b", '?')"#, ["x-y", ""]),
            (r#"upper(trim(COALESCE("a", "b")))"#, ["X", "Y"]),
            (r#"length(COALESCE("a", "b", ''))"#, ["1", "1"]),
            // The README's mapping examples.
            (
                r#"CAST("q" AS DOUBLE) * CAST("p" AS DOUBLE)"#,
                ["5.0", "7.5"],
            ),
            (r#"CAST(CAST("p" AS DOUBLE) AS BIGINT)"#, ["2", "2"]),
            (r#""a" || '-' || "b""#, ["x-y", ""]),
            (r#""b" NOT LIKE 'C%'"#, ["true", "true"]),
            (r#"CAST("q" AS BIGINT)"#, ["2", "3"]),
            (
                r#"to_timestamp(CAST("q" AS BIGINT))"#,
                ["1970-01-01T00:00:02", "1970-01-01T00:00:03"],
            ),
            (
                r#"CAST("q" AS BIGINT) < date_part('year', now())"#,
                ["true", "true"],
            ),
            (
                r#""b" = 'y' AND current_date() > DATE '2000-01-01'"#,
                ["true", "true"],
            ),
        ];
        let a = StringArray::from(vec![Some("x"), None]);
        let b = StringArray::from(vec![Some("y"), Some("y")]);
        let q = StringArray::from(vec![Some("2"), Some("3")]);
        let price = StringArray::from(vec![Some("2.5"), Some("2.5")]);
        for (text, expected) in cases {
            let e = SqlExpression::parse(text).unwrap();
            let schema = text_schema(&e.fields);
            let columns = e
                .fields
                .iter()
                .map(|f| match f.as_str() {
                    "a" => Arc::new(a.clone()) as _,
                    "q" => Arc::new(q.clone()) as _,
                    "p" => Arc::new(price.clone()) as _,
                    _ => Arc::new(b.clone()) as _,
                })
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
            let df_schema = DFSchema::try_from(schema.as_ref().clone()).unwrap();
            let value = plan(text, &df_schema)
                .unwrap()
                .evaluate(&batch)
                .and_then(|v| v.into_array(2))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            let value = datafusion::arrow::compute::cast(&value, &DataType::Utf8).unwrap();
            let value = value.as_string::<i32>();
            let got: Vec<&str> = (0..2)
                .map(|i| {
                    if value.is_valid(i) {
                        value.value(i)
                    } else {
                        ""
                    }
                })
                .collect();
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn an_element_condition_reads_paths_as_written() {
        let e = parse_element_condition("field.type = 'opinion_scale' AND fieldNameOrPath <> 'x'")
            .unwrap();
        assert_eq!(e.fields, ["field.type", "fieldNameOrPath"]);
        assert_eq!(
            e.text,
            r#""field.type" = 'opinion_scale' AND "fieldNameOrPath" <> 'x'"#
        );
        let e = parse_element_condition(r#""a.b" IS NULL"#).unwrap();
        assert_eq!(e.fields, ["a.b"]);
        let err = parse_element_condition("upper(kind)").unwrap_err();
        assert!(err.contains("is not a condition"), "{err}");
        let err = parse_element_condition("1 = 1").unwrap_err();
        assert!(err.contains("names no field of the elements"), "{err}");
    }

    #[test]
    fn our_functions_are_known_to_mappings() {
        let e =
            SqlExpression::parse(r#"local_time(CAST("at" AS TIMESTAMP), 'Europe/Paris')"#).unwrap();
        assert_eq!(e.fields, ["at"]);
        assert!(matches!(e.data_type, DataType::Timestamp(_, None)), "{e:?}");
    }
}
