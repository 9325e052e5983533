-- Each customer's advocacy state as time passes: the signals of the last
-- $advocate_window_days days (advocacy expires: a promoter of three years
-- ago who has said nothing since is not an advocate today), the latest NPS
-- answer among them and the advocacy score they give (see advocates.sql).
--
-- One row per customer and as_of_date, evaluated at
--   - every day the customer showed a signal (the score only rises on
--     those days, so the first day it reached $advocate_min_score is one of
--     them: advocates.first_qualified_date), and
--   - every month end (the run date for the run date's month) while any of
--     their signals is still inside the window: whether they were an
--     advocate as of that month (advocacy_scorecard, advocate_cohorts), and
--     as of the run date (advocates).
WITH events AS (
    SELECT *, CAST(event_date AS INT) AS day_number FROM int_advocacy_events
),
daily AS (
    SELECT
        customer_id,
        event_date,
        day_number,
        SUM(CASE WHEN signal = 'nps' THEN 1 ELSE 0 END) AS nps_answers,
        -- The day's last answer (NULL without one): NULLs sort first, then
        -- the answers in time order.
        last_value(CASE WHEN signal = 'nps' THEN value END
            ORDER BY signal = 'nps', occurred_at, value) AS last_nps,
        SUM(CASE WHEN signal = 'feedback' THEN 1 ELSE 0 END) AS feedback,
        SUM(CASE WHEN signal = 'positive_review' THEN 1 ELSE 0 END) AS positive_reviews,
        SUM(CASE WHEN signal = 'mention' THEN 1 ELSE 0 END) AS mentions,
        SUM(CASE WHEN signal = 'share' THEN 1 ELSE 0 END) AS shares,
        SUM(CASE WHEN signal = 'answer' THEN 1 ELSE 0 END) AS answers,
        SUM(CASE WHEN signal = 'accepted_answer' THEN 1 ELSE 0 END) AS accepted_answers,
        SUM(CASE WHEN signal = 'referral_sent' THEN 1 ELSE 0 END) AS referrals_sent,
        SUM(CASE WHEN signal = 'referral_converted' THEN 1 ELSE 0 END) AS referrals_converted
    FROM events
    GROUP BY customer_id, event_date, day_number
),
-- The month ends (capped at the run date) a day's signals are still
-- counted at: from its own month to the month of its last day in the window.
month_ends AS (
    SELECT
        customer_id,
        CAST(month_start + INTERVAL '1 month' - INTERVAL '1 day' AS DATE) AS month_end
    FROM (
        SELECT
            customer_id,
            unnest(range(
                CAST(date_trunc('month', event_date) AS DATE),
                CAST(date_trunc('month', LEAST(
                    -- The window's last day for this day's signals (day numbers: a
                    -- date plus a parameter is not planned).
                    CAST(CAST(day_number + $advocate_window_days - 1 AS INT) AS DATE),
                    CAST($run_date AS DATE)
                )) AS DATE) + INTERVAL '1 month',
                INTERVAL '1 month'
            )) AS month_start
        FROM daily
    )
),
points AS (
    SELECT DISTINCT customer_id, as_of_date, CAST(as_of_date AS INT) AS day_number
    FROM (
        SELECT customer_id, event_date AS as_of_date FROM daily
        UNION ALL
        SELECT customer_id, LEAST(month_end, CAST($run_date AS DATE)) FROM month_ends
    )
),
-- Each point joined to the customer's days inside its window and summed.
-- The join grows with (points x days in the window) per customer: about
-- 15 points and 3 days for most customers.
windowed AS (
    SELECT
        p.customer_id,
        p.as_of_date,
        SUM(d.nps_answers) AS nps_answers,
        CAST(last_value(d.last_nps ORDER BY d.last_nps IS NOT NULL, d.event_date) AS BIGINT)
            AS latest_nps,
        SUM(d.feedback) AS feedback,
        SUM(d.positive_reviews) AS positive_reviews,
        SUM(d.mentions) AS mentions,
        SUM(d.shares) AS shares,
        SUM(d.answers) AS answers,
        SUM(d.accepted_answers) AS accepted_answers,
        SUM(d.referrals_sent) AS referrals_sent,
        SUM(d.referrals_converted) AS referrals_converted
    FROM points AS p
    JOIN daily AS d
        ON d.customer_id = p.customer_id
        AND d.day_number <= p.day_number
        AND d.day_number > p.day_number - $advocate_window_days
    GROUP BY p.customer_id, p.as_of_date
),
components AS (
    SELECT
        *,
        CASE WHEN latest_nps >= $promoter_min THEN 1.0 ELSE 0.0 END AS promoter_part,
        CASE WHEN positive_reviews >= $advocate_signal_cap THEN 1.0
            ELSE CAST(positive_reviews AS DOUBLE) / $advocate_signal_cap END AS review_part,
        CASE WHEN mentions + shares >= $advocate_signal_cap THEN 1.0
            ELSE CAST(mentions + shares AS DOUBLE) / $advocate_signal_cap END AS social_part,
        CASE WHEN answers + accepted_answers >= $advocate_signal_cap THEN 1.0
            ELSE CAST(answers + accepted_answers AS DOUBLE) / $advocate_signal_cap END AS community_part,
        CASE WHEN referrals_converted >= $advocate_signal_cap THEN 1.0
            ELSE CAST(referrals_converted AS DOUBLE) / $advocate_signal_cap END AS referral_part
    FROM windowed
)
SELECT
    customer_id,
    as_of_date,
    nps_answers,
    latest_nps,
    feedback,
    positive_reviews,
    mentions,
    shares,
    answers,
    accepted_answers,
    referrals_sent,
    referrals_converted,
    $advocate_weight_promoter * promoter_part
        + $advocate_weight_reviews * review_part
        + $advocate_weight_social * social_part
        + $advocate_weight_community * community_part
        + $advocate_weight_referrals * referral_part AS advocacy_score
FROM components
