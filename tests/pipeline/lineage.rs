//! Column lineage (issue 31, point 4): `advocacy lineage <report>.<column>`
//! from the planned SQL down to the export columns, on the bundled project
//! (checked against the SQL by hand) and on a small one that has a window,
//! a union and a filter; `advocacy dag --format json` carries the same per
//! column.

use crate::common::{Project, assert_exit, stderr, stdout};

fn bundled(args: &[&str]) -> std::process::Output {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = args.to_vec();
    all.extend(["--config", "config/advocacy.yaml"]);
    crate::common::advocacy_in(repo, &all, &[])
}

/// predicted_clv = clv_discounted(clv_model's seven parameters, the
/// customer's frequency, recency, age and monetary value); those come from
/// the completed orders' amounts (or margins) and dates, converted to the
/// reporting currency by the day's rate. The join keys and the filter on
/// the order status pick rows, not values, and are not listed.
#[test]
fn the_lineage_of_predicted_clv_reaches_the_shop_export_s_columns() {
    let out = bundled(&["lineage", "customer_clv.predicted_clv"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        r#"customer_clv.predicted_clv is computed from
  models (nearest first):
    clv_model: a, alpha, b, p, q, r, v
    int_customer_rfm: age, frequency, monetary, recency
    int_completed_orders: amount, gross_margin, order_date
    int_exchange_rates: rate
    stg_orders: amount, currency, gross_margin, order_date, refunded_amount
    stg_exchange_rates: currency, quote_currency, rate
  raw fields:
    raw_exchange_rates: currency, quote_currency, rate
    raw_orders: amount, currency, gross_margin, ordered_at, refunded_amount
  sources (config mappings):
    shopify_orders (orders): raw_orders.amount <- column "Total"
    shopify_orders (orders): raw_orders.currency <- column "Currency"
    shopify_orders (orders): raw_orders.gross_margin <- column "Gross Margin"
    shopify_orders (orders): raw_orders.ordered_at <- column "Created At"
    shopify_orders (orders): raw_orders.refunded_amount <- not mapped (NULL)
    ecb_rates (exchange_rates): raw_exchange_rates.currency <- column "CURRENCY_DENOM"
    ecb_rates (exchange_rates): raw_exchange_rates.quote_currency <- column "CURRENCY"
    ecb_rates (exchange_rates): raw_exchange_rates.rate <- column "OBS_VALUE"
"#
    );
}

/// nps = 100 x (promoter share - detractor share): the scores alone.
#[test]
fn the_lineage_of_nps_is_the_survey_score() {
    let out = bundled(&["lineage", "nps_trends.nps"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        r#"nps_trends.nps is computed from
  models (nearest first):
    int_nps_responses: score
    stg_nps_responses: score
  raw fields:
    raw_nps_responses: score
  sources (config mappings):
    delighted_nps (nps_responses): raw_nps_responses.score <- column "Score"
"#
    );
    let out = bundled(&["lineage", "nps_trends.net_promoter_score"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out)
            .contains("nps_trends has no column net_promoter_score (its columns are period, "),
        "{}",
        stderr(&out)
    );
    assert_exit(&bundled(&["lineage", "nps_trends"]), 2);
}

const SOURCE: &str = r#"  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns:
      order_id: id
      customer_id: cid
      ordered_at: at
      amount: { sql: "CAST(net AS DOUBLE) + CAST(tax AS DOUBLE)" }
      currency: { value: EUR }
"#;

#[test]
fn windows_unions_and_filters_on_a_small_project_and_the_json_graph() {
    let p = Project::new();
    p.config(SOURCE);
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount, currency FROM raw_orders WHERE amount > 0",
    );
    p.write(
        "queries/reports/ranked.sql",
        "SELECT customer_id, total, currency,
    ROW_NUMBER() OVER (ORDER BY total DESC) AS rank
FROM (
    SELECT customer_id, sum(amount) AS total, max(currency) AS currency
    FROM stg_orders
    GROUP BY customer_id
    UNION ALL
    SELECT order_id, 0.0, 'none' FROM stg_orders
)",
    );
    p.write(
        "queries/reports/rolled.sql",
        "SELECT currency, customer_id, sum(amount) AS total
FROM stg_orders
GROUP BY ROLLUP (currency, customer_id)",
    );
    p.write(
        "queries/reports/largest.sql",
        "SELECT DISTINCT ON (customer_id) order_id, amount
FROM stg_orders
ORDER BY customer_id, amount DESC",
    );
    let out = p.advocacy(&["lineage", "ranked.rank", "--config", "config.yaml"]);
    assert_exit(&out, 0);
    // The rank orders by total: the amount, and in the union's second
    // branch nothing (a constant); customer_id and order_id only label.
    assert_eq!(
        stdout(&out),
        r#"ranked.rank is computed from
  models (nearest first):
    stg_orders: amount
  raw fields:
    raw_orders: amount
  sources (config mappings):
    shop (orders): raw_orders.amount <- sql CAST(net AS DOUBLE) + CAST(tax AS DOUBLE)
"#
    );
    let out = p.advocacy(&["lineage", "ranked.currency", "--config", "config.yaml"]);
    assert!(
        stdout(&out).contains("shop (orders): raw_orders.currency <- constant \"EUR\""),
        "{}",
        stdout(&out)
    );
    let out = p.advocacy(&["dag", "--format", "json", "--config", "config.yaml"]);
    assert_exit(&out, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let model = |name: &str| -> serde_json::Value {
        json["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    // ROLLUP outputs its grouping columns, then the sums; DISTINCT ON
    // picks rows by customer and amount and returns order_id and amount.
    assert_eq!(
        model("rolled")["columns"],
        serde_json::json!([
            { "name": "currency", "from": ["stg_orders.currency"] },
            { "name": "customer_id", "from": ["stg_orders.customer_id"] },
            { "name": "total", "from": ["stg_orders.amount"] },
        ])
    );
    assert_eq!(
        model("largest")["columns"],
        serde_json::json!([
            { "name": "order_id", "from": ["stg_orders.order_id"] },
            { "name": "amount", "from": ["stg_orders.amount"] },
        ])
    );
    let ranked = &model("ranked");
    assert_eq!(ranked["name"], "ranked");
    assert_eq!(ranked["kind"], "report");
    assert_eq!(ranked["reads"], serde_json::json!(["stg_orders"]));
    assert_eq!(
        ranked["columns"],
        serde_json::json!([
            { "name": "customer_id", "from": ["stg_orders.customer_id", "stg_orders.order_id"] },
            { "name": "total", "from": ["stg_orders.amount"] },
            { "name": "currency", "from": ["stg_orders.currency"] },
            { "name": "rank", "from": ["stg_orders.amount"] },
        ])
    );
    assert_eq!(
        model("stg_orders")["columns"][2],
        serde_json::json!({ "name": "amount", "from": ["raw_orders.amount"] })
    );
}
