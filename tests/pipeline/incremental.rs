//! Incremental models (issue 32, point 2): `incremental: { by, lookback }`
//! keeps a model day by day and a run computes only the days that changed.
//! Thirty nightly deliveries (a new day each, some with late rows for
//! earlier days and corrections of earlier orders) give, after every
//! night, the same rows in every model and report as a full rebuild of the
//! same data; so do they with the staging model merged by key
//! (`merge: by_key`, computed on the new loads alone).

use std::collections::BTreeMap;

use crate::common::{Project, assert_exit, stdout};

const CONFIG: &str = r#"  - name: shop
    entity: orders
    format: csv
    path: orders*.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
"#;

/// The latest load of an order wins. Only the orders with a load on the
/// days asked for are read, each with all its loads: a later load may
/// have moved it to another day (then it is no longer of these days).
/// When every day is asked for, every order is read without looking.
const STG_ORDERS: &str = "SELECT order_id, customer_id, amount, order_date
FROM (
    SELECT *, CAST(ordered_at AS DATE) AS order_date,
        LAG(order_id) OVER (ORDER BY order_id, _loaded_at DESC, _file DESC, _row DESC) AS previous
    FROM raw_orders
    WHERE $all_days OR order_id IN (
        SELECT order_id FROM raw_orders
        WHERE CAST(ordered_at AS DATE) BETWEEN $start_date AND $end_date
    )
)
WHERE previous IS DISTINCT FROM order_id";

/// The latest load of an order wins, over whatever loads it is given: a
/// merged model sees only the loads new since its last run.
const STG_ORDERS_MERGED: &str = "SELECT order_id, customer_id, amount, order_date
FROM (
    SELECT *, CAST(ordered_at AS DATE) AS order_date,
        LAG(order_id) OVER (ORDER BY order_id, _loaded_at DESC, _file DESC, _row DESC) AS previous
    FROM raw_orders
)
WHERE previous IS DISTINCT FROM order_id";

const DAILY: &str = "SELECT order_date, count(*) AS orders, sum(amount) AS revenue
FROM stg_orders
WHERE order_date BETWEEN $start_date AND $end_date
GROUP BY order_date";

/// Each day's revenue over it and the two days before: its rows read
/// two days back (lookback 2).
const ROLLING: &str = "SELECT d.order_date, sum(o.amount) AS revenue_3d
FROM (SELECT DISTINCT order_date FROM stg_orders
      WHERE order_date BETWEEN $start_date AND $end_date) AS d
JOIN stg_orders AS o
  ON o.order_date BETWEEN CAST(d.order_date - INTERVAL '2 days' AS DATE) AND d.order_date
GROUP BY d.order_date";

const MODELS_YML: &str = "models:
  - name: stg_orders
    incremental: { by: order_date }
    columns:
      - name: order_id
        tests: [unique, not_null]
  - name: int_daily
    incremental: { by: order_date }
  - name: int_rolling
    incremental: { by: order_date, lookback: 2 }
  - name: revenue
    columns:
      - name: customer_id
        tests: [unique]
";

fn project() -> Project {
    let p = Project::new();
    p.config(CONFIG);
    p.write("queries/staging/stg_orders.sql", STG_ORDERS);
    p.write("queries/intermediate/int_daily.sql", DAILY);
    p.write("queries/intermediate/int_rolling.sql", ROLLING);
    p.write(
        "queries/reports/revenue.sql",
        "SELECT customer_id, sum(amount) AS revenue, count(*) AS orders FROM stg_orders GROUP BY customer_id",
    );
    p.write(
        "queries/reports/daily.sql",
        "SELECT d.order_date, d.orders, d.revenue, r.revenue_3d
FROM int_daily AS d JOIN int_rolling AS r ON r.order_date = d.order_date",
    );
    p.write("queries/models.yml", MODELS_YML);
    p
}

/// [`project`] with stg_orders merged by key.
fn merged_project() -> Project {
    let p = project();
    p.write("queries/staging/stg_orders.sql", STG_ORDERS_MERGED);
    p.write(
        "queries/models.yml",
        &MODELS_YML.replace(
            "stg_orders\n    incremental: { by: order_date }",
            "stg_orders\n    incremental: { by: order_date, merge: by_key }",
        ),
    );
    p
}

/// Every model's rows, sorted, as text (read in this process: 31 nights
/// of five tables in two warehouses).
fn tables(p: &Project) -> BTreeMap<&'static str, String> {
    let mut tables: BTreeMap<&'static str, String> = ["stg_orders", "int_daily", "int_rolling"]
        .into_iter()
        .map(|m| (m, kept(p, m)))
        .collect();
    for report in ["revenue", "daily"] {
        let folder = format!("reports/{report}");
        tables.insert(report, p.query(&folder, "SELECT * FROM t ORDER BY 1, 2"));
    }
    tables
}

/// An incremental model's rows: the objects its state.json names.
fn kept(p: &Project, model: &str) -> String {
    let folder = p.warehouse().join(format!("_state/models/{model}"));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("state.json")).unwrap()).unwrap();
    let mut objects: Vec<String> = state["months"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    objects.push(state["schema_object"].as_str().unwrap().to_string());
    let paths: Vec<String> = objects
        .iter()
        .map(|o| p.warehouse().join(o).display().to_string())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let df = ctx.read_parquet(paths, Default::default()).await.unwrap();
        ctx.register_table("t", df.into_view()).unwrap();
        let batches = ctx
            .sql("SELECT * FROM t ORDER BY 1, 2")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    })
}

/// The last run's days computed per model (`all`, or the days).
fn days_computed(p: &Project) -> BTreeMap<String, String> {
    p.latest_record()["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["days_computed"].is_null())
        .map(|m| {
            let days = match &m["days_computed"] {
                serde_json::Value::String(s) => s.clone(),
                days => days
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            (m["model"].as_str().unwrap().to_string(), days)
        })
        .collect()
}

/// The orders of day `n` of October 2026: a few, by customers C1..C4.
fn orders_of(day: u32) -> String {
    (0..(day % 3 + 1))
        .map(|k| {
            format!(
                "o{day:02}{k},C{},2026-10-{day:02}T10:00:00Z,{}\n",
                (day + k) % 4 + 1,
                day * 10 + k
            )
        })
        .collect()
}

/// The orders of October 1 and 2 landed and run night by night; returns
/// the second night's days computed.
fn two_nights(p: &Project) -> BTreeMap<String, String> {
    for day in [1, 2] {
        p.land(
            &format!("orders-{day}.csv"),
            format!("id,cid,at,amount\n{}", orders_of(day)),
        );
        assert_exit(
            &p.configured(&["run", "--date", &format!("2026-10-{day:02}")]),
            0,
        );
    }
    days_computed(p)
}

/// The project twice over the same landed files: `nightly` runs night
/// after night as a scheduler would, `rebuilt` computes every day on
/// every night (`--full-refresh`).
struct Twins {
    nightly: Project,
    rebuilt: Project,
}

impl Twins {
    fn new() -> Twins {
        Twins {
            nightly: project(),
            rebuilt: project(),
        }
    }

    fn merged() -> Twins {
        Twins {
            nightly: merged_project(),
            rebuilt: merged_project(),
        }
    }

    /// Lands an orders file (the header, then `rows`) in both.
    fn land(&self, name: &str, rows: &str) {
        let text = format!("id,cid,at,amount\n{rows}");
        self.nightly.land(name, &text);
        self.rebuilt.land(name, &text);
    }

    /// The nightly run of `date`.
    fn run_nightly(&self, date: &str) {
        assert_exit(&self.nightly.configured(&["run", "--date", date]), 0);
    }

    /// The nightly run of `date` killed at `kill_at`.
    fn kill_nightly(&self, date: &str, kill_at: &str) {
        use std::os::unix::process::ExitStatusExt;
        let killed = self.nightly.advocacy_env(
            &["run", "--config", "config.yaml", "--date", date],
            &[("ADVOCACY_KILL_AT", kill_at)],
        );
        assert_eq!(killed.status.signal(), Some(9), "{kill_at}");
    }

    /// `date` run in both; every table must be the same (`what` says
    /// which case failed).
    fn night(&self, date: &str, what: &str) {
        self.run_nightly(date);
        assert_exit(
            &self
                .rebuilt
                .configured(&["run", "--date", date, "--full-refresh"]),
            0,
        );
        assert_eq!(tables(&self.nightly), tables(&self.rebuilt), "{what}");
    }
}

#[test]
fn thirty_nights_equal_a_full_rebuild_after_every_night() {
    thirty_nights(Twins::new());
}

#[test]
fn thirty_nights_of_a_merged_model_equal_a_full_rebuild_after_every_night() {
    thirty_nights(Twins::merged());
}

fn thirty_nights(twins: Twins) {
    let nightly = &twins.nightly;
    twins.land("orders-base.csv", &orders_of(1));
    twins.night("2026-10-01", "after the first night");
    assert_eq!(days_computed(nightly)["stg_orders"], "all");
    for day in 2..=31u32 {
        let mut rows = orders_of(day);
        match day {
            // A late order of an earlier day.
            9 => rows.push_str("late9,C2,2026-10-04T08:00:00Z,500\n"),
            // A correction of an earlier order (a later load wins).
            15 => rows.push_str("o050,C2,2026-10-05T10:00:00Z,1\n"),
            // A correction that moves an order to another day: its old
            // day loses it.
            20 => rows.push_str("o100,C3,2026-10-12T10:00:00Z,100\n"),
            _ => {}
        }
        twins.land(&format!("orders-{day:02}.csv"), &rows);
        let date = format!("2026-10-{day:02}");
        twins.night(&date, &format!("after the night of {date}"));
        let computed = days_computed(nightly);
        let expected_stg = match day {
            9 => format!("2026-10-04 {date}"),
            15 => format!("2026-10-05 {date}"),
            20 => format!("2026-10-10 2026-10-12 {date}"),
            _ => date.clone(),
        };
        assert_eq!(computed["stg_orders"], expected_stg, "night {date}");
        assert_eq!(computed["int_daily"], expected_stg, "night {date}");
    }
    // A night that lands nothing reuses the kept days.
    let out = nightly.configured(&["run", "--date", "2026-10-31"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("stg_orders                   reused"),
        "{}",
        stdout(&out)
    );
    // Thirty-one days in one month's object; the folder keeps the objects
    // of the state in force and of the one before, no others.
    let folder = nightly.warehouse().join("_state/models/stg_orders");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("state.json")).unwrap()).unwrap();
    let months: Vec<&String> = state["months"].as_object().unwrap().keys().collect();
    assert_eq!(months, ["2026-10"]);
    let objects = std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count();
    assert!(objects <= 4, "{objects} objects");
}

#[test]
fn validate_refuses_what_cannot_be_kept_by_day() {
    let p = project();
    let validate = |models_yml: &str, sql: Option<&str>| {
        p.write("queries/models.yml", models_yml);
        p.write("queries/intermediate/int_daily.sql", sql.unwrap_or(DAILY));
        let out = p.configured(&["validate", "--date", "2026-10-31"]);
        format!("{}{}", stdout(&out), crate::common::stderr(&out))
    };
    let report = validate(
        &format!("{MODELS_YML}  - name: daily\n    incremental: {{ by: order_date }}\n"),
        None,
    );
    assert!(
        report.contains(
            "models.yml: daily is a report, and reports are published whole: make a model it \
             reads incremental instead"
        ),
        "{report}"
    );
    let not_a_date = validate(
        &MODELS_YML.replace(
            "int_daily\n    incremental: { by: order_date }",
            "int_daily\n    incremental: { by: orders }",
        ),
        None,
    );
    assert!(
        not_a_date.contains("incremental.by is orders, a Int64 column; it must be a DATE"),
        "{not_a_date}"
    );
    let run_date = validate(MODELS_YML, Some(&DAILY.replace("$end_date", "$run_date")));
    assert!(
        run_date.contains("int_daily is incremental and reads $run_date: read $end_date"),
        "{run_date}"
    );
    assert_exit(&p.configured(&["validate", "--date", "2026-10-31"]), 2);
    let whole = validate(
        MODELS_YML,
        Some(
            "SELECT order_date, count(*) AS orders, sum(amount) AS revenue FROM stg_orders GROUP BY order_date",
        ),
    );
    assert!(
        whole.contains("int_daily is incremental but reads neither $start_date nor $end_date"),
        "{whole}"
    );
    assert_exit(&p.configured(&["validate", "--date", "2026-10-31"]), 0);
}

/// A model that is not kept by day changing under an incremental one
/// computes every day of it; so does a change to its own SQL.
#[test]
fn a_change_it_cannot_place_computes_every_day() {
    let p = project();
    p.write(
        "queries/intermediate/int_customers.sql",
        "SELECT DISTINCT customer_id FROM stg_orders",
    );
    p.write(
        "queries/intermediate/int_daily.sql",
        "SELECT o.order_date, count(*) AS orders, sum(o.amount) AS revenue
FROM stg_orders AS o JOIN int_customers AS c ON c.customer_id = o.customer_id
WHERE o.order_date BETWEEN $start_date AND $end_date
GROUP BY o.order_date",
    );
    let computed = two_nights(&p);
    assert_eq!(computed["stg_orders"], "2026-10-02");
    assert_eq!(computed["int_daily"], "all");
    p.write(
        "queries/staging/stg_orders.sql",
        &STG_ORDERS.replace(
            "SELECT order_id, customer_id, amount, order_date",
            "SELECT order_id, customer_id, amount * 2 AS amount, order_date",
        ),
    );
    assert_exit(&p.configured(&["run", "--date", "2026-10-02"]), 0);
    assert_eq!(days_computed(&p)["stg_orders"], "all");
    assert_eq!(
        p.model_csv("SELECT sum(revenue) AS r FROM revenue"),
        ["r", &format!("{}.0", 2 * (10 + 11 + 20 + 21 + 22))]
    );
}

/// A run killed after it wrote an incremental model's days and before it
/// recorded them (or after some models were materialised) leaves a
/// warehouse the next plain run brings to a full rebuild's rows.
#[test]
fn a_night_killed_midway_is_set_right_by_the_next() {
    for kill_at in [
        "incremental-days-written:1",
        "incremental-days-written:3",
        "model-materialised:1",
    ] {
        for twins in [Twins::new(), Twins::merged()] {
            twins.land("orders-01.csv", &orders_of(1));
            twins.run_nightly("2026-10-01");
            twins.land(
                "orders-02.csv",
                &format!("{}o010,C3,2026-10-01T10:00:00Z,99\n", orders_of(2)),
            );
            twins.kill_nightly("2026-10-02", kill_at);
            twins.night("2026-10-02", &format!("killed at {kill_at}"));
            let nightly = &twins.nightly;
            // Killed before stg_orders recorded its days, the next run finds
            // them again. (Killed after, a model whose state is older than the
            // result it reads computes every day: int_daily and int_rolling run
            // side by side, so which of them the third pass is varies.)
            if kill_at == "incremental-days-written:1" {
                assert_eq!(
                    days_computed(nightly)["int_rolling"],
                    "2026-10-01 2026-10-02"
                );
            }
        }
    }
}

/// Night 1 keeps o930 on September 30; night 2 moves it to October 2,
/// so that night rewrites September (which keeps o929) and October.
/// Killed between the two months or after both (before the state names
/// them), the next run still brings every table to a full rebuild's rows.
#[test]
fn a_night_killed_between_two_months_is_set_right_by_the_next() {
    for kill_at in ["incremental-month-written:1", "incremental-month-written:2"] {
        for twins in [Twins::new(), Twins::merged()] {
            twins.land(
                "orders-01.csv",
                &format!(
                    "o929,C2,2026-09-29T10:00:00Z,3\no930,C1,2026-09-30T10:00:00Z,5\n{}",
                    orders_of(1)
                ),
            );
            twins.run_nightly("2026-10-01");
            twins.land(
                "orders-02.csv",
                &format!("{}o930,C1,2026-10-02T10:00:00Z,7\n", orders_of(2)),
            );
            twins.kill_nightly("2026-10-02", kill_at);
            twins.night("2026-10-02", &format!("killed at {kill_at}"));
            assert_eq!(
                days_computed(&twins.nightly)["stg_orders"],
                "2026-09-30 2026-10-02",
                "killed at {kill_at}"
            );
        }
    }
}

/// A correction that takes an order out of every day (its day past the
/// run date) or out of the model's rows (no day at all) still removes it
/// from the day it was kept on.
#[test]
fn a_row_moved_out_of_the_days_leaves_the_day_it_was_on() {
    for twins in [Twins::new(), Twins::merged()] {
        a_row_moved_out(twins);
    }
}

fn a_row_moved_out(twins: Twins) {
    twins.land("orders-01.csv", &orders_of(1));
    twins.run_nightly("2026-10-01");
    // o010 moves past the run date; o011 loses its day (quarantined by the
    // ingest: a missing timestamp is a bad row, so it is dropped instead).
    twins.land(
        "orders-02.csv",
        &format!("{}o010,C2,2026-10-05T10:00:00Z,10\n", orders_of(2)),
    );
    for night in ["2026-10-02", "2026-10-03", "2026-10-05"] {
        twins.night(night, &format!("night {night}"));
    }
}

/// An incremental model reused on a night with nothing new keeps its
/// failed data test failed: the reports built on it stay held back.
#[test]
fn a_reused_incremental_model_keeps_its_failed_test() {
    let p = project();
    p.land(
        "orders-01.csv",
        format!("id,cid,at,amount\n{}", orders_of(1)),
    );
    // The same order twice in one load: the later row wins, so make the
    // model keep both by dropping the latest-load rule.
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount, CAST(ordered_at AS DATE) AS order_date
FROM raw_orders
WHERE CAST(ordered_at AS DATE) BETWEEN $start_date AND $end_date",
    );
    p.land(
        "orders-02.csv",
        "id,cid,at,amount\no010,C2,2026-10-01T11:00:00Z,1\n",
    );
    let first = p.configured(&["run", "--date", "2026-10-01"]);
    assert_exit(&first, 3);
    let again = p.configured(&["run", "--date", "2026-10-01"]);
    assert_exit(&again, 3);
    assert!(
        stdout(&again).contains("stg_orders                   reused"),
        "{}",
        stdout(&again)
    );
    assert!(
        stdout(&again).contains("FAIL [error] unique on stg_orders.order_id: 1 failing row(s)"),
        "{}",
        stdout(&again)
    );
}

/// A merged model keeps the rows of days after the run date and shows
/// them from their day on, without a new load; a later night's new load
/// replaces the kept row of its key only.
#[test]
fn a_merged_model_shows_kept_rows_from_their_day() {
    let p = merged_project();
    p.land(
        "orders-01.csv",
        format!(
            "id,cid,at,amount\n{}f003,C1,2026-10-03T10:00:00Z,1000\n",
            orders_of(1)
        ),
    );
    let revenue = |p: &Project| p.model_csv("SELECT sum(revenue) AS r FROM revenue");
    assert_exit(&p.configured(&["run", "--date", "2026-10-01"]), 0);
    assert_eq!(days_computed(&p)["stg_orders"], "all");
    assert_eq!(revenue(&p), ["r", "21.0"]);
    assert_exit(&p.configured(&["run", "--date", "2026-10-03"]), 0);
    assert_eq!(days_computed(&p)["stg_orders"], "2026-10-02 2026-10-03");
    assert_eq!(revenue(&p), ["r", "1021.0"]);
    // f003 corrected: only its key's row changes, on its day.
    p.land(
        "orders-02.csv",
        "id,cid,at,amount\nf003,C1,2026-10-03T11:00:00Z,2000\n",
    );
    assert_exit(&p.configured(&["run", "--date", "2026-10-03"]), 0);
    assert_eq!(days_computed(&p)["stg_orders"], "2026-10-03");
    assert_eq!(revenue(&p), ["r", "2021.0"]);
    // A later night with nothing new shows nothing new: stg_orders and
    // the report on it (which reads no run date) are reused.
    let later = p.configured(&["run", "--date", "2026-10-05"]);
    assert_exit(&later, 0);
    for model in [
        "stg_orders                   reused",
        "revenue                      reused",
    ] {
        assert!(stdout(&later).contains(model), "{}", stdout(&later));
    }
    // A backfill before f003's day no longer sees it.
    assert_exit(&p.configured(&["run", "--date", "2026-10-02"]), 0);
    assert_eq!(revenue(&p), ["r", "21.0"]);
}

#[test]
fn validate_refuses_a_merged_model_it_cannot_merge() {
    let p = merged_project();
    let validate = |sql: &str| {
        p.write("queries/staging/stg_orders.sql", sql);
        let out = p.configured(&["validate", "--date", "2026-10-31"]);
        format!("{}{}", stdout(&out), crate::common::stderr(&out))
    };
    let days = validate(&format!(
        "SELECT * FROM ({STG_ORDERS_MERGED}) WHERE order_date <= $end_date"
    ));
    assert!(
        days.contains("stg_orders is merged by key and reads $end_date"),
        "{days}"
    );
    let two = validate(&format!(
        "SELECT * FROM ({STG_ORDERS_MERGED}) WHERE customer_id IN (SELECT customer_id FROM raw_customers)"
    ));
    assert!(
        two.contains(
            "models.yml: stg_orders is merged by key, so it reads one raw table and nothing \
             else (it reads raw_customers, raw_orders)"
        ),
        "{two}"
    );
    assert_exit(&p.configured(&["validate", "--date", "2026-10-31"]), 2);
    validate(STG_ORDERS_MERGED);
    assert_exit(&p.configured(&["validate", "--date", "2026-10-31"]), 0);
}

/// The bundled models (their staging models merged by key) night after
/// night on the bundled exports: a night at the end of March, one at the
/// end of June (the days between shown from the kept rows), and a night
/// that lands a correction of a March order and an order of June 30. After
/// each, every report equals a `--full-refresh` rebuild's, row for row.
#[test]
fn the_bundled_models_night_after_night_equal_a_rebuild() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let twins = [Project::new(), Project::new()];
    for p in &twins {
        copy_folder(&repo.join("testdata"), &p.landing());
        crate::common::bundled_config(p, &p.landing(), "warehouse", "2GiB");
    }
    let night = |date: &str, what: &str| {
        let nightly = twins[0].configured(&["run", "--date", date]);
        let rebuilt = twins[1].configured(&["run", "--date", date, "--full-refresh"]);
        assert_eq!(nightly.status.code(), rebuilt.status.code(), "{what}");
        assert_eq!(reports(&twins[0]), reports(&twins[1]), "{what}");
    };
    night("2025-03-31", "the end of March");
    night("2025-06-30", "the end of June");
    let computed = days_computed(&twins[0]);
    assert_eq!(
        computed["stg_orders"].split(' ').count(),
        91,
        "{computed:?}"
    );
    let correction = "Order ID,Customer ID,Created At,Total,Currency,Gross Margin,Financial Status
5630112001000,0035g00001dVqXFAA0,2024-06-03T15:27:57+01:00,300.00,GBP,90.00,paid
5630119999999,0035g00001dVqXFAA0,2025-06-30T10:00:00+01:00,80.00,GBP,20.00,paid
";
    for p in &twins {
        p.land("crm/orders-correction.csv", correction);
    }
    night("2025-06-30", "a correction and a new order");
    assert_eq!(
        days_computed(&twins[0])["stg_orders"],
        "2024-06-03 2025-06-30"
    );
}

fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_folder(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

/// Every published report's rows, each as sorted lines of text.
fn reports(p: &Project) -> BTreeMap<String, Vec<String>> {
    let folder = p.warehouse().join("reports");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let mut rows =
            crate::common::lines(&p.query(&format!("reports/{name}"), "SELECT * FROM t"));
        rows.sort();
        out.insert(name, rows);
    }
    out
}

/// An incremental model kept by another day than the model it reads
/// (ship_date, one day after order_date) cannot take the days the other
/// changed as its own: it computes every day.
#[test]
fn a_model_kept_by_another_day_computes_every_day() {
    let p = project();
    p.write(
        "queries/intermediate/int_shipped.sql",
        "SELECT order_id, CAST(order_date + INTERVAL '1 day' AS DATE) AS ship_date, amount
FROM stg_orders
WHERE order_date BETWEEN CAST($start_date - INTERVAL '1 day' AS DATE) AND $end_date",
    );
    p.write(
        "queries/models.yml",
        &format!("{MODELS_YML}  - name: int_shipped\n    incremental: {{ by: ship_date }}\n"),
    );
    let computed = two_nights(&p);
    assert_eq!(computed["stg_orders"], "2026-10-02");
    assert_eq!(computed["int_daily"], "2026-10-02");
    assert_eq!(computed["int_shipped"], "all");
    // The orders of October 1 ship on the 2nd; those of the 2nd, later.
    assert_eq!(
        p.model_csv("SELECT count(*) AS n FROM int_shipped"),
        ["n", "2"]
    );
}

/// A merged model keeps a row past its run date (an order of November 1
/// on the night of October 31); a correction moving it to October 31
/// removes it from November, where nobody saw it yet.
#[test]
fn a_kept_row_past_the_run_date_moved_to_an_earlier_month_leaves_its_month() {
    let twins = Twins::merged();
    twins.land(
        "orders-a.csv",
        &format!("{}x,C1,2026-11-01T10:00:00Z,500\n", orders_of(31)),
    );
    twins.night("2026-10-31", "a row past the run date kept");
    twins.land("orders-b.csv", "x,C1,2026-10-31T11:00:00Z,7\n");
    twins.night("2026-11-01", "the row moved to October");
    assert_eq!(
        days_computed(&twins.nightly)["stg_orders"],
        "2026-10-31 2026-11-01"
    );
    assert_eq!(
        twins
            .nightly
            .model_csv("SELECT count(*) AS n FROM stg_orders WHERE order_id = 'x'"),
        ["n", "1"]
    );
}
