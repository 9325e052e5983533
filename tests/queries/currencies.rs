//! Money in one currency (issue 9 point 4): amounts converted to
//! run.currency at the latest rate on or before the order's day, from an
//! ECB-shaped rate export; a currency without a rate fails a data test
//! naming it and its first day. Worked out by hand:
//!
//! ECB quotes (units of CURRENCY for one euro):
//!   Fri 2026-01-02: USD 1.10, GBP 0.88
//!   Mon 2026-01-05: USD 1.20, GBP 0.80
//! So EUR -> USD is 1.10 from Friday through Sunday, then 1.20; GBP -> USD
//! goes through the euro: 1.10 / 0.88 = 1.25, then 1.20 / 0.80 = 1.5.
//!
//! Orders (amount, gross margin, currency):
//!   O1 C1 Sat 01-03  100 EUR, margin 40 -> 110.00 USD, margin 44.0
//!   O2 C1 Mon 01-05   50 GBP, margin 10 ->  75.00 USD, margin 15.0
//!   O3 C2 Sun 01-04   88 GBP, margin 22 -> 110.00 USD, margin 27.5
//!   O4 C2 Tue 01-06   20 USD, margin  5 ->  20.00
//!   O5 C2 Tue 01-06   30 (no currency: the base), margin 6 -> 30.00
//! Revenue: C1 185, C2 160, January 345. Each customer bought on two days,
//! so the repeat day is worth: C1 75 (margin 15), C2 20 + 30 = 50 (margin
//! 5 + 6 = 11).

use crate::common::{Project, assert_exit, lines, stdout};

const RATES: &str = "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE\n\
    EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2026-01-02,1.10\n\
    EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2026-01-05,1.20\n\
    EXR.D.GBP.EUR.SP00.A,D,GBP,EUR,SP00,A,2026-01-02,0.88\n\
    EXR.D.GBP.EUR.SP00.A,D,GBP,EUR,SP00,A,2026-01-05,0.80\n";

fn project(clv_value: &str, orders: &str) -> Project {
    let p = Project::new();
    p.repo_config(&format!(
        r#"vars: {{ clv_value: {clv_value} }}
sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: {{ customer_id: id, signup_date: signup }}
  - name: orders
    entity: orders
    format: csv
    path: orders.csv
    columns: {{ order_id: id, customer_id: who, ordered_at: at, amount: amount, gross_margin: margin, currency: currency }}
  - name: ecb
    entity: exchange_rates
    format: csv
    path: ecb.csv
    columns: {{ date: TIME_PERIOD, currency: CURRENCY_DENOM, quote_currency: CURRENCY, rate: OBS_VALUE }}
"#
    ));
    p.land("customers.csv", "id,signup\nC1,2025-12-01\nC2,2025-12-01\n");
    p.land("orders.csv", orders);
    p.land("ecb.csv", RATES);
    p
}

const ORDERS: &str = "id,who,at,amount,margin,currency\n\
    O1,C1,2026-01-03T12:00:00Z,100,40,EUR\n\
    O2,C1,2026-01-05T12:00:00Z,50,10,gbp\n\
    O3,C2,2026-01-04T12:00:00Z,88,22,GBP\n\
    O4,C2,2026-01-06T12:00:00Z,20,5,USD\n\
    O5,C2,2026-01-06T13:00:00Z,30,6,\n";

#[test]
fn amounts_are_converted_at_the_latest_rate_on_or_before_their_day() {
    let p = project("revenue", ORDERS);
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-01-31"]),
        0,
    );
    let clv = p.query(
        "reports/customer_clv",
        "SELECT customer_id, round(revenue, 6) AS revenue FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&clv)[1..], ["C1 | 185.0", "C2 | 160.0"]);
    let month = p.query(
        "reports/advocacy_scorecard",
        "SELECT round(revenue, 6) FROM t WHERE month = DATE '2026-01-01'",
    );
    assert_eq!(lines(&month)[1..], ["345.0"]);
    let orders = p.model_csv(
        "SELECT order_id, currency, original_amount, round(exchange_rate, 6) AS rate, \
         round(amount, 6) AS amount, round(gross_margin, 6) AS margin \
         FROM int_completed_orders ORDER BY order_id",
    );
    assert_eq!(
        orders,
        [
            "order_id,currency,original_amount,rate,amount,margin",
            "O1,EUR,100.0,1.1,110.0,44.0",
            "O2,GBP,50.0,1.5,75.0,15.0",
            "O3,GBP,88.0,1.25,110.0,27.5",
            "O4,USD,20.0,1.0,20.0,5.0",
            "O5,USD,30.0,1.0,30.0,6.0",
        ]
    );
}

#[test]
fn clv_can_be_computed_on_gross_margin() {
    for (clv_value, c1, c2) in [("revenue", "75.0", "50.0"), ("margin", "15.0", "11.0")] {
        let p = project(clv_value, ORDERS);
        assert_exit(
            &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-01-31"]),
            0,
        );
        let rfm = p.model_csv(
            "SELECT customer_id, frequency, round(monetary, 6) AS monetary \
             FROM int_customer_rfm ORDER BY customer_id",
        );
        assert_eq!(
            rfm,
            [
                "customer_id,frequency,monetary".to_string(),
                format!("C1,1.0,{c1}"),
                format!("C2,1.0,{c2}"),
            ],
            "clv_value: {clv_value}"
        );
    }
}

/// CAD has no rate at all, and the euro none before its first quote on
/// January 2: both fail a data test naming the currency and the first day,
/// and the reports that sum money are not published.
#[test]
fn a_currency_without_a_rate_fails_a_data_test_naming_it() {
    let orders = format!(
        "{ORDERS}O6,C1,2026-01-09T12:00:00Z,70,7,CAD\n\
         O7,C2,2026-01-07T12:00:00Z,30,3,CAD\n\
         O8,C2,2026-01-01T12:00:00Z,10,1,EUR\n"
    );
    let p = project("revenue", &orders);
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-01-31"]);
    assert_exit(&out, 3);
    let text = stdout(&out);
    assert!(
        text.contains("currency=CAD")
            && text.contains("orders_without_rate=2")
            && text.contains("first_date_without_rate=2026-01-07"),
        "{text}"
    );
    assert!(
        text.contains("currency=EUR")
            && text.contains("orders_without_rate=1")
            && text.contains("first_date_without_rate=2026-01-01"),
        "{text}"
    );
    assert!(
        !p.warehouse().join("reports/customer_clv").exists(),
        "customer_clv must not be published with unconverted amounts"
    );
}
