-- One row per customer: when the same key arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- Rows are put in key order, each key's latest load first, and the first
-- row of every key is kept: one sort and a look at the previous row, which
-- is far cheaper than a ROW_NUMBER() per key (one window partition per key).
-- Merged by key (models.yml): a night computes this on the loads new since
-- the last run alone, and their rows replace the kept rows of the same key;
-- rows of every day are kept, and later models see those up to $run_date
-- by signup_date (who signs up after it, a backfill, is not known yet).
SELECT * EXCLUDE (previous_customer_id)
FROM (
    SELECT
        *,
        LAG(customer_id) OVER latest_first AS previous_customer_id
    FROM raw_customers
    WINDOW latest_first AS (ORDER BY customer_id, _loaded_at DESC, _file DESC, _row DESC)
)
WHERE previous_customer_id IS DISTINCT FROM customer_id
