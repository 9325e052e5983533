-- Who was an advocate as of each month's end (the run date, in the run
-- date's month): one row per customer and month. A customer's advocacy
-- state holds from one change day to the next (int_advocate_timeline), so
-- an advocate row covers the month ends from its as_of_date up to, not
-- including, its valid_until. A survey wave does not make anyone an
-- advocate of the month, and an advocate whose signals expired is not one.
-- Only customers count, as the scorecard's customers do: in the CRM
-- (stg_customers; an advocate whose CRM row was quarantined is nobody's)
-- and signed up by the month's end, so that the advocates of a month are
-- always a subset of its customers.
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
SELECT e.customer_id, e.month
FROM evaluated AS e
JOIN stg_customers AS c ON c.customer_id = e.customer_id
WHERE e.month_end >= e.as_of_date AND e.month_end < e.until AND c.signup_date <= e.month_end
