-- Social events with the customer behind the handle, when the identities
-- export links that handle on that platform to one customer. A handle that
-- several customers claim on the platform is ambiguous: its events stay
-- unmatched (flagged `ambiguous`) rather than going to one of them.
-- Only the kinds of key that are social platforms are joined: emails and
-- review names are most of the keys and never match a handle.
WITH handles AS (
    SELECT kind AS platform, key, customer_id, ambiguous
    FROM int_identity_keys
    WHERE kind IN (SELECT DISTINCT platform FROM stg_social_activity)
)
SELECT
    s.event_id,
    s.platform,
    s.handle,
    s.event_type,
    s.occurred_at,
    s.occurred_date,
    COALESCE(s.followers, 0) AS followers,
    COALESCE(s.likes, 0) AS likes,
    COALESCE(s.shares, 0) AS shares,
    COALESCE(s.competitor, false) AS competitor,
    -- Positive and negative by the sentiment score (the export's, else the
    -- text's; stg_social_activity): at least $positive_sentiment_min,
    -- below 0. Labels are lower-cased at load; map other spellings with
    -- `values:` in the config.
    s.sentiment_score,
    s.sentiment_source,
    COALESCE(s.sentiment_score >= $positive_sentiment_min, false) AS positive,
    COALESCE(s.sentiment_score < 0, false) AS negative,
    -- The brand's own accounts ($brand_handles: "platform:handle" lines,
    -- from the config's brand_handles): never advocacy, never reach.
    COALESCE(array_has(
        string_to_array($brand_handles, chr(10)),
        s.platform || ':' || ltrim(lower(trim(s.handle)), '@')
    ), false) AS brand,
    s._source AS source,
    h.customer_id,
    COALESCE(h.ambiguous, false) AS ambiguous
FROM stg_social_activity AS s
LEFT JOIN handles AS h
    ON h.platform = s.platform AND h.key = ltrim(lower(trim(s.handle)), '@')
