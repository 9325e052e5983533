-- How much review and social activity identity resolution links to a
-- customer, per source. Unmatched activity is kept and counted here, and
-- so is the part of it whose name or handle several customers share.
WITH activity AS (
    SELECT source, 'reviews' AS entity, customer_id, ambiguous FROM int_review_authors
    UNION ALL
    SELECT source, 'social_activity', customer_id, ambiguous FROM int_social_authors
)
SELECT
    source,
    entity,
    COUNT(*) AS records,
    COUNT(customer_id) AS matched,
    COUNT(*) - COUNT(customer_id) AS unmatched,
    SUM(CASE WHEN ambiguous THEN 1 ELSE 0 END) AS ambiguous,
    CAST(COUNT(customer_id) AS DOUBLE) / COUNT(*) AS match_rate
FROM activity
GROUP BY source, entity
ORDER BY source, entity
