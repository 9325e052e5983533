-- Advocate retention by cohort, in the long layout BI tools pivot into a
-- retention heatmap: one row per cohort month (the month customers first
-- qualified as advocates) and months since, up to the run date's month.
-- active_advocates: members of the cohort who are still advocates as of
-- that month's end (the run date in its month): their score over the
-- signals of the last $advocate_window_days days is at least
-- $advocate_min_score (int_advocate_months); retention_rate =
-- active_advocates / cohort_size.
WITH members AS (
    SELECT
        customer_id,
        CAST(date_trunc('month', first_qualified_date) AS DATE) AS cohort_month
    FROM advocates
    WHERE first_qualified_date IS NOT NULL
),
cohorts AS (
    SELECT
        cohort_month,
        COUNT(*) AS cohort_size,
        (date_part('year', $run_date) - date_part('year', cohort_month)) * 12
            + date_part('month', $run_date) - date_part('month', cohort_month) AS last_offset
    FROM members
    GROUP BY cohort_month
),
offsets AS (
    SELECT unnest(range(0, 601)) AS months_since
),
activity AS (
    SELECT
        m.cohort_month,
        CAST(
            (date_part('year', a.month) - date_part('year', m.cohort_month)) * 12
            + date_part('month', a.month) - date_part('month', m.cohort_month)
        AS BIGINT) AS months_since,
        COUNT(*) AS active_advocates
    FROM members AS m
    JOIN int_advocate_months AS a
        ON a.customer_id = m.customer_id AND a.month >= m.cohort_month
    GROUP BY 1, 2
)
SELECT
    c.cohort_month,
    o.months_since,
    c.cohort_size,
    COALESCE(a.active_advocates, 0) AS active_advocates,
    CAST(COALESCE(a.active_advocates, 0) AS DOUBLE) / c.cohort_size AS retention_rate,
    -- Only the run date's month is still in progress.
    o.months_since < c.last_offset
        OR CAST(date_trunc('month', $run_date) AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date
        AS period_complete
FROM cohorts AS c
JOIN offsets AS o ON o.months_since <= c.last_offset
LEFT JOIN activity AS a
    ON a.cohort_month = c.cohort_month AND a.months_since = o.months_since
ORDER BY c.cohort_month, o.months_since
