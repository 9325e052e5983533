//! Fingerprints: what a model's result was computed from. A model's is the
//! hash of its SQL, the values of the parameters it reads, how it is
//! published and its inputs' fingerprints; a raw table's is the listing of
//! the raw objects it reads (their names carry the loaded file's content
//! hash, their size and version say which load wrote them). A model whose
//! fingerprint equals the one in its last materialised result's footer
//! would compute the same rows again, so that result is reused.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::parquet::file::metadata::ParquetMetaData;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::models::Model;
use super::stamp::footer_value;
use crate::config::Pii;
use crate::ingest::raw_folder;
use crate::schema::Entity;
use crate::storage::Location;

/// Parquet key-value key of a materialised model's fingerprint.
pub const KEY: &str = "advocacy.fingerprint";
/// Parquet key-value key of the seconds a model took to compute, so a
/// run that reuses it still knows what rebuilding it would cost.
pub const SECONDS_KEY: &str = "advocacy.seconds";

/// Bumped when what goes into a fingerprint changes meaning. The release
/// is part of it too: a new advocacy may compute a function differently,
/// so its first run recomputes everything.
const FORMAT: &str = concat!("advocacy-fingerprint-1 ", env!("CARGO_PKG_VERSION"));

/// Fingerprints by table name; `None` for a table whose inputs are not
/// known (a result written before fingerprints, a listing that failed),
/// which nothing built on it can match.
pub type Fingerprints = BTreeMap<String, Option<String>>;

/// Hashes `lines` (one fact each) under the format.
fn digest(lines: &[String]) -> String {
    let mut text = String::from(FORMAT);
    for line in lines {
        text.push('\n');
        text.push_str(line);
    }
    crate::pii::sha256_hex(text.as_bytes())
}

/// `fingerprint` as seen on `run_date`: a merged model (see
/// `incremental`) keeps the same rows whatever the date, and its readers
/// see those up to the date.
pub fn as_of(fingerprint: &str, run_date: chrono::NaiveDate) -> String {
    digest(&[fingerprint.to_string(), format!("as_of={run_date}")])
}

/// A raw table as a run found it: the objects a query of it reads.
#[derive(Debug, Clone)]
pub struct RawTable {
    /// Its objects under `raw/<entity>/`, sorted; `None` when the listing
    /// failed.
    pub objects: Option<Vec<RawObject>>,
    /// The table's schema (it depends on the PII mode).
    pub schema: SchemaRef,
    pub fingerprint: Option<String>,
}

/// One Parquet object of a raw table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RawObject {
    /// Relative to the warehouse.
    pub path: String,
    pub size: u64,
    /// The store's version of it: a source whose mapping changed is
    /// loaded again under the same name, and this tells the loads apart.
    pub version: String,
}

/// The raw tables by name.
pub type RawTables = BTreeMap<String, RawTable>;

/// Every raw table, from one listing of its folder each.
pub async fn raw_tables(warehouse: &Location, pii: Pii) -> RawTables {
    let mut tables = RawTables::new();
    for entity in Entity::ALL {
        let objects = match raw_objects(warehouse, entity).await {
            Ok(objects) => Some(objects),
            Err(e) => {
                tracing::warn!(table = %entity.table_name(), error = %e, "cannot list the raw zone; what reads it is recomputed");
                None
            }
        };
        let fingerprint = objects.as_ref().map(|objects| {
            // The PII mode decides which columns the table has.
            let mut lines = vec![format!("pii={pii:?}")];
            lines.extend(
                objects
                    .iter()
                    .map(|o| format!("{} {} {}", o.path, o.size, o.version)),
            );
            digest(&lines)
        });
        let table = RawTable {
            objects,
            schema: entity.arrow_schema(pii == Pii::Keep),
            fingerprint,
        };
        tables.insert(entity.table_name(), table);
    }
    tables
}

/// The raw tables' fingerprints.
pub fn of_raw_tables(tables: &RawTables) -> Fingerprints {
    tables
        .iter()
        .map(|(name, table)| (name.clone(), table.fingerprint.clone()))
        .collect()
}

/// The Parquet objects under `raw/<entity>/`, sorted.
async fn raw_objects(warehouse: &Location, entity: Entity) -> Result<Vec<RawObject>, String> {
    let folder = raw_folder(entity);
    let prefix = warehouse.path(&folder);
    let listed: Vec<_> = warehouse
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| format!("cannot list {folder}/: {e}"))?;
    let mut objects: Vec<RawObject> = listed
        .into_iter()
        .filter(|meta| meta.location.as_ref().ends_with(".parquet"))
        .map(|meta| RawObject {
            path: warehouse.relative(&meta.location),
            size: meta.size,
            version: meta
                .e_tag
                .clone()
                .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
        })
        .collect();
    objects.sort();
    Ok(objects)
}

/// What a model's result depends on, beside its inputs.
pub struct ModelFacts<'a> {
    pub model: &'a Model,
    /// The key of a published report's row order (models.yml's unique test).
    pub key: Option<&'a [String]>,
    /// The parameters its SQL reads, with this run's values.
    pub params: BTreeMap<String, ScalarValue>,
}

/// A model's fingerprint; `None` when an input's is unknown.
pub fn model(facts: &ModelFacts<'_>, inputs: &Fingerprints) -> Option<String> {
    let model = facts.model;
    let lines = vec![
        format!("model={}", model.name),
        format!("sql={}", model.sql),
        format!("publish={} report={}", model.publish, model.report),
        format!("incremental={:?}", model.incremental),
        format!("key={:?}", facts.key),
    ];
    with_reads(lines, &facts.params, inputs)
}

/// `lines` and the parameters and tables a computation reads, hashed;
/// `None` when a table's fingerprint is unknown.
fn with_reads(
    mut lines: Vec<String>,
    params: &BTreeMap<String, ScalarValue>,
    tables: &Fingerprints,
) -> Option<String> {
    for (name, value) in params {
        lines.push(format!("param {name}={value:?}"));
    }
    for (table, fingerprint) in tables {
        lines.push(format!("input {table}={}", fingerprint.as_ref()?));
    }
    Some(digest(&lines))
}

/// A data test's fingerprint: its query and severity, the parameters it
/// reads and the fingerprints of the tables it reads; `None` when one of
/// those is unknown.
pub fn data_test(
    sql: &str,
    severity: &str,
    params: &BTreeMap<String, ScalarValue>,
    tables: &Fingerprints,
) -> Option<String> {
    let lines = vec![format!("test={sql}"), format!("severity={severity}")];
    with_reads(lines, params, tables)
}

/// The fingerprint a materialised result's footer carries.
pub fn of_footer(footer: &ParquetMetaData) -> Option<String> {
    footer_value(footer, KEY).map(str::to_string)
}

/// The seconds the result in a footer took to compute.
pub fn seconds_of_footer(footer: &ParquetMetaData) -> Option<f64> {
    footer_value(footer, SECONDS_KEY)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn model(sql: &str) -> Model {
        Model {
            name: "m".into(),
            file: PathBuf::from("m.sql"),
            sql: sql.into(),
            publish: true,
            report: "m".into(),
            previous_version: None,
            incremental: None,
        }
    }

    fn facts<'a>(model: &'a Model, params: &[(&str, ScalarValue)]) -> ModelFacts<'a> {
        ModelFacts {
            model,
            key: None,
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        }
    }

    fn inputs(pairs: &[(&str, Option<&str>)]) -> Fingerprints {
        pairs
            .iter()
            .map(|(t, f)| (t.to_string(), f.map(str::to_string)))
            .collect()
    }

    #[test]
    fn each_fact_changes_the_fingerprint_and_nothing_else_does() {
        let m = model("SELECT a FROM t WHERE a > $min");
        let nine = [("min", ScalarValue::Int64(Some(9)))];
        let t = inputs(&[("t", Some("abc"))]);
        let base = super::model(&facts(&m, &nine), &t).unwrap();
        assert_eq!(super::model(&facts(&m, &nine), &t).unwrap(), base);
        let other_sql = model("SELECT a FROM t WHERE a >= $min");
        let changed = [
            super::model(&facts(&other_sql, &nine), &t),
            super::model(&facts(&m, &[("min", ScalarValue::Int64(Some(8)))]), &t),
            // The same number as a float is another value.
            super::model(&facts(&m, &[("min", ScalarValue::Float64(Some(9.0)))]), &t),
            super::model(&facts(&m, &nine), &inputs(&[("t", Some("abd"))])),
            super::model(
                &facts(&m, &nine),
                &inputs(&[("t", Some("abc")), ("u", Some("x"))]),
            ),
        ];
        for fingerprint in changed {
            assert_ne!(fingerprint.unwrap(), base);
        }
        let mut unpublished = model("SELECT a FROM t WHERE a > $min");
        unpublished.publish = false;
        assert_ne!(super::model(&facts(&unpublished, &nine), &t).unwrap(), base);
        let keyed = ModelFacts {
            key: Some(&["a".to_string()]),
            ..facts(&m, &nine)
        };
        assert_ne!(super::model(&keyed, &t).unwrap(), base);
    }

    #[test]
    fn an_unknown_input_leaves_the_fingerprint_unknown() {
        let m = model("SELECT * FROM t");
        assert_eq!(super::model(&facts(&m, &[]), &inputs(&[("t", None)])), None);
        assert_eq!(
            data_test(
                "SELECT 1",
                "error",
                &BTreeMap::new(),
                &inputs(&[("t", None)])
            ),
            None
        );
    }
}
