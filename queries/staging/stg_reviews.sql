-- One row per review per site: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
-- Merged by key (models.yml): a night computes this on the loads new since
-- the last run alone, and their rows replace the kept rows of the same key;
-- rows of every day are kept, and later models see those up to $run_date
-- (what happened after it, a backfill, is not known yet).
-- Days are cut in run.timezone ($timezone), not in UTC.
SELECT
    *,
    CAST(local_time(published_at, $timezone) AS DATE) AS published_date
FROM (
    SELECT * EXCLUDE (previous_site, previous_review_id)
    FROM (
        SELECT
            *,
            LAG(site) OVER latest_first AS previous_site,
            LAG(review_id) OVER latest_first AS previous_review_id
        FROM raw_reviews
        WINDOW latest_first AS (ORDER BY site, review_id, _loaded_at DESC, _file DESC, _row DESC)
    )
    WHERE (previous_site IS DISTINCT FROM site)
        OR (previous_review_id IS DISTINCT FROM review_id)
) AS latest
