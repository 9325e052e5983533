//! `_state/data_tests.json`: the data tests' last results, each with its
//! fingerprint (see [`super::fingerprint::data_test`]), so a run whose
//! models were reused does not test the same rows again. It is a cache:
//! a missing, unreadable or newer file only means every test runs.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::data_tests::TestResult;
use crate::state_format;
use crate::storage::Location;

pub const OBJECT: &str = "_state/data_tests.json";
/// The file's format.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File {
    format_version: u32,
    results: Vec<TestResult>,
}

/// Earlier results, by fingerprint.
#[derive(Default)]
pub struct Previous {
    by_fingerprint: HashMap<String, TestResult>,
}

impl Previous {
    pub fn get(&self, fingerprint: &str) -> Option<&TestResult> {
        self.by_fingerprint.get(fingerprint)
    }
}

/// The results the last runs kept; none (with a warning) when the file
/// cannot be read.
pub async fn load(warehouse: &Location) -> Previous {
    match read(warehouse).await {
        Ok(previous) => previous,
        Err(e) => {
            tracing::warn!("{OBJECT}: {e}; every data test runs");
            Previous::default()
        }
    }
}

async fn read(warehouse: &Location) -> Result<Previous, String> {
    let Some(bytes) = warehouse
        .get_opt(&warehouse.path(OBJECT))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(Previous::default());
    };
    let file: File = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    state_format::check(OBJECT, file.format_version, FORMAT_VERSION).map_err(|e| e.to_string())?;
    let by_fingerprint = file
        .results
        .into_iter()
        .filter_map(|r| Some((r.fingerprint.clone()?, r)))
        .collect();
    Ok(Previous { by_fingerprint })
}

/// Keeps this run's results, and the earlier ones of models this run did
/// not test (a `--select` build). Results without a fingerprint are not
/// kept: nothing could match them; nor are tests that could not run (the
/// store failed, say), which the next run tries again.
pub async fn save(
    warehouse: &Location,
    tests: &[TestResult],
    previous: Previous,
    tested: &BTreeSet<String>,
) -> Result<(), String> {
    let mut results: Vec<TestResult> = previous
        .by_fingerprint
        .into_values()
        .filter(|r| !tested.contains(&r.model))
        .chain(tests.iter().cloned())
        .filter(|r| r.fingerprint.is_some() && r.error.is_none())
        .map(|r| TestResult { reused: false, ..r })
        .collect();
    results.sort_by(|a, b| (&a.model, &a.fingerprint).cmp(&(&b.model, &b.fingerprint)));
    let file = File {
        format_version: FORMAT_VERSION,
        results,
    };
    let json = serde_json::to_string_pretty(&file).expect("results serialise");
    warehouse
        .put(&warehouse.path(OBJECT), json.into_bytes())
        .await
        .map_err(|e| format!("cannot keep the data tests' results in {OBJECT}: {e}"))
}
