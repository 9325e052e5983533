//! Publishing a report: the model's materialised Parquet object (stamped
//! with its run, see [`super::stamp`]) is copied to a dated copy under
//! `history/` and, when the run's date is the newest published, to
//! `reports/<name>/<name>.parquet` (one object-store copy, so readers see
//! the old or the new table, never a part). `reports/_SUCCESS` names the
//! run whose reports are all in `reports/`.

use chrono::NaiveDate;
use object_store::ObjectStoreExt;

use super::execute::materialised_path;
use super::stamp::{SUCCESS_MARKER, Stamp, history_object};
use crate::storage::Location;

/// Where a run's reports go (`latest` or `history_only` in the run record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The run's date is the newest published: `reports/` and `history/`.
    Latest,
    /// A backfill, for a date before the newest published: `history/` only.
    HistoryOnly,
}

/// Publishes model `name` as report `report` (its name, or a version's:
/// see `super::contract`). Returns the bytes of the published object.
pub async fn publish_report(
    warehouse: &Location,
    name: &str,
    report: &str,
    run_date: NaiveDate,
    target: Target,
) -> Result<u64, String> {
    let source = warehouse.path(&materialised_path(name));
    let object = warehouse
        .store
        .head(&source)
        .await
        .map_err(|e| format!("cannot read {}: {e}", materialised_path(name)))?;
    let mut copies = Vec::with_capacity(2);
    if target == Target::Latest {
        copies.push(crate::storage::report_object(report));
    }
    copies.push(history_object(report, run_date));
    for relative in copies {
        let destination = warehouse.path(&relative);
        if !already_there(warehouse, &object, &destination).await {
            warehouse
                .store
                .copy(&source, &destination)
                .await
                .map_err(|e| format!("cannot publish {relative}: {e}"))?;
        }
        crate::kill_point::reached("report-copied");
    }
    Ok(object.size)
}

/// Whether `destination` already is the object `source` (a reused result
/// published again): the same size and entity tag. Copying it onto itself
/// would be wasted, and on a local folder, where a copy is a hard link,
/// object_store's rename of the link onto the same file does nothing and
/// leaves its staging link (`<name>#1`) behind.
async fn already_there(
    warehouse: &Location,
    source: &object_store::ObjectMeta,
    destination: &object_store::path::Path,
) -> bool {
    match warehouse.store.head(destination).await {
        Ok(there) => {
            source.e_tag.is_some() && there.e_tag == source.e_tag && there.size == source.size
        }
        Err(_) => false,
    }
}

/// `_SUCCESS` is JSON `{run_id, run_date}`, so a reader (and the next
/// run) knows which run's set `reports/` holds.
pub async fn write_success_marker(warehouse: &Location, stamp: &Stamp) -> Result<(), String> {
    let json = serde_json::to_string(stamp).expect("a stamp serialises");
    warehouse
        .put(
            &warehouse.path(SUCCESS_MARKER),
            format!("{json}\n").into_bytes(),
        )
        .await
        .map_err(|e| e.to_string())
}

pub async fn remove_success_marker(warehouse: &Location) -> Result<(), String> {
    warehouse
        .delete_if_exists(&warehouse.path(SUCCESS_MARKER))
        .await
        .map_err(|e| e.to_string())
}
