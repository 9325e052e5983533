-- Each buying customer's purchase history in the terms of the BG/NBD and
-- Gamma-Gamma models, calibrated at the run date ($run_date): orders after
-- it are ignored, so a backfill sees what was known then. Purchases on the
-- same day are one purchase.
--   frequency  repeat purchase days (x)
--   recency    weeks from the first to the last purchase (t_x)
--   age        weeks from the first purchase to the run date (T)
--   monetary   mean value of the repeat purchase days (0 without repeats)
-- Money is summed as DECIMAL: exact, so the result does not depend on the
-- order in which parallel partitions add the amounts up, and a re-run
-- gives the same bits.
WITH daily AS (
    SELECT customer_id, order_date, SUM(CAST(amount AS DECIMAL(38, 6))) AS day_amount, COUNT(*) AS day_orders
    FROM int_completed_orders
    WHERE order_date <= $run_date
    GROUP BY customer_id, order_date
),
numbered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY order_date) AS purchase_number
    FROM daily
)
SELECT
    customer_id,
    CAST(SUM(day_orders) AS BIGINT) AS orders,
    CAST(SUM(day_amount) AS DOUBLE) AS revenue,
    MIN(order_date) AS first_order_date,
    MAX(order_date) AS last_order_date,
    CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
    CAST(MAX(order_date) - MIN(order_date) AS DOUBLE) / 7.0 AS recency,
    CAST($run_date - MIN(order_date) AS DOUBLE) / 7.0 AS age,
    COALESCE(CAST(AVG(CASE WHEN purchase_number > 1 THEN day_amount END) AS DOUBLE), 0.0) AS monetary
FROM numbered
GROUP BY customer_id
