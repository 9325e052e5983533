-- One row per referral invite: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
-- As of the run date: invites sent after $run_date (a backfill) are not
-- known yet, and neither are the funnel steps taken after it (their
-- timestamps are NULL here). Days are cut in run.timezone ($timezone).
WITH latest AS (
    SELECT * EXCLUDE (previous_referral_id)
    FROM (
        SELECT
            *,
            LAG(referral_id) OVER latest_first AS previous_referral_id
        FROM raw_referrals
        WINDOW latest_first AS (ORDER BY referral_id, _loaded_at DESC, _file DESC, _row DESC)
    )
    WHERE previous_referral_id IS DISTINCT FROM referral_id
),
dated AS (
    SELECT
        *,
        CAST(local_time(invited_at, $timezone) AS DATE) AS invited_date,
        CAST(local_time(clicked_at, $timezone) AS DATE) AS clicked_date,
        CAST(local_time(signed_up_at, $timezone) AS DATE) AS signed_up_date,
        CAST(local_time(converted_at, $timezone) AS DATE) AS converted_date
    FROM latest
)
SELECT
    * EXCLUDE (referee_customer_id, clicked_at, signed_up_at, converted_at,
        clicked_date, signed_up_date, converted_date),
    -- A referee who signs up after the run date is nobody yet.
    CASE WHEN COALESCE(signed_up_date, converted_date) > $run_date THEN NULL
        ELSE referee_customer_id END AS referee_customer_id,
    CASE WHEN clicked_date <= $run_date THEN clicked_at END AS clicked_at,
    CASE WHEN signed_up_date <= $run_date THEN signed_up_at END AS signed_up_at,
    CASE WHEN converted_date <= $run_date THEN converted_at END AS converted_at,
    CASE WHEN converted_date <= $run_date THEN converted_date END AS converted_date
FROM dated
WHERE invited_date <= $run_date
