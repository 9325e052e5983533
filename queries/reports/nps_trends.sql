-- Net Promoter Score per period (week, month, quarter) and per dimension
-- (overall and each of $nps_dimensions: channel, touchpoint, country,
-- segment), with a 95% margin of error, a rolling 3-period NPS and the
-- change against the previous period with a significance flag.
--
-- Promoters score >= $promoter_min, passives >= $passive_min, detractors
-- below. NPS = 100 * (p - d) with p, d the promoter and detractor shares.
--
-- Error bars: each answer is a score of +1 / 0 / -1, whose variance is
-- p + d - (p - d)^2. With p and d measured on a handful of answers that is
-- often 0 (three 10s: p = 1, d = 0), which would make any change look
-- certain, so the shares in the variance are adjusted by one answer of each
-- kind: p' = (P + 1) / (n + 3), d' = (D + 1) / (n + 3), and
-- var = (p' + d' - (p' - d')^2) / (n + 3), never 0. The margin of error is
-- 1.96 * sqrt(var) * 100. A change is significant when both periods have
-- at least $nps_min_responses answers and it exceeds 1.96 standard errors
-- of the difference of the two (independent) periods: a two-sample z-test
-- at 95%.
--
-- Every answer up to the run date counts, on its day in run.timezone
-- (responded_date); the run date's own week, month and quarter are still in
-- progress (period_complete = false).
--
-- Periods are calendar periods: the change compares with the immediately
-- preceding week, month or quarter (NULL when it had no answers), and the
-- rolling NPS pools the current and the two preceding calendar periods,
-- whichever of them had answers.
--
-- With $nps_latest_answer_only, a respondent answering twice in a period
-- counts once, with the latest answer, in each row the answers fall in: a
-- customer who answered an onboarding survey and later a support survey
-- in the same month counts once overall (support) but also once in the
-- onboarding row of the touchpoint dimension.
WITH responses AS (
    SELECT
        respondent,
        responded_at,
        response_id,
        score,
        channel,
        touchpoint,
        country,
        segment,
        CAST(date_trunc('week', responded_date) AS DATE) AS week_start,
        CAST(date_trunc('month', responded_date) AS DATE) AS month_start,
        CAST(date_trunc('quarter', responded_date) AS DATE) AS quarter_start
    FROM int_nps_responses
),
dimensions AS (
    SELECT dimension
    FROM (VALUES ('overall'), ('channel'), ('touchpoint'), ('country'), ('segment')) AS d(dimension)
    WHERE dimension = 'overall'
        OR array_has(string_to_array($nps_dimensions, ','), dimension)
),
-- Only respondents who answered twice in one week or one quarter (and so
-- possibly one month) can have an answer that does not count: their answers
-- alone are spread over the dimensions and sorted below (29% of the answers
-- at a million customers); everyone else's are counted per combination of
-- periods and dimension values first, and those (far fewer) combinations
-- spread over the dimensions.
repeat_respondents AS (
    SELECT DISTINCT respondent
    FROM (
        SELECT respondent FROM responses GROUP BY respondent, week_start HAVING COUNT(*) > 1
        UNION ALL
        SELECT respondent FROM responses GROUP BY respondent, quarter_start HAVING COUNT(*) > 1
    ) AS repeated
),
marked AS (
    SELECT r.*, rr.respondent IS NOT NULL AS answered_more_than_once
    FROM responses AS r
    LEFT JOIN repeat_respondents AS rr ON rr.respondent = r.respondent
),
single_cells AS (
    SELECT
        week_start,
        month_start,
        quarter_start,
        channel,
        touchpoint,
        country,
        segment,
        COUNT(*) AS responses,
        SUM(CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END) AS promoters,
        SUM(CASE WHEN score >= $passive_min AND score < $promoter_min THEN 1 ELSE 0 END) AS passives,
        SUM(CASE WHEN score < $passive_min THEN 1 ELSE 0 END) AS detractors
    FROM marked
    WHERE NOT answered_more_than_once
    GROUP BY 1, 2, 3, 4, 5, 6, 7
),
-- Each answer of a repeat respondent once per dimension reported, with the
-- value it counts under. The dimensions on the left: DataFusion's cross
-- join keeps its left side in memory and streams the right.
spread AS (
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'channel' THEN r.channel
            WHEN 'touchpoint' THEN r.touchpoint
            WHEN 'country' THEN r.country
            WHEN 'segment' THEN r.segment
            ELSE 'all'
        END AS dimension_value,
        r.*
    FROM dimensions AS d
    CROSS JOIN (SELECT * FROM marked WHERE answered_more_than_once) AS r
),
-- A repeat respondent's answers under one dimension value, in time order,
-- each with the periods of the respondent's next answer there: the latest
-- answer in a period is the one whose next answer falls in a later period,
-- or that has none. One sort and a look at the next row (a ROW_NUMBER()
-- per respondent and period is one window partition each, and ten times
-- slower).
sequenced AS (
    SELECT
        *,
        $nps_latest_answer_only
            AND LEAD(respondent) OVER in_time IS NOT DISTINCT FROM respondent AS answered_again,
        LEAD(week_start) OVER in_time AS next_week_start,
        LEAD(month_start) OVER in_time AS next_month_start,
        LEAD(quarter_start) OVER in_time AS next_quarter_start
    FROM spread
    WINDOW in_time AS (
        PARTITION BY dimension, dimension_value ORDER BY respondent, responded_at, response_id
    )
),
-- Answers counted per dimension value, combination of periods and whether
-- the answer counts in each...
by_answer AS (
    SELECT
        dimension,
        dimension_value,
        week_start,
        month_start,
        quarter_start,
        NOT (answered_again AND next_week_start = week_start) AS counts_in_week,
        NOT (answered_again AND next_month_start = month_start) AS counts_in_month,
        NOT (answered_again AND next_quarter_start = quarter_start) AS counts_in_quarter,
        COUNT(*) AS responses,
        SUM(CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END) AS promoters,
        SUM(CASE WHEN score >= $passive_min AND score < $promoter_min THEN 1 ELSE 0 END) AS passives,
        SUM(CASE WHEN score < $passive_min THEN 1 ELSE 0 END) AS detractors
    FROM sequenced
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    UNION ALL
    SELECT
        d.dimension,
        CASE d.dimension
            WHEN 'channel' THEN c.channel
            WHEN 'touchpoint' THEN c.touchpoint
            WHEN 'country' THEN c.country
            WHEN 'segment' THEN c.segment
            ELSE 'all'
        END AS dimension_value,
        c.week_start,
        c.month_start,
        c.quarter_start,
        true AS counts_in_week,
        true AS counts_in_month,
        true AS counts_in_quarter,
        c.responses,
        c.promoters,
        c.passives,
        c.detractors
    FROM dimensions AS d
    CROSS JOIN single_cells AS c
),
-- ...then spread over the period kinds where they count and summed again:
-- the answers are read once, not once per period kind.
aggregated AS (
    SELECT
        g.period,
        CASE g.period
            WHEN 'week' THEN a.week_start
            WHEN 'month' THEN a.month_start
            ELSE a.quarter_start
        END AS period_start,
        a.dimension,
        a.dimension_value,
        SUM(a.responses) AS responses,
        SUM(a.promoters) AS promoters,
        SUM(a.passives) AS passives,
        SUM(a.detractors) AS detractors
    FROM by_answer AS a
    CROSS JOIN (VALUES ('week'), ('month'), ('quarter')) AS g(period)
    WHERE CASE g.period
        WHEN 'week' THEN a.counts_in_week
        WHEN 'month' THEN a.counts_in_month
        ELSE a.counts_in_quarter
    END
    GROUP BY 1, 2, 3, 4
),
measured AS (
    SELECT
        *,
        CAST(promoters AS DOUBLE) / responses AS promoter_share,
        CAST(detractors AS DOUBLE) / responses AS detractor_share,
        CAST(promoters + 1 AS DOUBLE) / (responses + 3) AS adjusted_promoter_share,
        CAST(detractors + 1 AS DOUBLE) / (responses + 3) AS adjusted_detractor_share,
        -- Consecutive numbers for consecutive calendar periods: weeks since
        -- Monday 1969-12-29 (259,200 s before the epoch; a week is 604,800 s),
        -- months and quarters since year 0.
        CASE period
            WHEN 'week' THEN
                (CAST(date_part('epoch', period_start) AS BIGINT) + 259200) / 604800
            WHEN 'month' THEN
                12 * CAST(date_part('year', period_start) AS BIGINT)
                    + CAST(date_part('month', period_start) AS BIGINT)
            ELSE
                4 * CAST(date_part('year', period_start) AS BIGINT)
                    + CAST(date_part('quarter', period_start) AS BIGINT)
        END AS period_number
    FROM aggregated
),
with_variance AS (
    SELECT
        *,
        100.0 * (promoter_share - detractor_share) AS nps,
        (adjusted_promoter_share + adjusted_detractor_share
            - power(adjusted_promoter_share - adjusted_detractor_share, 2)) / (responses + 3)
            AS nps_variance
    FROM measured
),
windowed AS (
    SELECT
        *,
        LAG(period_number) OVER series AS previous_number,
        LAG(nps) OVER series AS previous_nps,
        LAG(nps_variance) OVER series AS previous_variance,
        LAG(responses) OVER series AS previous_responses,
        SUM(promoters) OVER rolling AS promoters_3,
        SUM(detractors) OVER rolling AS detractors_3,
        SUM(responses) OVER rolling AS responses_3
    FROM with_variance
    WINDOW
        series AS (PARTITION BY period, dimension, dimension_value ORDER BY period_number),
        rolling AS (
            PARTITION BY period, dimension, dimension_value ORDER BY period_number
            RANGE BETWEEN 2 PRECEDING AND CURRENT ROW
        )
),
compared AS (
    SELECT
        *,
        -- The previous row is the previous calendar period only if no
        -- period without answers lies between them.
        previous_number = period_number - 1 AS has_previous
    FROM windowed
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
    CASE WHEN has_previous THEN nps - previous_nps END AS nps_change,
    COALESCE(
        has_previous
            AND responses >= $nps_min_responses
            AND previous_responses >= $nps_min_responses
            AND abs(nps - previous_nps) > 196.0 * sqrt(nps_variance + previous_variance),
        false
    ) AS change_significant,
    responses < $nps_min_responses AS low_sample,
    -- The run date's own period is still in progress.
    CASE period
        WHEN 'week' THEN period_start + INTERVAL '6 days'
        WHEN 'month' THEN period_start + INTERVAL '1 month' - INTERVAL '1 day'
        ELSE period_start + INTERVAL '3 months' - INTERVAL '1 day'
    END <= $run_date AS period_complete
FROM compared
ORDER BY period, dimension, dimension_value, period_start
