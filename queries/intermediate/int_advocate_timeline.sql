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
running AS (
    SELECT
        customer_id,
        event_date,
        SUM(nps_answers) OVER w AS nps_answers,
        SUM(feedback) OVER w AS feedback,
        SUM(positive_reviews) OVER w AS positive_reviews,
        SUM(mentions) OVER w AS mentions,
        SUM(shares) OVER w AS shares,
        SUM(answers) OVER w AS answers,
        SUM(accepted_answers) OVER w AS accepted_answers,
        SUM(referrals_sent) OVER w AS referrals_sent,
        SUM(referrals_converted) OVER w AS referrals_converted
    FROM daily
    WINDOW w AS (PARTITION BY customer_id ORDER BY event_date ROWS UNBOUNDED PRECEDING)
),
nps_numbered AS (
    SELECT
        customer_id,
        value AS score,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY occurred_at, value) AS answer_number
    FROM int_advocacy_events
    WHERE signal = 'nps'
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
