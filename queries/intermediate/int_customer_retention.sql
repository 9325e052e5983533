-- 12-month retention of each buying customer at the run date, the one
-- definition the reports share: eligible when the first counted order is
-- at least 12 months before $run_date, retained when the customer ordered
-- again from one month to twelve months after that first order.
SELECT
    f.customer_id,
    f.first_order_date + INTERVAL '12 months' <= $run_date AS eligible,
    MAX(CASE
        WHEN o.order_date > f.first_order_date + INTERVAL '1 month' - INTERVAL '1 day'
            AND o.order_date <= f.first_order_date + INTERVAL '12 months'
        THEN 1 ELSE 0 END) = 1 AS retained
FROM int_customer_rfm AS f
JOIN int_completed_orders AS o ON o.customer_id = f.customer_id
GROUP BY f.customer_id, f.first_order_date
