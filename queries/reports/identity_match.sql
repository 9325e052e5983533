-- How much review and social activity identity resolution links to a
-- customer, per source. Unmatched activity is kept and counted here.
WITH activity AS (
    SELECT source, 'reviews' AS entity, customer_id FROM int_review_authors
    UNION ALL
    SELECT source, 'social_activity', customer_id FROM int_social_authors
)
SELECT
    source,
    entity,
    COUNT(*) AS records,
    COUNT(customer_id) AS matched,
    COUNT(*) - COUNT(customer_id) AS unmatched,
    CAST(COUNT(customer_id) AS DOUBLE) / COUNT(*) AS match_rate
FROM activity
GROUP BY source, entity
ORDER BY source, entity
