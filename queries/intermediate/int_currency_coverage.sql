-- Whether every counted order could be converted to the base currency
-- ($currency), per order currency: a currency with orders_without_rate > 0
-- needs rates (an exchange_rates source) from first_date_without_rate on.
SELECT
    currency,
    COUNT(*) AS orders,
    COUNT(*) - COUNT(exchange_rate) AS orders_without_rate,
    MIN(CASE WHEN exchange_rate IS NULL THEN order_date END) AS first_date_without_rate
FROM int_completed_orders
GROUP BY currency
ORDER BY currency
