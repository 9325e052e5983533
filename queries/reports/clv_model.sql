-- The fitted CLV models: BG/NBD (purchase and drop-out process) and
-- Gamma-Gamma (spend per purchase, on repeat customers only), by maximum
-- likelihood over every buying customer, calibrated at the run date.
-- A model the data cannot identify (no customers, nobody bought twice)
-- has NULL parameters and converged = false; q <= 1 leaves the expected
-- spend undefined, flagged in expected_value_defined.
-- clv_status says whether customer_clv publishes predictions:
--   too_few_repeat_buyers  fewer than $clv_min_repeat_buyers customers bought
--                          twice: neither model is identified, so their
--                          parameters are NULL here and customer_clv
--                          publishes no prediction at all;
--   spend_model_undefined  the purchase model is published, but Gamma-Gamma
--                          has fewer than $clv_min_repeat_buyers repeat
--                          buyers with spend (parameters NULL) or q <= 1 (no
--                          expected spend): no expected order value, CLV or
--                          decile;
--   ok                     every prediction is published.
WITH fits AS (
    SELECT
        bg_nbd_fit(frequency, recency, age) AS bg,
        gamma_gamma_fit(frequency, monetary) AS gg,
        COUNT(CASE WHEN frequency > 0 THEN 1 END) AS repeat_buyers
    FROM int_customer_rfm
),
identified AS (
    SELECT
        *,
        repeat_buyers >= $clv_min_repeat_buyers AND bg['r'] IS NOT NULL AS purchases_identified,
        repeat_buyers >= $clv_min_repeat_buyers
            AND gg['customers'] >= $clv_min_repeat_buyers
            AND gg['p'] IS NOT NULL AS spend_identified
    FROM fits
)
SELECT
    $run_date AS calibration_end,
    CASE WHEN purchases_identified THEN bg['r'] END AS r,
    CASE WHEN purchases_identified THEN bg['alpha'] END AS alpha,
    CASE WHEN purchases_identified THEN bg['a'] END AS a,
    CASE WHEN purchases_identified THEN bg['b'] END AS b,
    bg['log_likelihood'] AS bg_nbd_log_likelihood,
    bg['customers'] AS bg_nbd_customers,
    bg['converged'] AS bg_nbd_converged,
    CASE WHEN spend_identified THEN gg['p'] END AS p,
    CASE WHEN spend_identified THEN gg['q'] END AS q,
    CASE WHEN spend_identified THEN gg['v'] END AS v,
    gg['log_likelihood'] AS gamma_gamma_log_likelihood,
    gg['customers'] AS gamma_gamma_customers,
    gg['excluded'] AS gamma_gamma_excluded,
    gg['converged'] AS gamma_gamma_converged,
    COALESCE(gg['q'] > 1, false) AS expected_value_defined,
    repeat_buyers,
    CASE
        WHEN NOT purchases_identified THEN 'too_few_repeat_buyers'
        WHEN NOT spend_identified OR NOT COALESCE(gg['q'] > 1, false) THEN 'spend_model_undefined'
        ELSE 'ok'
    END AS clv_status
FROM identified
