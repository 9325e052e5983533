-- One row per exchange rate quote: on `date`, one unit of `currency` is worth
-- `rate` units of `quote_currency` (run.currency, $currency, when the export
-- does not say). When the same quote arrives again (a re-export, a
-- correction), the latest load wins, and within a load the later row.
-- As of the run date: quotes published after $run_date are not known yet.
WITH quoted AS (
    SELECT * EXCLUDE (quote_currency), COALESCE(quote_currency, $currency) AS quote_currency
    FROM raw_exchange_rates
    WHERE date <= $run_date
)
SELECT * EXCLUDE (previous_date, previous_currency, previous_quote_currency)
FROM (
    SELECT
        *,
        LAG(date) OVER latest_first AS previous_date,
        LAG(currency) OVER latest_first AS previous_currency,
        LAG(quote_currency) OVER latest_first AS previous_quote_currency
    FROM quoted
    WINDOW latest_first AS (
        ORDER BY date, currency, quote_currency, _loaded_at DESC, _file DESC, _row DESC
    )
)
WHERE (previous_date IS DISTINCT FROM date)
    OR (previous_currency IS DISTINCT FROM currency)
    OR (previous_quote_currency IS DISTINCT FROM quote_currency)
