-- Social activity per month and platform (and 'all' platforms), up to the
-- run date (months cut in run.timezone; the run date's month is marked
-- period_complete = false).
-- reach: followers of the distinct authors who mentioned, shared or
-- reposted us in the month (each author counted once, at their largest
-- follower count). engagements: likes and shares those same mentions,
-- shares and reposts received, so engagement_rate = engagements / reach
-- has the same events above and below the line. share_of_voice: our
-- mentions among all mentions (ours and competitors', mention events on
-- both sides), on platforms whose export tags competitor mentions at all;
-- the 'all' row pools those platforms only (NULL without any, and in months
-- without a mention).
-- The brand's own accounts (the config's brand_handles) are left out of
-- everything here, counted in brand_events only: their posts and replies
-- are not what others say of us. Events without an author (a comment
-- export that names nobody) count in the volumes and engagements, never as
-- authors or reach; anonymous_events says how many there were.
WITH tagging AS (
    SELECT platform, BOOL_OR(competitor) AS tags_competitors
    FROM int_social_authors
    GROUP BY platform
),
tagged AS (
    SELECT s.*, t.tags_competitors
    FROM int_social_authors AS s
    JOIN tagging AS t ON t.platform = s.platform
    WHERE NOT s.brand
),
brand AS (
    SELECT CAST(date_trunc('month', occurred_date) AS DATE) AS period_start, platform
    FROM int_social_authors
    WHERE brand
),
brand_counts AS (
    SELECT period_start, platform, COUNT(*) AS brand_events
    FROM (
        SELECT * FROM brand
        UNION ALL
        SELECT period_start, 'all' FROM brand
    )
    GROUP BY period_start, platform
),
events AS (
    SELECT CAST(date_trunc('month', occurred_date) AS DATE) AS period_start, platform, * EXCLUDE (platform)
    FROM tagged
    UNION ALL
    SELECT CAST(date_trunc('month', occurred_date) AS DATE), 'all', * EXCLUDE (platform)
    FROM tagged
),
-- One row per author and month: their reach (largest follower count among
-- their mentions, shares and reposts of us) and whether they are a matched
-- or unmatched author of non-competitor posts. Counting authors from here
-- rather than with COUNT(DISTINCT handle) keeps the distinct handles in a
-- grouped aggregation, which spills, instead of in per-group sets held in
-- memory (10M events needed 354 MB more than a 2 GiB limit could give).
author_months AS (
    SELECT
        period_start,
        platform,
        handle,
        MAX(CASE WHEN event_type IN ('mention', 'share', 'repost') AND NOT competitor
            THEN followers END) AS followers,
        BOOL_OR(NOT competitor AND customer_id IS NOT NULL) AS matched,
        BOOL_OR(NOT competitor AND customer_id IS NULL) AS unmatched
    FROM events
    WHERE handle IS NOT NULL
    GROUP BY period_start, platform, handle
),
reach AS (
    SELECT
        period_start,
        platform,
        -- Summed as DECIMAL: a BIGINT sum wraps silently on overflow; this
        -- one fails loudly if it ever exceeds a BIGINT.
        CAST(SUM(CAST(followers AS DECIMAL(38, 0))) AS BIGINT) AS reach,
        COUNT(CASE WHEN matched AND handle IS NOT NULL THEN 1 END) AS matched_authors,
        COUNT(CASE WHEN unmatched AND handle IS NOT NULL THEN 1 END) AS unmatched_authors
    FROM author_months
    GROUP BY period_start, platform
),
counts AS (
    SELECT
        period_start,
        platform,
        SUM(CASE WHEN event_type = 'mention' AND NOT competitor THEN 1 ELSE 0 END) AS mentions,
        SUM(CASE WHEN event_type IN ('share', 'repost') AND NOT competitor THEN 1 ELSE 0 END) AS shares_reposts,
        SUM(CASE WHEN event_type = 'reply' THEN 1 ELSE 0 END) AS replies,
        SUM(CASE WHEN event_type IN ('answer', 'accepted_answer') THEN 1 ELSE 0 END) AS answers,
        SUM(CASE WHEN event_type = 'mention' AND competitor THEN 1 ELSE 0 END) AS competitor_mentions,
        CAST(SUM(CASE WHEN event_type IN ('mention', 'share', 'repost') AND NOT competitor
            THEN CAST(likes AS DECIMAL(38, 0)) + CAST(shares AS DECIMAL(38, 0)) ELSE 0 END)
            AS BIGINT) AS engagements,
        -- Share of voice counts the platforms that tag competitors only.
        SUM(CASE WHEN event_type = 'mention' AND NOT competitor AND tags_competitors
            THEN 1 ELSE 0 END) AS voice_mentions,
        SUM(CASE WHEN handle IS NULL THEN 1 ELSE 0 END) AS anonymous_events,
        BOOL_OR(tags_competitors) AS tags_competitors
    FROM events
    GROUP BY period_start, platform
)
SELECT
    'month' AS period,
    c.period_start,
    c.platform,
    c.mentions,
    c.shares_reposts,
    c.replies,
    c.answers,
    c.competitor_mentions,
    COALESCE(r.reach, 0) AS reach,
    c.engagements,
    CASE WHEN COALESCE(r.reach, 0) > 0 THEN CAST(c.engagements AS DOUBLE) / r.reach END AS engagement_rate,
    CASE WHEN c.tags_competitors AND c.voice_mentions + c.competitor_mentions > 0
        THEN CAST(c.voice_mentions AS DOUBLE) / (c.voice_mentions + c.competitor_mentions)
    END AS share_of_voice,
    COALESCE(r.matched_authors, 0) AS matched_authors,
    COALESCE(r.unmatched_authors, 0) AS unmatched_authors,
    c.anonymous_events,
    COALESCE(b.brand_events, 0) AS brand_events,
    c.period_start + INTERVAL '1 month' - INTERVAL '1 day' <= $run_date AS period_complete
FROM counts AS c
LEFT JOIN reach AS r ON r.period_start = c.period_start AND r.platform = c.platform
LEFT JOIN brand_counts AS b ON b.period_start = c.period_start AND b.platform = c.platform
ORDER BY c.platform, c.period_start
