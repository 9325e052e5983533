-- Active customers per month: customers with a counted order in the twelve
-- months ending with that month (for the run date's month, up to the run
-- date). The base of the referral k-factor.
--
-- Each customer is active over the union of the twelve-month spans that
-- start at each month they ordered in. Walking a customer's order months in
-- order, each adds the part of its span not covered by the previous one:
-- from max(month, previous month + 12) to month + 11. Those parts do not
-- overlap, so +1 at each start and -1 after each end, summed over the
-- months up to M, is the number of customers active in M: one sort of the
-- customer months, not a join of every month with every customer.
WITH customer_months AS (
    SELECT DISTINCT
        customer_id,
        12 * CAST(date_part('year', order_date) AS BIGINT)
            + CAST(date_part('month', order_date) AS BIGINT) - 1 AS month_number
    FROM int_completed_orders
),
previous AS (
    SELECT
        month_number,
        customer_id IS NOT DISTINCT FROM LAG(customer_id) OVER in_order AS ordered_before,
        LAG(month_number) OVER in_order AS previous_number
    FROM customer_months
    WINDOW in_order AS (ORDER BY customer_id, month_number)
),
new_parts AS (
    SELECT
        CASE WHEN ordered_before THEN GREATEST(month_number, previous_number + 12)
            ELSE month_number END AS first_number,
        month_number + 12 AS after_number
    FROM previous
),
changes AS (
    SELECT first_number AS month_number, 1 AS change FROM new_parts WHERE first_number < after_number
    UNION ALL
    SELECT after_number, -1 FROM new_parts WHERE first_number < after_number
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
        FROM changes AS c
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
