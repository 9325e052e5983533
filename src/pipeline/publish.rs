//! Publishing a report: the model's materialised Parquet object is copied
//! to `reports/<name>/<name>.parquet` (one object-store copy, so readers
//! see the old or the new table, never a part) and to a dated copy under
//! `history/`. `reports/_SUCCESS` marks a run whose reports all published.

use chrono::NaiveDate;
use object_store::ObjectStoreExt;

use super::execute::materialised_path;
use crate::storage::Location;

/// Returns the bytes of the published object.
pub async fn publish_report(
    warehouse: &Location,
    name: &str,
    run_date: NaiveDate,
) -> Result<u64, String> {
    let source = warehouse.path(&materialised_path(name));
    let size = warehouse
        .store
        .head(&source)
        .await
        .map_err(|e| format!("cannot read {}: {e}", materialised_path(name)))?
        .size;
    for relative in [
        crate::storage::report_object(name),
        format!("history/{name}/run_date={run_date}/{name}.parquet"),
    ] {
        warehouse
            .store
            .copy(&source, &warehouse.path(&relative))
            .await
            .map_err(|e| format!("cannot publish {relative}: {e}"))?;
        crate::kill_point::reached("report-copied");
    }
    Ok(size)
}

pub async fn write_success_marker(warehouse: &Location, run_id: &str) -> Result<(), String> {
    warehouse
        .put(
            &warehouse.path("reports/_SUCCESS"),
            format!("{run_id}\n").into_bytes(),
        )
        .await
        .map_err(|e| e.to_string())
}

pub async fn remove_success_marker(warehouse: &Location) -> Result<(), String> {
    warehouse
        .delete_if_exists(&warehouse.path("reports/_SUCCESS"))
        .await
        .map_err(|e| e.to_string())
}
