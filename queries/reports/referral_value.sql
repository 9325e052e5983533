-- Referred vs organic customers: how many, their average predicted CLV,
-- average counted orders and 12-month retention (int_customer_retention:
-- of the customers whose first order is at least 12 months before the run
-- date, the share who ordered again between 1 and 12 months after it).
WITH customers AS (
    SELECT
        v.customer_id,
        CASE WHEN v.referred THEN 'referred' ELSE 'organic' END AS acquisition,
        v.orders,
        v.predicted_clv
    FROM customer_clv AS v
)
SELECT
    c.acquisition,
    COUNT(*) AS customers,
    SUM(CASE WHEN c.orders > 0 THEN 1 ELSE 0 END) AS buying_customers,
    -- An exact DECIMAL mean: the same bits whatever the summation order.
    CAST(AVG(CAST(c.predicted_clv AS DECIMAL(38, 6))) AS DOUBLE) AS average_clv,
    AVG(CAST(c.orders AS DOUBLE)) AS average_orders,
    SUM(CASE WHEN r.eligible THEN 1 ELSE 0 END) AS retention_base,
    CAST(SUM(CASE WHEN r.eligible AND r.retained THEN 1 ELSE 0 END) AS DOUBLE)
        / NULLIF(SUM(CASE WHEN r.eligible THEN 1 ELSE 0 END), 0) AS retention_12m
FROM customers AS c
LEFT JOIN int_customer_retention AS r ON r.customer_id = c.customer_id
GROUP BY c.acquisition
ORDER BY c.acquisition
