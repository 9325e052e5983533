-- The rate of every currency to the base currency ($currency, run.currency)
-- on every day from its first quote to the run date: units of $currency for
-- one unit of `currency`, the latest quote on or before the day (a weekend
-- or holiday takes the last business day's rate).
--
-- Quotes are read both ways (1 EUR = 1.08 USD is also 1 USD = 1/1.08 EUR),
-- and a currency quoted only against a third one goes through it on the
-- same day: the ECB quotes every currency against the euro, so with a base
-- of USD, GBP -> USD = (EUR -> USD) / (EUR -> GBP). A direct quote is
-- preferred to a crossed one; among crossed ones the pivot currency first
-- in alphabetical order is taken, so reruns give the same rates.
WITH quotes AS (
    SELECT date, currency AS from_currency, quote_currency AS to_currency, rate
    FROM stg_exchange_rates
    WHERE currency <> quote_currency
    UNION ALL
    SELECT date, quote_currency, currency, 1.0 / rate
    FROM stg_exchange_rates
    WHERE currency <> quote_currency
),
candidates AS (
    SELECT date, from_currency AS currency, rate, 1 AS preference, '' AS via_currency
    FROM quotes
    WHERE to_currency = $currency
    UNION ALL
    SELECT a.date, a.from_currency, a.rate * b.rate, 2, a.to_currency
    FROM quotes AS a
    JOIN quotes AS b
        ON b.date = a.date AND b.from_currency = a.to_currency AND b.to_currency = $currency
    WHERE a.from_currency <> $currency
),
daily_quotes AS (
    SELECT currency, date, first_value(rate ORDER BY preference, via_currency, rate) AS rate
    FROM candidates
    GROUP BY currency, date
),
-- Each quote holds until the next one (or through the run date).
spans AS (
    SELECT
        currency,
        date AS valid_from,
        COALESCE(
            LEAD(date) OVER (PARTITION BY currency ORDER BY date),
            CAST($run_date AS DATE) + INTERVAL '1 day'
        ) AS valid_until,
        rate
    FROM daily_quotes
)
SELECT currency, CAST(day AS DATE) AS date, rate
FROM (
    SELECT currency, rate, unnest(range(valid_from, valid_until, INTERVAL '1 day')) AS day
    FROM spans
)
