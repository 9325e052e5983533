-- Every key by which a customer can be recognised, once per kind and key,
-- with the customer it identifies: the identities export (email hashes,
-- social handles, review display names) and the CRM's own email hashes.
-- Values are normalised (trimmed, lower-cased, handles without a leading @)
-- so they match what review sites and social exports print. A key that
-- several customers share is ambiguous: it identifies nobody (customer_id
-- NULL), rather than the smallest id. One customer iff min = max, which is
-- cheaper than COUNT(DISTINCT) and spills.
WITH keys AS (
    SELECT customer_id, kind, value FROM stg_identities
    UNION ALL
    SELECT customer_id, 'email', email_hash FROM stg_customers WHERE email_hash IS NOT NULL
)
SELECT
    kind,
    ltrim(lower(trim(value)), '@') AS key,
    CASE WHEN min(customer_id) = max(customer_id) THEN min(customer_id) END AS customer_id,
    min(customer_id) <> max(customer_id) AS ambiguous
FROM keys
WHERE value IS NOT NULL AND trim(value) <> ''
GROUP BY 1, 2
