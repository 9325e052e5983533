-- BG/NBD fitted on the calibration period of int_clv_calibration only (the
-- customers who had bought by its end), for the back-test reports. One row;
-- none when $clv_holdout_weeks is 0. The parameters are columns, not the
-- fit's struct: Ballista 55 cannot decode a plan that aggregates over
-- struct fields taken from a joined table.
WITH fit AS (
    SELECT
        MAX(calibration_end) AS calibration_end,
        bg_nbd_fit(frequency, recency, age) AS bg
    FROM int_clv_calibration
    WHERE frequency IS NOT NULL
    HAVING COUNT(*) > 0
)
SELECT
    calibration_end,
    bg['r'] AS r,
    bg['alpha'] AS alpha,
    bg['a'] AS a,
    bg['b'] AS b,
    bg['log_likelihood'] AS log_likelihood,
    bg['customers'] AS customers,
    bg['converged'] AS converged
FROM fit
