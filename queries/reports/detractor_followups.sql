-- Detractors to contact: customers whose latest survey answer in the last
-- $detractor_lookback_days days scored below $passive_min, with their
-- comment, their score history (oldest first) and predicted CLV, highest
-- value first so the most valuable unhappy customers are called first.
WITH answers AS (
    SELECT *
    FROM int_nps_responses
    WHERE customer_id IS NOT NULL
),
latest AS (
    SELECT *
    FROM (
        SELECT
            a.*,
            ROW_NUMBER() OVER (
                PARTITION BY customer_id ORDER BY responded_at DESC, response_id DESC
            ) AS answer_rank
        FROM answers AS a
    )
    WHERE answer_rank = 1
),
history AS (
    SELECT
        customer_id,
        array_to_string(array_agg(CAST(score AS VARCHAR) ORDER BY responded_at), ' ') AS score_history,
        COUNT(*) AS responses
    FROM answers
    GROUP BY customer_id
)
SELECT
    l.customer_id,
    l.response_id,
    l.responded_at,
    -- The day of the answer in run.timezone ($timezone), as people there
    -- would date it (an answer at 08:00 in Tokyo is still that day).
    l.responded_date,
    l.score,
    l.comment,
    l.touchpoint,
    l.channel,
    h.score_history,
    h.responses,
    v.predicted_clv,
    v.clv_decile,
    v.revenue
FROM latest AS l
JOIN history AS h ON h.customer_id = l.customer_id
LEFT JOIN customer_clv AS v ON v.customer_id = l.customer_id
WHERE l.score < $passive_min
    -- Within the last $detractor_lookback_days days: the arithmetic stays on
    -- the parameters (a day count subtracted from a column is planned as a
    -- Duration and fails against Date32 when Parquet statistics prune).
    AND l.responded_date > $run_date - CAST($detractor_lookback_days AS INT)
ORDER BY v.predicted_clv DESC NULLS LAST, l.responded_at DESC, l.customer_id
