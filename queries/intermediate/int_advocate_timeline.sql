-- Each customer's advocacy state through time: the signals of the last
-- $advocate_window_days days (advocacy expires: a promoter of three years
-- ago who has said nothing since is not an advocate today), the latest NPS
-- answer among them and the advocacy score they give (see advocates.sql).
--
-- The state only changes on a day with a signal or on the day one expires
-- (its day + $advocate_window_days), so there is one row per customer and
-- such change day up to the run date (as_of_date) on which some signal is
-- in the window, and the state holds until valid_until (the next change
-- day; NULL when it is the state on the run date; a customer without a row
-- valid on the run date has no signal left). The score only rises on signal days, so the
-- first row reaching $advocate_min_score is the day the customer first
-- qualified. int_advocate_months reads which month ends each advocate row
-- covers.
WITH daily AS (
    SELECT
        customer_id,
        event_date,
        SUM(CASE WHEN signal = 'nps' THEN 1 ELSE 0 END) AS nps_answers,
        -- The day's last answer as one number that sorts by time: epoch
        -- milliseconds x 100 + score, so MAX finds the latest answer (the
        -- higher score on a tie) and its score is the key modulo 100. An
        -- ordered last_value(score ORDER BY occurred_at) cannot be split
        -- into partial aggregates and took most of this model's time.
        MAX(CASE WHEN signal = 'nps' THEN
            CAST(floor(date_part('epoch', occurred_at) * 1000) AS BIGINT) * 100 + CAST(value AS BIGINT)
        END) AS last_nps_key,
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
-- Change days: each signal day, and the day its signals leave the window;
-- with the day before the window each looks back over. The window is an
-- interval (a date plus a bare day count is not planned), written inline:
-- a one-row CTE cross-joined in made DataFusion emit one-row batches.
changes AS (
    SELECT
        customer_id,
        as_of_date,
        CAST(as_of_date - CAST(CAST($advocate_window_days AS VARCHAR) || ' days' AS INTERVAL) AS DATE)
            AS window_before,
        -- The next change day of the same customer (rows in key order: one
        -- sort, not a window partition per customer).
        CASE WHEN LEAD(customer_id) OVER in_time = customer_id
            THEN LEAD(as_of_date) OVER in_time
        END AS valid_until
    FROM (
        SELECT customer_id, event_date AS as_of_date FROM daily
        UNION
        SELECT customer_id, expires_on
        FROM (
            SELECT
                customer_id,
                CAST(event_date + CAST(CAST($advocate_window_days AS VARCHAR) || ' days' AS INTERVAL) AS DATE)
                    AS expires_on
            FROM daily
        ) AS expiring
        WHERE expires_on <= $run_date
    ) AS days
    WINDOW in_time AS (ORDER BY customer_id, as_of_date)
),
-- Each change day joined to the customer's signal days inside its window
-- and summed. A change day whose window is empty (every signal expired)
-- has no row: the customer has no signals from then on until the next
-- one. The join grows with (change days x signal days in the window) per
-- customer. (An outer join to keep the empty days held its build side in
-- memory beside the sort and failed under a tight memory limit.)
windowed AS (
    SELECT
        p.customer_id,
        p.as_of_date,
        p.valid_until,
        SUM(d.nps_answers) AS nps_answers,
        MAX(d.last_nps_key) % 100 AS latest_nps,
        SUM(d.feedback) AS feedback,
        SUM(d.positive_reviews) AS positive_reviews,
        SUM(d.mentions) AS mentions,
        SUM(d.shares) AS shares,
        SUM(d.answers) AS answers,
        SUM(d.accepted_answers) AS accepted_answers,
        SUM(d.referrals_sent) AS referrals_sent,
        SUM(d.referrals_converted) AS referrals_converted
    FROM changes AS p
    JOIN daily AS d
        ON d.customer_id = p.customer_id
        AND d.event_date <= p.as_of_date
        AND d.event_date > p.window_before
    GROUP BY p.customer_id, p.as_of_date, p.valid_until
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
    valid_until,
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
