//! Report contracts (issue 31, point 3): the schema a report is published
//! with is recorded; a change that drops, renames or retypes a published
//! column fails `validate` and the run, naming report and column, and the
//! published version stays; adding a column is not a break. A declared
//! version is published beside the old one, which is built from its
//! recorded SQL until its deprecation date.

use crate::common::shop::{self, REVENUE};
use crate::common::{Project, assert_exit, stderr, stdout};

/// Revenue without `orders`, and its total as text: two breaks.
const BROKEN: &str = "SELECT customer_id, CAST(sum(amount) AS VARCHAR) AS revenue
FROM stg_orders
GROUP BY customer_id
ORDER BY customer_id";

const KEYS: &str = "models:\n  - name: revenue\n    columns:\n      - name: customer_id\n        tests: [unique]\n";

fn project() -> Project {
    shop::project(
        "id,cid,at,amount\no1,C1,2026-10-01,10\no2,C1,2026-10-02,250\no3,C2,2026-10-03,40\n",
        KEYS,
    )
}

fn contract(p: &Project, report: &str) -> serde_json::Value {
    let path = p
        .warehouse()
        .join(format!("_state/contracts/{report}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn columns(contract: &serde_json::Value) -> Vec<String> {
    contract["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap(),
                c["nullable"]
            )
        })
        .collect()
}

fn report_bytes(p: &Project, report: &str) -> Vec<u8> {
    std::fs::read(
        p.warehouse()
            .join(format!("reports/{report}/{report}.parquet")),
    )
    .unwrap()
}

#[test]
fn a_dropped_or_retyped_column_fails_validate_and_the_run_and_the_published_report_stays() {
    let p = project();
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    let recorded = contract(&p, "revenue");
    assert_eq!(
        (
            recorded["report"].as_str(),
            recorded["version"].as_u64(),
            recorded["run_date"].as_str()
        ),
        (Some("revenue"), Some(1), Some("2026-11-01"))
    );
    assert_eq!(
        columns(&recorded),
        [
            "customer_id Utf8 true",
            "revenue Float64 true",
            "orders Int64 false"
        ]
    );
    assert_eq!(recorded["sql"], REVENUE);
    let before = report_bytes(&p, "revenue");

    p.write("queries/reports/revenue.sql", BROKEN);
    let message = "report revenue would break the schema it is published with: column revenue \
                   was Float64 and is now Utf8; column orders (Int64) is gone: dropped or renamed. \
                   Dashboards read these columns: keep them, or declare the break in models.yml \
                   (contract: { version: 2, deprecation_date: YYYY-MM-DD }) to publish it as \
                   revenue_v2 beside revenue";
    let out = p.configured(&["validate"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
    let out = p.configured(&["run", "--date", "2026-11-02"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
    assert_eq!(
        report_bytes(&p, "revenue"),
        before,
        "the broken report was published"
    );
    assert!(
        p.warehouse()
            .join("history/big_orders/run_date=2026-11-02/big_orders.parquet")
            .exists(),
        "the other reports were not published"
    );
    assert_eq!(contract(&p, "revenue"), recorded);

    // A new column is not a break.
    p.write(
        "queries/reports/revenue.sql",
        &REVENUE.replace(" AS orders", " AS orders, max(amount) AS largest"),
    );
    assert_exit(&p.configured(&["validate"]), 0);
    assert_exit(&p.configured(&["run", "--date", "2026-11-03"]), 0);
    assert_eq!(
        columns(&contract(&p, "revenue")),
        [
            "customer_id Utf8 true",
            "revenue Float64 true",
            "orders Int64 false",
            "largest Float64 true"
        ]
    );
}

#[test]
fn a_declared_version_is_published_beside_the_old_one_until_its_deprecation_date() {
    let p = project();
    assert_exit(&p.configured(&["run", "--date", "2026-11-01"]), 0);
    p.write("queries/reports/revenue.sql", BROKEN);
    p.write(
        "queries/models.yml",
        &format!("{KEYS}    contract: {{ version: 2 }}\n"),
    );
    let out = p.configured(&["validate"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "models.yml: revenue: contract version 2 needs the deprecation_date of version 1"
        ),
        "{}",
        stderr(&out)
    );
    p.write(
        "queries/models.yml",
        &format!("{KEYS}    contract: {{ version: 2, deprecation_date: 2099-12-31 }}\n"),
    );
    assert_exit(&p.configured(&["validate"]), 0);
    let out = p.configured(&["run", "--date", "2026-11-02"]);
    assert_exit(&out, 0);
    // Version 2 under its own name, version 1 refreshed from its recorded
    // SQL: both of this run.
    let v2 = p.query("reports/revenue_v2", "SELECT * FROM t");
    assert_eq!(crate::common::lines(&v2)[1..], ["C1 | 260.0", "C2 | 40.0"]);
    let v1 = p.query("reports/revenue", "SELECT * FROM t");
    assert_eq!(
        crate::common::lines(&v1)[1..],
        ["C1 | 260.0 | 2", "C2 | 40.0 | 1"]
    );
    assert!(
        p.warehouse()
            .join("history/revenue/run_date=2026-11-02/revenue.parquet")
            .exists()
            && p.warehouse()
                .join("history/revenue_v2/run_date=2026-11-02/revenue_v2.parquet")
                .exists()
    );
    assert_eq!(
        columns(&contract(&p, "revenue_v2")),
        ["customer_id Utf8 true", "revenue Utf8 true"]
    );
    assert_eq!(contract(&p, "revenue_v2")["version"], 2);
    assert_eq!(contract(&p, "revenue")["version"], 1);
    assert_eq!(contract(&p, "revenue")["sql"], REVENUE);
    assert!(p.warehouse().join("reports/_SUCCESS").exists());
    // Lineage takes the version's report name for its model's.
    let out = p.configured(&["lineage", "revenue_v2.revenue"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).starts_with(
            "revenue.revenue is computed from\n  models (nearest first):\n    stg_orders: amount\n"
        ),
        "{}",
        stdout(&out)
    );

    // Version 1 is rebuilt from its recorded SQL on today's models: when
    // they change under it, validate says so before the night does.
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount AS net FROM raw_orders",
    );
    p.write(
        "queries/reports/revenue.sql",
        &BROKEN.replace("amount", "net"),
    );
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, net AS amount FROM stg_orders WHERE net >= 100",
    );
    let out = p.configured(&["validate"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "_state/contracts/revenue.json: version 1 of report revenue, built from its recorded \
             SQL, no longer plans on today's models:"
        ) && stderr(&out).contains("amount"),
        "{}",
        stderr(&out)
    );
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders",
    );
    p.write("queries/reports/revenue.sql", BROKEN);
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount FROM stg_orders WHERE amount >= 100",
    );

    // Past its deprecation date version 1 is no longer refreshed.
    p.write(
        "queries/models.yml",
        &format!("{KEYS}    contract: {{ version: 2, deprecation_date: 2000-01-01 }}\n"),
    );
    let before = report_bytes(&p, "revenue");
    let out = p.configured(&["run", "--date", "2026-11-03"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "report revenue (version 1 of revenue) is deprecated since 2000-01-01: it is no \
             longer refreshed; revenue_v2 replaces it"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(report_bytes(&p, "revenue"), before);
    assert!(
        p.warehouse()
            .join("history/revenue_v2/run_date=2026-11-03/revenue_v2.parquet")
            .exists()
    );
}
