-- Reviews per month and site (and 'all' sites): count, average rating, and
-- the shares of positive (4-5 star) and negative (1-2 star) reviews, up to
-- the run date (months cut in run.timezone; the run date's month is
-- marked period_complete = false).
WITH reviews AS (
    SELECT CAST(date_trunc('month', published_date) AS DATE) AS period_start, site, rating
    FROM stg_reviews
    UNION ALL
    SELECT CAST(date_trunc('month', published_date) AS DATE), 'all', rating
    FROM stg_reviews
)
SELECT
    'month' AS period,
    period_start,
    site,
    COUNT(*) AS reviews,
    AVG(CAST(rating AS DOUBLE)) AS average_rating,
    CAST(SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS positive_share,
    CAST(SUM(CASE WHEN rating <= 2 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS negative_share,
    period_start + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date AS period_complete
FROM reviews
GROUP BY period_start, site
ORDER BY site, period_start
