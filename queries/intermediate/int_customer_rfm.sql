-- Each buying customer's purchase history in the terms of the BG/NBD and
-- Gamma-Gamma models, calibrated at the run date ($run_date): orders after
-- it are ignored, so a backfill sees what was known then. Purchases on the
-- same day are one purchase.
--   frequency  repeat purchase days (x)
--   recency    weeks from the first to the last purchase (t_x)
--   age        weeks from the first purchase to the run date (T)
--   monetary   mean value of the repeat purchase days (0 without repeats):
--              their revenue, or with $clv_value = 'margin' their gross
--              margin, so CLV is a margin (profit) figure
-- Money is in the base currency (int_completed_orders).
-- Money is summed as DECIMAL: exact, so the result does not depend on the
-- order in which parallel partitions add the amounts up, and a re-run
-- gives the same bits.
WITH daily AS (
    SELECT
        customer_id,
        order_date,
        SUM(CAST(amount AS DECIMAL(38, 6))) AS day_amount,
        SUM(CAST(CASE WHEN $clv_value = 'margin' THEN gross_margin ELSE amount END AS DECIMAL(38, 6)))
            AS day_value,
        COUNT(*) AS day_orders
    FROM int_completed_orders
    WHERE order_date <= $run_date
    GROUP BY customer_id, order_date
)
-- The mean of the repeat purchase days is the total of all days but the
-- first, over their number. (Numbering each customer's days with a window
-- is one window partition per customer: 3.8 s of 5 at a million.)
SELECT
    customer_id,
    CAST(SUM(day_orders) AS BIGINT) AS orders,
    CAST(SUM(day_amount) AS DOUBLE) AS revenue,
    MIN(order_date) AS first_order_date,
    MAX(order_date) AS last_order_date,
    CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
    CAST(MAX(order_date) - MIN(order_date) AS DOUBLE) / 7.0 AS recency,
    CAST($run_date - MIN(order_date) AS DOUBLE) / 7.0 AS age,
    CASE WHEN COUNT(*) > 1
        THEN CAST(SUM(day_value) - first_value(day_value ORDER BY order_date) AS DOUBLE) / (COUNT(*) - 1)
        ELSE 0.0
    END AS monetary
FROM daily
GROUP BY customer_id
