//! The small shop several suites build on: one CSV source of orders, a
//! staging model and two reports (revenue per customer, big orders).

use super::Project;

/// The `sources:` entry of the shop's orders, as `Project::config` takes it.
pub const SOURCE: &str = r#"  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
"#;

/// Revenue and orders per customer, in customer order.
pub const REVENUE: &str = "SELECT customer_id, sum(amount) AS revenue, count(*) AS orders
FROM stg_orders
GROUP BY customer_id
ORDER BY customer_id";

/// A project of the shop: `orders` landed as orders.csv (a header
/// `id,cid,at,amount` and its rows), stg_orders, the revenue and big_orders
/// reports, and `models_yml` as queries/models.yml.
pub fn project(orders: &str, models_yml: &str) -> Project {
    let p = Project::new();
    p.config(SOURCE);
    p.land("orders.csv", orders);
    p.write(
        "queries/staging/stg_orders.sql",
        "SELECT order_id, customer_id, amount FROM raw_orders",
    );
    p.write("queries/reports/revenue.sql", REVENUE);
    p.write(
        "queries/reports/big_orders.sql",
        "SELECT order_id, amount FROM stg_orders WHERE amount >= 100",
    );
    p.write("queries/models.yml", models_yml);
    p
}
