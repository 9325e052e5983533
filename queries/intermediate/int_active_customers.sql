-- Active customers per month: customers with a counted order in the twelve
-- months ending with that month (for the run date's month, up to the run
-- date). The base of the referral k-factor.
--
-- Each month a customer is active in is credited to their latest order
-- month on or before it: an order month m covers the months from m up to
-- the customer's next order month, or for twelve months if there is none
-- within them. Those spans do not overlap, so +1 at each m and -1 where
-- its span ends, summed over the months up to M, is the number of
-- customers active in M. The next order month within a year is found by
-- joining each customer's order months to their own later ones (a few per
-- customer): at a million customers three times faster than sorting every
-- customer month for a LAG.
WITH customer_months AS (
    SELECT DISTINCT
        customer_id,
        12 * CAST(date_part('year', order_date) AS BIGINT)
            + CAST(date_part('month', order_date) AS BIGINT) - 1 AS month_number
    FROM int_completed_orders
),
next_within_year AS (
    SELECT a.customer_id, a.month_number, MIN(b.month_number) AS next_number
    FROM customer_months AS a
    LEFT JOIN customer_months AS b
        ON b.customer_id = a.customer_id
        AND b.month_number > a.month_number
        AND b.month_number < a.month_number + 12
    GROUP BY a.customer_id, a.month_number
),
changes AS (
    SELECT month_number, 1 AS change FROM next_within_year
    UNION ALL
    SELECT COALESCE(next_number, month_number + 12), -1 FROM next_within_year
),
run_month AS (
    SELECT 12 * CAST(date_part('year', $run_date) AS BIGINT)
        + CAST(date_part('month', $run_date) AS BIGINT) - 1 AS month_number
),
-- Every month from the first order's to the run date's, changes or not.
months AS (
    SELECT unnest(range(first_number, last_number + 1)) AS month_number
    FROM (
        SELECT MIN(c.month_number) AS first_number, MAX(r.month_number) AS last_number
        FROM customer_months AS c
        CROSS JOIN run_month AS r
    ) AS bounds
),
by_month AS (
    SELECT m.month_number, COALESCE(SUM(c.change), 0) AS change
    FROM months AS m
    LEFT JOIN changes AS c ON c.month_number = m.month_number
    GROUP BY m.month_number
)
SELECT
    make_date(CAST(floor(month_number / 12) AS INT), CAST(month_number % 12 + 1 AS INT), 1) AS month,
    SUM(change) OVER (ORDER BY month_number) AS active_customers
FROM by_month
