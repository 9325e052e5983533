-- Does the CLV model predict what customers then did? BG/NBD is fitted on
-- the orders up to $clv_holdout_weeks weeks before the run date
-- (int_clv_holdout_model) and predicts each calibration customer's
-- purchases in the holdout weeks after (eq. 10 of Fader, Hardie & Lee
-- 2005, the same function customer_clv uses). The table compares them with
-- the purchase days that followed, by the number of repeat purchases in
-- calibration: 0 to 6, and 7 for "7 or more" (lifetimes'
-- plot_calibration_purchases_vs_holdout_purchases). Empty when
-- $clv_holdout_weeks is 0.
WITH scored AS (
    SELECT
        c.frequency,
        CAST(c.holdout_purchases AS DOUBLE) AS actual,
        bg_nbd_expected_purchases(
            m.r, m.alpha, m.a, m.b,
            CAST($clv_holdout_weeks AS DOUBLE), c.frequency, c.recency, c.age
        ) AS predicted
    FROM int_clv_holdout_model AS m
    CROSS JOIN int_clv_calibration AS c
    WHERE c.frequency IS NOT NULL
)
SELECT
    CAST(LEAST(frequency, 7.0) AS BIGINT) AS frequency,
    COUNT(*) AS customers,
    AVG(actual) AS actual_holdout_purchases,
    -- The mean of DECIMALs (each to 1e-12) is exact, whatever order the
    -- partitions meet in: a re-run gives the same bits.
    CAST(SUM(CAST(predicted AS DECIMAL(38, 12))) AS DOUBLE) / COUNT(*) AS predicted_holdout_purchases
FROM scored
GROUP BY 1
ORDER BY 1
