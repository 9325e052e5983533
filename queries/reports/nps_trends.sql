-- Monthly NPS over all responses. Promoters score >= $promoter_min,
-- passives >= $passive_min, detractors below; NPS = %promoters - %detractors.
WITH classified AS (
    SELECT
        CAST(date_trunc('month', responded_at) AS DATE) AS period_start,
        CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END AS is_promoter,
        CASE WHEN score >= $passive_min AND score < $promoter_min THEN 1 ELSE 0 END AS is_passive,
        CASE WHEN score < $passive_min THEN 1 ELSE 0 END AS is_detractor
    FROM stg_nps_responses
)
SELECT
    'month' AS period,
    period_start,
    'overall' AS dimension,
    'all' AS dimension_value,
    COUNT(*) AS responses,
    SUM(is_promoter) AS promoters,
    SUM(is_passive) AS passives,
    SUM(is_detractor) AS detractors,
    100.0 * (SUM(is_promoter) - SUM(is_detractor)) / COUNT(*) AS nps
FROM classified
GROUP BY period_start
ORDER BY period_start
