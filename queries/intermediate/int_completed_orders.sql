-- Orders that count as purchases: those whose status is one of
-- $counted_order_statuses (by default only completed; refunds and
-- cancellations are excluded). An order without a status counts as completed.
-- order_date is the order's day in run.timezone (see stg_orders).
--
-- Money is in the base currency ($currency, run.currency): amount and
-- gross_margin are converted at the latest rate on or before the order's
-- day (int_exchange_rates); the export's own figures stay in
-- original_amount and currency. An order without a currency is in the base
-- currency. An order in a currency with no rate yet has a NULL amount,
-- which fails a data test (see int_currency_coverage for the currency and
-- the first day): never summed as if it were in the base currency, never
-- dropped.
WITH orders AS (
    SELECT *, COALESCE(currency, $currency) AS order_currency
    FROM stg_orders
    WHERE array_has(string_to_array($counted_order_statuses, ','), COALESCE(status, 'completed'))
),
rated AS (
    SELECT
        o.*,
        CASE WHEN o.order_currency = $currency THEN 1.0 ELSE r.rate END AS exchange_rate
    FROM orders AS o
    LEFT JOIN int_exchange_rates AS r
        ON r.currency = o.order_currency AND r.date = o.order_date
)
SELECT
    order_id,
    customer_id,
    ordered_at,
    order_date,
    amount * exchange_rate AS amount,
    gross_margin * exchange_rate AS gross_margin,
    order_currency AS currency,
    amount AS original_amount,
    exchange_rate
FROM rated
