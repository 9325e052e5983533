-- Every advocacy signal of a known customer up to the run date (the
-- staging models hold nothing later), one row
-- per event: survey answers (with their score) and written feedback,
-- positive (4-5 star) reviews, positive mentions of us (by the export's
-- sentiment, else the text's VADER score: a complaint about us is not
-- advocacy, nor is a neutral mention; a mention with neither a sentiment
-- nor a text still counts), shares and reposts not scored
-- negative, community answers and accepted answers (competitors' excluded), referral
-- invites sent and converted. `value` carries the NPS score or the
-- author's followers.
-- event_date is the event's day in run.timezone.
WITH events AS (
    SELECT
        customer_id,
        responded_date AS event_date,
        responded_at AS occurred_at,
        'nps' AS signal,
        CAST(score AS DOUBLE) AS value
    FROM int_nps_responses
    UNION ALL
    SELECT customer_id, responded_date, responded_at, 'feedback', NULL
    FROM int_nps_responses
    WHERE comment IS NOT NULL AND trim(comment) <> ''
    UNION ALL
    SELECT customer_id, published_date, published_at, 'positive_review', CAST(rating AS DOUBLE)
    FROM int_review_authors
    WHERE rating >= 4
    UNION ALL
    SELECT
        customer_id,
        occurred_date,
        occurred_at,
        CASE event_type
            WHEN 'mention' THEN 'mention'
            WHEN 'share' THEN 'share'
            WHEN 'repost' THEN 'share'
            ELSE event_type
        END,
        CAST(followers AS DOUBLE)
    FROM int_social_authors
    WHERE NOT competitor
        AND NOT brand
        AND (
            -- A mention is advocacy when it says something good; one with
            -- neither a sentiment nor a text says nothing against it.
            (event_type = 'mention' AND (positive OR sentiment_source IS NULL))
            OR (event_type IN ('share', 'repost', 'answer', 'accepted_answer') AND NOT negative)
        )
    UNION ALL
    SELECT referrer_customer_id, invited_date, invited_at, 'referral_sent', NULL
    FROM stg_referrals
    UNION ALL
    -- Each referee once: under the invite they are attributed to.
    SELECT referrer_customer_id, converted_date, converted_at, 'referral_converted', NULL
    FROM int_referrals
    WHERE attributed AND converted_at IS NOT NULL
)
SELECT customer_id, event_date, occurred_at, signal, value
FROM events
WHERE customer_id IS NOT NULL
