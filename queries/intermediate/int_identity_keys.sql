-- Every way a customer can be recognised: the identities export (email
-- hashes, social handles, review display names) and the CRM's own email
-- hashes. Values are normalised (trimmed, lower-cased, handles without a
-- leading @) so they match what review sites and social exports print.
WITH keys AS (
    SELECT customer_id, kind, value FROM stg_identities
    UNION ALL
    SELECT customer_id, 'email', email_hash FROM stg_customers WHERE email_hash IS NOT NULL
)
SELECT DISTINCT
    customer_id,
    kind,
    ltrim(lower(trim(value)), '@') AS key
FROM keys
WHERE value IS NOT NULL AND trim(value) <> ''
