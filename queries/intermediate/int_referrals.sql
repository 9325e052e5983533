-- Every referral invite up to the run date with what it may be credited
-- for. A referee is counted once, under one invite (`attributed`): the
-- earliest of their invites that led anywhere (a signup or a first
-- purchase), else their earliest invite. So someone invited twice who
-- signs up through the second invite is a signup of the second, as the
-- referred customers (int_referred_customers) and the scorecard count them.
--
-- A referee is recognised by every identity the job has: the referee's
-- customer id, else their email hash matched against the CRM's and the
-- identities' email hashes (int_identity_keys; an ambiguous hash matches
-- nobody). `referee_customer_id` is that customer, whichever way found. An
-- invite sent to someone who was already a customer (signed up before the
-- invite's day) brought nobody in: it is never attributed, however the
-- referee is known. Referees found by neither stand alone, by email hash,
-- else by invite.
--
-- The earliest invite per referee is found by one sort and a look at the
-- previous row, not a ROW_NUMBER() per referee (one window partition per
-- key, many times slower at a million invites).
WITH email_customers AS (
    SELECT key AS email_hash, customer_id
    FROM int_identity_keys
    WHERE kind = 'email' AND customer_id IS NOT NULL
),
resolved AS (
    SELECT
        r.* EXCLUDE (referee_customer_id),
        COALESCE(r.referee_customer_id, e.customer_id) AS referee_customer_id
    FROM stg_referrals AS r
    LEFT JOIN email_customers AS e ON e.email_hash = r.referee_email_hash
),
invites AS (
    SELECT
        r.*,
        COALESCE(r.referee_customer_id, r.referee_email_hash, r.referral_id) AS referee_key,
        c.signup_date IS NOT NULL AND c.signup_date < r.invited_date AS referee_was_customer
    FROM resolved AS r
    LEFT JOIN stg_customers AS c ON c.customer_id = r.referee_customer_id
),
ordered AS (
    SELECT
        *,
        LAG(referee_key) OVER (
            ORDER BY referee_key, COALESCE(signed_up_at, converted_at) IS NULL, invited_at, referral_id
        ) AS previous_referee_key
    FROM invites
    WHERE NOT referee_was_customer
)
SELECT
    i.*,
    COALESCE(o.previous_referee_key IS DISTINCT FROM o.referee_key, false) AS attributed
FROM invites AS i
LEFT JOIN ordered AS o ON o.referral_id = i.referral_id
