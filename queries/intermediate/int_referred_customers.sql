-- Customers who came through a referral: one row per customer, with the
-- invite they are attributed to (int_referrals) and what they bought from
-- that invite on, up to the run date. Orders placed before the invite were
-- not brought in by it and are left out.
WITH referred AS (
    SELECT referee_customer_id AS customer_id, referral_id, referrer_customer_id, channel,
        invited_at, invited_date, converted_at
    FROM int_referrals
    WHERE attributed AND referee_customer_id IS NOT NULL
),
since_invite AS (
    SELECT
        r.customer_id,
        COUNT(o.order_id) AS orders_since_invite,
        -- DECIMAL sums are exact: the same bits whatever the summation order.
        CAST(COALESCE(SUM(CAST(o.amount AS DECIMAL(38, 6))), 0) AS DOUBLE) AS revenue_since_invite
    FROM referred AS r
    LEFT JOIN int_completed_orders AS o
        ON o.customer_id = r.customer_id AND o.ordered_at >= r.invited_at
    GROUP BY r.customer_id
)
SELECT r.*, s.orders_since_invite, s.revenue_since_invite
FROM referred AS r
JOIN since_invite AS s ON s.customer_id = r.customer_id
