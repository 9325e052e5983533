//! The CLV back-test (`vars: { clv_holdout_weeks: N }`): `clv_validation`
//! and `clv_tracking` on a fixture counted by hand, off by default, and on
//! the CDNOW master file against an independent numpy/scipy computation
//! (tests/reference/clv_backtest.py).

use crate::common::{Project, assert_exit};

fn project(vars: &str, orders: &str) -> Project {
    let p = Project::new();
    p.repo_config(&format!(
        r#"vars: {{ {vars} }}
sources:
  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: {{ order_id: id, customer_id: cid, ordered_at: at, amount: amount, currency: {{ value: USD }} }}
"#
    ));
    p.land("orders.csv", orders);
    p
}

fn ingest_and_build(p: &Project, date: &str) {
    assert_exit(
        &p.advocacy(&["ingest", "--config", "config.yaml", "--date", date]),
        0,
    );
    assert_exit(&p.build(date, &["+clv_validation", "+clv_tracking"]), 0);
}

/// Run date 2025-01-15 with one holdout week: calibration ends 2025-01-08.
///   A: 01-01, 01-08 | 01-10         frequency 1, holdout 1
///   B: 01-01 twice (one purchase day)  frequency 0, holdout 0
///   C: 01-05 | 01-12, 01-14         frequency 0, holdout 2
///   D:       | 01-12                first bought in the holdout: not scored
/// clv_validation: frequency 0: 2 customers, mean actual (0 + 2) / 2 = 1;
/// frequency 1: 1 customer, actual 1.
/// clv_tracking starts on the first purchase day, 01-01: week 1 ends 01-08
/// (calibration), week 2 01-15 (holdout). Repeat purchase days up to 01-08:
/// A's 01-08 = 1; up to 01-15: + A 01-10, C 01-12 and 01-14 = 4.
const ORDERS: &str = "id,cid,at,amount\n\
    1,A,2025-01-01,10\n2,A,2025-01-08,10\n3,A,2025-01-10,10\n\
    4,B,2025-01-01,10\n5,B,2025-01-01,10\n\
    6,C,2025-01-05,10\n7,C,2025-01-12,10\n8,C,2025-01-14,10\n\
    9,D,2025-01-12,10\n10,D,2025-01-20,10\n";

#[test]
fn the_back_test_counts_customers_and_holdout_purchases_by_hand() {
    let p = project("clv_holdout_weeks: 1", ORDERS);
    ingest_and_build(&p, "2025-01-15");
    let calibration = p.model_csv(
        "SELECT customer_id, frequency, round(recency, 6) AS recency, round(age, 6) AS age, \
         holdout_purchases FROM int_clv_calibration ORDER BY customer_id",
    );
    assert_eq!(
        calibration,
        [
            "customer_id,frequency,recency,age,holdout_purchases",
            "A,1.0,1.0,1.0,1",
            "B,0.0,0.0,1.0,0",
            "C,0.0,0.0,0.428571,2",
            "D,,,,1",
        ]
    );
    let validation = p.model_csv(
        "SELECT frequency, customers, actual_holdout_purchases, \
         predicted_holdout_purchases > 0 AS predicted FROM clv_validation ORDER BY frequency",
    );
    assert_eq!(
        validation,
        [
            "frequency,customers,actual_holdout_purchases,predicted",
            "0,2,1.0,true",
            "1,1,1.0,true",
        ]
    );
    let tracking = p.model_csv(
        "SELECT week, CAST(week_end AS VARCHAR) AS week_end, holdout, actual_cumulative_purchases, \
         predicted_cumulative_purchases > 0 AS predicted FROM clv_tracking ORDER BY week",
    );
    assert_eq!(
        tracking,
        [
            "week,week_end,holdout,actual_cumulative_purchases,predicted",
            "1,2025-01-08,false,1,true",
            "2,2025-01-15,true,4,true",
        ]
    );
}

#[test]
fn without_a_holdout_the_back_test_tables_are_empty() {
    let p = project("clv_horizon_weeks: 52", ORDERS);
    ingest_and_build(&p, "2025-01-15");
    for table in ["clv_validation", "clv_tracking"] {
        let rows = p.model_csv(&format!("SELECT count(*) AS n FROM {table}"));
        assert_eq!(rows, ["n", "0"], "{table}");
    }
}

/// CDNOW (Fader, Hardie & Lee 2005): 69,659 purchases of 23,570 customers,
/// 1997-01-01 to 1998-06-30; calibration to 1997-09-30, 39 holdout weeks.
/// The reference fits BG/NBD with scipy (Nelder-Mead, then BFGS) and
/// evaluates eq. 10 and eq. 7 with scipy's hyp2f1. Counts and actual
/// purchases are exact; fits by two optimisers agree to about 1e-7.
#[test]
fn the_back_test_reproduces_scipy_on_cdnow() {
    let summary = std::env::var("ADVOCACY_CDNOW_SUMMARY").unwrap_or_else(|_| {
        panic!("ADVOCACY_CDNOW_SUMMARY is not set: run bash scripts/test.sh, which downloads it")
    });
    let python = std::env::var("ADVOCACY_PYTHON").unwrap_or_else(|_| {
        panic!(
            "ADVOCACY_PYTHON is not set: run bash scripts/test.sh, which installs numpy and scipy"
        )
    });
    let master = std::path::Path::new(&summary).with_file_name("CDNOW_master.txt");
    let text = std::fs::read_to_string(&master).unwrap();
    // Whitespace-aligned columns: customer id, YYYYMMDD, CDs, dollars.
    let mut orders = String::from("id,cid,at,amount\n");
    for (line, record) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = record.split_whitespace().collect();
        if let [customer, day, _, dollars] = fields[..] {
            orders.push_str(&format!("{line},{customer},{day},{dollars}\n"));
        }
    }
    let p = project("clv_holdout_weeks: 39", &orders);
    ingest_and_build(&p, "1998-06-30");

    let prefix = p.path("reference");
    let out = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/clv_backtest.py"
        ))
        .args([
            master.to_str().unwrap(),
            "1998-06-30",
            "39",
            prefix.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = |table: &str| -> Vec<String> {
        let path = format!("{}-{table}.csv", prefix.display());
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };

    let params =
        p.model_csv("SELECT r, alpha, a, b, log_likelihood, customers FROM int_clv_holdout_model");
    assert_close(&params, &reference("params"), 1e-5);
    let validation = p.model_csv("SELECT * FROM clv_validation ORDER BY frequency");
    assert_eq!(validation.len(), 9, "{validation:?}");
    assert_close(&validation, &reference("validation"), 1e-6);
    let tracking = p.model_csv(
        "SELECT week, CAST(week_end AS VARCHAR) AS week_end, holdout, actual_cumulative_purchases, \
         predicted_cumulative_purchases FROM clv_tracking ORDER BY week",
    );
    assert_eq!(tracking.len(), 78, "77 weeks and the header");
    assert_close(&tracking, &reference("tracking"), 1e-6);
}

/// CSV lines equal field by field: integers and text exactly, numbers with
/// a fraction within `relative`.
fn assert_close(ours: &[String], reference: &[String], relative: f64) {
    assert_eq!(ours.len(), reference.len(), "{ours:?}\n{reference:?}");
    assert_eq!(ours[0], reference[0]);
    for (a, b) in ours[1..].iter().zip(&reference[1..]) {
        let (fa, fb): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
        assert_eq!(fa.len(), fb.len(), "{a} / {b}");
        for (x, y) in fa.iter().zip(&fb) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if x.fract() == 0.0 && y.fract() == 0.0 => {
                    assert_eq!(x, y, "{a} / {b}")
                }
                (Ok(x), Ok(y)) => assert!(
                    (x - y).abs() <= relative * y.abs(),
                    "{x} vs {y} (relative {:.1e}) in {a} / {b}",
                    ((x - y) / y).abs()
                ),
                _ => assert_eq!(x, y, "{a} / {b}"),
            }
        }
    }
}
