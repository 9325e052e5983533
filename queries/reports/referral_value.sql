-- Referred vs organic customers: how many, their average predicted CLV,
-- average counted orders and 12-month retention. Retention: of the
-- customers whose first order is at least 12 months before the run date,
-- the share who ordered again between 1 and 12 months after it.
WITH customers AS (
    SELECT
        v.customer_id,
        CASE WHEN v.referred THEN 'referred' ELSE 'organic' END AS acquisition,
        v.orders,
        v.predicted_clv,
        v.first_order_date
    FROM customer_clv AS v
),
retention AS (
    SELECT
        c.customer_id,
        c.first_order_date + INTERVAL '12 months' <= $run_date AS eligible,
        MAX(CASE
            WHEN o.order_date > c.first_order_date + INTERVAL '1 month' - INTERVAL '1 day'
                AND o.order_date <= c.first_order_date + INTERVAL '12 months'
            THEN 1 ELSE 0 END) = 1 AS retained
    FROM customers AS c
    JOIN int_completed_orders AS o ON o.customer_id = c.customer_id
    GROUP BY c.customer_id, c.first_order_date
)
SELECT
    c.acquisition,
    COUNT(*) AS customers,
    SUM(CASE WHEN c.orders > 0 THEN 1 ELSE 0 END) AS buying_customers,
    AVG(c.predicted_clv) AS average_clv,
    AVG(CAST(c.orders AS DOUBLE)) AS average_orders,
    SUM(CASE WHEN r.eligible THEN 1 ELSE 0 END) AS retention_base,
    CAST(SUM(CASE WHEN r.eligible AND r.retained THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(SUM(CASE WHEN r.eligible THEN 1 ELSE 0 END), 0) AS retention_12m
FROM customers AS c
LEFT JOIN retention AS r ON r.customer_id = c.customer_id
GROUP BY c.acquisition
ORDER BY c.acquisition
