-- The fitted CLV models: BG/NBD (purchase and drop-out process) and
-- Gamma-Gamma (spend per purchase, on repeat customers only), by maximum
-- likelihood over every buying customer, calibrated at the run date.
-- A model the data cannot identify (no customers, nobody bought twice)
-- has NULL parameters and converged = false; q <= 1 leaves the expected
-- spend undefined, flagged in expected_value_defined.
WITH fits AS (
    SELECT
        bg_nbd_fit(frequency, recency, age) AS bg,
        gamma_gamma_fit(frequency, monetary) AS gg
    FROM int_customer_rfm
)
SELECT
    $run_date AS calibration_end,
    bg['r'] AS r,
    bg['alpha'] AS alpha,
    bg['a'] AS a,
    bg['b'] AS b,
    bg['log_likelihood'] AS bg_nbd_log_likelihood,
    bg['customers'] AS bg_nbd_customers,
    bg['converged'] AS bg_nbd_converged,
    gg['p'] AS p,
    gg['q'] AS q,
    gg['v'] AS v,
    gg['log_likelihood'] AS gamma_gamma_log_likelihood,
    gg['customers'] AS gamma_gamma_customers,
    gg['excluded'] AS gamma_gamma_excluded,
    gg['converged'] AS gamma_gamma_converged,
    COALESCE(gg['q'] > 1, false) AS expected_value_defined
FROM fits
