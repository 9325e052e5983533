//! Exchange rates of the simulated world, as the European Central Bank
//! publishes them: one reference rate per currency against the euro on
//! every TARGET business day (no weekends, 1 January, 1 May, 25 and 26
//! December), four decimals. Order values are simulated in USD (the planted
//! Gamma-Gamma parameters are in USD) and exported in the customer's
//! currency at the rate of the order's day (UTC), computed from these
//! published figures, so converting an order back to USD at the latest rate
//! on or before its day gives its simulated value to the cent.

use chrono::{Datelike, NaiveDate, Weekday};

use super::calendar::{DAY_MS, utc};
use super::reference::USD_RATES;

/// The currencies the ECB quotes that the world's customers pay in (the
/// euro is the base of every quote).
pub(super) const QUOTED: [&str; 4] = ["USD", "GBP", "CAD", "AUD"];

/// Whether the ECB publishes reference rates on this day.
pub(super) fn is_business_day(day: NaiveDate) -> bool {
    let holiday = matches!(
        (day.month(), day.day()),
        (1, 1) | (5, 1) | (12, 25) | (12, 26)
    );
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !holiday
}

/// The ECB reference rate on a business day: units of `currency` for one
/// euro. Each currency drifts smoothly (a yearly swing of 3% and a faster
/// one of 1%) around its long-run rate, so consecutive days differ.
pub(super) fn ecb_rate(currency: &str, day: NaiveDate) -> f64 {
    let per_usd = |c: &str| {
        USD_RATES
            .iter()
            .find(|(code, _)| *code == c)
            .map_or(1.0, |(_, r)| *r)
    };
    let drift = |c: &str| {
        let k = QUOTED.iter().position(|q| *q == c).unwrap_or(4) as f64;
        let t = day.num_days_from_ce() as f64;
        1.0 + 0.03 * (t / 365.25 * std::f64::consts::TAU + k).sin()
            + 0.01 * (t / 47.0 * std::f64::consts::TAU + 2.0 * k).sin()
    };
    let units_per_usd = |c: &str| per_usd(c) * drift(c);
    let raw = units_per_usd(currency) / units_per_usd("EUR");
    (raw * 10_000.0).round() / 10_000.0
}

/// The latest business day on or before `day`.
fn published_on_or_before(mut day: NaiveDate) -> NaiveDate {
    while !is_business_day(day) {
        day = day.pred_opt().expect("dates far from chrono's limits");
    }
    day
}

/// Units of `currency` for one USD at the instant `at_ms`: the rate of the
/// latest published day on or before the instant's UTC day, from the
/// published (rounded) figures.
pub(super) fn units_per_usd(currency: &str, at_ms: i64) -> f64 {
    let day = published_on_or_before(utc(at_ms).date_naive());
    let eur_per_usd = 1.0 / ecb_rate("USD", day);
    match currency {
        "EUR" => eur_per_usd,
        "USD" => 1.0,
        other => ecb_rate(other, day) * eur_per_usd,
    }
}

/// The business days from a week before `start_ms` (so the first orders
/// have a rate on or before their day) to the last day before `end_ms`.
pub(super) fn publication_days(start_ms: i64, end_ms: i64) -> Vec<NaiveDate> {
    let first = utc(start_ms - 7 * DAY_MS).date_naive();
    let last = utc(end_ms - 1).date_naive();
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| is_business_day(*d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekend_orders_take_fridays_rate() {
        // 2026-01-03 is a Saturday: Friday 2026-01-02's rate applies.
        let saturday =
            super::super::calendar::date_ms(NaiveDate::from_ymd_opt(2026, 1, 3).unwrap());
        let friday = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let gbp = units_per_usd("GBP", saturday + 10 * 3_600_000);
        assert!((gbp - ecb_rate("GBP", friday) / ecb_rate("USD", friday)).abs() < 1e-12);
        let monday = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_ne!(ecb_rate("GBP", friday), ecb_rate("GBP", monday));
        // Converting back with the published figures recovers the dollars.
        let usd_per_gbp = ecb_rate("USD", friday) / ecb_rate("GBP", friday);
        assert!((100.0 * gbp * usd_per_gbp - 100.0).abs() < 1e-9);
    }
}
