-- Customer lifetime value, historical and predicted, per customer.
-- Historical: counted orders and revenue to the run date. Predicted, from
-- clv_model: the probability the customer is still active, expected
-- purchases over the next $clv_horizon_weeks, expected average order value,
-- and CLV = expected value of those purchases discounted at
-- $annual_discount_rate a year. clv_decile 10 is the top 10% by predicted
-- CLV ("best customers"; by rank share, so the top customer is in it
-- whatever their number); customers without a prediction have no decile.
-- clv_status says why a prediction is missing: no_purchases (nothing to
-- predict from), else clv_model's status: too_few_repeat_buyers (fewer than
-- $clv_min_repeat_buyers customers bought twice: clv_model has no
-- parameters, every predicted column is NULL), spend_model_undefined (the
-- purchase predictions are published; the expected order value, CLV and
-- decile are NULL), ok. Historical columns are always published.
-- referred: the customer came through a referral invite sent before they
-- signed up (int_referred_customers).
WITH everyone AS (
    SELECT customer_id FROM stg_customers
    UNION
    SELECT customer_id FROM int_customer_rfm
),
referred AS (
    SELECT customer_id FROM int_referred_customers
),
scored AS (
    SELECT
        e.customer_id,
        COALESCE(r.orders, 0) AS orders,
        COALESCE(r.revenue, 0.0) AS revenue,
        r.first_order_date,
        r.last_order_date,
        r.frequency,
        r.recency AS recency_weeks,
        r.age AS age_weeks,
        bg_nbd_p_alive(m.r, m.alpha, m.a, m.b, r.frequency, r.recency, r.age) AS p_alive,
        bg_nbd_expected_purchases(
            m.r, m.alpha, m.a, m.b, $clv_horizon_weeks, r.frequency, r.recency, r.age
        ) AS expected_purchases,
        -- p_alive is 1 for one-time buyers by the model's construction; the
        -- purchases expected in the next 90 days fall with time since the
        -- last one for every customer, so they rank churn risk.
        bg_nbd_expected_purchases(
            m.r, m.alpha, m.a, m.b, 90.0 / 7.0, r.frequency, r.recency, r.age
        ) AS expected_purchases_90d,
        gamma_gamma_expected_value(m.p, m.q, m.v, r.frequency, r.monetary)
            AS expected_average_order_value,
        clv_discounted(
            m.r, m.alpha, m.a, m.b, m.p, m.q, m.v,
            r.frequency, r.recency, r.age, r.monetary,
            $clv_horizon_weeks, $annual_discount_rate
        ) AS predicted_clv,
        ref.customer_id IS NOT NULL AS referred,
        CASE WHEN r.customer_id IS NULL THEN 'no_purchases' ELSE m.clv_status END AS clv_status
    -- The one-row model goes first: DataFusion's cross join keeps its left
    -- side in memory and streams the right, and the other way round it
    -- scores a million customers several times slower.
    FROM clv_model AS m
    CROSS JOIN everyone AS e
    LEFT JOIN int_customer_rfm AS r ON r.customer_id = e.customer_id
    LEFT JOIN referred AS ref ON ref.customer_id = e.customer_id
),
-- Deciles among the customers with a prediction, by rank share: with the
-- n of them ranked 1 (lowest predicted CLV) to n, a customer's decile is
-- ceil(10 x rank / n). The top customer is always in decile 10 and the
-- deciles are NTILE(10)'s when n is a multiple of ten; with fewer than ten
-- customers NTILE would stop at decile n, and the top spender of six
-- would not be a best customer. n is the rank counted from each end less
-- one (customer_id breaks ties, so each order is total): two windows that
-- stream over sorted rows. A COUNT(*) over the whole partition held it and
-- passed it on as one batch (10M rows at 10M customers, which the sort
-- after it could not take), and joining the deciles back to `scored`
-- computed every CLV function twice per customer.
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY predicted_clv IS NULL ORDER BY predicted_clv, customer_id
        ) AS rank_up,
        ROW_NUMBER() OVER (
            PARTITION BY predicted_clv IS NULL ORDER BY predicted_clv DESC, customer_id DESC
        ) AS rank_down
    FROM scored
)
SELECT
    customer_id, orders, revenue, first_order_date, last_order_date,
    frequency, recency_weeks, age_weeks, p_alive, expected_purchases,
    expected_purchases_90d, expected_average_order_value, predicted_clv,
    referred,
    CASE WHEN predicted_clv IS NOT NULL THEN
        CAST(CEIL(10.0 * rank_up / (rank_up + rank_down - 1)) AS INT)
    END AS clv_decile,
    clv_status
FROM ranked
ORDER BY customer_id
