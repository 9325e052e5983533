//! The SQL pipeline: validation with file:line:col, cycles, refused
//! statements, parameters, failures and skips, data tests, selection,
//! safe publishing, dag and query.

use crate::common;

use crate::common::shop::SOURCE;
use crate::common::{Project, assert_exit, lines, stderr, stdout};

const ORDERS: &str =
    "id,cid,at,amount\no1,C1,2025-01-01,10\no2,C1,2025-01-02,250\no3,C2,2025-01-03,40\n";

fn project() -> Project {
    let p = Project::new();
    p.write(
        "config.yaml",
        &format!(
            "landing: landing\nwarehouse: warehouse\nrun: {{ pii_salt: s, pii_salt_public: true }}\nvars: {{ big_order: 100 }}\nsources:\n{SOURCE}"
        ),
    );
    p.land("orders.csv", ORDERS);
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders",
    );
    p.write(
        "queries/reports/revenue.sql",
        "SELECT customer_id, sum(amount) AS revenue, count(*) AS orders\nFROM stg_orders\nGROUP BY customer_id\nORDER BY customer_id",
    );
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount FROM stg_orders WHERE amount >= $big_order",
    );
    p
}

fn run(p: &Project, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--config", "config.yaml"];
    if !extra.contains(&"--date") {
        args.extend_from_slice(&["--date", "2026-11-01"]);
    }
    args.extend_from_slice(extra);
    p.advocacy(&args)
}

fn model_status(out: &std::process::Output, model: &str) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(model))
        .unwrap_or_else(|| panic!("{model} not in summary:\n{text}"));
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn a_run_builds_models_in_order_and_publishes_reports() {
    let p = project();
    let out = run(&p, &[]);
    assert_exit(&out, 0);
    let revenue = p.query("reports/revenue", "SELECT * FROM t");
    assert_eq!(lines(&revenue)[1..], ["C1 | 260.0 | 2", "C2 | 40.0 | 1"]);
    // No ORDER BY in the model: rows are sorted by every column.
    let big = p.query("reports/big_orders", "SELECT * FROM t");
    assert_eq!(lines(&big)[1..], ["o2 | 250.0"]);
    assert!(
        p.warehouse()
            .join("history/revenue/run_date=2026-11-01/revenue.parquet")
            .exists()
    );
    let marker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("reports/_SUCCESS")).unwrap(),
    )
    .unwrap();
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["run_id"], record["run_id"]);
    assert_eq!(marker["run_date"], "2026-11-01");
    assert_eq!(record["models"][0]["model"], "stg_orders");
    assert_eq!(record["models"][1]["rows"], 1);
    assert_eq!(record["ingest"]["sources"][0]["rows_loaded"], 3);
    assert_eq!(record["exit_code"], 0);
    assert!(record["config_hash"].as_str().unwrap().len() == 64);
    // The staging model is materialised, not published.
    assert!(!p.warehouse().join("reports/stg_orders").exists());
    assert!(
        p.warehouse()
            .join("_state/models/stg_orders.parquet")
            .exists()
    );
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let p = project();
    p.write(
        "queries/reports/typo_table.sql",
        "SELECT customer_id\nFROM stg_order",
    );
    p.write(
        "queries/reports/typo_column.sql",
        "SELECT customer_id,\n       amout\nFROM stg_orders",
    );
    p.write(
        "queries/reports/syntax.sql",
        "SELECT customer_id\nFROM stg_orders\nWHERE amount >",
    );
    p.write(
        "queries/reports/types.sql",
        "SELECT customer_id FROM stg_orders WHERE amount = 'a' + 1",
    );
    p.write(
        "queries/reports/no_param.sql",
        "SELECT * FROM stg_orders WHERE amount > $undefined_threshold",
    );
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("queries/reports/typo_table.sql:2:6: table 'stg_order' not found; did you mean stg_orders?\n    FROM stg_order\n         ^"),
        "{err}"
    );
    assert!(
        err.contains("queries/reports/typo_column.sql:2:8: column 'amout' not found (possible column stg_orders.amount)"),
        "{err}"
    );
    assert!(
        err.contains("queries/reports/syntax.sql:3:15: SQL error: ParserError(\"Expected: an expression, found: EOF\")"),
        "{err}"
    );
    assert!(
        err.contains("queries/reports/types.sql: expressions have incompatible types"),
        "{err}"
    );
    assert!(
        err.contains("queries/reports/no_param.sql: Error during planning: No value found for placeholder with name $undefined_threshold"),
        "{err}"
    );
    assert!(err.contains("5 error(s)"), "{err}");
}

#[test]
fn the_bundled_project_validates() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let out = common::advocacy_in(
        std::path::Path::new(repo),
        &["validate", "--config", "config/advocacy.yaml"],
        &[],
    );
    assert_exit(&out, 0);
    let charts = advocacy::page::PageFile::load(&std::path::Path::new(repo).join("queries"))
        .unwrap()
        .unwrap()
        .spec
        .charts
        .len();
    assert!(
        stdout(&out).starts_with("ok: config, ")
            && stdout(&out).contains(&format!(" model(s) and {charts} chart(s) are valid")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_cycle_is_an_error_listing_it() {
    let p = project();
    p.write("queries/staging/a.sql", "SELECT * FROM b");
    p.write(
        "queries/staging/b.sql",
        "WITH x AS (SELECT * FROM a) SELECT * FROM x",
    );
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("models form a cycle: a -> b -> a (each reads the next)"),
        "{}",
        stderr(&out)
    );
    // The same project cannot run either.
    assert_exit(&run(&p, &[]), 2);
}

#[test]
fn statements_other_than_queries_are_refused() {
    for (name, sql, expect) in [
        (
            "ddl",
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE is refused",
        ),
        (
            "ext",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE is refused",
        ),
        (
            "copy",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "COPY is refused",
        ),
        (
            "set",
            "SET datafusion.execution.batch_size = 1",
            "is refused",
        ),
        (
            "dml",
            "INSERT INTO stg_orders VALUES ('x', 'y', 1)",
            "INSERT INTO is refused",
        ),
        ("two", "SELECT 1; SELECT 2", "holds 2 statements"),
    ] {
        let p = project();
        p.write(&format!("queries/staging/{name}.sql"), sql);
        let out = p.advocacy(&["validate", "--config", "config.yaml"]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
    }
    // Files outside the warehouse are not tables.
    let p = project();
    p.write("queries/staging/outside.sql", "SELECT * FROM '/etc/passwd'");
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("table '/etc/passwd' not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_model_skips_its_descendants_and_keeps_the_previous_report() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    let before = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    // Plans fine, fails while running.
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, CAST(CAST(amount AS VARCHAR) || 'x' AS DOUBLE) AS amount FROM raw_orders",
    );
    p.write(
        "queries/reports/independent.sql",
        "SELECT count(*) AS n FROM raw_orders",
    );
    let out = run(&p, &["--date", "2026-11-02"]);
    assert_exit(&out, 1);
    assert_eq!(model_status(&out, "stg_orders"), "FAILED");
    assert_eq!(model_status(&out, "revenue"), "skipped");
    assert_eq!(model_status(&out, "big_orders"), "skipped");
    assert_eq!(model_status(&out, "independent"), "ok");
    assert!(
        stdout(&out).contains("queries/staging/stg_orders.sql"),
        "{}",
        stdout(&out)
    );
    let after = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    assert_eq!(before, after);
    assert!(
        p.warehouse()
            .join("reports/independent/independent.parquet")
            .exists()
    );
    // `independent` is this run's and revenue the last run's: the reports
    // are no complete set of one run, so the earlier marker is gone.
    assert!(
        !p.warehouse().join("reports/_SUCCESS").exists(),
        "_SUCCESS kept after a failed run published a report"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap(),
    )
    .unwrap();
    let failed = record["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "stg_orders")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("queries/staging/stg_orders.sql"),
        "{failed}"
    );
}

const PASSING_TESTS: &str = r#"models:
  - name: revenue
    description: Revenue per customer
    tags: [finance]
    tests:
      - row_count: { min: 1, max: 10 }
      - expression: "revenue >= 0"
    columns:
      - name: customer_id
        description: the customer
        tests: [not_null, unique, { relationships: { to: stg_orders, field: customer_id } }]
      - name: orders
        tests:
          - accepted_values: { values: [1, 2] }
  - name: big_orders
    columns:
      - name: order_id
        tests: [not_null]
"#;

#[test]
fn every_data_test_kind_passes_on_good_data() {
    let p = project();
    p.write("queries/models.yml", PASSING_TESTS);
    let out = run(&p, &[]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("data tests: 7 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
    let tested = p.advocacy(&["test", "--config", "config.yaml"]);
    assert_exit(&tested, 0);
    assert_eq!(stdout(&tested).trim(), "7 passed, 0 failed");
}

#[test]
fn every_data_test_kind_fails_on_bad_data_and_blocks_publishing() {
    let p = project();
    p.write("queries/models.yml", PASSING_TESTS);
    assert_exit(&run(&p, &[]), 0);
    let before = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    // Bad revenue: a null key, a duplicate key, a key with no orders, a
    // negative amount, 3 orders, and 5 rows.
    p.write(
        "queries/reports/revenue.sql",
        "SELECT * FROM (VALUES ('C1', 10.0, 1), ('C1', 5.0, 1), (NULL, 1.0, 2), ('C9', -4.0, 3), ('C2', 1.0, 1)) \
         AS t(customer_id, revenue, orders)",
    );
    p.write(
        "queries/models.yml",
        &PASSING_TESTS.replace("max: 10", "max: 4").replace(
            "tests: [not_null]",
            "tests: [{ not_null: { severity: warn } }, { unique: { severity: warn } }]",
        ),
    );
    let out = run(&p, &["--date", "2026-11-02"]);
    assert_exit(&out, 3);
    let text = stdout(&out);
    for expected in [
        "FAIL [error] row_count on revenue: 1 failing row(s)\n      expected 1 to 4 rows, found 5",
        "FAIL [error] expression on revenue: 1 failing row(s)\n      customer_id=C9, revenue=-4.0, orders=3",
        "FAIL [error] not_null on revenue.customer_id: 1 failing row(s)",
        "FAIL [error] unique on revenue.customer_id: 1 failing row(s)\n      customer_id=C1, occurrences=2",
        "FAIL [error] relationships on revenue.customer_id: 1 failing row(s)\n      customer_id=C9",
        "FAIL [error] accepted_values on revenue.orders: 1 failing row(s)\n      customer_id=C9, revenue=-4.0, orders=3",
        "data tests: 2 passed, 6 failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // revenue failed its tests: the previous version stays; big_orders is published.
    let after = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    assert_eq!(before, after);
    assert!(
        p.warehouse()
            .join("history/big_orders/run_date=2026-11-02/big_orders.parquet")
            .exists()
    );
    assert!(
        !p.warehouse()
            .join("history/revenue/run_date=2026-11-02")
            .exists()
    );
    // `advocacy test` sees the same failures on the materialised models.
    let tested = p.advocacy(&["test", "--config", "config.yaml"]);
    assert_exit(&tested, 3);
    assert!(
        stdout(&tested).contains("2 passed, 6 failed"),
        "{}",
        stdout(&tested)
    );
    // `--select` tests some models only: big_orders' two pass, and the
    // finance tag's six are revenue's.
    let tested = p.advocacy(&["test", "--config", "config.yaml", "--select", "big_orders"]);
    assert_exit(&tested, 0);
    assert_eq!(stdout(&tested).trim(), "2 passed, 0 failed");
    let tested = p.advocacy(&["test", "--config", "config.yaml", "-s", "tag:finance"]);
    assert_exit(&tested, 3);
    assert!(
        stdout(&tested).ends_with("0 passed, 6 failed\n"),
        "{}",
        stdout(&tested)
    );
}

#[test]
fn a_documented_column_that_does_not_exist_is_a_warning() {
    let p = project();
    p.write("queries/models.yml", "models:\n  - name: revenue\n    columns:\n      - name: margin\n        description: not there\n");
    let out = run(&p, &[]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "warning: models.yml: revenue.margin is documented but the model has no such column"
        ),
        "{}",
        stdout(&out)
    );
}

fn models_run(out: &std::process::Output) -> Vec<String> {
    let record = stdout(out);
    let mut names: Vec<String> = ["stg_orders", "revenue", "big_orders"]
        .iter()
        .filter(|m| {
            record
                .lines()
                .any(|l| l.split_whitespace().next() == Some(**m))
        })
        .map(|m| m.to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn selection_forms() {
    let p = project();
    p.write(
        "queries/models.yml",
        "models:\n  - name: big_orders\n    tags: [daily]\n",
    );
    // Selecting a model whose upstream was never built is an error for it.
    let out = run(&p, &["--select", "revenue"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("upstream model stg_orders is not selected and has never been built")
    );

    assert_eq!(
        models_run(&run(&p, &["--select", "+revenue"])),
        ["revenue", "stg_orders"]
    );
    // Now stg_orders is materialised: selecting revenue alone reads it.
    let out = run(&p, &["--select", "revenue"]);
    assert_exit(&out, 0);
    assert_eq!(models_run(&out), ["revenue"]);
    assert_eq!(
        models_run(&run(&p, &["--select", "stg_orders+"])),
        ["big_orders", "revenue", "stg_orders"]
    );
    assert_eq!(
        models_run(&run(&p, &["--select", "tag:daily"])),
        ["big_orders"]
    );
    assert_eq!(
        models_run(&run(&p, &["--select", "tag:daily", "revenue"])),
        ["big_orders", "revenue"]
    );
    let bad = run(&p, &["--select", "revnue"]);
    assert_exit(&bad, 2);
    assert!(
        stderr(&bad).contains("no model named revnue; did you mean revenue?"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_failed_publish_leaves_every_published_object_whole() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    // The second report cannot be written: its folder is a file.
    std::fs::remove_dir_all(p.warehouse().join("reports/revenue")).unwrap();
    std::fs::write(p.warehouse().join("reports/revenue"), "in the way").unwrap();
    p.land("orders.csv", format!("{ORDERS}o4,C3,2025-01-04,500\n"));
    let out = run(&p, &["--date", "2026-11-02"]);
    assert_exit(&out, 1);
    assert_eq!(model_status(&out, "revenue"), "FAILED");
    assert!(
        stdout(&out).contains("cannot publish reports/revenue/revenue.parquet"),
        "{}",
        stdout(&out)
    );
    // big_orders was published whole with the new data and reads back.
    let big = p.query("reports/big_orders", "SELECT * FROM t");
    assert_eq!(lines(&big)[1..], ["o2 | 250.0", "o4 | 500.0"]);
    // Every Parquet object in the warehouse is readable.
    for file in p.parquet_files() {
        common::query_batches(&file, "SELECT count(*) FROM t");
    }
}

/// The same rows in the same order; the file differs only in the run id
/// it carries (its key-value metadata names the run that made it).
#[test]
fn rerunning_a_date_gives_identical_reports() {
    let p = project();
    let file = p.warehouse().join("reports/big_orders/big_orders.parquet");
    let read = || {
        let builder =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&file).unwrap(),
            )
            .unwrap();
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned();
        let batches: Vec<_> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        (batches, metadata.unwrap())
    };
    assert_exit(&run(&p, &[]), 0);
    let (first, first_stamp) = read();
    // Computed again (an unchanged model would be reused, stamp and all).
    assert_exit(&run(&p, &["--select", "+big_orders", "--full-refresh"]), 0);
    let (second, second_stamp) = read();
    assert_eq!(first, second);
    let value = |pairs: &[datafusion::parquet::file::metadata::KeyValue], key: &str| {
        pairs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
    };
    assert_eq!(
        value(&first_stamp, "advocacy.run_date"),
        Some("2026-11-01".to_string())
    );
    assert_eq!(
        value(&first_stamp, "advocacy.run_date"),
        value(&second_stamp, "advocacy.run_date")
    );
    assert_ne!(
        value(&first_stamp, "advocacy.run_id"),
        value(&second_stamp, "advocacy.run_id")
    );
}

#[test]
fn dag_in_three_formats() {
    let p = project();
    let text = stdout(&p.advocacy(&["dag", "--config", "config.yaml"]));
    assert!(
        text.starts_with("  1. stg_orders (model) <- raw_orders\n"),
        "{text}"
    );
    assert!(text.contains("big_orders (report) <- stg_orders"), "{text}");
    let dot = stdout(&p.advocacy(&["dag", "--config", "config.yaml", "--format", "dot"]));
    assert!(
        dot.starts_with("digraph advocacy {") && dot.contains("\"stg_orders\" -> \"revenue\";"),
        "{dot}"
    );
    let mermaid = stdout(&p.advocacy(&["dag", "--config", "config.yaml", "--format", "mermaid"]));
    assert!(
        mermaid.starts_with("flowchart LR\n") && mermaid.contains("  stg_orders --> revenue\n"),
        "{mermaid}"
    );
}

#[test]
fn query_prints_table_csv_and_json() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    let sql = "SELECT customer_id, revenue FROM revenue ORDER BY customer_id";
    let table = p.advocacy(&["query", sql, "--config", "config.yaml"]);
    assert_exit(&table, 0);
    assert_eq!(lines(&stdout(&table))[1..], ["C1 | 260.0", "C2 | 40.0"]);
    let csv = p.advocacy(&["query", sql, "--config", "config.yaml", "--format", "csv"]);
    assert_eq!(stdout(&csv), "customer_id,revenue\nC1,260.0\nC2,40.0\n");
    let json = p.advocacy(&["query", sql, "--config", "config.yaml", "--format", "json"]);
    assert_eq!(
        stdout(&json).trim(),
        r#"[{"customer_id":"C1","revenue":260.0},{"customer_id":"C2","revenue":40.0}]"#
    );
    let raw = p.advocacy(&[
        "query",
        "SELECT count(*) AS n FROM raw_orders",
        "--config",
        "config.yaml",
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&raw), "n\n3\n");
    let refused = p.advocacy(&["query", "DROP TABLE revenue", "--config", "config.yaml"]);
    assert_exit(&refused, 2);
}

#[test]
fn a_failed_source_publishes_what_loaded_but_marks_no_success() {
    let p = project();
    let broken = "  - name: broken\n    entity: customers\n    format: csv\n    path: customers.csv\n    \
                  columns: { customer_id: Id, signup_date: Created }\n";
    p.write(
        "config.yaml",
        &format!(
            "landing: landing\nwarehouse: warehouse\nrun: {{ pii_salt: s, pii_salt_public: true }}\nvars: {{ big_order: 100 }}\nsources:\n{SOURCE}{broken}"
        ),
    );
    p.land("customers.csv", "id,created\nC1,2025-01-01\n");
    let out = run(&p, &[]);
    assert_exit(&out, 1);
    assert!(
        p.warehouse()
            .join("reports/revenue/revenue.parquet")
            .exists()
    );
    assert!(!p.warehouse().join("reports/_SUCCESS").exists());
}

#[test]
fn a_failed_upstream_test_blocks_the_reports_built_on_it() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    let before = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    p.write(
        "queries/models.yml",
        "models:\n  - name: stg_orders\n    tests:\n      - row_count: { max: 2 }\n",
    );
    p.land("orders.csv", format!("{ORDERS}o4,C3,2025-01-04,500\n"));
    let out = run(&p, &["--date", "2026-11-02"]);
    assert_exit(&out, 3);
    // stg_orders has 4 rows: revenue and big_orders read it, so neither publishes.
    let after = std::fs::read(p.warehouse().join("reports/revenue/revenue.parquet")).unwrap();
    assert_eq!(before, after);
    assert!(
        !p.warehouse()
            .join("history/big_orders/run_date=2026-11-02")
            .exists()
    );
}

/// `_SUCCESS` means every report is this run's: a `--select` build that
/// publishes one of the two reports removes the marker of the full run
/// before it and writes none; the next full run writes it again.
#[test]
fn a_partial_select_build_does_not_mark_the_reports_successful() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    let marker = p.warehouse().join("reports/_SUCCESS");
    assert!(marker.exists());
    let out = p.build("2026-11-01", &["+revenue"]);
    assert_exit(&out, 0);
    assert_eq!(model_status(&out, "revenue"), "reused");
    assert!(!marker.exists(), "_SUCCESS left after a partial build");
    assert_exit(&run(&p, &[]), 0);
    assert!(marker.exists());
}

/// `advocacy query` is as closed as the models: no file path as a table,
/// no table function that reads files, no COPY out of the warehouse.
#[test]
fn ad_hoc_queries_cannot_reach_files_outside_the_warehouse() {
    let p = project();
    assert_exit(&run(&p, &[]), 0);
    for (sql, expect) in [
        (
            "SELECT * FROM '/etc/passwd'",
            "table '/etc/passwd' not found",
        ),
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            "table function 'read_csv' not found",
        ),
        ("COPY (SELECT 1) TO '/tmp/advocacy-escape.csv'", "COPY"),
        // URLs are table names like any other: never fetched.
        (
            "SELECT * FROM 'https://example.com/data.csv'",
            "table 'https://example.com/data.csv' not found",
        ),
        (
            "SELECT * FROM 's3://another-bucket/reports/x.parquet'",
            "table 's3://another-bucket/reports/x.parquet' not found",
        ),
    ] {
        let out = p.advocacy(&["query", "--config", "config.yaml", sql]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expect), "{sql}: {}", stderr(&out));
    }
    assert!(!std::path::Path::new("/tmp/advocacy-escape.csv").exists());
}

/// `joins: sort_merge` plans a model's joins as sort-merge joins (which
/// spill) and gives the rows hash joins give.
#[test]
fn a_model_planned_with_sort_merge_joins_gives_the_same_rows() {
    let p = project();
    p.write(
        "queries/reports/paired.sql",
        "SELECT a.order_id, b.amount FROM stg_orders AS a JOIN stg_orders AS b \
         ON a.order_id = b.order_id ORDER BY a.order_id",
    );
    assert_exit(&run(&p, &[]), 0);
    let hash = p.query("reports/paired", "SELECT * FROM t ORDER BY order_id");
    let models = std::fs::read_to_string(p.path("queries/models.yml")).unwrap_or_default();
    let models = if models.contains("models:") {
        models.replacen(
            "models:\n",
            "models:\n  - name: paired\n    joins: sort_merge\n",
            1,
        )
    } else {
        format!("{models}\nmodels:\n  - name: paired\n    joins: sort_merge\n")
    };
    p.write("queries/models.yml", &models);
    assert_exit(&run(&p, &["--full-refresh"]), 0);
    let sort_merge = p.query("reports/paired", "SELECT * FROM t ORDER BY order_id");
    assert_eq!(sort_merge, hash);
    assert!(lines(&hash).len() > 2, "{hash}");
}
