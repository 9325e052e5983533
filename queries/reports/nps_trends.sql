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
-- Rows in (period, period start, respondent) order, each respondent's
-- latest answer first; the first row of each is the one that counts. (One
-- sort and a look at the previous row: a ROW_NUMBER() per respondent and
-- period is one window partition each, and ten times slower.)
counted AS (
    SELECT *
    FROM (
        SELECT
            p.*,
            LAG(p.period) OVER latest_first AS previous_period,
            LAG(p.period_start) OVER latest_first AS previous_period_start,
            LAG(p.respondent) OVER latest_first AS previous_respondent
        FROM periods AS p
        WINDOW latest_first AS (
            ORDER BY p.period, p.period_start, p.respondent, p.responded_at DESC, p.response_id DESC
        )
    )
    WHERE NOT $nps_latest_answer_only
        OR (previous_period IS DISTINCT FROM period)
        OR (previous_period_start IS DISTINCT FROM period_start)
        OR (previous_respondent IS DISTINCT FROM respondent)
),
-- Counted once per combination of the dimensions, then each combination
-- is spread over the dimensions reported (overall and $nps_dimensions) and
-- summed again: the answers are read once, not once per dimension.
cells AS (
    SELECT
        period,
        period_start,
        channel,
        touchpoint,
        country,
        segment,
        COUNT(*) AS responses,
        SUM(CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END) AS promoters,
        SUM(CASE WHEN score >= $passive_min AND score < $promoter_min THEN 1 ELSE 0 END) AS passives,
        SUM(CASE WHEN score < $passive_min THEN 1 ELSE 0 END) AS detractors
    FROM counted
    GROUP BY period, period_start, channel, touchpoint, country, segment
),
dimensions AS (
    SELECT dimension
    FROM (VALUES ('overall'), ('channel'), ('touchpoint'), ('country'), ('segment')) AS d(dimension)
    WHERE dimension = 'overall'
        OR array_has(string_to_array($nps_dimensions, ','), dimension)
),
aggregated AS (
    SELECT
        c.period,
        c.period_start,
        d.dimension,
        CASE d.dimension
            WHEN 'channel' THEN c.channel
            WHEN 'touchpoint' THEN c.touchpoint
            WHEN 'country' THEN c.country
            WHEN 'segment' THEN c.segment
            ELSE 'all'
        END AS dimension_value,
        SUM(c.responses) AS responses,
        SUM(c.promoters) AS promoters,
        SUM(c.passives) AS passives,
        SUM(c.detractors) AS detractors
    FROM cells AS c
    CROSS JOIN dimensions AS d
    GROUP BY 1, 2, 3, 4
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
