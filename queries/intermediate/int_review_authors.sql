-- Reviews with the customer who wrote them, when identity resolution finds
-- one: the customer id the export carries, else the author's email hash,
-- else the author's display name as recorded in the identities export,
-- else the author's handle as an identity of the review's site. A key that
-- several customers share is ambiguous and matches nobody (the next kind of
-- key may still match); a review left unmatched because of one is flagged
-- `ambiguous`.
WITH by_email AS (
    SELECT key, customer_id, ambiguous FROM int_identity_keys WHERE kind = 'email'
),
by_name AS (
    SELECT key, customer_id, ambiguous FROM int_identity_keys WHERE kind = 'review_name'
),
by_handle AS (
    SELECT kind AS site, key, customer_id, ambiguous
    FROM int_identity_keys
    WHERE kind IN (SELECT DISTINCT site FROM stg_reviews)
)
SELECT
    r.review_id,
    r.site,
    r.rating,
    r.published_at,
    r.published_date,
    r.verified,
    r._source AS source,
    COALESCE(r.customer_id, e.customer_id, n.customer_id, h.customer_id) AS customer_id,
    CASE
        WHEN r.customer_id IS NOT NULL THEN 'export'
        WHEN e.customer_id IS NOT NULL THEN 'email'
        WHEN n.customer_id IS NOT NULL THEN 'review_name'
        WHEN h.customer_id IS NOT NULL THEN 'handle'
    END AS matched_by,
    COALESCE(r.customer_id, e.customer_id, n.customer_id, h.customer_id) IS NULL
        AND (COALESCE(e.ambiguous, false) OR COALESCE(n.ambiguous, false)
            OR COALESCE(h.ambiguous, false)) AS ambiguous
FROM stg_reviews AS r
LEFT JOIN by_email AS e ON e.key = r.author_email_hash
LEFT JOIN by_name AS n ON n.key = lower(trim(r.author_name))
LEFT JOIN by_handle AS h
    ON h.site = r.site AND h.key = ltrim(lower(trim(r.author_handle)), '@')
