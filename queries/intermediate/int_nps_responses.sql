-- Survey responses with the customer who answered: the customer id the
-- survey tool recorded, else the customer whose email hash matches. The
-- respondent key falls back to the email hash (or the response itself)
-- so unmatched answers still count once per person. An email hash shared
-- by several customers resolves to the smallest customer id, so an answer
-- is never counted twice.
WITH unmatched_emails AS (
    SELECT DISTINCT email_hash
    FROM stg_nps_responses
    WHERE customer_id IS NULL AND email_hash IS NOT NULL
),
-- Only the customers whose email an answer without customer id carries are
-- ranked (a tenth of the customers at a million): a window partition per
-- email over every customer took 5 s there.
by_email AS (
    SELECT customer_id, email_hash, country, segment
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (PARTITION BY email_hash ORDER BY customer_id) AS holder_rank
        FROM stg_customers
        WHERE email_hash IN (SELECT email_hash FROM unmatched_emails)
    )
    WHERE holder_rank = 1
)
SELECT
    n.response_id,
    n.responded_at,
    n.responded_date,
    n.score,
    n.comment,
    COALESCE(n.channel, 'unknown') AS channel,
    COALESCE(n.touchpoint, 'unknown') AS touchpoint,
    COALESCE(n.customer_id, by_email.customer_id) AS customer_id,
    COALESCE(by_id.country, by_email.country, 'unknown') AS country,
    COALESCE(by_id.segment, by_email.segment, 'unknown') AS segment,
    COALESCE(n.customer_id, by_email.customer_id, n.email_hash, n.response_id) AS respondent
FROM stg_nps_responses AS n
LEFT JOIN stg_customers AS by_id
    ON by_id.customer_id = n.customer_id
-- The email is only looked at when the survey tool recorded no customer id;
-- as a plain key equality (NULL matches nothing) this is a hash join, not a
-- join filter evaluated on every pair of equal emails.
LEFT JOIN by_email
    ON by_email.email_hash = CASE WHEN n.customer_id IS NULL THEN n.email_hash END
