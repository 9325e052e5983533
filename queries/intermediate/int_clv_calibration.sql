-- The CLV model's back-test data (clv_validation, clv_tracking): each
-- buying customer's history cut at the end of a calibration period that
-- stops $clv_holdout_weeks weeks before the run date, and what the customer
-- did in the holdout weeks after it. Empty when $clv_holdout_weeks is 0
-- (the default: no back-test).
--   first_day, calibration_end  days since 1970-01-01 (Date32 as INT)
--   frequency, recency, age     as in int_customer_rfm, at calibration_end;
--                               NULL for a customer whose first purchase
--                               is in the holdout (they only count in
--                               clv_tracking's cohorts)
--   holdout_purchases           distinct purchase days after
--                               calibration_end, up to the run date
-- Days are counted as integers so that a holdout of N weeks is exactly
-- 7 N days whatever the calendar.
WITH days AS (
    SELECT DISTINCT customer_id, CAST(order_date AS INT) AS day
    FROM int_completed_orders
    WHERE order_date <= $run_date AND $clv_holdout_weeks > 0
),
bounds AS (
    SELECT CAST($run_date AS INT) - 7 * CAST($clv_holdout_weeks AS INT) AS calibration_end
)
SELECT
    d.customer_id,
    MIN(d.day) AS first_day,
    MAX(b.calibration_end) AS calibration_end,
    CASE WHEN MIN(d.day) <= MAX(b.calibration_end) THEN
        CAST(COUNT(*) FILTER (WHERE d.day <= b.calibration_end) - 1 AS DOUBLE)
    END AS frequency,
    CASE WHEN MIN(d.day) <= MAX(b.calibration_end) THEN
        CAST(MAX(d.day) FILTER (WHERE d.day <= b.calibration_end) - MIN(d.day) AS DOUBLE) / 7.0
    END AS recency,
    CASE WHEN MIN(d.day) <= MAX(b.calibration_end) THEN
        CAST(MAX(b.calibration_end) - MIN(d.day) AS DOUBLE) / 7.0
    END AS age,
    COUNT(*) FILTER (WHERE d.day > b.calibration_end) AS holdout_purchases
FROM days AS d
CROSS JOIN bounds AS b
GROUP BY d.customer_id
