-- The referral funnel per month of invite and channel (and 'all'
-- channels): invites -> clicks -> signups -> first purchases, each step's
-- rate, days from invite to first purchase (median and 90th percentile),
-- revenue from the referred customers those invites brought in (their
-- counted orders to date), and the viral coefficient.
--
-- A step counts as reached when it or any later step has a date: referral
-- tools often record the purchase but not the click, and the funnel must
-- not narrow then widen.
--
-- viral_coefficient = invites per customer x invite conversion
--                   = (invites / customers) x (first_purchases / invites),
-- with customers = everyone signed up by the end of the month: how many
-- new paying customers each existing customer brings through referrals.
WITH invites AS (
    SELECT
        CAST(date_trunc('month', invited_date) AS DATE) AS period_start,
        COALESCE(channel, 'unknown') AS channel,
        *  EXCLUDE (channel)
    FROM stg_referrals
),
both_levels AS (
    SELECT * FROM invites
    UNION ALL
    SELECT period_start, 'all' AS channel, * EXCLUDE (period_start, channel) FROM invites
),
referee_revenue AS (
    SELECT customer_id, SUM(CAST(amount AS DECIMAL(38, 6))) AS revenue
    FROM int_completed_orders
    GROUP BY customer_id
),
funnel AS (
    SELECT
        b.period_start,
        b.channel,
        COUNT(*) AS invites,
        COUNT(COALESCE(b.clicked_at, b.signed_up_at, b.converted_at)) AS clicks,
        COUNT(COALESCE(b.signed_up_at, b.converted_at)) AS signups,
        COUNT(b.converted_at) AS first_purchases,
        median(date_diff_days) AS median_days_to_convert,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY date_diff_days) AS p90_days_to_convert,
        CAST(COALESCE(SUM(CASE WHEN b.converted_at IS NOT NULL THEN rr.revenue END), 0) AS DOUBLE)
            AS referred_revenue
    FROM (
        SELECT
            *,
            CAST(date_part('epoch', converted_at) - date_part('epoch', invited_at) AS DOUBLE) / 86400.0
                AS date_diff_days
        FROM both_levels
    ) AS b
    LEFT JOIN referee_revenue AS rr ON rr.customer_id = b.referee_customer_id
    GROUP BY b.period_start, b.channel
),
-- Customers signed up by the end of each month: counted per signup month,
-- then summed over the months up to each period (months x months rows), not
-- every period joined to every customer (14M rows at 1M customers). The
-- periods come from the invites, not from funnel, which DataFusion would
-- compute a second time.
signups AS (
    SELECT
        CAST(date_trunc('month', signup_date) AS DATE) AS signup_month,
        COUNT(customer_id) AS customers
    FROM stg_customers
    GROUP BY 1
),
customers AS (
    SELECT p.period_start, COALESCE(SUM(s.customers), 0) AS customers
    FROM (SELECT DISTINCT period_start FROM invites) AS p
    LEFT JOIN signups AS s ON s.signup_month <= p.period_start
    GROUP BY p.period_start
)
SELECT
    'month' AS period,
    f.period_start,
    f.channel,
    f.invites,
    f.clicks,
    f.signups,
    f.first_purchases,
    CAST(f.clicks AS DOUBLE) / f.invites AS click_rate,
    CASE WHEN f.clicks > 0 THEN CAST(f.signups AS DOUBLE) / f.clicks END AS signup_rate,
    CASE WHEN f.signups > 0 THEN CAST(f.first_purchases AS DOUBLE) / f.signups END AS purchase_rate,
    CAST(f.first_purchases AS DOUBLE) / f.invites AS invite_conversion_rate,
    f.median_days_to_convert,
    f.p90_days_to_convert,
    f.referred_revenue,
    c.customers,
    CASE WHEN c.customers > 0 THEN CAST(f.first_purchases AS DOUBLE) / c.customers END AS viral_coefficient,
    f.period_start + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date AS period_complete
FROM funnel AS f
JOIN customers AS c ON c.period_start = f.period_start
ORDER BY f.channel, f.period_start
