-- The referral funnel per month of invite and channel (and 'all'
-- channels): invites -> clicks -> signups -> first purchases, each step's
-- rate, days from invite to first purchase (median and 90th percentile),
-- revenue the referred customers brought after their invite, and the
-- referral k-factor. Everything up to the run date; months are cut in
-- run.timezone.
--
-- A referee counts once, under the invite they are attributed to (their
-- earliest invite that led to a signup or a first purchase, else their
-- earliest; see int_referrals): a second invite to the same person is an
-- invite, maybe a click, but not a second signup or first purchase.
-- Someone who was already a customer when invited (known by id or by an
-- email hash) is not a signup or first purchase either.
--
-- A step counts as reached when it or any later step has a date: referral
-- tools often record the purchase but not the click, and the funnel must
-- not narrow then widen.
--
-- viral_coefficient is the k-factor: invites sent per active customer times
-- the invites' conversion into new customers,
--     k = (invites / active_customers) x (first_purchases / invites),
-- with active_customers those with a counted order in the twelve months
-- ending with the month (int_active_customers). k = 1 would mean every
-- active customer brings in one new paying customer a month.
--
-- Invites need time to convert: those sent less than $referral_window_days
-- days before the run date are counted in immature_invites, and a month is
-- conversion_mature once its last invite is that old, so the latest months'
-- low conversion is not read as a collapse.
WITH invites AS (
    SELECT
        CAST(date_trunc('month', i.invited_date) AS DATE) AS period_start,
        COALESCE(i.channel, 'unknown') AS channel,
        i.invited_date,
        COALESCE(i.clicked_at, i.signed_up_at, i.converted_at) IS NOT NULL AS clicked,
        i.attributed AND COALESCE(i.signed_up_at, i.converted_at) IS NOT NULL AS signed_up,
        i.attributed AND i.converted_at IS NOT NULL AS purchased,
        CASE WHEN i.attributed AND i.converted_at IS NOT NULL THEN
            CAST(date_part('epoch', i.converted_at) - date_part('epoch', i.invited_at) AS DOUBLE) / 86400.0
        END AS days_to_convert,
        CASE WHEN i.attributed THEN r.revenue_since_invite END AS referred_revenue
    FROM int_referrals AS i
    LEFT JOIN int_referred_customers AS r ON r.referral_id = i.referral_id
),
both_levels AS (
    SELECT * FROM invites
    UNION ALL
    SELECT period_start, 'all' AS channel, * EXCLUDE (period_start, channel) FROM invites
),
funnel AS (
    SELECT
        period_start,
        channel,
        COUNT(*) AS invites,
        SUM(CASE WHEN clicked THEN 1 ELSE 0 END) AS clicks,
        SUM(CASE WHEN signed_up THEN 1 ELSE 0 END) AS signups,
        SUM(CASE WHEN purchased THEN 1 ELSE 0 END) AS first_purchases,
        SUM(CASE WHEN invited_date > $run_date - CAST($referral_window_days AS INT) THEN 1 ELSE 0 END)
            AS immature_invites,
        median(days_to_convert) AS median_days_to_convert,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY days_to_convert) AS p90_days_to_convert,
        CAST(COALESCE(SUM(CAST(referred_revenue AS DECIMAL(38, 6))), 0) AS DOUBLE) AS referred_revenue
    FROM both_levels
    GROUP BY period_start, channel
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
    COALESCE(a.active_customers, 0) AS active_customers,
    CASE WHEN a.active_customers > 0 THEN CAST(f.invites AS DOUBLE) / a.active_customers END
        AS invites_per_active_customer,
    CASE WHEN a.active_customers > 0
        THEN (CAST(f.invites AS DOUBLE) / a.active_customers) * (CAST(f.first_purchases AS DOUBLE) / f.invites)
    END AS viral_coefficient,
    f.immature_invites,
    f.period_start + INTERVAL '1 month' - INTERVAL '1 day'
        <= $run_date - CAST($referral_window_days AS INT) AS conversion_mature,
    f.period_start + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date AS period_complete
FROM funnel AS f
LEFT JOIN int_active_customers AS a ON a.month = f.period_start
ORDER BY f.channel, f.period_start
