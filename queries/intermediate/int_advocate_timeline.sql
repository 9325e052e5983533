-- Each customer's advocacy signals as they accumulate: one row per
-- customer and day with an event, holding the running counts, the latest
-- NPS answer so far and the advocacy score they give (see advocates.sql
-- for the score). advocates reads today's row; the first day the score
-- reached $advocate_min_score is when the customer first qualified.
WITH daily AS (
    SELECT
        customer_id,
        event_date,
        SUM(CASE WHEN signal = 'nps' THEN 1 ELSE 0 END) AS nps_answers,
        SUM(CASE WHEN signal = 'feedback' THEN 1 ELSE 0 END) AS feedback,
        SUM(CASE WHEN signal = 'positive_review' THEN 1 ELSE 0 END) AS positive_reviews,
        SUM(CASE WHEN signal = 'mention' THEN 1 ELSE 0 END) AS mentions,
        SUM(CASE WHEN signal = 'share' THEN 1 ELSE 0 END) AS shares,
        SUM(CASE WHEN signal = 'answer' THEN 1 ELSE 0 END) AS answers,
        SUM(CASE WHEN signal = 'accepted_answer' THEN 1 ELSE 0 END) AS accepted_answers,
        SUM(CASE WHEN signal = 'referral_sent' THEN 1 ELSE 0 END) AS referrals_sent,
        SUM(CASE WHEN signal = 'referral_converted' THEN 1 ELSE 0 END) AS referrals_converted
    FROM int_advocacy_events
    GROUP BY customer_id, event_date
),
-- Running counts per customer: each day joined to the customer's days up to
-- it and summed. The join grows with the square of a customer's days with
-- events (3 on average and 140 at most among a generated million: 12M
-- pairs; a daily poster over three years alone would add 600k), and its
-- build side is held in memory. DataFusion 55's window aggregates evaluate
-- a running SUM row by row: nine of them took three times as long.
running AS (
    SELECT
        d.customer_id,
        d.event_date,
        SUM(earlier.nps_answers) AS nps_answers,
        SUM(earlier.feedback) AS feedback,
        SUM(earlier.positive_reviews) AS positive_reviews,
        SUM(earlier.mentions) AS mentions,
        SUM(earlier.shares) AS shares,
        SUM(earlier.answers) AS answers,
        SUM(earlier.accepted_answers) AS accepted_answers,
        SUM(earlier.referrals_sent) AS referrals_sent,
        SUM(earlier.referrals_converted) AS referrals_converted
    FROM daily AS d
    JOIN daily AS earlier
        ON earlier.customer_id = d.customer_id AND earlier.event_date <= d.event_date
    GROUP BY d.customer_id, d.event_date
),
-- Each customer's survey answers numbered in time order, the same way.
nps_ordered AS (
    SELECT
        customer_id,
        value AS score,
        customer_id IS DISTINCT FROM LAG(customer_id) OVER customer_answers AS first_answer,
        ROW_NUMBER() OVER customer_answers AS overall_number
    FROM int_advocacy_events
    WHERE signal = 'nps'
    WINDOW customer_answers AS (ORDER BY customer_id, occurred_at, value)
),
nps_numbered AS (
    SELECT
        customer_id,
        score,
        overall_number + 1 - MAX(CASE WHEN first_answer THEN overall_number END)
            OVER (ORDER BY customer_id, overall_number ROWS UNBOUNDED PRECEDING) AS answer_number
    FROM nps_ordered
),
with_nps AS (
    SELECT r.*, CAST(n.score AS BIGINT) AS latest_nps
    FROM running AS r
    LEFT JOIN nps_numbered AS n
        ON n.customer_id = r.customer_id AND n.answer_number = r.nps_answers
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
    FROM with_nps
)
SELECT
    customer_id,
    event_date,
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
