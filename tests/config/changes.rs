//! Config changes reprocess (issue 11, point 6): the manifest records a
//! fingerprint of each source's mapping and of the settings that change
//! stored values (PII salt and mode, time zone); a change reloads that
//! source's files, replacing their rows, and `--full-refresh` reloads
//! everything. Objects no manifest entry owns are removed.

use crate::common::{Project, assert_exit, lines, stderr, stdout};

const CUSTOMERS: &str = "Id,Email,Created,Country\n\
                         C1,ana@example.com,2024-01-01,US\n\
                         C2,bo@example.com,2024-01-02,FR\n";
const NPS: &str = "Id,Customer,At,Score\nR1,C1,2024-01-01 23:30:00,9\n";

fn config(p: &Project, salt: &str, timezone: &str, customers_columns: &str) {
    p.write(
        "config.yaml",
        &format!(
            "landing: landing\nwarehouse: warehouse\n\
             run: {{ pii: hash, pii_salt: {salt}, pii_salt_public: true, timezone: {timezone} }}\n\
             sources:\n\
             \x20 - name: crm\n\
             \x20   entity: customers\n\
             \x20   format: csv\n\
             \x20   path: crm/*.csv\n\
             \x20   columns: {customers_columns}\n\
             \x20 - name: survey\n\
             \x20   entity: nps_responses\n\
             \x20   format: csv\n\
             \x20   path: nps/*.csv\n\
             \x20   columns: {{ response_id: Id, customer_id: Customer, responded_at: At, score: Score }}\n"
        ),
    );
}

const MAPPING: &str = "{ customer_id: Id, email: Email, signup_date: Created }";

/// The status column of each file's line in the summary, by file.
fn statuses(out: &std::process::Output) -> Vec<String> {
    let text = stdout(out);
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (_, file, status) = (words.next()?, words.next()?, words.next()?);
            file.ends_with(".csv").then(|| format!("{file} {status}"))
        })
        .collect();
    found.sort();
    found
}

fn raw_objects(p: &Project) -> Vec<String> {
    let mut found: Vec<String> = p
        .parquet_files()
        .iter()
        .filter_map(|f| {
            let relative = f
                .strip_prefix(p.warehouse())
                .ok()?
                .to_string_lossy()
                .into_owned();
            (relative.starts_with("raw/") || relative.starts_with("quarantine/"))
                .then_some(relative)
        })
        .collect();
    found.sort();
    found
}

fn ingest(p: &Project, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["ingest", "--config", "config.yaml", "--date", "2026-11-02"];
    args.extend_from_slice(extra);
    let out = p.advocacy(&args);
    assert_exit(&out, 0);
    out
}

fn project() -> Project {
    let p = Project::new();
    p.land("crm/customers.csv", CUSTOMERS);
    p.land("nps/answers.csv", NPS);
    config(&p, "salt-1", "UTC", MAPPING);
    let first = ingest(&p, &[]);
    assert_eq!(
        statuses(&first),
        ["crm/customers.csv loaded", "nps/answers.csv loaded"]
    );
    p
}

#[test]
fn a_changed_mapping_reloads_only_that_source_and_replaces_its_rows() {
    let p = project();
    let before = raw_objects(&p);
    // Layout, comments, key order and the glob are not the mapping.
    p.write(
        "config.yaml",
        &std::fs::read_to_string(p.path("config.yaml"))
            .unwrap()
            .replace(
                MAPPING,
                "{ signup_date: Created, email: Email, customer_id: Id }  # same",
            )
            .replace("crm/*.csv", "crm/**/*.csv"),
    );
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv unchanged", "nps/answers.csv unchanged"]
    );

    config(
        &p,
        "salt-1",
        "UTC",
        "{ customer_id: Id, email: Email, signup_date: Created, country: Country }",
    );
    let out = ingest(&p, &[]);
    assert_eq!(
        statuses(&out),
        ["crm/customers.csv loaded", "nps/answers.csv unchanged"]
    );
    let rows = p.query(
        "raw/customers",
        "SELECT customer_id, country FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&rows)[1..], ["C1 | US", "C2 | FR"]);
    // Same content, same run date: the file's raw object is replaced in
    // place; nothing is added.
    assert_eq!(raw_objects(&p), before);
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv unchanged", "nps/answers.csv unchanged"]
    );
}

#[test]
fn a_new_salt_rehashes_and_a_new_time_zone_reparses_every_source() {
    let p = project();
    let hashes = |p: &Project| {
        p.query(
            "raw/customers",
            "SELECT email_hash FROM t ORDER BY customer_id",
        )
    };
    let old = hashes(&p);
    config(&p, "salt-2", "UTC", MAPPING);
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv loaded", "nps/answers.csv loaded"]
    );
    let new = hashes(&p);
    assert_ne!(lines(&old)[1..], lines(&new)[1..]);
    assert_eq!(lines(&new).len(), 3, "{new}");

    // 23:30 local in Berlin is 22:30 UTC.
    config(&p, "salt-2", "Europe/Berlin", MAPPING);
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv loaded", "nps/answers.csv loaded"]
    );
    let at = p.query(
        "raw/nps_responses",
        "SELECT CAST(responded_at AS VARCHAR) AS at FROM t",
    );
    assert_eq!(lines(&at)[1..], ["2024-01-01T22:30:00Z"], "{at}");
    assert_eq!(raw_objects(&p).len(), 2, "{:?}", raw_objects(&p));
}

/// `run.pii` decides what is stored, so changing it reloads every source:
/// under `drop` the customers' email hashes go from the raw zone.
#[test]
fn a_new_pii_mode_reloads_every_source() {
    let p = project();
    let hashed = p.query("raw/customers", "SELECT count(email_hash) AS n FROM t");
    assert_eq!(lines(&hashed)[1..], ["2"]);
    p.write(
        "config.yaml",
        &std::fs::read_to_string(p.path("config.yaml"))
            .unwrap()
            .replace("pii: hash", "pii: drop"),
    );
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv loaded", "nps/answers.csv loaded"]
    );
    let dropped = p.query(
        "raw/customers",
        "SELECT count(email_hash) AS n, count(*) AS customers FROM t",
    );
    assert_eq!(lines(&dropped)[1..], ["0 | 2"]);
}

#[test]
fn full_refresh_reloads_everything_once() {
    let p = project();
    let before = raw_objects(&p);
    let out = ingest(&p, &["--full-refresh"]);
    assert_eq!(
        statuses(&out),
        ["crm/customers.csv loaded", "nps/answers.csv loaded"]
    );
    assert_eq!(raw_objects(&p), before);
    let rows = p.query("raw/customers", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&rows)[1..], ["2"]);
    assert_eq!(
        statuses(&ingest(&p, &[])),
        ["crm/customers.csv unchanged", "nps/answers.csv unchanged"]
    );
    // `build` loads nothing: its --full-refresh recomputes the models only.
    let build = p.advocacy(&["build", "--config", "config.yaml", "--full-refresh"]);
    assert_exit(&build, 0);
    assert_eq!(raw_objects(&p), before);
}

/// A run killed after publishing a file's raw object but before saving
/// its manifest entry leaves an object nobody owns: the next run removes
/// it (and loads the file again), so its rows are never read twice. Here
/// the stray is a copy of an owned object whose run left no run record, as
/// a killed run leaves none (one whose run finished stops the run instead:
/// `crash_safety.rs`, `a_manifest_restored_from_a_backup_deletes_nothing`).
#[test]
fn objects_no_manifest_entry_owns_are_removed() {
    let p = project();
    let owned = raw_objects(&p);
    let stray = p
        .warehouse()
        .join("raw/customers/load_date=2026-11-01/crm-0000.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::copy(p.warehouse().join(&owned[0]), &stray).unwrap();
    std::fs::remove_dir_all(p.warehouse().join("_runs")).unwrap();
    let out = ingest(&p, &[]);
    assert!(
        stderr(&out).contains("removing an object no manifest entry owns"),
        "{}",
        stderr(&out)
    );
    assert_eq!(raw_objects(&p), owned);
    let rows = p.query("raw/customers", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&rows)[1..], ["2"]);
}
