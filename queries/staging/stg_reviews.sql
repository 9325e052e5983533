-- One row per review per site: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
SELECT * EXCLUDE (load_rank)
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY site, review_id
            ORDER BY _loaded_at DESC, _file DESC, _row DESC
        ) AS load_rank
    FROM raw_reviews
)
WHERE load_rank = 1
