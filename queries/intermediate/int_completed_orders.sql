-- Orders that count as purchases: those whose status is one of
-- $counted_order_statuses (by default only completed; refunds and
-- cancellations are excluded). An order without a status counts as completed.
-- order_date is the order's day in run.timezone (see stg_orders).
SELECT
    order_id,
    customer_id,
    ordered_at,
    order_date,
    amount,
    currency,
    gross_margin
FROM stg_orders
WHERE array_has(string_to_array($counted_order_statuses, ','), COALESCE(status, 'completed'))
