-- Cumulative repeat purchases week by week, actual against what the
-- back-test model (int_clv_holdout_model, fitted on the calibration
-- period) predicts for the same customers: lifetimes'
-- expected_cumulative_transactions. Week w ends on day start + 7 w, where
-- start is the first purchase day in the data; a customer whose first
-- purchase was on day f contributes E[X(t)] with t = (start + 7 w - f) / 7
-- weeks: the purchases a new customer makes in t weeks (eq. 7 of Fader,
-- Hardie & Lee 2005; bg_nbd_expected_purchases with no history). Customers
-- who first bought in the holdout join the prediction from their first
-- day, as in lifetimes. Purchases are distinct purchase days after the
-- first. Empty when $clv_holdout_weeks is 0.
WITH days AS (
    SELECT DISTINCT customer_id, CAST(order_date AS INT) AS day
    FROM int_completed_orders
    WHERE order_date <= $run_date AND $clv_holdout_weeks > 0
),
firsts AS (
    SELECT customer_id, first_day FROM int_clv_calibration
),
start AS (
    SELECT MIN(first_day) AS start_day FROM firsts
),
weeks AS (
    SELECT unnest(range(1, (CAST($run_date AS INT) - start_day) / 7 + 1)) AS week, start_day
    FROM start
),
ends AS (
    SELECT week, start_day + 7 * week AS end_day FROM weeks
),
cohorts AS (
    SELECT first_day, COUNT(*) AS customers FROM firsts GROUP BY first_day
),
repeats AS (
    SELECT d.day, COUNT(*) AS purchases
    FROM days AS d
    JOIN firsts AS f ON f.customer_id = d.customer_id
    WHERE d.day > f.first_day
    GROUP BY d.day
),
predicted AS (
    SELECT
        e.week,
        -- Summed as DECIMAL (each term to 1e-12): exact, so the total does
        -- not depend on the order parallel partitions add up, and a re-run
        -- gives the same bits.
        CAST(SUM(CAST(c.customers * bg_nbd_expected_purchases(
            m.r, m.alpha, m.a, m.b,
            CAST(e.end_day - c.first_day AS DOUBLE) / 7.0, 0.0, 0.0, 0.0
        ) AS DECIMAL(38, 12))) AS DOUBLE) AS predicted
    FROM int_clv_holdout_model AS m
    CROSS JOIN ends AS e
    JOIN cohorts AS c ON c.first_day < e.end_day
    GROUP BY e.week
),
actual AS (
    SELECT e.week, COALESCE(SUM(r.purchases), 0) AS actual
    FROM ends AS e
    LEFT JOIN repeats AS r ON r.day <= e.end_day
    GROUP BY e.week
)
SELECT
    e.week,
    CAST(e.end_day AS DATE) AS week_end,
    e.end_day > m.calibration_end AS holdout,
    CAST(a.actual AS BIGINT) AS actual_cumulative_purchases,
    COALESCE(p.predicted, 0.0) AS predicted_cumulative_purchases
FROM ends AS e
CROSS JOIN int_clv_holdout_model AS m
JOIN actual AS a ON a.week = e.week
LEFT JOIN predicted AS p ON p.week = e.week
ORDER BY e.week
