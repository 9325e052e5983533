//! Which run made a table: every materialised model, and so every report
//! copied from one, carries its run date and run id in its Parquet
//! key-value metadata. From the stamps of the published reports (and
//! `_SUCCESS`) a run learns the newest run date published, so that a
//! backfill (a run for an earlier date) never replaces `reports/`.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaData};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::storage::Location;

pub const RUN_DATE_KEY: &str = "advocacy.run_date";
pub const RUN_ID_KEY: &str = "advocacy.run_id";

/// The run a table belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub run_date: NaiveDate,
    pub run_id: String,
}

impl Stamp {
    pub fn key_values(&self) -> Vec<KeyValue> {
        vec![
            KeyValue::new(RUN_DATE_KEY.into(), self.run_date.to_string()),
            KeyValue::new(RUN_ID_KEY.into(), self.run_id.clone()),
        ]
    }

    /// The stamp a materialised model or report carries.
    pub fn from_footer(footer: &ParquetMetaData) -> Option<Stamp> {
        Stamp::from_key_values(footer.file_metadata().key_value_metadata()?)
    }

    fn from_key_values(pairs: &[KeyValue]) -> Option<Stamp> {
        let value = |key: &str| {
            pairs
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
        };
        Some(Stamp {
            run_date: value(RUN_DATE_KEY)?.parse().ok()?,
            run_id: value(RUN_ID_KEY)?,
        })
    }
}

/// What a Parquet object says of the run that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamped {
    Missing,
    /// Written before stamps (no such keys).
    Unstamped,
    By(Stamp),
}

/// A Parquet object's footer (one head, one footer read); `None` when
/// there is no such object.
pub async fn read_footer(
    warehouse: &Location,
    relative: &str,
) -> Result<Option<Arc<ParquetMetaData>>, String> {
    let path = warehouse.path(relative);
    let object = match warehouse.store.head(&path).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(format!("cannot read {relative}: {e}")),
    };
    DFParquetMetadata::new(warehouse.store.as_ref(), &object)
        .fetch_metadata()
        .await
        .map(Some)
        .map_err(|e| format!("cannot read the footer of {relative}: {e}"))
}

/// A footer's value for `key` in its key-value metadata.
pub fn footer_value<'a>(footer: &'a ParquetMetaData, key: &str) -> Option<&'a str> {
    footer
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_deref()
}

/// The stamp in a Parquet object's footer.
pub async fn read_stamp(warehouse: &Location, relative: &str) -> Result<Stamped, String> {
    Ok(match read_footer(warehouse, relative).await? {
        None => Stamped::Missing,
        Some(footer) => Stamp::from_footer(&footer).map_or(Stamped::Unstamped, Stamped::By),
    })
}

/// `reports/_SUCCESS`: the run whose reports are all in `reports/`.
pub const SUCCESS_MARKER: &str = "reports/_SUCCESS";

/// The run `_SUCCESS` names; `None` without a marker, or with one written
/// before markers were JSON (a bare run id, which has no date).
pub async fn read_success_marker(warehouse: &Location) -> Result<Option<Stamp>, String> {
    let bytes = warehouse
        .get_opt(&warehouse.path(SUCCESS_MARKER))
        .await
        .map_err(|e| e.to_string())?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// The newest run date in `reports/`: the newest stamp among the published
/// reports and `_SUCCESS`. A report published before stamps counts by its
/// newest dated copy under `history/`. A report that cannot be read (its
/// object is in the way, the store fails) is left out with a warning: its
/// own publishing then fails, naming it, and the others go on. So is an
/// unreadable `_SUCCESS`.
pub async fn newest_published(warehouse: &Location, reports: &BTreeSet<String>) -> Option<Stamp> {
    let mut newest = read_success_marker(warehouse).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read reports/_SUCCESS; going by the reports' own stamps");
        None
    });
    for name in reports {
        let stamp = match published_stamp(warehouse, name).await {
            Ok(stamp) => stamp,
            Err(e) => {
                tracing::warn!(report = %name, error = %e, "cannot tell which run published it");
                None
            }
        };
        if let Some(stamp) = stamp
            && newest.as_ref().is_none_or(|n| stamp.run_date > n.run_date)
        {
            newest = Some(stamp);
        }
    }
    newest
}

/// The run of `reports/<name>`, or for one published before stamps, its
/// newest dated copy's date.
async fn published_stamp(warehouse: &Location, name: &str) -> Result<Option<Stamp>, String> {
    match read_stamp(warehouse, &crate::storage::report_object(name)).await? {
        Stamped::Missing => Ok(None),
        Stamped::By(stamp) => Ok(Some(stamp)),
        Stamped::Unstamped => {
            Ok(newest_history_date(warehouse, name)
                .await?
                .map(|run_date| Stamp {
                    run_date,
                    run_id: "(before stamps)".into(),
                }))
        }
    }
}

/// The newest `run_date=` folder under `history/<report>/`.
async fn newest_history_date(
    warehouse: &Location,
    report: &str,
) -> Result<Option<NaiveDate>, String> {
    let folder = warehouse.path(&format!("history/{report}"));
    let listing = warehouse
        .store
        .list_with_delimiter(Some(&folder))
        .await
        .map_err(|e| format!("cannot list history/{report}: {e}"))?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename()?.strip_prefix("run_date=")?.parse().ok())
        .max())
}

/// Where a report of the run dated `run_date` is kept: every run writes a
/// dated copy; only the newest run date also owns `reports/`.
pub fn history_object(name: &str, run_date: NaiveDate) -> String {
    format!("history/{name}/run_date={run_date}/{name}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_its_key_values_and_a_partial_one_is_none() {
        let stamp = Stamp {
            run_date: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            run_id: "20261103T020000Z-abcd1234".into(),
        };
        assert_eq!(Stamp::from_key_values(&stamp.key_values()), Some(stamp));
        let only_id = [KeyValue::new(RUN_ID_KEY.into(), "x".to_string())];
        assert_eq!(Stamp::from_key_values(&only_id), None);
    }
}
