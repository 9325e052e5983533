-- Net Promoter Score per period (week, month, quarter) and per dimension
-- (overall and each of $nps_dimensions: channel, touchpoint, country,
-- segment), with a 95% margin of error, a rolling 3-period NPS and the
-- change against the previous period with a significance flag.
--
-- Promoters score >= $promoter_min, passives >= $passive_min, detractors
-- below. NPS = 100 * (p - d) with p, d the promoter and detractor shares.
-- Its variance (as a fraction) is (p + d - (p - d)^2) / n, the variance of
-- a per-response score of +1 / 0 / -1; the margin of error is
-- 1.96 * sqrt(variance) * 100. A change is significant when it exceeds
-- 1.96 times the standard error of the difference of two independent
-- periods (two-sample z-test at 95%). "Previous" and "rolling" count the
-- periods that had responses.
--
-- With $nps_latest_answer_only, a respondent answering twice in a period
-- counts once, with the latest answer.
WITH responses AS (
    SELECT * FROM int_nps_responses
),
periods AS (
    SELECT
        r.*,
        g.period,
        CAST(CASE g.period
            WHEN 'week' THEN date_trunc('week', r.responded_at)
            WHEN 'month' THEN date_trunc('month', r.responded_at)
            ELSE date_trunc('quarter', r.responded_at)
        END AS DATE) AS period_start
    FROM responses AS r
    CROSS JOIN (VALUES ('week'), ('month'), ('quarter')) AS g(period)
),
counted AS (
    SELECT *
    FROM (
        SELECT
            p.*,
            ROW_NUMBER() OVER (
                PARTITION BY p.period, p.period_start, p.respondent
                ORDER BY p.responded_at DESC, p.response_id DESC
            ) AS answer_rank
        FROM periods AS p
    )
    WHERE answer_rank = 1 OR NOT $nps_latest_answer_only
),
dimensioned AS (
    SELECT period, period_start, 'overall' AS dimension, 'all' AS dimension_value, score FROM counted
    UNION ALL
    SELECT period, period_start, 'channel', channel, score FROM counted
    UNION ALL
    SELECT period, period_start, 'touchpoint', touchpoint, score FROM counted
    UNION ALL
    SELECT period, period_start, 'country', country, score FROM counted
    UNION ALL
    SELECT period, period_start, 'segment', segment, score FROM counted
),
aggregated AS (
    SELECT
        period,
        period_start,
        dimension,
        dimension_value,
        COUNT(*) AS responses,
        SUM(CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END) AS promoters,
        SUM(CASE WHEN score >= $passive_min AND score < $promoter_min THEN 1 ELSE 0 END) AS passives,
        SUM(CASE WHEN score < $passive_min THEN 1 ELSE 0 END) AS detractors
    FROM dimensioned
    WHERE dimension = 'overall'
        OR array_has(string_to_array($nps_dimensions, ','), dimension)
    GROUP BY period, period_start, dimension, dimension_value
),
measured AS (
    SELECT
        *,
        CAST(promoters AS DOUBLE) / responses AS promoter_share,
        CAST(detractors AS DOUBLE) / responses AS detractor_share
    FROM aggregated
),
with_variance AS (
    SELECT
        *,
        100.0 * (promoter_share - detractor_share) AS nps,
        (promoter_share + detractor_share - power(promoter_share - detractor_share, 2)) / responses
            AS nps_variance
    FROM measured
),
windowed AS (
    SELECT
        *,
        LAG(nps) OVER (
            PARTITION BY period, dimension, dimension_value ORDER BY period_start
        ) AS previous_nps,
        LAG(nps_variance) OVER (
            PARTITION BY period, dimension, dimension_value ORDER BY period_start
        ) AS previous_variance,
        SUM(promoters) OVER (
            PARTITION BY period, dimension, dimension_value ORDER BY period_start
            ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
        ) AS promoters_3,
        SUM(detractors) OVER (
            PARTITION BY period, dimension, dimension_value ORDER BY period_start
            ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
        ) AS detractors_3,
        SUM(responses) OVER (
            PARTITION BY period, dimension, dimension_value ORDER BY period_start
            ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
        ) AS responses_3
    FROM with_variance
)
SELECT
    period,
    period_start,
    dimension,
    dimension_value,
    responses,
    promoters,
    passives,
    detractors,
    promoter_share,
    detractor_share,
    nps,
    196.0 * sqrt(nps_variance) AS nps_margin_of_error,
    100.0 * (promoters_3 - detractors_3) / responses_3 AS nps_rolling_3,
    nps - previous_nps AS nps_change,
    COALESCE(abs(nps - previous_nps) > 196.0 * sqrt(nps_variance + previous_variance), false)
        AS change_significant,
    responses < $nps_min_responses AS low_sample
FROM windowed
ORDER BY period, dimension, dimension_value, period_start
