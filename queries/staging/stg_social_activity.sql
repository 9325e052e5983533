-- One row per social event per platform: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
-- Merged by key (models.yml): a night computes this on the loads new since
-- the last run alone, and their rows replace the kept rows of the same key;
-- rows of every day are kept, and later models see those up to $run_date
-- (what happened after it, a backfill, is not known yet).
-- Days are cut in run.timezone ($timezone), not in UTC.
--
-- sentiment_score in [-1, 1]: the export's sentiment when it has one (a
-- number, or a label: positive 1, neutral 0, negative -1), else, for the
-- mentions, shares and reposts whose advocacy it decides, the text's VADER
-- score (text_sentiment, English only); sentiment_source
-- says which (`export`, `lexicon`, or NULL with neither).
SELECT
    *,
    CAST(local_time(occurred_at, $timezone) AS DATE) AS occurred_date,
    CASE
        WHEN sentiment IS NOT NULL THEN COALESCE(
            TRY_CAST(sentiment AS DOUBLE),
            CASE
                WHEN sentiment IN ('positive', 'very positive', 'very_positive') THEN 1.0
                WHEN sentiment IN ('negative', 'very negative', 'very_negative') THEN -1.0
                WHEN sentiment IN ('neutral', 'mixed') THEN 0.0
            END)
        WHEN text IS NOT NULL AND event_type IN ('mention', 'share', 'repost')
            THEN text_sentiment(text)
    END AS sentiment_score,
    CASE
        WHEN sentiment IS NOT NULL THEN 'export'
        WHEN text IS NOT NULL AND event_type IN ('mention', 'share', 'repost') THEN 'lexicon'
    END AS sentiment_source
FROM (
    SELECT * EXCLUDE (previous_platform, previous_event_id)
    FROM (
        SELECT
            *,
            LAG(platform) OVER latest_first AS previous_platform,
            LAG(event_id) OVER latest_first AS previous_event_id
        FROM raw_social_activity
        WINDOW latest_first AS (ORDER BY platform, event_id, _loaded_at DESC, _file DESC, _row DESC)
    )
    WHERE (previous_platform IS DISTINCT FROM platform)
        OR (previous_event_id IS DISTINCT FROM event_id)
) AS latest
