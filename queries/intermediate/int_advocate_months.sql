-- Who was an advocate as of each month's end (the run date, in the run
-- date's month): one row per customer and month. A customer's advocacy
-- state holds from one change day to the next (int_advocate_timeline), so
-- an advocate row covers the month ends from its as_of_date up to, not
-- including, its valid_until. A survey wave does not make anyone an
-- advocate of the month, and an advocate whose signals expired is not one.
WITH segments AS (
    SELECT
        customer_id,
        as_of_date,
        COALESCE(valid_until, CAST(CAST($run_date AS DATE) + INTERVAL '1 day' AS DATE)) AS until
    FROM int_advocate_timeline
    WHERE advocacy_score >= $advocate_min_score
),
months AS (
    SELECT customer_id, as_of_date, until, CAST(month AS DATE) AS month
    FROM (
        SELECT
            *,
            unnest(range(
                CAST(date_trunc('month', as_of_date) AS DATE),
                CAST(date_trunc('month', CAST(until - INTERVAL '1 day' AS DATE)) AS DATE) + INTERVAL '1 month',
                INTERVAL '1 month'
            )) AS month
        FROM segments
    )
),
evaluated AS (
    SELECT
        customer_id,
        month,
        as_of_date,
        until,
        LEAST(CAST(month + INTERVAL '1 month' - INTERVAL '1 day' AS DATE), CAST($run_date AS DATE)) AS month_end
    FROM months
)
SELECT customer_id, month
FROM evaluated
WHERE month_end >= as_of_date AND month_end < until
