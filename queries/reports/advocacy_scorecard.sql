-- The programme's headline measures per month, up to the run date (days cut
-- in run.timezone; the run date's month is marked period_complete = false).
--   customers                 signed up by the end of the month
--   new_customers             signed up in the month; referred_new_customers
--                             of them came through a referral invite
--   referral_rate             referred_new_customers / new_customers
--   revenue, referred_revenue counted orders in the month, all / of referred
--                             customers since their invite (int_referred_customers);
--                             referred_revenue_share the ratio
--   active_advocates          customers who were advocates as of the month's end
--                             (signals of the last $advocate_window_days days);
--                             advocate_share = active_advocates / customers
--   mentions, shares_reposts, reach, engagement_rate, share_of_voice
--                             from social_engagement (all platforms)
--   nps, nps_responses        from nps_trends (month, overall)
-- The comparison of advocates, best customers (top CLV decile) and everyone
-- else (average predicted CLV and 12-month retention) is measured at the
-- run date, so it is filled on the run date's month only.
-- Every calendar month from the first signup or order to the run date's,
-- quiet months included.
WITH first_month AS (
    SELECT LEAST(
        (SELECT MIN(signup_date) FROM stg_customers),
        (SELECT MIN(order_date) FROM int_completed_orders),
        CAST($run_date AS DATE)
    ) AS first_day
),
bounded AS (
    SELECT CAST(month AS DATE) AS month
    FROM (
        SELECT unnest(range(
            CAST(date_trunc('month', first_day) AS DATE),
            CAST(date_trunc('month', CAST($run_date AS DATE)) AS DATE) + INTERVAL '1 month',
            INTERVAL '1 month'
        )) AS month
        FROM first_month
    )
),
referred AS (
    SELECT customer_id, invited_at FROM int_referred_customers
),
-- Customers are counted once per signup month, then each reported month
-- adds up the signup months up to it: (months x months), not (months x
-- customers).
signup_months AS (
    SELECT
        CAST(date_trunc('month', c.signup_date) AS DATE) AS month,
        COUNT(*) AS new_customers,
        SUM(CASE WHEN r.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS referred_new_customers
    FROM stg_customers AS c
    LEFT JOIN referred AS r ON r.customer_id = c.customer_id
    WHERE c.signup_date IS NOT NULL
    GROUP BY 1
),
signups AS (
    SELECT
        m.month,
        COALESCE(SUM(s.new_customers), 0) AS customers,
        COALESCE(SUM(CASE WHEN s.month = m.month THEN s.new_customers END), 0) AS new_customers,
        COALESCE(SUM(CASE WHEN s.month = m.month THEN s.referred_new_customers END), 0)
            AS referred_new_customers
    FROM bounded AS m
    LEFT JOIN signup_months AS s ON s.month <= m.month
    GROUP BY m.month
),
sales AS (
    SELECT
        CAST(date_trunc('month', o.order_date) AS DATE) AS month,
        -- DECIMAL sums are exact: the same result whatever order the
        -- parallel partitions add up in.
        CAST(SUM(CAST(o.amount AS DECIMAL(38, 6))) AS DOUBLE) AS revenue,
        CAST(SUM(CASE WHEN r.customer_id IS NOT NULL THEN CAST(o.amount AS DECIMAL(38, 6)) ELSE 0 END) AS DOUBLE)
            AS referred_revenue
    FROM int_completed_orders AS o
    -- Only what referred customers bought from their invite on.
    LEFT JOIN referred AS r ON r.customer_id = o.customer_id AND o.ordered_at >= r.invited_at
    GROUP BY 1
),
-- Advocates as of each month's end (int_advocate_months): their score
-- over the signals of the $advocate_window_days days to it reached
-- $advocate_min_score.
active AS (
    SELECT month, COUNT(*) AS active_advocates
    FROM int_advocate_months
    GROUP BY month
),
retained AS (
    SELECT
        CASE
            WHEN a.is_advocate THEN 'advocates'
            WHEN a.best_customer THEN 'best_customers'
            ELSE 'everyone_else'
        END AS customer_group,
        a.predicted_clv,
        r.eligible,
        r.retained AS kept
    FROM advocates AS a
    LEFT JOIN int_customer_retention AS r ON r.customer_id = a.customer_id
),
comparison AS (
    SELECT
        CAST(date_trunc('month', $run_date) AS DATE) AS month,
        CAST(AVG(CASE WHEN customer_group = 'advocates' THEN CAST(predicted_clv AS DECIMAL(38, 6)) END) AS DOUBLE)
            AS advocates_average_clv,
        CAST(AVG(CASE WHEN customer_group = 'best_customers' THEN CAST(predicted_clv AS DECIMAL(38, 6)) END) AS DOUBLE)
            AS best_customers_average_clv,
        CAST(AVG(CASE WHEN customer_group = 'everyone_else' THEN CAST(predicted_clv AS DECIMAL(38, 6)) END) AS DOUBLE)
            AS everyone_else_average_clv,
        CAST(SUM(CASE WHEN customer_group = 'advocates' AND eligible AND kept THEN 1 ELSE 0 END) AS DOUBLE)
            / NULLIF(SUM(CASE WHEN customer_group = 'advocates' AND eligible THEN 1 ELSE 0 END), 0)
            AS advocates_retention_12m,
        CAST(SUM(CASE WHEN customer_group = 'best_customers' AND eligible AND kept THEN 1 ELSE 0 END) AS DOUBLE)
            / NULLIF(SUM(CASE WHEN customer_group = 'best_customers' AND eligible THEN 1 ELSE 0 END), 0)
            AS best_customers_retention_12m,
        CAST(SUM(CASE WHEN customer_group = 'everyone_else' AND eligible AND kept THEN 1 ELSE 0 END) AS DOUBLE)
            / NULLIF(SUM(CASE WHEN customer_group = 'everyone_else' AND eligible THEN 1 ELSE 0 END), 0)
            AS everyone_else_retention_12m
    FROM retained
),
social AS (
    SELECT period_start AS month, mentions, shares_reposts, reach, engagement_rate, share_of_voice
    FROM social_engagement
    WHERE platform = 'all'
),
nps AS (
    SELECT period_start AS month, nps, responses AS nps_responses
    FROM nps_trends
    WHERE period = 'month' AND dimension = 'overall'
)
SELECT
    s.month,
    s.customers,
    s.new_customers,
    s.referred_new_customers,
    CAST(s.referred_new_customers AS DOUBLE) / NULLIF(s.new_customers, 0) AS referral_rate,
    COALESCE(sa.revenue, 0.0) AS revenue,
    COALESCE(sa.referred_revenue, 0.0) AS referred_revenue,
    sa.referred_revenue / NULLIF(sa.revenue, 0.0) AS referred_revenue_share,
    COALESCE(a.active_advocates, 0) AS active_advocates,
    CAST(COALESCE(a.active_advocates, 0) AS DOUBLE) / NULLIF(s.customers, 0) AS advocate_share,
    COALESCE(so.mentions, 0) AS mentions,
    COALESCE(so.shares_reposts, 0) AS shares_reposts,
    COALESCE(so.reach, 0) AS reach,
    so.engagement_rate,
    so.share_of_voice,
    n.nps,
    COALESCE(n.nps_responses, 0) AS nps_responses,
    c.advocates_average_clv,
    c.best_customers_average_clv,
    c.everyone_else_average_clv,
    c.advocates_retention_12m,
    c.best_customers_retention_12m,
    c.everyone_else_retention_12m,
    s.month + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date AS period_complete
FROM signups AS s
LEFT JOIN sales AS sa ON sa.month = s.month
LEFT JOIN active AS a ON a.month = s.month
LEFT JOIN social AS so ON so.month = s.month
LEFT JOIN nps AS n ON n.month = s.month
LEFT JOIN comparison AS c ON c.month = s.month
ORDER BY s.month
