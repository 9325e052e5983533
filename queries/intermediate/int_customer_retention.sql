-- 12-month retention of each buying customer at the run date, the one
-- definition the reports share: eligible when the first counted order is
-- at least 12 months before $run_date, retained when the customer ordered
-- again from one month to twelve months after that first order.
-- The window's bounds are computed once per customer, not per order: date
-- plus months is calendar arithmetic, and per order it was most of this
-- model's time (20M orders: 40 s).
WITH windows AS (
    SELECT
        customer_id,
        first_order_date + INTERVAL '1 month' - INTERVAL '1 day' AS retained_after,
        first_order_date + INTERVAL '12 months' AS retained_until
    FROM int_customer_rfm
)
SELECT
    f.customer_id,
    f.retained_until <= $run_date AS eligible,
    MAX(CASE
        WHEN o.order_date > f.retained_after AND o.order_date <= f.retained_until
        THEN 1 ELSE 0 END) = 1 AS retained
FROM windows AS f
JOIN int_completed_orders AS o ON o.customer_id = f.customer_id
GROUP BY f.customer_id, f.retained_after, f.retained_until
