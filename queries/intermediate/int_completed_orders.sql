-- Orders that count as purchases: those whose status is one of
-- $counted_order_statuses (by default only completed; refunds,
-- cancellations and open orders, placed but not yet paid or shipped, are
-- excluded) and that were not refunded in full. An order without a status
-- counts as completed. amount is net of refunded_amount (a partial
-- refund), and gross_margin shrinks with it in proportion; original_amount
-- is the export's amount as it was.
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
--
-- An export keyed by email (a Shopify orders export has no customer id)
-- carries the address's hash as customer_id (ingest hashes keys that are
-- addresses): such an order belongs to the customer with that email hash,
-- the smallest customer id when several share it.
WITH orders AS (
    SELECT *, COALESCE(currency, $currency) AS order_currency
    FROM stg_orders
    WHERE array_has(string_to_array($counted_order_statuses, ','), COALESCE(status, 'completed'))
        -- Refunded in full: no purchase (a free order, amount 0, still is).
        AND NOT (COALESCE(refunded_amount, 0) > 0 AND refunded_amount >= amount)
),
-- Only the customers whose email hash an order carries as its key.
by_email AS (
    SELECT email_hash, MIN(customer_id) AS customer_id
    FROM stg_customers
    WHERE email_hash IN (SELECT customer_id FROM orders)
    GROUP BY email_hash
),
rated AS (
    SELECT
        o.* EXCLUDE (customer_id),
        COALESCE(e.customer_id, o.customer_id) AS customer_id,
        CASE WHEN o.order_currency = $currency THEN 1.0 ELSE r.rate END AS exchange_rate
    FROM orders AS o
    LEFT JOIN by_email AS e
        ON e.email_hash = o.customer_id
    LEFT JOIN int_exchange_rates AS r
        ON r.currency = o.order_currency AND r.date = o.order_date
)
SELECT
    order_id,
    customer_id,
    ordered_at,
    order_date,
    (amount - COALESCE(refunded_amount, 0)) * exchange_rate AS amount,
    CASE WHEN COALESCE(refunded_amount, 0) > 0
        THEN gross_margin * (1 - refunded_amount / amount)
        ELSE gross_margin END * exchange_rate AS gross_margin,
    order_currency AS currency,
    amount AS original_amount,
    exchange_rate
FROM rated
