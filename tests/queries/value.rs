//! `referral_value` and `advocacy_scorecard` on a fixture worked out by
//! hand: three organic customers (O1..O3) and two referred ones (F1, F2).

use crate::common::{Project, assert_exit, lines};

fn project() -> Project {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
  - name: refer
    entity: referrals
    format: csv
    path: referrals.csv
    columns: { referral_id: id, referrer_customer_id: referrer, invited_at: invited, referee_customer_id: referee }
"#,
    );
    p.land(
        "customers.csv",
        "id,signup\nO1,2024-12-01\nO2,2025-01-15\nO3,2025-02-10\nF1,2025-05-25\nF2,2026-02-20\n",
    );
    p.land(
        "orders.csv",
        "id,cid,at,amount\n\
         o1,O1,2025-01-10,100\no2,O1,2025-03-15,50\n\
         o3,O2,2025-02-01,40\n\
         o4,F1,2025-06-01,30\no5,F1,2025-06-20,20\no6,F1,2026-07-01,60\n\
         o7,F2,2026-03-01,10\no8,F2,2026-05-01,15\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,invited,referee\nr1,O1,2025-05-20,F1\nr2,O1,2026-02-15,F2\n",
    );
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-12-31"]),
        0,
    );
    p
}

#[test]
fn referred_vs_organic() {
    let p = project();
    // 12-month retention: ordered again from one month to twelve months
    // after the first order, counted over customers whose first order is
    // at least twelve months before Dec 31, 2026.
    //   O1: Jan 10 then Mar 15, 2025: retained.  O2: one order: not.
    //   O3: never ordered: not in the base.
    //   F1: Jun 1 then Jun 20 (under a month) and Jul 1, 2026 (over a
    //       year): not retained.  F2: first order Mar 2026: not in the base.
    // organic: 3 customers, 2 buying, orders (2 + 1 + 0) / 3 = 1, retention 1 / 2.
    // referred: 2 customers, 2 buying, orders (3 + 2) / 2 = 2.5, retention 0 / 1.
    let value = p.query(
        "reports/referral_value",
        "SELECT acquisition, customers, buying_customers, average_orders, retention_base, retention_12m \
         FROM t ORDER BY acquisition",
    );
    assert_eq!(
        lines(&value)[1..],
        [
            "organic | 3 | 2 | 1.0 | 2 | 0.5",
            "referred | 2 | 2 | 2.5 | 1 | 0.0"
        ]
    );
}

#[test]
fn monthly_scorecard() {
    let p = project();
    // Every calendar month from the first signup to the run date's; the
    // quiet ones (no signup, no order) carry the customer count and zeros.
    // referral_rate = referred new / new; referred_revenue_share =
    // revenue of F1 and F2 / all revenue of the month.
    let scorecard = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, customers, new_customers, referred_new_customers, referral_rate, \
         revenue, referred_revenue, referred_revenue_share, active_advocates, nps_responses FROM t ORDER BY month",
    );
    assert_eq!(
        lines(&scorecard)[1..],
        [
            "2024-12-01 | 1 | 1 | 0 | 0.0 | 0.0 | 0.0 |  | 0 | 0",
            "2025-01-01 | 2 | 1 | 0 | 0.0 | 100.0 | 0.0 | 0.0 | 0 | 0",
            "2025-02-01 | 3 | 1 | 0 | 0.0 | 40.0 | 0.0 | 0.0 | 0 | 0",
            "2025-03-01 | 3 | 0 | 0 |  | 50.0 | 0.0 | 0.0 | 0 | 0",
            "2025-04-01 | 3 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-05-01 | 4 | 1 | 1 | 1.0 | 0.0 | 0.0 |  | 0 | 0",
            "2025-06-01 | 4 | 0 | 0 |  | 50.0 | 50.0 | 1.0 | 0 | 0",
            "2025-07-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-08-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-09-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-10-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-11-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2025-12-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-01-01 | 4 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-02-01 | 5 | 1 | 1 | 1.0 | 0.0 | 0.0 |  | 0 | 0",
            "2026-03-01 | 5 | 0 | 0 |  | 10.0 | 10.0 | 1.0 | 0 | 0",
            "2026-04-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-05-01 | 5 | 0 | 0 |  | 15.0 | 15.0 | 1.0 | 0 | 0",
            "2026-06-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-07-01 | 5 | 0 | 0 |  | 60.0 | 60.0 | 1.0 | 0 | 0",
            "2026-08-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-09-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-10-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-11-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
            "2026-12-01 | 5 | 0 | 0 |  | 0.0 | 0.0 |  | 0 | 0",
        ]
    );
    // Measured at the run date, on its month only: nobody is an advocate
    // or in a top CLV decile of five customers, so everyone is "everyone
    // else": retained O1 of the eligible O1, O2 and F1 = 1/3.
    let comparison = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, advocates_retention_12m, best_customers_retention_12m, \
         round(everyone_else_retention_12m, 5) AS others FROM t WHERE everyone_else_retention_12m IS NOT NULL",
    );
    assert_eq!(lines(&comparison)[1..], ["2026-12-01 |  |  | 0.33333"]);
}

/// Issue 29, point 5: WooCommerce-style order states. pending, processing
/// and on-hold map to `open`: loaded, not revenue, not a purchase. A
/// partial refund is netted from revenue; a full refund is no purchase.
///   o1 C1 completed 100, 30 refunded -> counts 70
///   o2 C1 processing 50 (open)      -> loaded, not counted
///   o3 C2 completed 40, 40 refunded -> no purchase
///   o4 C2 completed 25              -> counts 25
/// customer_clv: C1 1 order, revenue 70; C2 1 order, revenue 25.
#[test]
fn open_orders_are_not_revenue_and_refunds_are_netted() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: woo
    entity: orders
    format: csv
    path: orders.csv
    columns:
      order_id: id
      customer_id: customer
      ordered_at: date_created_gmt
      amount: total
      refunded_amount: refunded
      status: { from: status, values: { pending: open, processing: open, on-hold: open } }
"#,
    );
    p.land("customers.csv", "id,signup\nC1,2026-01-01\nC2,2026-01-01\n");
    p.land(
        "orders.csv",
        "id,customer,date_created_gmt,total,refunded,status\n\
         o1,C1,2026-02-01T10:00:00Z,100,30,completed\n\
         o2,C1,2026-02-02T10:00:00Z,50,,processing\n\
         o3,C2,2026-02-03T10:00:00Z,40,40,completed\n\
         o4,C2,2026-02-04T10:00:00Z,25,,completed\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-02-28"]);
    assert_exit(&out, 0);
    let loaded = p.query(
        "raw/orders",
        "SELECT order_id, status FROM t ORDER BY order_id",
    );
    assert_eq!(
        lines(&loaded)[1..],
        [
            "o1 | completed",
            "o2 | open",
            "o3 | completed",
            "o4 | completed"
        ]
    );
    let clv = p.query(
        "reports/customer_clv",
        "SELECT customer_id, orders, revenue FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&clv)[1..], ["C1 | 1 | 70.0", "C2 | 1 | 25.0"]);
}
