-- Every referral invite up to the run date with what it may be credited
-- for. A referee is counted once, under one invite: their earliest invite
-- that led to a first purchase, else their earliest invite (`attributed`).
-- An invite sent to someone who was already a customer (signed up before
-- the invite's day) brought nobody in: it is never attributed. Referees
-- are known by customer id, else by email hash, else the invite stands
-- alone.
--
-- The earliest invite per referee is found by one sort and a look at the
-- previous row, not a ROW_NUMBER() per referee (one window partition per
-- key, many times slower at a million invites).
WITH invites AS (
    SELECT
        r.*,
        COALESCE(r.referee_customer_id, r.referee_email_hash, r.referral_id) AS referee_key,
        c.signup_date IS NOT NULL AND c.signup_date < r.invited_date AS referee_was_customer
    FROM stg_referrals AS r
    LEFT JOIN stg_customers AS c ON c.customer_id = r.referee_customer_id
),
ordered AS (
    SELECT
        *,
        LAG(referee_key) OVER (
            ORDER BY referee_key, converted_at IS NULL, invited_at, referral_id
        ) AS previous_referee_key
    FROM invites
    WHERE NOT referee_was_customer
)
SELECT
    i.*,
    COALESCE(o.previous_referee_key IS DISTINCT FROM o.referee_key, false) AS attributed
FROM invites AS i
LEFT JOIN ordered AS o ON o.referral_id = i.referral_id
