-- One row per survey response: when the same key arrives again (a re-export, a
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
    CAST(local_time(responded_at, $timezone) AS DATE) AS responded_date
FROM (
    SELECT * EXCLUDE (previous_response_id)
    FROM (
        SELECT
            *,
            LAG(response_id) OVER latest_first AS previous_response_id
        FROM raw_nps_responses
        WINDOW latest_first AS (ORDER BY response_id, _loaded_at DESC, _file DESC, _row DESC)
    )
    WHERE previous_response_id IS DISTINCT FROM response_id
) AS latest
