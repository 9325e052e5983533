//! A nightly you can leave alone (issue 26): sources that are missing,
//! stale or cut short hold back the reports built on them; a backfill
//! never moves `reports/` backwards; the bundled demo is dated by its
//! data; mapping mistakes are errors or warnings naming the fix.

use std::path::Path;

use crate::common::{Project, assert_exit, lines, snapshot, stderr, stdout};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The run date and run id a Parquet file carries in its metadata.
fn stamp(file: &Path) -> (String, String) {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
    let pairs = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
            .unwrap_or_else(|| panic!("{} has no {key}: {pairs:?}", file.display()))
    };
    (value("advocacy.run_date"), value("advocacy.run_id"))
}

fn record(p: &Project) -> serde_json::Value {
    let text = std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------
// Sources owe data.

/// Orders (required, stale after two days) feed `revenue`; customers feed
/// `people`. Neither reads the other.
fn two_source_project(orders_path: &str) -> Project {
    let p = Project::new();
    p.write(
        "config.yaml",
        &format!(
            r#"landing: landing
warehouse: warehouse
run: {{ pii_salt: s, pii_salt_public: true }}
sources:
  - name: shop
    entity: orders
    format: csv
    path: {orders_path}
    freshness: {{ warn_after: 1d, error_after: 2d }}
    columns: {{ order_id: id, customer_id: cid, ordered_at: at, amount: amount }}
  - name: crm
    entity: customers
    format: csv
    path: customers*.csv
    columns: {{ customer_id: id, signup_date: signup }}
"#
        ),
    );
    p.write(
        "queries/reports/revenue.sql",
        "SELECT customer_id, sum(amount) AS revenue FROM raw_orders \
         WHERE CAST(ordered_at AS DATE) <= $run_date GROUP BY customer_id ORDER BY customer_id",
    );
    p.write(
        "queries/reports/people.sql",
        "SELECT count(*) AS customers FROM raw_customers WHERE signup_date <= $run_date",
    );
    p.write(
        "queries/report.yml",
        "title: Two sources\ncharts:\n  - id: people\n    section: People\n    title: Customers\n    \
         kind: table\n    sql: SELECT * FROM people\n    reading: How many customers signed up.\n",
    );
    p.land(
        "customers-1.csv",
        "id,signup\nC1,2026-10-01\nC2,2026-10-20\n",
    );
    p
}

/// Takes the orders' freshness bounds out of [`two_source_project`].
fn without_freshness(p: &Project) {
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config.replace("    freshness: { warn_after: 1d, error_after: 2d }\n", ""),
    );
}

fn run_at(p: &Project, date: &str) -> std::process::Output {
    p.advocacy(&["run", "--config", "config.yaml", "--date", date])
}

#[test]
fn a_stale_required_source_holds_back_only_the_reports_built_on_it() {
    let p = two_source_project("orders*.csv");
    p.land(
        "orders-1.csv",
        "id,cid,at,amount\no1,C1,2026-10-30T09:00:00Z,10\no2,C2,2026-10-31T20:00:00Z,5\n",
    );
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    // 28 hours old at the end of Nov 1: past warn_after 1d, a warning only.
    assert!(
        stdout(&out).contains(
            "source shop is stale: its newest record, 2026-10-31 20:00, is 28 hours old at the \
             end of 2026-11-01, past freshness.warn_after 1d"
        ),
        "{}",
        stdout(&out)
    );
    let revenue_file = p.warehouse().join("reports/revenue/revenue.parquet");
    let revenue_before = std::fs::read(&revenue_file).unwrap();

    // Four days later, no new orders; a new customer file arrives. The
    // newest order (Oct 31 20:00) is 4 days 4 hours old at the end of
    // Nov 4: past error_after 2d.
    p.land("customers-2.csv", "id,signup\nC3,2026-11-03\n");
    let out = run_at(&p, "2026-11-04");
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains(
            "source shop is stale: its newest record, 2026-10-31 20:00, is 4 days old at the \
             end of 2026-11-04, past freshness.error_after 2d"
        ),
        "{text}"
    );
    // The source table: 2 rows, newest record, age 100 h, bounds 24h/48h.
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "shop",
                    "2",
                    "2026-10-31",
                    "20:00",
                    "100",
                    "24h",
                    "48h",
                    "ERROR"
                ]),
        "{text}"
    );
    // revenue keeps its earlier version byte for byte; people advances.
    assert_eq!(std::fs::read(&revenue_file).unwrap(), revenue_before);
    let people = p.warehouse().join("reports/people/people.parquet");
    assert_eq!(stamp(&people).0, "2026-11-04");
    assert_eq!(
        lines(&p.query("reports/people", "SELECT * FROM t"))[1..],
        ["3"]
    );
    assert!(!p.warehouse().join("reports/_SUCCESS").exists());
    // The page says why, and which report is not this run's.
    let page = std::fs::read_to_string(p.warehouse().join("reports/index.html")).unwrap();
    assert!(page.contains("source shop is stale"), "{page}");
    let first_run = stamp(&revenue_file).1;
    assert!(
        page.contains(&format!(
            "Kept from run date 2026-11-01 (run {first_run}), as this run did not publish them: \
             revenue</li>"
        )),
        "{page}"
    );
    let record = record(&p);
    assert_eq!(record["exit_code"], 3);
    let shop = &record["sources"][0];
    assert_eq!(shop["source"], "shop");
    assert_eq!(shop["status"], "error");
    assert_eq!(shop["newest"], "2026-10-31T20:00:00");
    assert_eq!(shop["age_hours"], 100.0);
    assert!(
        record["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["model"] == "source:shop" && t["test"] == "freshness"),
        "{record:#}"
    );
}

#[test]
fn a_required_source_with_no_file_fails_its_reports_and_names_the_glob() {
    // The orders glob is misspelled: nothing matches, nothing was loaded.
    let p = two_source_project("ordrs*.csv");
    p.land(
        "orders-1.csv",
        "id,cid,at,amount\no1,C1,2026-10-30T09:00:00Z,10\n",
    );
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains(
            "required source shop has no rows in the raw zone: no file matched \"ordrs*.csv\""
        ),
        "{text}"
    );
    assert!(!p.warehouse().join("reports/revenue").exists());
    assert!(p.warehouse().join("reports/people/people.parquet").exists());
    assert!(!p.warehouse().join("reports/_SUCCESS").exists());
}

#[test]
fn a_source_that_is_not_required_may_be_missing() {
    let p = two_source_project("ordrs*.csv");
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config.replace("    freshness:", "    required: false\n    freshness:"),
    );
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    assert!(
        p.warehouse()
            .join("reports/revenue/revenue.parquet")
            .exists()
    );
}

#[test]
fn a_new_file_under_half_the_usual_rows_is_a_warning() {
    let p = two_source_project("orders*.csv");
    let file = |day: u32, rows: usize| {
        let mut text = String::from("id,cid,at,amount\n");
        for i in 0..rows {
            text.push_str(&format!("o{day}-{i},C1,2026-10-{day:02}T10:00:00Z,1\n"));
        }
        text
    };
    // Three nights of 10 orders each: the median of the earlier files is 10.
    for day in 1..=3 {
        p.land(&format!("orders-{day}.csv"), file(day, 10));
        assert_exit(&run_at(&p, &format!("2026-10-{day:02}")), 0);
    }
    // Fourth night: 4 rows, fewer than half of 10.
    p.land("orders-4.csv", file(4, 4));
    let out = run_at(&p, "2026-10-04");
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(
            "source shop: orders-4.csv has 4 rows, fewer than half the median (10) of the \
             source's last 3 files; was the export cut short?"
        ),
        "{text}"
    );
    // Five rows the next night is half the median: nothing said.
    p.land("orders-5.csv", file(5, 5));
    let out = run_at(&p, "2026-10-05");
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("cut short"), "{}", stdout(&out));
}

// ---------------------------------------------------------------------
// Backfills never move reports/ backwards.

#[test]
fn a_backfill_writes_history_only_and_leaves_reports_byte_for_byte() {
    let p = two_source_project("orders*.csv");
    p.land(
        "orders-1.csv",
        "id,cid,at,amount\no1,C1,2026-06-30T09:00:00Z,10\no2,C2,2026-10-31T20:00:00Z,5\n",
    );
    // Freshness is not what this test is about.
    without_freshness(&p);
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    let revenue = p.warehouse().join("reports/revenue/revenue.parquet");
    let (date, latest_id) = stamp(&revenue);
    assert_eq!(date, "2026-11-01");
    assert_eq!(latest_id, record(&p)["run_id"].as_str().unwrap());
    let success: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("reports/_SUCCESS")).unwrap(),
    )
    .unwrap();
    assert_eq!(success["run_date"], "2026-11-01");
    assert_eq!(success["run_id"], latest_id.as_str());
    let before = snapshot(&p.warehouse().join("reports"));

    let out = run_at(&p, "2026-07-01");
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "backfill: run date 2026-07-01 is before the newest published run date 2026-11-01"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(snapshot(&p.warehouse().join("reports")), before);
    let dated = p
        .warehouse()
        .join("history/revenue/run_date=2026-07-01/revenue.parquet");
    assert_eq!(stamp(&dated).0, "2026-07-01");
    // As of July 1 only C1's first order had happened.
    assert_eq!(
        lines(&p.query("history/revenue/run_date=2026-07-01", "SELECT * FROM t"))[1..],
        ["C1 | 10.0"]
    );
    assert_eq!(record(&p)["publication"]["target"], "history_only");

    // Re-running the newest date replaces reports/ again.
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    let (date, id) = stamp(&revenue);
    assert_eq!(date, "2026-11-01");
    assert_ne!(id, latest_id);
    assert_eq!(
        lines(&p.query("reports/revenue", "SELECT * FROM t"))[1..],
        ["C1 | 10.0", "C2 | 5.0"]
    );
}

// ---------------------------------------------------------------------
// Mapping mistakes.

fn social_project(columns: &str) -> Project {
    let p = Project::new();
    p.config(&format!(
        r#"  - name: x
    entity: social_activity
    format: jsonl
    path: x.jsonl
    columns: {{ event_id: id, platform: {{ value: x }}, handle: author.username, event_type: {{ value: mention }}, occurred_at: created_at, {columns} }}
"#
    ));
    p.write(
        "queries/reports/posts.sql",
        "SELECT event_id, likes FROM raw_social_activity ORDER BY event_id",
    );
    p.land(
        "x.jsonl",
        "{\"id\":\"1\",\"author\":{\"username\":\"ann\"},\"created_at\":\"2026-10-01T10:00:00Z\",\"likeCount\":3}\n\
         {\"id\":\"2\",\"author\":{\"username\":\"bob\"},\"created_at\":\"2026-10-02T10:00:00Z\",\"likeCount\":null}\n",
    );
    p
}

#[test]
fn a_misspelled_json_path_warns_for_an_optional_field_and_fails_a_required_one() {
    let p = social_project("likes: likeCounts");
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(
            "JSON path \"likeCounts\" (columns.likes) occurs in no line of the file; did you \
             mean \"likeCount\"?; the field is empty in every row"
        ),
        "{text}"
    );
    // A null value still means the path is there: spelled right, no warning.
    let p = social_project("likes: likeCount");
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("occurs in no"), "{}", stdout(&out));
    assert_eq!(
        lines(&p.query("reports/posts", "SELECT * FROM t"))[1..],
        ["1 | 3", "2 |"]
    );

    // The event id is required: the misspelled path fails the source.
    let p = social_project("likes: likeCount");
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config
            .replace("created_at: created_at", "created_at: createdAt")
            .replace("occurred_at: created_at", "occurred_at: created_at_utc"),
    );
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "JSON path \"created_at_utc\" (columns.occurred_at) occurs in no line of the file; \
             did you mean \"created_at\"?"
        ),
        "{text}"
    );
}

#[test]
fn coalesce_works_in_a_column_and_a_filter() {
    let p = Project::new();
    p.config(
        r#"  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    filter: "COALESCE(NULLIF(\"status\", ''), 'paid') <> 'void'"
    columns:
      order_id: id
      customer_id: { sql: "COALESCE(NULLIF(\"cid\", ''), \"email\")" }
      ordered_at: at
      amount: { sql: "COALESCE(NULLIF(\"total\", ''), '0')" }
"#,
    );
    p.write(
        "queries/reports/orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders ORDER BY order_id",
    );
    p.land(
        "orders.csv",
        "id,cid,email,at,total,status\n\
         o1,C1,,2026-10-01,10,paid\n\
         o2,,c2,2026-10-02,,\n\
         o3,C3,,2026-10-03,7,void\n",
    );
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    // CSV cells are text, an empty one '' (not NULL): NULLIF makes it NULL.
    // o3 is filtered out; o2 takes the e-mail column and a zero amount.
    assert_eq!(
        lines(&p.query("reports/orders", "SELECT * FROM t"))[1..],
        ["o1 | C1 | 10.0", "o2 | c2 | 0.0"]
    );
    let record = record(&p);
    assert_eq!(record["ingest"]["sources"][0]["rows_skipped"], 1);
    assert_eq!(record["ingest"]["sources"][0]["rows_quarantined"], 0);
}

#[test]
fn a_utc_column_is_read_in_utc_with_a_column_timezone_and_warned_about_without() {
    let orders = "id,cid,Created date (UTC),amount\no1,C1,2026-10-31 22:30:00,10\n";
    let config = |column: &str| {
        format!(
            r#"landing: landing
warehouse: warehouse
run: {{ pii_salt: s, pii_salt_public: true, timezone: Europe/Istanbul }}
sources:
  - name: stripe
    entity: orders
    format: csv
    path: orders.csv
    columns: {{ order_id: id, customer_id: cid, amount: amount, ordered_at: {column} }}
"#
        )
    };
    let p = Project::new();
    p.write(
        "queries/reports/orders.sql",
        "SELECT order_id, CAST(ordered_at AS VARCHAR) AS at, \
         CAST(local_time(ordered_at, $timezone) AS DATE) AS day FROM raw_orders",
    );
    p.land("orders.csv", orders);

    // Read in Istanbul (UTC+3): three hours early, and a warning says so.
    p.write("config.yaml", &config("\"Created date (UTC)\""));
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert!(
        stdout(&out).contains("whose name says it is in UTC")
            || stderr(&out).contains("whose name says it is in UTC"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run_at(&p, "2026-11-02");
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "columns.ordered_at reads \"Created date (UTC)\", whose name says it is in UTC, \
             but values without an offset are read in run.timezone Europe/Istanbul; add \
             `timezone: UTC` to the column"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        lines(&p.query("reports/orders", "SELECT * FROM t"))[1..],
        ["o1 | 2026-10-31T19:30:00Z | 2026-10-31"]
    );

    // `timezone: UTC`: 22:30 UTC, which is 01:30 on Nov 1 in Istanbul.
    p.write(
        "config.yaml",
        &config("{ from: \"Created date (UTC)\", timezone: UTC }"),
    );
    let out = run_at(&p, "2026-11-02");
    assert_exit(&out, 0);
    assert!(
        !stdout(&out).contains("whose name says"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        lines(&p.query("reports/orders", "SELECT * FROM t"))[1..],
        ["o1 | 2026-10-31T22:30:00Z | 2026-11-01"]
    );

    // A value with an offset keeps it, whatever the column's zone (issue
    // 29, point 3): 22:30 at +05:00 is 17:30 UTC, 20:30 in Istanbul.
    p.land(
        "orders.csv",
        "id,cid,Created date (UTC),amount\no1,C1,2026-10-31 22:30:00+05:00,10\n",
    );
    let out = run_at(&p, "2026-11-02");
    assert_exit(&out, 0);
    assert_eq!(
        lines(&p.query("reports/orders", "SELECT * FROM t"))[1..],
        ["o1 | 2026-10-31T17:30:00Z | 2026-10-31"]
    );
}

/// twarc-style pages: each line a page of tweets under `data`, authors
/// under `includes.users`, found by `lookup`.
fn pages_project(records: &str, users: &str) -> Project {
    let p = Project::new();
    p.config(&format!(
        r#"  - name: x
    entity: social_activity
    format: jsonl
    path: x.jsonl
    records: {records}
    columns:
      event_id: id
      platform: {{ value: x }}
      event_type: {{ value: mention }}
      occurred_at: created_at
      handle: {{ from: author_id, lookup: {{ records: {users}, key: id, value: username }} }}
"#
    ));
    p.write(
        "queries/reports/posts.sql",
        "SELECT event_id, handle FROM raw_social_activity ORDER BY event_id",
    );
    p.land(
        "x.jsonl",
        "{\"data\":[{\"id\":\"1\",\"author_id\":\"a\",\"created_at\":\"2026-10-01T10:00:00Z\"}],\
         \"includes\":{\"users\":[{\"id\":\"a\",\"username\":\"ann\"}]}}\n",
    );
    p
}

#[test]
fn misspelled_records_and_lookup_pointers_are_named() {
    let p = pages_project("/data", "/includes/users");
    assert_exit(&run_at(&p, "2026-11-01"), 0);
    assert_eq!(
        lines(&p.query("reports/posts", "SELECT * FROM t"))[1..],
        ["1 | ann"]
    );
    // The lookup's array is misspelled: the handle (optional: an export
    // may name no author) has no value in any record, which a warning
    // names with the pointer; the posts load without authors.
    let p = pages_project("/data", "/includes/user");
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "lookup records \"/includes/user\" occurs in no document of the file (columns.handle)"
        ),
        "{}",
        stdout(&out)
    );
    // The records pointer is misspelled: every line is skipped, which a
    // warning names with the closest array (and the required source has
    // no rows: exit 3).
    let p = pages_project("/dat", "/includes/users");
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains(
            "records \"/dat\" occurs in no line of the file, so every line was skipped; did you \
             mean \"/data\"?"
        ),
        "{}",
        stdout(&out)
    );
}

/// A mistyped future `--date` does not keep later nightlies out of
/// `reports/`: a published run date after today does not count.
#[test]
fn a_run_dated_in_the_future_does_not_freeze_reports() {
    let p = two_source_project("orders*.csv");
    without_freshness(&p);
    p.land(
        "orders-1.csv",
        "id,cid,at,amount\no1,C1,2026-06-30T09:00:00Z,10\no2,C2,2026-10-31T20:00:00Z,5\n",
    );
    assert_exit(&run_at(&p, "2099-01-01"), 0);
    let out = run_at(&p, "2026-11-01");
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("backfill:"), "{}", stdout(&out));
    let revenue = p.warehouse().join("reports/revenue/revenue.parquet");
    assert_eq!(stamp(&revenue).0, "2026-11-01");
}
