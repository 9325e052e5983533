//! Unit tests of models (`unit_tests:` in models.yml, `advocacy test
//! --unit`): a passing test and a failing one with its rows side by side,
//! inputs not given, what `validate` refuses, CSV fixtures, `--select`, an
//! ordered expectation with a tolerance, JSON output. No landing folder and
//! no warehouse exist in these projects.

use crate::common::{Project, assert_exit, stderr, stdout};

const STG_ORDERS: &str =
    "SELECT order_id, customer_id, amount, CAST(ordered_at AS DATE) AS order_date
FROM raw_orders
WHERE CAST(ordered_at AS DATE) <= $run_date";

const REVENUE: &str =
    "SELECT customer_id, sum(amount) AS revenue, count(*) AS orders, avg(amount) AS average
FROM stg_orders
GROUP BY customer_id";

const BIG_ORDERS: &str =
    "SELECT order_id, amount FROM stg_orders WHERE amount >= $big_order ORDER BY amount DESC";

const ORDERS: &str = "      - input: stg_orders
        rows:
          - { order_id: o1, customer_id: C1, amount: 10 }
          - { order_id: o2, customer_id: C1, amount: 250 }
          - { order_id: o3, customer_id: C2, amount: 40 }
          - { order_id: o4, customer_id: C3, amount: 100 }
";

/// A project whose landing folder and warehouse do not exist, with
/// `unit_tests` as models.yml's unit tests.
fn project(unit_tests: &str) -> Project {
    let p = Project::new();
    std::fs::remove_dir(p.landing()).unwrap();
    p.write(
        "config.yaml",
        "landing: landing\nwarehouse: warehouse\nrun: { pii_salt: s, pii_salt_public: true }\nsources: []\n",
    );
    p.write("queries/staging/stg_orders.sql", STG_ORDERS);
    p.write("queries/reports/revenue.sql", REVENUE);
    p.write("queries/reports/big_orders.sql", BIG_ORDERS);
    p.write(
        "queries/models.yml",
        &format!("vars: {{ big_order: 100 }}\nunit_tests:\n{unit_tests}"),
    );
    p
}

fn unit(p: &Project, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["test", "--unit", "--config", "config.yaml"];
    args.extend_from_slice(extra);
    p.advocacy(&args)
}

#[test]
fn a_passing_test_and_a_failing_one_with_its_rows_side_by_side() {
    let p = project(&format!(
        "  - name: revenue_per_customer
    model: revenue
    given:
{ORDERS}    expect:
      rows:
        - {{ customer_id: C1, revenue: 260, orders: 2, average: 130 }}
        - {{ customer_id: C2, revenue: 40, orders: 1, average: 40 }}
        - {{ customer_id: C3, revenue: 100, orders: 1, average: 100 }}
  - name: a_wrong_expectation
    model: revenue
    given:
{ORDERS}    expect:
      rows:
        - {{ customer_id: C1, revenue: 250 }}
        - {{ customer_id: C2, revenue: 40 }}
        - {{ customer_id: C2, revenue: 40 }}
"
    ));
    let out = unit(&p, &[]);
    assert_exit(&out, 3);
    // C1's 260 is not the 250 expected; C2 is expected twice and returned
    // once; C3 is returned and not expected. Only customer_id and revenue
    // are compared in the second test.
    assert_eq!(
        stdout(&out),
        "PASS revenue_per_customer (revenue)
FAIL a_wrong_expectation (revenue)
    3 row(s) expected, 3 returned, compared as a multiset on customer_id, revenue: 2 missing, 2 unexpected
    missing (expected, not returned) | unexpected (returned, not expected)
    row  customer_id  revenue        | customer_id  revenue
    1    C1           250            | C1           260
    3    C2           40             | C3           100
1 passed, 1 failed
"
    );
    assert!(!p.landing().exists() && !p.warehouse().exists());
}

/// A table the model reads and the test does not give is empty: revenue
/// of no orders is no rows.
#[test]
fn an_input_not_given_is_an_empty_table() {
    let p = project(
        "  - name: no_orders_no_revenue
    model: revenue
    expect:
      rows: []
",
    );
    let out = unit(&p, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "PASS no_orders_no_revenue (revenue)\n1 passed, 0 failed\n"
    );
}

/// Every problem `validate` finds in the unit tests, each naming the test,
/// the input and the row or column; `test --unit` refuses to run them.
#[test]
fn validate_checks_inputs_columns_values_vars_and_the_run_date() {
    let p = project(
        "  - name: wrong_inputs
    model: revenue
    vars: { big_order: 5 }
    given:
      - input: raw_orders
        rows: [{ order_id: o1 }]
      - input: stg_orders
        rows:
          - { customer_id: C1, amout: 10 }
          - { customer_id: C1, amount: ten }
    expect:
      rows: [{ customer_id: C1, revenu: 10 }]
  - name: no_run_date
    model: stg_orders
    given:
      - input: raw_orders
        rows: [{ order_id: o1, ordered_at: '2026-01-01T10:00:00Z' }]
        csv: orders.csv
    expect:
      rows: [{ order_id: o1 }]
  - name: no_such_model
    model: revenues
    expect:
      rows: []
  - name: no_such_model
    model: big_orders
    run_date: 2026-13-01
    expect:
      tolerance: -1
      rows: [{ amount: 1 }]
",
    );
    let expected = [
        "models.yml: unit test wrong_inputs: given raw_orders: revenue does not read raw_orders (it reads stg_orders)",
        "models.yml: unit test wrong_inputs: given stg_orders: no column amout (did you mean amount?)",
        "models.yml: unit test wrong_inputs: given stg_orders: row 2, column amount: \"ten\" is not a Float64",
        "models.yml: unit test wrong_inputs: expect: no column revenu (did you mean revenue?)",
        "models.yml: unit test no_run_date: given raw_orders: rows and csv are both given; write one",
        "models.yml: unit test no_such_model: there is no model revenues",
        "models.yml: unit test no_such_model is defined twice",
        "models.yml: unit test no_such_model: run_date \"2026-13-01\" is not a date (YYYY-MM-DD)",
        "models.yml: unit test no_such_model: expect: tolerance -1 is not a number >= 0",
    ];
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    let text = stderr(&out);
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .collect();
    assert_eq!(errors, expected, "{}", stderr(&out));
    let out = unit(&p, &[]);
    assert_exit(&out, 2);
    for error in expected {
        assert!(stderr(&out).contains(error), "{}", stderr(&out));
    }
}

/// With its inputs right, a test's parameters are checked against what
/// the model reads: a var it does not read, and no run_date for a model
/// that reads `$run_date`.
#[test]
fn a_var_the_model_does_not_read_and_a_missing_run_date_are_errors() {
    let p = project(
        "  - name: stray_var
    model: revenue
    vars: { big_order: 5 }
    expect:
      rows: []
  - name: no_run_date
    model: stg_orders
    expect:
      rows: []
",
    );
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    assert_eq!(
        stderr(&out)
            .lines()
            .filter_map(|l| l.strip_prefix("error: "))
            .collect::<Vec<_>>(),
        [
            "models.yml: unit test stray_var: vars: revenue does not read $big_order",
            "models.yml: unit test no_run_date: stg_orders reads $run_date: give the test a run_date, or its result depends on the day it runs",
        ],
        "{}",
        stderr(&out)
    );
}

/// Inputs and expectations in CSV files beside models.yml (an empty field
/// is NULL), and a raw table as the input: stg_orders keeps the orders up
/// to the run date.
#[test]
fn csv_fixtures_beside_models_yml() {
    let p = project(
        "  - name: orders_up_to_the_run_date
    model: stg_orders
    run_date: 2026-01-31
    given:
      - input: raw_orders
        csv: unit/raw_orders.csv
    expect:
      csv: unit/stg_orders.csv
",
    );
    p.write(
        "queries/unit/raw_orders.csv",
        "order_id,customer_id,ordered_at,amount\no1,C1,2026-01-31T23:00:00Z,10\no2,,2026-01-02T08:00:00Z,\no3,C2,2026-02-01T00:00:00Z,5\n",
    );
    p.write(
        "queries/unit/stg_orders.csv",
        "order_id,customer_id,order_date,amount\no2,,2026-01-02,\no1,C1,2026-01-31,10\n",
    );
    let out = unit(&p, &[]);
    assert_exit(&out, 0);
    // The same expectation without o2's NULLs fails on that row.
    p.write(
        "queries/unit/stg_orders.csv",
        "order_id,customer_id,order_date,amount\no2,C2,2026-01-02,0\no1,C1,2026-01-31,10\n",
    );
    let out = unit(&p, &[]);
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("    1    o2        C2           0       2026-01-02 | o2        NULL         NULL    2026-01-02\n"),
        "{}",
        stdout(&out)
    );
}

/// `--select` runs the tests of the models it picks, by name, `+`, or tag;
/// a selection with no unit test, or a model that does not exist, is an
/// error.
#[test]
fn select_runs_the_tests_of_the_models_it_picks() {
    let p = project(&format!(
        "  - name: revenue_per_customer
    model: revenue
    given:
{ORDERS}    expect:
      rows:
        - {{ customer_id: C1, revenue: 260 }}
        - {{ customer_id: C2, revenue: 40 }}
        - {{ customer_id: C3, revenue: 100 }}
  - name: big_orders_largest_first
    model: big_orders
    given:
{ORDERS}    expect:
      ordered: true
      rows:
        - {{ order_id: o2, amount: 250 }}
        - {{ order_id: o4, amount: 100 }}
"
    ));
    let names = |out: &std::process::Output| -> Vec<String> {
        stdout(out)
            .lines()
            .filter(|l| l.starts_with("PASS") || l.starts_with("FAIL"))
            .map(str::to_string)
            .collect()
    };
    let out = unit(&p, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        names(&out),
        [
            "PASS revenue_per_customer (revenue)",
            "PASS big_orders_largest_first (big_orders)"
        ]
    );
    let out = unit(&p, &["--select", "big_orders"]);
    assert_exit(&out, 0);
    assert_eq!(names(&out), ["PASS big_orders_largest_first (big_orders)"]);
    let out = unit(&p, &["-s", "stg_orders+"]);
    assert_eq!(names(&out).len(), 2);
    let out = unit(&p, &["--select", "stg_orders"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--select stg_orders picks no model with a unit test"),
        "{}",
        stderr(&out)
    );
    let out = unit(&p, &["--select", "big_order"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("big_order"), "{}", stderr(&out));
}

/// In order, rows are compared position by position: the same rows
/// swapped fail. Floats match within a tolerance relative to the expected
/// value (above 1): 260 / 3 written to four places.
#[test]
fn an_ordered_expectation_and_a_stated_tolerance() {
    let smallest_first = format!(
        "  - name: smallest_first
    model: big_orders
    given:
{ORDERS}    expect:
      ordered: true
      rows:
        - {{ order_id: o4, amount: 100 }}
        - {{ order_id: o2, amount: 250 }}
"
    );
    let p = project(&format!(
        "{smallest_first}  - name: average_to_four_places
    model: revenue
    given:
{ORDERS}      - input: stg_orders
        rows: []
    expect:
      tolerance: 0.0001
      rows:
        - {{ customer_id: C1, average: 86.6667 }}
"
    ));
    let out = unit(&p, &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "models.yml: unit test average_to_four_places: given stg_orders: given twice"
        ),
        "{}",
        stderr(&out)
    );
    // C1's three orders, averaging 260 / 3.
    let c1 = "    model: revenue
    given:
      - input: stg_orders
        rows:
          - { customer_id: C1, amount: 10 }
          - { customer_id: C1, amount: 250 }
          - { customer_id: C1, amount: 0 }
";
    let p = project(&format!(
        "{smallest_first}  - name: within_the_default_tolerance
{c1}    expect:
      rows:
        - {{ customer_id: C1, average: 86.6667 }}
  - name: beyond_a_tighter_one
{c1}    expect:
      tolerance: 0.0000001
      rows:
        - {{ customer_id: C1, average: 86.6667 }}
"
    ));
    // |86.6667 - 260 / 3| = 3.3e-5: within 1e-6 x 86.6667 = 8.7e-5, the
    // default, and not within 1e-7 x 86.6667 = 8.7e-6.
    let out = unit(&p, &[]);
    assert_exit(&out, 3);
    assert_eq!(
        stdout(&out),
        "FAIL smallest_first (big_orders)
    2 row(s) expected, 2 returned, compared in order on order_id, amount: 2 missing, 2 unexpected
    missing (expected, not returned) | unexpected (returned, not expected)
    row  order_id  amount            | row  order_id  amount
    1    o4        100               | 1    o2        250
    2    o2        250               | 2    o4        100
PASS within_the_default_tolerance (revenue)
FAIL beyond_a_tighter_one (revenue)
    1 row(s) expected, 1 returned, compared as a multiset on customer_id, average: 1 missing, 1 unexpected
    missing (expected, not returned) | unexpected (returned, not expected)
    row  customer_id  average        | customer_id  average
    1    C1           86.6667        | C1           86.66666666666667
1 passed, 2 failed
"
    );
}

/// With `--log-format json`, one event carries every test and its
/// failure.
#[test]
fn json_output_is_one_event_with_every_test() {
    let p = project(&format!(
        "  - name: wrong
    model: big_orders
    given:
{ORDERS}    expect:
      rows: [{{ order_id: o2 }}]
"
    ));
    let out = unit(&p, &["--log-format", "json"]);
    assert_exit(&out, 3);
    let event: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(event["event"], "unit_tested");
    assert_eq!(
        (event["passed"].as_u64(), event["failed"].as_u64()),
        (Some(0), Some(1))
    );
    let test = &event["tests"][0];
    assert_eq!(
        (test["name"].as_str(), test["passed"].as_bool()),
        (Some("wrong"), Some(false))
    );
    assert!(
        test["failure"]
            .as_str()
            .unwrap()
            .contains("1 row(s) expected, 2 returned"),
        "{test}"
    );
}

/// A model may read a table function, which is neither a raw table nor a
/// model: its unit test runs it as the engine does.
#[test]
fn a_model_reading_a_table_function_is_tested_too() {
    let p = project(
        "  - name: three_values
    model: series
    expect:
      rows: [{ value: 1 }, { value: 2 }, { value: 3 }]
",
    );
    p.write(
        "queries/reports/series.sql",
        "SELECT value FROM generate_series(1, 3)",
    );
    assert_exit(&p.advocacy(&["validate", "--config", "config.yaml"]), 0);
    let out = unit(&p, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "PASS three_values (series)\n1 passed, 0 failed\n"
    );
}
