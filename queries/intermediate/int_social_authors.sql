-- Social events with the customer behind the handle, when the identities
-- export links that handle on that platform to a customer.
-- Only the kinds of key that are social platforms are grouped: emails and
-- review names are most of the keys and never match a handle.
WITH handles AS (
    SELECT kind AS platform, key, min(customer_id) AS customer_id
    FROM int_identity_keys
    WHERE kind IN (SELECT DISTINCT platform FROM stg_social_activity)
    GROUP BY kind, key
)
SELECT
    s.event_id,
    s.platform,
    s.handle,
    s.event_type,
    s.occurred_at,
    COALESCE(s.followers, 0) AS followers,
    COALESCE(s.likes, 0) AS likes,
    COALESCE(s.shares, 0) AS shares,
    COALESCE(s.competitor, false) AS competitor,
    s._source AS source,
    h.customer_id
FROM stg_social_activity AS s
LEFT JOIN handles AS h
    ON h.platform = s.platform AND h.key = ltrim(lower(trim(s.handle)), '@')
