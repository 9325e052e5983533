//! `advocacy build --dev` and `advocacy diff` (issue 31, point 2): a dev
//! build leaves everything production wrote byte for byte as it was, and
//! the diff counts rows added, removed and changed by the key models.yml
//! declares; two run dates in `history/` compare the same way.

use crate::common::shop::{self, REVENUE};
use crate::common::{Project, assert_exit, snapshot, stderr, stdout};

const KEYS: &str = "models:\n  - name: revenue\n    columns:\n      - name: customer_id\n        tests: [unique]\n  - name: big_orders\n    columns:\n      - name: order_id\n        tests: [unique]\n";

fn project() -> Project {
    shop::project(
        "id,cid,at,amount\no1,C1,2026-10-01,10\no2,C1,2026-10-02,250\no3,C2,2026-10-03,40\no4,C3,2026-10-04,5\n",
        KEYS,
    )
}

/// Production everywhere but `_dev/`.
fn production(p: &Project) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = snapshot(&p.warehouse());
    files.retain(|path, _| !path.starts_with("_dev/"));
    files
}

#[test]
fn a_dev_build_leaves_production_as_it_was_and_the_diff_counts_by_key() {
    let p = project();
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    let before = production(&p);
    // C3's revenue moves to a new C4, C1's big order counts twice, and a
    // column is added; C2 stays as it was.
    p.write(
        "queries/reports/revenue.sql",
        "SELECT CASE WHEN customer_id = 'C3' THEN 'C4' ELSE customer_id END AS customer_id,
    sum(CASE WHEN amount > 100 THEN 2 * amount ELSE amount END) AS revenue,
    count(*) AS orders,
    max(amount) AS largest
FROM stg_orders
GROUP BY 1
ORDER BY customer_id",
    );
    let out = p.configured(&["build", "--dev", "alice", "--select", "revenue"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("dev build alice in _dev/alice/: nothing was published"),
        "{}",
        stdout(&out)
    );
    assert_eq!(production(&p), before, "the dev build wrote outside _dev/");
    let dev = p.warehouse().join("_dev/alice");
    assert!(dev.join("models/revenue.parquet").exists() && dev.join("run.json").exists());
    // big_orders is not downstream of revenue; stg_orders was read from
    // production's result.
    assert!(!dev.join("models/big_orders.parquet").exists());
    assert!(!dev.join("models/stg_orders.parquet").exists());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dev.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        record["run_date"], "2026-11-01",
        "the published reports' date"
    );

    let out = p.configured(&["diff", "--dev", "alice"]);
    assert_exit(&out, 0);
    // By hand: C1 260 -> 10 + 2 x 250 = 510 (changed), C2 40 (same), C3
    // removed, C4 added; of the two matched rows one changed revenue (50%).
    assert_eq!(
        stdout(&out),
        "reports/ -> _dev/alice/
revenue: 3 -> 3 rows, by customer_id: 1 added, 1 removed, 1 changed
    column largest added (Float64)
    column   changed   share  largest changes (key: old -> new)
    revenue        1   50.0%  C1: 260 -> 510
"
    );
    let out = p.configured(&["diff", "--dev", "alice", "--format", "json", "revenue"]);
    assert_exit(&out, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let revenue = &json["reports"][0];
    assert_eq!(revenue["report"], "revenue");
    assert_eq!(
        (
            &revenue["diff"]["added"],
            &revenue["diff"]["removed"],
            &revenue["diff"]["changed"]
        ),
        (&1.into(), &1.into(), &1.into())
    );
    assert_eq!(revenue["diff"]["columns"][0]["largest"][0]["new"], 510.0);

    // A second build of the same name starts from nothing: revenue is not
    // left over to be compared as this build's.
    assert_exit(
        &p.configured(&["build", "--dev", "alice", "--select", "big_orders"]),
        0,
    );
    assert!(!dev.join("models/revenue.parquet").exists());
    assert!(dev.join("models/big_orders.parquet").exists());
    let out = p.configured(&["diff", "--dev", "bob"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("there is no dev build bob in this warehouse"),
        "{}",
        stderr(&out)
    );
    let out = p.configured(&["diff", "--dev", "alice", "stg_orders"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("stg_orders is not a report"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_run_dates_in_history_compare_the_same_way() {
    let p = project();
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    // A new order of C2 and a correction of o4's amount the next night.
    p.land(
        "orders.csv",
        "id,cid,at,amount\no1,C1,2026-10-01,10\no2,C1,2026-10-02,250\no3,C2,2026-10-03,40\no4,C3,2026-10-04,7\no5,C2,2026-11-02,60\n",
    );
    assert_exit(&p.configured(&["run", "--date", "2026-11-02"]), 0);
    let out = p.configured(&[
        "diff",
        "--from-date",
        "2026-11-01",
        "--to-date",
        "2026-11-02",
    ]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "history 2026-11-01 -> history 2026-11-02
big_orders: unchanged (1 rows)
revenue: 3 -> 3 rows, by customer_id: 0 added, 0 removed, 2 changed
    column   changed   share  largest changes (key: old -> new)
    revenue        2   66.7%  C2: 40 -> 100; C3: 5 -> 7
    orders         1   33.3%  C2: 1 -> 2
"
    );
    let out = p.configured(&[
        "diff",
        "--from-date",
        "2026-10-31",
        "--to-date",
        "2026-11-02",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("nothing to compare"),
        "{}",
        stderr(&out)
    );
    // Both dates or --dev, and not both.
    assert_exit(&p.configured(&["diff", "--from-date", "2026-11-01"]), 2);
    assert_exit(&p.configured(&["diff"]), 2);
}

/// A backfill since the nightly leaves its own date's results in
/// `_state/models/`: a dev build builds such an upstream model too, for
/// the published reports' date, instead of comparing against the
/// backfill's data.
#[test]
fn a_backfill_since_the_nightly_does_not_leak_into_a_dev_build() {
    let p = project();
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders WHERE CAST(ordered_at AS DATE) <= $run_date",
    );
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    // Only o1 is as old as this backfill.
    assert_exit(&p.configured(&["build", "--date", "2026-10-01"]), 0);
    let out = p.configured(&["build", "--dev", "alice", "--select", "revenue"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "built stg_orders too: its last result in _state/models/ (of run date 2026-10-01) was not \
             computed from this build's inputs (run date 2026-11-01)"
        ),
        "{}",
        stdout(&out)
    );
    let out = p.configured(&["diff", "--dev", "alice", "revenue"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "reports/ -> _dev/alice/\nrevenue: unchanged (3 rows)\n"
    );
}

/// A key that is not unique on a side would pair rows many times: the
/// rows are compared whole instead, and the diff says why.
#[test]
fn a_key_that_is_not_unique_is_compared_as_whole_rows() {
    let p = project();
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    p.write(
        "queries/reports/revenue.sql",
        &format!("SELECT * FROM ({REVENUE}) UNION ALL SELECT * FROM ({REVENUE})"),
    );
    assert_exit(
        &p.configured(&["build", "--dev", "twice", "-s", "revenue"]),
        3,
    );
    let out = p.configured(&["diff", "--dev", "twice", "revenue"]);
    assert_exit(&out, 0);
    // Each of the three rows once more.
    assert_eq!(
        stdout(&out),
        "reports/ -> _dev/twice/\nrevenue: 3 -> 6 rows, whole rows (the key (customer_id) is not \
         unique in the new table): 3 added, 0 removed\n"
    );
}
