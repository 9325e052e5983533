-- Reviews with the customer who wrote them, when identity resolution finds
-- one: the customer id the export carries, else the author's email hash,
-- else the author's display name as recorded in the identities export.
-- A key shared by several customers resolves to the smallest customer id,
-- so the result is deterministic.
WITH by_email AS (
    SELECT key, min(customer_id) AS customer_id FROM int_identity_keys WHERE kind = 'email' GROUP BY key
),
by_name AS (
    SELECT key, min(customer_id) AS customer_id FROM int_identity_keys WHERE kind = 'review_name' GROUP BY key
),
by_handle AS (
    SELECT key, min(customer_id) AS customer_id FROM int_identity_keys GROUP BY key
)
SELECT
    r.review_id,
    r.site,
    r.rating,
    r.published_at,
    r.verified,
    r._source AS source,
    COALESCE(r.customer_id, e.customer_id, n.customer_id, h.customer_id) AS customer_id,
    CASE
        WHEN r.customer_id IS NOT NULL THEN 'export'
        WHEN e.customer_id IS NOT NULL THEN 'email'
        WHEN n.customer_id IS NOT NULL THEN 'review_name'
        WHEN h.customer_id IS NOT NULL THEN 'handle'
    END AS matched_by
FROM stg_reviews AS r
LEFT JOIN by_email AS e ON e.key = r.author_email_hash
LEFT JOIN by_name AS n ON n.key = lower(trim(r.author_name))
LEFT JOIN by_handle AS h ON h.key = ltrim(lower(trim(r.author_handle)), '@')
