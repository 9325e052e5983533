//! Crash safety (issue 11, point 2): the nightly run on the bundled data is
//! killed with SIGKILL at named points spread over ingest, model
//! materialisation and publishing (`ADVOCACY_KILL_AT`, see
//! `src/kill_point.rs`). After each kill: every published report object
//! is whole and readable and the manifest names no missing object; the
//! next plain run (no flags) takes the dead run's lock over, leaves the
//! raw zone and the manifest in exact agreement, and publishes report
//! tables identical to an undisturbed run's.

use crate::common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use crate::common::{
    Project, assert_exit, bundled_config, query_parquet, snapshot, stderr, stdout,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const DATE: &str = "2026-11-01";

/// Where the kills land, in the order a run passes them (`:n` is the n-th
/// pass of a point that is passed once per file, model or report).
const KILL_POINTS: [&str; 14] = [
    "lock-taken",            // the lock is held, nothing else done
    "file-loaded",           // a file's rows are in temporary objects
    "raw-published",         // its raw objects are in place, its manifest entry not saved
    "manifest-saved:1",      // the first file is loaded, the others not
    "manifest-saved:4",      // ingest half done
    "model-materialised:1",  // the first model is written to _state/models
    "model-materialised:12", // half the models are
    "tests-run",             // every model built and tested, nothing published
    "report-copied:1",       // the first report replaced, its history copy not made
    "report-copied:6",       // half the reports published
    "reports-published",     // every report published, _SUCCESS not written
    "page-published",        // _SUCCESS and reports/index.html written, no run record
    "run-record-written",    // _runs/<id>.json written, latest.json not
    "before-unlock",         // everything done but releasing the lock
];

fn project() -> Project {
    let p = Project::new();
    bundled_config(&p, &Path::new(REPO).join("testdata"), "warehouse", "2GiB");
    p
}

fn run(p: &Project, kill_at: Option<&str>) -> std::process::Output {
    let env: Vec<(&str, &str)> = kill_at
        .map(|k| ("ADVOCACY_KILL_AT", k))
        .into_iter()
        .collect();
    p.advocacy_env(
        &["run", "--config", "config.yaml", "--date", DATE, "-q"],
        &env,
    )
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every report table as text, by name.
fn reports(p: &Project) -> Vec<(String, String)> {
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(p.warehouse().join("reports")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            tables.push((name, query_parquet(&path, "SELECT * FROM t")));
        }
    }
    tables.sort();
    tables
}

/// Reads every Parquet object under reports/ and history/ to the end.
fn assert_published_objects_whole(p: &Project, point: &str) {
    for zone in ["reports", "history"] {
        for file in files_under(&p.warehouse().join(zone)) {
            if file.extension().is_some_and(|e| e == "parquet") {
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                        .and_then(|b| b.build())
                        .unwrap_or_else(|e| panic!("{point}: {} unreadable: {e}", file.display()));
                for batch in reader {
                    batch.unwrap_or_else(|e| panic!("{point}: {}: {e}", file.display()));
                }
            }
        }
    }
}

/// The raw and quarantine objects the manifest names, and those there are.
fn manifest_and_zone(p: &Project) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut named = BTreeSet::new();
    if p.warehouse()
        .join("_state/ingest_manifest.parquet")
        .exists()
    {
        let text = p.query(
            "_state",
            "SELECT raw_object AS o FROM t WHERE raw_object IS NOT NULL \
             UNION ALL SELECT quarantine_object FROM t WHERE quarantine_object IS NOT NULL",
        );
        for line in common::lines(&text).into_iter().skip(1) {
            assert!(named.insert(line.trim().to_string()), "named twice: {line}");
        }
    }
    let mut present = BTreeSet::new();
    for zone in ["raw", "quarantine"] {
        for file in files_under(&p.warehouse().join(zone)) {
            let relative = file.strip_prefix(p.warehouse()).unwrap();
            present.insert(relative.to_string_lossy().into_owned());
        }
    }
    (named, present)
}

#[test]
fn a_kill_anywhere_is_recovered_by_the_next_plain_run() {
    if !common::slow_suite() {
        return;
    }
    let undisturbed = project();
    assert_exit(&run(&undisturbed, None), 0);
    let expected = reports(&undisturbed);
    assert!(expected.len() >= 6, "{expected:?}");

    for point in KILL_POINTS {
        let p = project();
        let killed = run(&p, Some(point));
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: the run was not killed there (exit {:?}):\n{}",
            killed.status.code(),
            stderr(&killed)
        );
        assert_published_objects_whole(&p, point);
        let (named, present) = manifest_and_zone(&p);
        let missing: Vec<_> = named.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "{point}: the manifest names missing objects {missing:?}"
        );

        let next = run(&p, None);
        assert_exit(&next, 0);
        assert!(!p.warehouse().join("_state/lock").exists(), "{point}");
        assert_published_objects_whole(&p, point);
        let (named, present) = manifest_and_zone(&p);
        assert_eq!(named, present, "{point}: raw zone and manifest disagree");
        let leftovers = files_under(&p.warehouse().join("_state/tmp"));
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        assert!(p.warehouse().join("reports/_SUCCESS").exists(), "{point}");
        let got = reports(&p);
        assert_eq!(got.len(), expected.len(), "{point}");
        for ((name, want), (_, have)) in expected.iter().zip(&got) {
            assert_eq!(
                have, want,
                "{point}: report {name} differs from an undisturbed run's"
            );
        }
    }
}

/// Issue 27, point 2: `_SUCCESS` never names an earlier run while reports
/// already hold a later one's rows. A run for a later date killed while
/// publishing leaves no marker at all (it went before the first report was
/// replaced); the next plain run writes it, naming itself and its date.
#[test]
fn a_run_killed_while_publishing_leaves_no_success_marker() {
    if !common::slow_suite() {
        return;
    }
    let p = project();
    let marker = p.warehouse().join("reports/_SUCCESS");
    let earlier = p.advocacy(&[
        "run",
        "--config",
        "config.yaml",
        "--date",
        "2026-10-01",
        "-q",
    ]);
    assert_exit(&earlier, 0);
    let earlier_marker = std::fs::read_to_string(&marker).unwrap();
    assert!(
        earlier_marker.contains("\"run_date\":\"2026-10-01\""),
        "{earlier_marker}"
    );
    for point in ["report-copied:1", "report-copied:6", "reports-published"] {
        let killed = run(&p, Some(point));
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: {}",
            stderr(&killed)
        );
        assert!(
            !marker.exists(),
            "{point}: _SUCCESS left naming an earlier run"
        );
    }
    assert_exit(&run(&p, None), 0);
    let marker_text = std::fs::read_to_string(&marker).unwrap();
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.warehouse().join("_runs/latest.json")).unwrap())
            .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&marker_text).unwrap(),
        serde_json::json!({ "run_id": latest["run_id"], "run_date": DATE })
    );
}

/// Copies the bundled exports into the project's landing, which a test
/// may then prune.
fn landed_project() -> Project {
    let p = Project::new();
    for file in files_under(&Path::new(REPO).join("testdata")) {
        let relative = file.strip_prefix(Path::new(REPO).join("testdata")).unwrap();
        let to = p.landing().join(relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, to).unwrap();
    }
    bundled_config(&p, &p.landing(), "warehouse", "2GiB");
    p
}

/// The raw and quarantine zones, byte for byte.
fn loaded_zones(p: &Project) -> Vec<std::collections::BTreeMap<String, Vec<u8>>> {
    ["raw", "quarantine"]
        .iter()
        .map(|zone| snapshot(&p.warehouse().join(zone)))
        .collect()
}

/// The manifest's entries of loaded files (copies are recorded again when
/// next seen), one line each.
fn manifest_entries(p: &Project) -> String {
    p.query(
        "_state",
        "SELECT * FROM t WHERE duplicate_of IS NULL ORDER BY source, path",
    )
}

fn repair(p: &Project) -> std::process::Output {
    p.advocacy(&["repair-manifest", "--config", "config.yaml"])
}

/// Issue 27, point 1: a manifest that is missing, empty, unreadable, or
/// gone with all of `_state/`, stops the run with exit 1 before anything
/// is deleted, even after the landing was pruned (the raw zone then holds
/// the only copy of the orders). `advocacy repair-manifest` rebuilds it
/// from the raw zone's own objects: the same entries, so the next run
/// reloads nothing and publishes the reports it published before.
#[test]
fn a_lost_manifest_deletes_nothing_and_is_rebuilt_from_the_raw_zone() {
    if !common::slow_suite() {
        return;
    }
    let p = landed_project();
    assert_exit(&run(&p, None), 0);
    let expected = reports(&p);
    let entries = manifest_entries(&p);
    let zones = loaded_zones(&p);
    // A retention policy prunes the landing once files are loaded.
    std::fs::remove_file(p.landing().join("crm/orders.csv")).unwrap();

    let manifest = p.warehouse().join("_state/ingest_manifest.parquet");
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 4] = [
        ("missing", |m| std::fs::remove_file(m).unwrap()),
        ("empty", |m| std::fs::write(m, b"").unwrap()),
        ("garbage", |m| std::fs::write(m, b"not a manifest").unwrap()),
        ("_state/ removed", |m| {
            std::fs::remove_dir_all(m.parent().unwrap()).unwrap()
        }),
    ];
    for (damage, apply) in damages {
        apply(&manifest);
        let stopped = run(&p, None);
        assert_exit(&stopped, 1);
        assert!(
            stderr(&stopped).contains("nothing was deleted: run `advocacy repair-manifest`"),
            "{damage}: {}",
            stderr(&stopped)
        );
        assert_eq!(loaded_zones(&p), zones, "{damage}: the raw zone changed");

        let repaired = repair(&p);
        assert_exit(&repaired, 0);
        assert!(
            stdout(&repaired).contains("rebuilt _state/ingest_manifest.parquet from"),
            "{damage}: {}",
            stdout(&repaired)
        );
        assert_eq!(manifest_entries(&p), entries, "{damage}");
        assert_exit(&run(&p, None), 0);
        assert_eq!(loaded_zones(&p), zones, "{damage}: a file was loaded again");
        assert_eq!(reports(&p), expected, "{damage}");
    }
}

/// Rewrites a Parquet file with `advocacy.format_version` set to `version`.
fn set_format_version(file: &Path, version: &str) {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::metadata::KeyValue;
    use datafusion::parquet::file::properties::WriterProperties;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let properties = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "advocacy.format_version".into(),
            version.to_string(),
        )]))
        .build();
    let out = std::fs::File::create(file).unwrap();
    let mut writer = ArrowWriter::try_new(out, batches[0].schema(), Some(properties)).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

/// Issue 27, point 1: every state file carries a format version, and one
/// written by a newer release is refused with a clear error, never
/// misread: the manifest stops the run (exit 1, nothing deleted), the lock
/// counts as held (exit 4), and the last run record, which only orders the
/// models, is set aside with a warning.
#[test]
fn state_files_of_a_newer_format_are_refused() {
    if !common::slow_suite() {
        return;
    }
    let p = project();
    assert_exit(&run(&p, None), 0);
    let zones = loaded_zones(&p);
    let warehouse = p.warehouse();
    let latest = std::fs::read_to_string(warehouse.join("_runs/latest.json")).unwrap();
    assert!(latest.contains("\"format_version\": 2"), "{latest}");
    let lock: serde_json::Value = serde_json::json!({
        "format_version": 99, "run_id": "r", "host": "h", "pid": 1,
        "command": "run", "started_at": "2026-12-01T00:00:00Z"
    });

    let manifest = warehouse.join("_state/ingest_manifest.parquet");
    let saved = std::fs::read(&manifest).unwrap();
    set_format_version(&manifest, "99");
    let stopped = run(&p, None);
    assert_exit(&stopped, 1);
    assert!(
        stderr(&stopped).contains(
            "_state/ingest_manifest.parquet is in format 99, written by a newer advocacy; \
             this release reads formats up to 2"
        ),
        "{}",
        stderr(&stopped)
    );
    assert_eq!(loaded_zones(&p), zones);
    std::fs::write(&manifest, saved).unwrap();

    std::fs::write(warehouse.join("_state/lock"), lock.to_string()).unwrap();
    let locked = run(&p, None);
    assert_exit(&locked, 4);
    assert!(
        stderr(&locked).contains("_state/lock is in format 99"),
        "{}",
        stderr(&locked)
    );
    std::fs::remove_file(warehouse.join("_state/lock")).unwrap();

    let newer_record = latest.replace("\"format_version\": 2", "\"format_version\": 99");
    std::fs::write(warehouse.join("_runs/latest.json"), newer_record).unwrap();
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", DATE]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("_runs/latest.json is in format 99"),
        "{}",
        stderr(&out)
    );
}

/// Issue 27, point 1: a manifest restored from a backup does not name the
/// files loaded since. Their raw objects belong to runs that finished, so
/// the run stops (exit 1) rather than delete them as an interrupted run's
/// leftovers; a repair names them again and nothing is loaded twice.
#[test]
fn a_manifest_restored_from_a_backup_deletes_nothing() {
    if !common::slow_suite() {
        return;
    }
    let p = landed_project();
    std::fs::rename(
        p.landing().join("reviews/trustpilot-2026.json"),
        p.path("trustpilot-2026.json"),
    )
    .unwrap();
    assert_exit(&run(&p, None), 0);
    let manifest = p.warehouse().join("_state/ingest_manifest.parquet");
    let backup = std::fs::read(&manifest).unwrap();
    std::fs::rename(
        p.path("trustpilot-2026.json"),
        p.landing().join("reviews/trustpilot-2026.json"),
    )
    .unwrap();
    assert_exit(&run(&p, None), 0);
    let entries = manifest_entries(&p);
    let zones = loaded_zones(&p);

    std::fs::write(&manifest, backup).unwrap();
    let stopped = run(&p, None);
    assert_exit(&stopped, 1);
    let message = stderr(&stopped);
    assert!(
        message.contains("is not in _state/ingest_manifest.parquet but was loaded by run")
            && message.contains("which finished"),
        "{message}"
    );
    assert_eq!(loaded_zones(&p), zones);
    assert_exit(&repair(&p), 0);
    assert_eq!(manifest_entries(&p), entries);
    assert_exit(&run(&p, None), 0);
    assert_eq!(loaded_zones(&p), zones);
}

/// A file changed in place is loaded again and its earlier objects are
/// removed only after the manifest names the new load: a run killed in
/// between leaves the earlier objects unowned but older than the
/// manifest's load of their file, and the next run removes them (never a
/// manifest naming removed objects, never a stop for a foreign object).
#[test]
fn a_run_killed_between_saving_a_reload_and_removing_the_old_rows_recovers() {
    if !common::slow_suite() {
        return;
    }
    let p = landed_project();
    assert_exit(&run(&p, None), 0);
    let orders = p.landing().join("crm/orders.csv");
    let mut text = std::fs::read_to_string(&orders).unwrap();
    text.push_str("\r\n");
    std::fs::write(&orders, text).unwrap();
    // The orders file is the first file read (the largest source first).
    let killed = run(&p, Some("manifest-saved:1"));
    assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
    let (named, present) = manifest_and_zone(&p);
    assert!(
        named.is_subset(&present),
        "the manifest names removed objects"
    );
    assert!(
        present.len() > named.len(),
        "the earlier orders objects are gone already"
    );
    let next = run(&p, None);
    assert_exit(&next, 0);
    let (named, present) = manifest_and_zone(&p);
    assert_eq!(named, present);
}
