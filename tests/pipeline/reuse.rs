//! Reuse (issue 32, point 1): a model whose SQL, parameters and inputs
//! (raw tables by their objects, models by their fingerprints) are those
//! of its last result is not computed again; its result is published
//! again byte for byte, and its data tests' results stand. Each kind of
//! change recomputes exactly what it touches; `--full-refresh` recomputes
//! everything, to the same rows.

use std::collections::BTreeMap;

use crate::common::{Project, assert_exit, snapshot, stdout};

/// The shop of `common::shop`, its orders landed as any `orders*.csv`,
/// and big_orders over a threshold `$big_min`.
fn project() -> Project {
    let p = Project::new();
    p.config(
        r#"  - name: shop
    entity: orders
    format: csv
    path: orders*.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
"#,
    );
    p.land(
        "orders.csv",
        "id,cid,at,amount\no1,C1,2026-10-01,10\no2,C1,2026-10-02,250\no3,C2,2026-10-03,40\n",
    );
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders",
    );
    p.write(
        "queries/reports/revenue.sql",
        "SELECT customer_id, sum(amount) AS revenue, count(*) AS orders
FROM stg_orders GROUP BY customer_id ORDER BY customer_id",
    );
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount FROM stg_orders WHERE amount >= $big_min",
    );
    p.write(
        "queries/report.yml",
        "title: Shop\ncharts:\n  - id: revenue\n    section: Revenue\n    title: Revenue\n    \
         kind: table\n    sql: SELECT * FROM revenue\n    reading: Revenue per customer.\n",
    );
    p.write(
        "queries/models.yml",
        "vars:\n  big_min: 100\n  unused: 1\nmodels:\n  - name: revenue\n    columns:\n      - name: customer_id\n        tests: [unique, not_null]\n  - name: big_orders\n    columns:\n      - name: order_id\n        tests: [unique]\n",
    );
    p
}

fn run(p: &Project, extra: &[&str]) {
    let mut args = vec!["run", "--date", "2026-11-01"];
    args.extend_from_slice(extra);
    let out = p.configured(&args);
    assert_exit(&out, 0);
}

/// The last run's models: name -> "reused" or "computed".
fn outcomes(p: &Project) -> BTreeMap<String, &'static str> {
    p.latest_record()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["status"], "success", "{m}");
            let outcome = match m["reused"].is_object() {
                true => "reused",
                false => "computed",
            };
            (m["model"].as_str().unwrap().to_string(), outcome)
        })
        .collect()
}

fn expect(p: &Project, computed: &[&str]) {
    let expected: BTreeMap<String, &str> = ["stg_orders", "revenue", "big_orders"]
        .iter()
        .map(|m| {
            let outcome = match computed.contains(m) {
                true => "computed",
                false => "reused",
            };
            (m.to_string(), outcome)
        })
        .collect();
    assert_eq!(outcomes(p), expected);
}

/// The published reports' Parquet bytes.
fn reports(p: &Project) -> BTreeMap<String, Vec<u8>> {
    snapshot(&p.warehouse().join("reports"))
        .into_iter()
        .filter(|(name, _)| name.ends_with(".parquet"))
        .collect()
}

fn rows(p: &Project, report: &str) -> Vec<String> {
    p.model_csv(&format!("SELECT * FROM {report} ORDER BY 1"))
}

#[test]
fn a_night_without_changes_reuses_every_model_and_publishes_the_same_bytes() {
    let p = project();
    run(&p, &[]);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);
    let before = reports(&p);
    let out = p.configured(&["run", "--date", "2026-11-01"]);
    assert_exit(&out, 0);
    expect(&p, &[]);
    assert_eq!(
        reports(&p),
        before,
        "a reused report is published byte for byte"
    );
    let summary = stdout(&out);
    assert!(
        summary.contains("data tests: 3 passed, 0 failed (3 reused: same test, same inputs)"),
        "{summary}"
    );
    assert!(
        summary.contains("revenue                      reused   yes"),
        "{summary}"
    );
    // Publishing a result onto itself leaves nothing behind (object_store's
    // local copy would leave its staging link, `revenue.parquet#1`).
    let names: Vec<String> = snapshot(&p.warehouse()).into_keys().collect();
    assert!(!names.iter().any(|n| n.contains('#')), "{names:?}");
    // The page says the reports are this run's.
    let page = std::fs::read_to_string(p.warehouse().join("reports/index.html")).unwrap();
    assert!(!page.contains("Kept from"), "{page}");
}

#[test]
fn each_change_recomputes_what_it_reads_and_nothing_else() {
    let p = project();
    run(&p, &[]);

    // A var no model reads changes nothing.
    p.replace_in("queries/models.yml", "unused: 1", "unused: 2");
    run(&p, &[]);
    expect(&p, &[]);

    // A var a model reads: that model.
    p.replace_in("queries/models.yml", "big_min: 100", "big_min: 30");
    run(&p, &[]);
    expect(&p, &["big_orders"]);
    assert_eq!(
        rows(&p, "big_orders"),
        ["order_id,amount", "o2,250.0", "o3,40.0"]
    );

    // Its SQL: that model.
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount FROM stg_orders WHERE amount > $big_min",
    );
    run(&p, &[]);
    expect(&p, &["big_orders"]);

    // A new file: the raw table, so everything reading it.
    p.land("orders-2.csv", "id,cid,at,amount\no4,C3,2026-10-04,7\n");
    run(&p, &[]);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);
    assert_eq!(
        rows(&p, "revenue"),
        [
            "customer_id,revenue,orders",
            "C1,260.0,2",
            "C2,40.0,1",
            "C3,7.0,1"
        ]
    );

    // A changed file: the same.
    p.land("orders-2.csv", "id,cid,at,amount\no4,C3,2026-10-04,70\n");
    run(&p, &[]);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);
    assert_eq!(
        rows(&p, "big_orders"),
        ["order_id,amount", "o2,250.0", "o3,40.0", "o4,70.0"]
    );

    // An upstream model's SQL: it and what reads it.
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders WHERE amount >= 10",
    );
    run(&p, &[]);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);

    // A report's run date matters only to a model that reads it.
    let out = p.configured(&["run", "--date", "2026-11-02"]);
    assert_exit(&out, 0);
    expect(&p, &[]);
}

#[test]
fn full_refresh_recomputes_everything_to_the_same_rows() {
    let p = project();
    run(&p, &[]);
    run(&p, &[]);
    expect(&p, &[]);
    let reused = (rows(&p, "revenue"), rows(&p, "big_orders"));
    let out = p.configured(&["run", "--date", "2026-11-01", "--full-refresh"]);
    assert_exit(&out, 0);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);
    assert!(
        stdout(&out).contains("data tests: 3 passed, 0 failed\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!((rows(&p, "revenue"), rows(&p, "big_orders")), reused);
    // `build` takes it too.
    let out = p.configured(&["build", "--date", "2026-11-01", "--full-refresh"]);
    assert_exit(&out, 0);
    expect(&p, &["stg_orders", "revenue", "big_orders"]);
}

/// A model that reads the clock computes something else every night.
#[test]
fn a_model_reading_the_clock_is_never_reused() {
    let p = project();
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount, now() AS seen_at FROM stg_orders WHERE amount >= $big_min",
    );
    run(&p, &[]);
    run(&p, &[]);
    expect(&p, &["big_orders"]);
}

/// A failed test's result stands as long as its inputs do: the same rows
/// fail it again without running it.
#[test]
fn a_failed_data_test_is_failed_again_on_the_same_rows() {
    let p = project();
    p.land("orders-2.csv", "id,cid,at,amount\no2,C1,2026-10-02,250\n");
    let first = p.configured(&["run", "--date", "2026-11-01"]);
    assert_exit(&first, 3);
    let again = p.configured(&["run", "--date", "2026-11-01"]);
    assert_exit(&again, 3);
    assert!(
        stdout(&again)
            .contains("data tests: 2 passed, 1 failed (3 reused: same test, same inputs)"),
        "{}",
        stdout(&again)
    );
    assert!(
        stdout(&again).contains("FAIL [error] unique on big_orders.order_id: 1 failing row(s)"),
        "{}",
        stdout(&again)
    );
}

/// A dev build computes what it selected, and reads production's result
/// of a model it did not select while that was computed from the same
/// inputs; it does not test that result again (production did).
#[test]
fn a_dev_build_reuses_the_production_results_it_reads() {
    let p = project();
    run(&p, &[]);
    let out = p.configured(&["build", "--dev", "alice", "--select", "big_orders"]);
    assert_exit(&out, 0);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("_dev/alice/run.json")).unwrap(),
    )
    .unwrap();
    let models: Vec<String> = record["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["model"].as_str().unwrap(), m["reused"]["object"]))
        .collect();
    assert_eq!(
        models,
        [
            "stg_orders \"_state/models/stg_orders.parquet\"",
            "big_orders null"
        ]
    );
    let tested: Vec<&str> = record["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["model"].as_str().unwrap())
        .collect();
    assert_eq!(tested, ["big_orders"]);
    let written: Vec<String> = snapshot(&p.warehouse().join("_dev/alice/models"))
        .into_keys()
        .collect();
    assert_eq!(written, ["big_orders.parquet"]);
}
