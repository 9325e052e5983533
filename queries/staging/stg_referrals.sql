-- One row per referral invite: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
SELECT * EXCLUDE (previous_referral_id)
FROM (
    SELECT
        *,
        LAG(referral_id) OVER latest_first AS previous_referral_id
    FROM raw_referrals
    WINDOW latest_first AS (ORDER BY referral_id, _loaded_at DESC, _file DESC, _row DESC)
)
WHERE previous_referral_id IS DISTINCT FROM referral_id
