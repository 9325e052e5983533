-- One row per identity link: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
SELECT * EXCLUDE (previous_customer_id, previous_kind, previous_value)
FROM (
    SELECT
        *,
        LAG(customer_id) OVER latest_first AS previous_customer_id,
        LAG(kind) OVER latest_first AS previous_kind,
        LAG(value) OVER latest_first AS previous_value
    FROM raw_identities
    WINDOW latest_first AS (ORDER BY customer_id, kind, value, _loaded_at DESC, _file DESC, _row DESC)
)
WHERE (previous_customer_id IS DISTINCT FROM customer_id)
    OR (previous_kind IS DISTINCT FROM kind)
    OR (previous_value IS DISTINCT FROM value)
