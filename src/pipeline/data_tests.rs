//! Data tests from `models.yml`, each compiled to a query that returns the
//! failing rows: the failure count and up to five rows are reported. A
//! test whose query, parameters and tables are those of an earlier run's
//! (the same fingerprint) is not run again: that run's result stands.

use std::collections::BTreeSet;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::fingerprint::{self, Fingerprints};
use super::spec::{Severity, TestKind, TestSpec};
use super::test_results::Previous;
use super::{Project, sql_options};
use crate::config::VarValue;
use crate::engine::quote_identifier as quote;

const SAMPLE_ROWS: usize = 5;

/// The named parameters models see, so test expressions can use `$vars`.
pub type Params = std::collections::HashMap<String, datafusion::common::ScalarValue>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestResult {
    pub model: String,
    pub column: Option<String>,
    pub test: String,
    pub severity: Severity,
    pub passed: bool,
    /// Failing rows (or, for row_count, the row count found).
    pub failures: u64,
    /// Up to five failing rows, `column=value` pairs.
    pub sample: Vec<String>,
    /// Set when the test itself could not run (bad expression, ...).
    pub error: Option<String>,
    /// What failed, for checks that are not about rows (a source that is
    /// missing or stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The query that returns the failing rows (for row_count: the count),
    /// with `$params` as written, to rerun by hand with `advocacy query`.
    pub sql: String,
    /// What the result was found on (see [`fingerprint::data_test`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Set when an earlier run's result was taken: the same test on the
    /// same inputs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
}

/// What lets a test's earlier result stand: the fingerprints of this
/// run's tables, and the earlier results by fingerprint.
pub struct Reuse<'a> {
    pub fingerprints: &'a Fingerprints,
    pub previous: &'a Previous,
}

impl TestResult {
    pub fn describe(&self) -> String {
        let target = match &self.column {
            Some(c) => format!("{}.{c}", self.model),
            None => self.model.clone(),
        };
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warn => "warn",
        };
        let mut out = match (&self.error, &self.message) {
            (None, Some(message)) => {
                format!("  FAIL [{severity}] {} on {target}: {message}\n", self.test)
            }
            (Some(e), _) => format!(
                "  FAIL [{severity}] {} on {target}: could not run: {e}\n",
                self.test
            ),
            (None, None) => format!(
                "  FAIL [{severity}] {} on {target}: {} failing row(s)\n",
                self.test, self.failures
            ),
        };
        for row in &self.sample {
            out.push_str(&format!("      {row}\n"));
        }
        out
    }
}

fn literal(value: &VarValue) -> String {
    match value {
        VarValue::Bool(b) => b.to_string(),
        VarValue::Int(i) => i.to_string(),
        VarValue::Float(f) => f.to_string(),
        VarValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
    }
}

/// The query returning the rows that violate the test.
pub fn failing_rows_sql(model: &str, column: Option<&str>, kind: &TestKind) -> String {
    let table = quote(model);
    let col = column.map(quote).unwrap_or_default();
    match kind {
        TestKind::NotNull => format!("SELECT * FROM {table} WHERE {col} IS NULL"),
        TestKind::Unique => format!(
            "SELECT {col}, count(*) AS occurrences FROM {table} \
             WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1"
        ),
        TestKind::UniqueCombination(columns) => {
            let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            let list = list.join(", ");
            format!(
                "SELECT {list}, count(*) AS occurrences FROM {table} GROUP BY {list} HAVING count(*) > 1"
            )
        }
        TestKind::AcceptedValues(values) => {
            let list: Vec<String> = values.iter().map(literal).collect();
            format!(
                "SELECT * FROM {table} WHERE {col} IS NOT NULL AND {col} NOT IN ({})",
                list.join(", ")
            )
        }
        TestKind::Relationships { to, field } => format!(
            "SELECT * FROM {table} AS child WHERE child.{col} IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM {} AS parent WHERE parent.{} = child.{col})",
            quote(to),
            quote(field)
        ),
        // A predicate that is NULL is not satisfied either.
        TestKind::Expression(predicate) => {
            format!("SELECT * FROM {table} WHERE ({predicate}) IS NOT TRUE")
        }
        TestKind::RowCount { .. } => format!("SELECT count(*) AS row_count FROM {table}"),
    }
}

/// Runs the tests of the given (built) models; returns results and the
/// documentation warnings (documented columns that do not exist). With
/// `reuse`, each result carries its fingerprint, and a test an earlier
/// run found on the same inputs takes that run's result.
pub async fn run(
    ctx: &SessionContext,
    project: &Project,
    models: &BTreeSet<String>,
    params: &Params,
    reuse: Option<&Reuse<'_>>,
) -> (Vec<TestResult>, Vec<String>) {
    let mut results = Vec::new();
    let mut warnings = Vec::new();
    for spec in project
        .spec
        .models
        .iter()
        .filter(|m| models.contains(&m.name))
    {
        if let Some(columns) = table_columns(ctx, &spec.name).await {
            warnings.extend(spec.missing_column_warnings(&columns));
        }
        for (column, test) in spec.all_tests() {
            results.push(run_or_reuse(ctx, &spec.name, column, test, params, reuse).await);
        }
    }
    (results, warnings)
}

/// The columns of a registered table; `None` when it is not registered.
pub async fn table_columns(ctx: &SessionContext, name: &str) -> Option<BTreeSet<String>> {
    let df = ctx.table(name).await.ok()?;
    Some(
        df.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    )
}

/// A test's result: an earlier run's when its fingerprint matches, else
/// found now.
async fn run_or_reuse(
    ctx: &SessionContext,
    model: &str,
    column: Option<&str>,
    test: &TestSpec,
    params: &Params,
    reuse: Option<&Reuse<'_>>,
) -> TestResult {
    let Some(reuse) = reuse else {
        return run_one(ctx, model, column, test, params).await;
    };
    let sql = failing_rows_sql(model, column, &test.kind);
    let fingerprint = test_fingerprint(ctx, &sql, column, test, params, reuse.fingerprints).await;
    if let Some(earlier) = fingerprint.as_deref().and_then(|f| reuse.previous.get(f)) {
        return TestResult {
            reused: true,
            ..earlier.clone()
        };
    }
    TestResult {
        fingerprint,
        ..run_one(ctx, model, column, test, params).await
    }
}

/// A test's fingerprint: its definition, and the parameters and tables
/// its query reads; `None` when it cannot be planned (it fails when run,
/// and says why).
async fn test_fingerprint(
    ctx: &SessionContext,
    sql: &str,
    column: Option<&str>,
    test: &TestSpec,
    params: &Params,
    fingerprints: &Fingerprints,
) -> Option<String> {
    let plan = ctx.state().create_logical_plan(sql).await.ok()?;
    let read = super::execute::params_read(&plan, params).ok()??;
    let tables: Fingerprints = tables_read(&plan)
        .into_iter()
        .map(|table| {
            let fingerprint = fingerprints.get(&table).cloned().flatten();
            (table, fingerprint)
        })
        .collect();
    let definition = format!("{sql}\ncolumn={column:?} kind={:?}", test.kind);
    fingerprint::data_test(&definition, &format!("{:?}", test.severity), &read, &tables)
}

/// The tables a plan scans, subqueries included.
fn tables_read(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            tables.insert(scan.table_name.table().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

async fn run_one(
    ctx: &SessionContext,
    model: &str,
    column: Option<&str>,
    test: &TestSpec,
    params: &Params,
) -> TestResult {
    let mut result = TestResult {
        model: model.to_string(),
        column: column.map(str::to_string),
        test: test.kind.name().to_string(),
        severity: test.severity,
        passed: false,
        failures: 0,
        sample: Vec::new(),
        error: None,
        message: None,
        sql: failing_rows_sql(model, column, &test.kind),
        fingerprint: None,
        reused: false,
    };
    match evaluate(ctx, &result.sql, &test.kind, params).await {
        Ok((failures, sample)) => {
            result.passed = failures == 0;
            result.failures = failures;
            result.sample = sample;
        }
        Err(e) => result.error = Some(e),
    }
    if !result.passed {
        tracing::warn!(model, column, test = %result.test, failures = result.failures, "data test failed");
    }
    result
}

async fn evaluate(
    ctx: &SessionContext,
    sql: &str,
    kind: &TestKind,
    params: &Params,
) -> Result<(u64, Vec<String>), String> {
    let query = |sql: String| async move {
        let df = ctx
            .sql_with_options(&sql, sql_options())
            .await
            .and_then(|df| df.with_param_values(params.clone()))
            .map_err(|e| e.strip_backtrace())?;
        df.collect().await.map_err(|e| e.strip_backtrace())
    };
    if let TestKind::RowCount { min, max } = kind {
        let batches = query(sql.to_string()).await?;
        let count = rows_as_text(&batches).first().cloned().unwrap_or_default();
        let n: u64 = count
            .trim_start_matches("row_count=")
            .parse()
            .map_err(|_| format!("unexpected row count {count:?}"))?;
        let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
        let bounds = format!(
            "expected {} to {} rows, found {n}",
            fmt_bound(*min),
            fmt_bound(*max)
        );
        return Ok(if ok { (0, vec![]) } else { (1, vec![bounds]) });
    }
    let counted = query(format!("SELECT count(*) AS failures FROM ({sql})")).await?;
    let count = rows_as_text(&counted).first().cloned().unwrap_or_default();
    let failures: u64 = count
        .trim_start_matches("failures=")
        .parse()
        .map_err(|_| format!("unexpected count {count:?}"))?;
    if failures == 0 {
        return Ok((0, vec![]));
    }
    let sample = query(format!("{sql} LIMIT {SAMPLE_ROWS}")).await?;
    Ok((failures, rows_as_text(&sample)))
}

fn fmt_bound(bound: Option<u64>) -> String {
    bound.map_or("any".into(), |b| b.to_string())
}

/// Rows as `column=value, ...` lines.
pub fn rows_as_text(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .zip(schema.fields())
                .map(|(f, field)| format!("{}={}", field.name(), f.value(row)))
                .collect();
            rows.push(cells.join(", "));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_per_kind() {
        assert_eq!(
            failing_rows_sql("m", Some("a"), &TestKind::NotNull),
            "SELECT * FROM \"m\" WHERE \"a\" IS NULL"
        );
        assert_eq!(
            failing_rows_sql(
                "m",
                Some("s"),
                &TestKind::AcceptedValues(vec![VarValue::Text("o'k".into()), VarValue::Int(3)])
            ),
            "SELECT * FROM \"m\" WHERE \"s\" IS NOT NULL AND \"s\" NOT IN ('o''k', 3)"
        );
        assert_eq!(
            failing_rows_sql("m", None, &TestKind::Expression("x > 0".into())),
            "SELECT * FROM \"m\" WHERE (x > 0) IS NOT TRUE"
        );
    }
}
