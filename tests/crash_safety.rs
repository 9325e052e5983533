//! Crash safety (issue 11, point 2): the nightly run on the bundled data is
//! killed with SIGKILL at named points spread over ingest, model
//! materialisation and publishing (`ADVOCACY_KILL_AT`, see
//! `src/kill_point.rs`). After each kill: every published report object
//! is whole and readable and the manifest names no missing object; the
//! next plain run (no flags) takes the dead run's lock over, leaves the
//! raw zone and the manifest in exact agreement, and publishes report
//! tables identical to an undisturbed run's.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use common::{Project, assert_exit, bundled_config, query_parquet, stderr};
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
