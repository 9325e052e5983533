//! Incremental, idempotent loads: the same file twice, a file changed in
//! place, a renamed copy, and duplicate keys across loads in staging.

use crate::common::{Project, assert_exit, lines, stdout};

const SOURCE: &str = r#"  - name: crm
    entity: customers
    format: csv
    path: crm/*.csv
    columns: { customer_id: Id, signup_date: Created, country: Country }
"#;

const V1: &str = "Id,Created,Country\nC1,2024-01-01,US\nC2,2024-01-02,FR\nC3,yesterday,DE\n";
const V2: &str = "Id,Created,Country\nC1,2024-01-01,CA\nC2,2024-01-02,FR\nC4,2024-01-04,IT\n";

/// source, file, status, read, loaded, quarantined (without the timings).
fn status_line(out: &std::process::Output, file: &str) -> Vec<String> {
    let text = stdout(out);
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(file))
        .unwrap_or_else(|| panic!("no line for {file} in:\n{text}"))
        .split_whitespace()
        .take(6)
        .map(str::to_string)
        .collect()
}

fn raw_files(p: &Project, folder: &str) -> usize {
    p.parquet_files()
        .iter()
        .filter(|f| f.starts_with(p.warehouse().join(folder)))
        .count()
}

#[test]
fn same_file_changed_file_and_renamed_copy() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("crm/customers.csv", V1);

    let first = p.ingest();
    assert_exit(&first, 0);
    assert_eq!(
        status_line(&first, "crm/customers.csv")[2..],
        ["loaded", "3", "2", "1"]
    );

    // Unchanged: nothing is read again.
    let second = p.ingest();
    assert_exit(&second, 0);
    assert_eq!(
        status_line(&second, "crm/customers.csv")[2..],
        ["unchanged", "0", "0", "0"]
    );
    assert_eq!(raw_files(&p, "raw/customers"), 1);

    // The same content under a new name is recognised, not loaded twice.
    p.land("crm/customers-resent.csv", V1);
    let third = p.ingest();
    assert_exit(&third, 0);
    assert_eq!(
        status_line(&third, "crm/customers-resent.csv")[2..],
        ["duplicate", "0", "0", "0"]
    );
    assert_eq!(raw_files(&p, "raw/customers"), 1);

    // Changed in place: its rows are replaced, the quarantine too. The
    // resent copy now holds the only copy of the old content, so it loads
    // as a file of its own.
    p.land("crm/customers.csv", V2);
    let fourth = p.ingest();
    assert_exit(&fourth, 0);
    assert_eq!(
        status_line(&fourth, "crm/customers.csv")[2..],
        ["loaded", "3", "3", "0"]
    );
    let rows = p.query(
        "raw/customers",
        "SELECT _file, customer_id, country, _row FROM t ORDER BY _file, customer_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "crm/customers-resent.csv | C1 | US | 2",
            "crm/customers-resent.csv | C2 | FR | 3",
            "crm/customers.csv | C1 | CA | 2",
            "crm/customers.csv | C2 | FR | 3",
            "crm/customers.csv | C4 | IT | 4",
        ]
    );
    assert_eq!(raw_files(&p, "raw/customers"), 2);
    assert_eq!(raw_files(&p, "quarantine"), 1);

    let manifest = p.query(
        "_state",
        "SELECT path, rows_read, rows_loaded, rows_quarantined, duplicate_of FROM t ORDER BY path",
    );
    assert_eq!(
        lines(&manifest)[1..],
        [
            "crm/customers-resent.csv | 3 | 2 | 1 |",
            "crm/customers.csv | 3 | 3 | 0 |",
        ]
    );

    // Nothing changes on the next run.
    let fifth = p.ingest();
    assert!(
        !stdout(&fifth)
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("loaded"))
    );
}

#[test]
fn a_touched_file_with_the_same_content_stays_loaded_once() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("crm/customers.csv", V1);
    assert_exit(&p.ingest(), 0);
    // Rewrite the same bytes: a new modification time, same content.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.land("crm/customers.csv", V1);
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_eq!(
        status_line(&out, "crm/customers.csv")[2..],
        ["unchanged", "0", "0", "0"]
    );
    let rows = p.query("raw/customers", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&rows)[1..], ["2"]);
}

/// The customers source, the repository's customer staging model and a
/// report of each customer's country and the file it came from.
fn customer_list(p: &Project) {
    p.config(SOURCE);
    p.write(
        "queries/staging/stg_customers.sql",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/queries/staging/stg_customers.sql"
        ))
        .unwrap(),
    );
    p.write(
        "queries/reports/customer_list.sql",
        "SELECT customer_id, country, _file FROM stg_customers ORDER BY customer_id",
    );
}

#[test]
fn duplicate_keys_across_loads_resolve_to_the_latest_load_in_staging() {
    let p = Project::new();
    customer_list(&p);
    p.land(
        "crm/a.csv",
        "Id,Created,Country\nC1,2024-01-01,US\nC2,2024-01-02,FR\n",
    );
    assert_exit(&p.ingest(), 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    // A later export corrects C1; within it, the later of two C2 rows wins.
    p.land(
        "crm/b.csv",
        "Id,Created,Country\nC1,2024-01-01,CA\nC2,2024-01-02,BE\nC2,2024-01-02,NL\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-11-02"]);
    assert_exit(&out, 0);
    let report = p.query(
        "reports/customer_list",
        "SELECT * FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&report)[1..],
        ["C1 | CA | crm/b.csv", "C2 | NL | crm/b.csv"]
    );
}

#[test]
fn a_copy_whose_original_changes_is_loaded_on_its_own() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("crm/a.csv", V1);
    assert_exit(&p.ingest(), 0);
    p.land("crm/b.csv", V1);
    assert_eq!(
        status_line(&p.ingest(), "crm/b.csv")[2..],
        ["duplicate", "0", "0", "0"]
    );
    // a.csv changes in place: b.csv is the only holder of V1's rows now.
    p.land("crm/a.csv", V2);
    let out = p.ingest();
    assert_exit(&out, 0);
    let text = stdout(&out);
    let reloaded = text.lines().any(|l| {
        l.split_whitespace().take(6).collect::<Vec<_>>()
            == ["crm", "crm/b.csv", "loaded", "3", "2", "1"]
    });
    assert!(reloaded, "{text}");
    let rows = p.query(
        "raw/customers",
        "SELECT _file, customer_id, country FROM t ORDER BY _file, customer_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "crm/a.csv | C1 | CA",
            "crm/a.csv | C2 | FR",
            "crm/a.csv | C4 | IT",
            "crm/b.csv | C1 | US",
            "crm/b.csv | C2 | FR",
        ]
    );
}

#[test]
fn a_file_changed_into_a_copy_of_another_loses_its_old_rows() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("crm/x.csv", V2);
    p.land("crm/y.csv", V1);
    assert_exit(&p.ingest(), 0);
    p.land("crm/y.csv", V2);
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_eq!(
        status_line(&out, "crm/y.csv")[2..],
        ["duplicate", "0", "0", "0"]
    );
    let rows = p.query(
        "raw/customers",
        "SELECT _file, customer_id FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        ["crm/x.csv | C1", "crm/x.csv | C2", "crm/x.csv | C4"]
    );
    assert_eq!(raw_files(&p, "quarantine"), 0);
}

/// Issue 27, point 7: a file loaded again keeps its original load time, so
/// the latest load still wins after `--full-refresh` or a mapping change
/// (both reload every file). Here the correcting export's name sorts
/// before the one it corrects: with one load time for all, the file name
/// would decide and hand C1 back to US.
#[test]
fn a_reload_keeps_the_original_load_order() {
    let p = Project::new();
    customer_list(&p);
    p.land("crm/b.csv", "Id,Created,Country\nC1,2024-01-01,US\n");
    assert_exit(&p.ingest(), 0);
    std::thread::sleep(std::time::Duration::from_millis(20));
    p.land("crm/a.csv", "Id,Created,Country\nC1,2024-01-01,CA\n");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--config", "config.yaml", "--date", "2026-11-02"];
        args.extend_from_slice(extra);
        let out = p.advocacy(&args);
        assert_exit(&out, 0);
        let report = p.query("reports/customer_list", "SELECT * FROM t");
        let loads = p.query(
            "raw/customers",
            "SELECT _file, CAST(_loaded_at AS VARCHAR) AS at FROM t ORDER BY _file",
        );
        (lines(&report)[1..].to_vec(), loads)
    };
    let (report, loads) = run(&[]);
    assert_eq!(report, ["C1 | CA | crm/a.csv"]);

    assert_eq!(run(&["--full-refresh"]), (report.clone(), loads.clone()));
    // A new mapping (a constant segment) reloads every file too.
    p.config(&SOURCE.replace(
        "country: Country }",
        "country: Country, segment: { value: smb } }",
    ));
    assert_eq!(run(&[]), (report, loads));
}
