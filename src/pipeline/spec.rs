//! `queries/models.yml`: documentation, tags and data tests of models.
//!
//! ```yaml
//! models:
//!   - name: nps_trends
//!     description: NPS per period
//!     tags: [nps]
//!     tests:
//!       - row_count: { min: 1 }
//!     columns:
//!       - name: period_start
//!         description: first day of the period
//!         tests: [not_null, unique]
//!       - name: nps
//!         tests:
//!           - expression: { sql: "nps BETWEEN -100 AND 100", severity: warn }
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::config::VarValue;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsFile {
    /// Defaults of the named parameters the models read; the config's
    /// `vars` override them.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, VarValue>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// One model's SQL run on hand-written input rows (`advocacy test
    /// --unit`; see `crate::pipeline::unit`).
    #[serde(default)]
    pub unit_tests: Vec<UnitTestSpec>,
}

/// A unit test, in dbt's shape:
///
/// ```yaml
/// unit_tests:
///   - name: a_second_answer_in_a_month_replaces_the_first
///     model: nps_trends
///     run_date: 2026-01-31
///     vars: { nps_min_responses: 1 }
///     given:
///       - input: int_nps_responses
///         rows:
///           - { respondent: c1, response_id: r1, score: 3, responded_date: 2026-01-05 }
///     expect:
///       rows:
///         - { period: month, dimension: overall, responses: 1, nps: -100 }
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitTestSpec {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Rows of tables the model reads; any table it reads that is not
    /// given is empty.
    #[serde(default)]
    pub given: Vec<GivenSpec>,
    pub expect: ExpectSpec,
    /// Parameters for this test, over models.yml's and the config's.
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, VarValue>,
    /// `$run_date` (YYYY-MM-DD); required when the model reads it.
    #[serde(default)]
    pub run_date: Option<String>,
}

/// One input of a unit test: a model or raw table the model reads, with
/// its rows written out (`rows`) or in a CSV file next to models.yml
/// (`csv`, with a header; an empty field is NULL).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenSpec {
    pub input: String,
    #[serde(default)]
    pub rows: Option<Vec<FixtureRow>>,
    #[serde(default)]
    pub csv: Option<String>,
}

/// The rows the model must return. Only the columns named are compared;
/// rows as a multiset unless `ordered` (then position by position, for a
/// model whose ORDER BY is part of its contract). Floats match within
/// `tolerance` times the expected value's magnitude (at least 1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    #[serde(default)]
    pub rows: Option<Vec<FixtureRow>>,
    #[serde(default)]
    pub csv: Option<String>,
    #[serde(default)]
    pub ordered: bool,
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// A row of a unit test's fixture: column name to a scalar value.
pub type FixtureRow = std::collections::BTreeMap<String, serde_yaml::Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Model-level tests: `row_count`, `expression`.
    #[serde(default)]
    pub tests: Vec<TestSpec>,
    #[serde(default)]
    pub columns: Vec<ColumnSpec>,
    /// A report's declared version, when a change breaks its published
    /// schema (see `crate::pipeline::contract`).
    #[serde(default)]
    pub contract: Option<ContractSpec>,
    /// Kept day by day: a run recomputes only the days whose inputs
    /// changed (see `crate::pipeline::incremental`).
    #[serde(default)]
    pub incremental: Option<IncrementalSpec>,
    /// How its joins are planned: `hash` (the default) or `sort_merge`.
    #[serde(default)]
    pub joins: Joins,
}

/// A model's join strategy. A hash join holds its build side in memory
/// whole and cannot spill; a sort-merge join sorts both sides, and sorts
/// spill under `run.memory_limit`. At 1M customers the advocate timeline
/// ran in 8.6 s and 1.2 GB as sort-merge joins against 9.2 s and 1.8 GB as
/// hash joins, but every model as sort-merge joins took the whole build
/// from 51 s to 70 s (a join to a small table sorts the large one): so it
/// is chosen per model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Joins {
    #[default]
    Hash,
    SortMerge,
}

/// `incremental: { by: order_date, lookback: 0 }`, the shape of SQLMesh's
/// incremental-by-time-range: the model's rows of a day (its DATE column
/// `by`) are computed from its inputs' rows of that day and of the
/// `lookback` days before it. Its SQL reads the days to compute as
/// `$start_date` and `$end_date` (rows outside them are dropped), and not
/// `$run_date` (`$end_date` is the run date when it computes every day).
///
/// With `merge: by_key` (the shape of SQLMesh's incremental-by-unique-key,
/// for the staging models that keep each key's latest load) a run computes
/// the model on the raw objects loaded since its last run alone, and their
/// rows replace the kept rows of the same key (models.yml's unique test):
/// a night never reads the raw table's history again. Such a model reads
/// one raw table and no day parameter; it keeps the rows of every day, and
/// readers see those up to the run date.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSpec {
    pub by: String,
    #[serde(default)]
    pub lookback: u32,
    #[serde(default)]
    pub merge: Option<Merge>,
}

/// How an incremental model's new rows join the kept ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// A new row replaces the kept row of its key.
    ByKey,
}

/// `contract: { version: 2, deprecation_date: 2027-03-31 }`: version 2 is
/// published as `<name>_v2`, and the version before it keeps being
/// published under its own name through `deprecation_date`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    pub version: u32,
    #[serde(default)]
    pub deprecation_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A short name for people: what the report page's tables head a
    /// column of this name with.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub tests: Vec<TestSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failure keeps the model's report from being published (exit 3).
    Error,
    /// A failure is reported, nothing more.
    Warn,
}

impl Severity {
    /// As models.yml and the run record spell it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    NotNull,
    Unique,
    /// Model-level: the combination of these columns is a key.
    UniqueCombination(Vec<String>),
    AcceptedValues(Vec<VarValue>),
    Relationships {
        to: String,
        field: String,
    },
    Expression(String),
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    pub kind: TestKind,
    pub severity: Severity,
}

impl TestKind {
    pub fn name(&self) -> &'static str {
        match self {
            TestKind::NotNull => "not_null",
            TestKind::Unique | TestKind::UniqueCombination(_) => "unique",
            TestKind::AcceptedValues(_) => "accepted_values",
            TestKind::Relationships { .. } => "relationships",
            TestKind::Expression(_) => "expression",
            TestKind::RowCount { .. } => "row_count",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptedValuesArgs {
    values: Vec<VarValue>,
    #[serde(default = "error_severity")]
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationshipsArgs {
    to: String,
    field: String,
    #[serde(default = "error_severity")]
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowCountArgs {
    #[serde(default)]
    min: Option<u64>,
    #[serde(default)]
    max: Option<u64>,
    #[serde(default = "error_severity")]
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeverityArgs {
    #[serde(default = "error_severity")]
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniqueArgs {
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default = "error_severity")]
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpressionArgs {
    Sql(String),
    Full {
        sql: String,
        #[serde(default = "error_severity")]
        severity: Severity,
    },
}

fn error_severity() -> Severity {
    Severity::Error
}

const KINDS: &[&str] = &[
    "not_null",
    "unique",
    "accepted_values",
    "relationships",
    "expression",
    "row_count",
];

impl<'de> Deserialize<'de> for TestSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TestVisitor;
        impl<'de> Visitor<'de> for TestVisitor {
            type Value = TestSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a test name (not_null, unique) or a map like { accepted_values: { values: [...] } }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TestSpec, E> {
                let kind = match v {
                    "not_null" => TestKind::NotNull,
                    "unique" => TestKind::Unique,
                    other if KINDS.contains(&other) => {
                        return Err(E::custom(format!("test {other} needs arguments")));
                    }
                    other => return Err(E::unknown_variant(other, KINDS)),
                };
                Ok(TestSpec {
                    kind,
                    severity: Severity::Error,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TestSpec, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("empty test"))?;
                let spec = match key.as_str() {
                    "not_null" => {
                        let args: SeverityArgs = map.next_value()?;
                        TestSpec {
                            kind: TestKind::NotNull,
                            severity: args.severity,
                        }
                    }
                    "unique" => {
                        let args: UniqueArgs = map.next_value()?;
                        let kind = match args.columns {
                            Some(columns) if !columns.is_empty() => {
                                TestKind::UniqueCombination(columns)
                            }
                            _ => TestKind::Unique,
                        };
                        TestSpec {
                            kind,
                            severity: args.severity,
                        }
                    }
                    "accepted_values" => {
                        let args: AcceptedValuesArgs = map.next_value()?;
                        TestSpec {
                            kind: TestKind::AcceptedValues(args.values),
                            severity: args.severity,
                        }
                    }
                    "relationships" => {
                        let args: RelationshipsArgs = map.next_value()?;
                        TestSpec {
                            kind: TestKind::Relationships {
                                to: args.to,
                                field: args.field,
                            },
                            severity: args.severity,
                        }
                    }
                    "expression" => match map.next_value()? {
                        ExpressionArgs::Sql(sql) => TestSpec {
                            kind: TestKind::Expression(sql),
                            severity: Severity::Error,
                        },
                        ExpressionArgs::Full { sql, severity } => TestSpec {
                            kind: TestKind::Expression(sql),
                            severity,
                        },
                    },
                    "row_count" => {
                        let args: RowCountArgs = map.next_value()?;
                        TestSpec {
                            kind: TestKind::RowCount {
                                min: args.min,
                                max: args.max,
                            },
                            severity: args.severity,
                        }
                    }
                    other => return Err(de::Error::unknown_variant(other, KINDS)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "one test per list item; found {key} and {extra}"
                    )));
                }
                Ok(spec)
            }
        }
        deserializer.deserialize_any(TestVisitor)
    }
}

impl ModelSpec {
    /// Model-level tests, then each column's, with the column they test.
    pub fn all_tests(&self) -> impl Iterator<Item = (Option<&str>, &TestSpec)> {
        self.tests.iter().map(|t| (None, t)).chain(
            self.columns
                .iter()
                .flat_map(|c| c.tests.iter().map(move |t| (Some(c.name.as_str()), t))),
        )
    }

    /// A warning for each documented column the model does not have.
    pub fn missing_column_warnings(
        &self,
        columns: &std::collections::BTreeSet<String>,
    ) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| !columns.contains(&c.name))
            .map(|c| {
                format!(
                    "models.yml: {}.{} is documented but the model has no such column",
                    self.name, c.name
                )
            })
            .collect()
    }

    /// The key its tests declare: a model-level `unique: { columns }`,
    /// else the first column tested `unique`.
    pub fn key(&self) -> Option<Vec<String>> {
        let combination = self.tests.iter().find_map(|t| match &t.kind {
            TestKind::UniqueCombination(columns) => Some(columns.clone()),
            _ => None,
        });
        combination.or_else(|| {
            self.columns
                .iter()
                .find(|c| c.tests.iter().any(|t| t.kind == TestKind::Unique))
                .map(|c| vec![c.name.clone()])
        })
    }
}

impl ModelsFile {
    /// Each column name's `label:`, over every model (the first model
    /// that labels a name decides).
    pub fn column_labels(&self) -> std::collections::HashMap<String, String> {
        let mut labels = std::collections::HashMap::new();
        for column in self.models.iter().flat_map(|m| &m.columns) {
            if let Some(label) = &column.label {
                labels
                    .entry(column.name.clone())
                    .or_insert_with(|| label.clone());
            }
        }
        labels
    }

    /// Reads `models.yml` next to the models; a missing file is empty.
    pub fn load(path: &Path) -> Result<ModelsFile, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelsFile::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_kind_parses() {
        let file: ModelsFile = serde_yaml::from_str(
            r#"
models:
  - name: m
    tags: [daily]
    tests:
      - row_count: { min: 1, max: 10 }
      - expression: "a > 0"
    columns:
      - name: a
        tests:
          - not_null
          - unique: { severity: warn }
          - accepted_values: { values: [1, x] }
          - relationships: { to: other, field: id }
          - expression: { sql: "a < 5", severity: warn }
"#,
        )
        .unwrap();
        let model = file.model("m").unwrap();
        assert_eq!(
            model.tests[0].kind,
            TestKind::RowCount {
                min: Some(1),
                max: Some(10)
            }
        );
        assert_eq!(model.tests[1].kind, TestKind::Expression("a > 0".into()));
        let kinds: Vec<_> = model.columns[0]
            .tests
            .iter()
            .map(|t| (t.kind.name(), t.severity))
            .collect();
        assert_eq!(
            kinds,
            [
                ("not_null", Severity::Error),
                ("unique", Severity::Warn),
                ("accepted_values", Severity::Error),
                ("relationships", Severity::Error),
                ("expression", Severity::Warn),
            ]
        );
    }

    #[test]
    fn unknown_tests_are_errors_with_positions() {
        let err = serde_yaml::from_str::<ModelsFile>(
            "models:\n  - name: m\n    columns:\n      - name: a\n        tests: [not_nul]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown variant `not_nul`") && err.contains("line 5"),
            "{err}"
        );
    }
}
