//! Discounted CLV: the expected order value times the expected purchases
//! of each coming week, discounted at the annual rate, as `lifetimes`
//! computes `customer_lifetime_value`.

use super::bg_nbd::BgNbd;
use super::gamma_gamma::GammaGamma;
use super::input::Rfm;

/// Discounted expected value of purchases over the next `horizon_weeks`, in
/// weekly steps, discounting each week at (1 + annual_rate)^(week/52).
///
/// Weekly steps (rather than a continuous integral) match how finance
/// discounts cash and how `lifetimes` computes CLV, so numbers reconcile.
/// `monetary` is the customer's mean repeat spend (ignored when x = 0).
/// None when spend is undefined (q <= 1) or the inputs are not meaningful.
pub fn discounted_clv(
    bg: &BgNbd,
    gg: &GammaGamma,
    c: &Rfm,
    monetary: f64,
    horizon_weeks: f64,
    annual_discount_rate: f64,
) -> Option<f64> {
    let value = gg.expected_average_value(c.frequency, monetary)?;
    let purchases = discounted_purchases(bg, c, horizon_weeks, annual_discount_rate)?;
    let clv = value * purchases;
    clv.is_finite().then_some(clv)
}

/// Expected discounted number of purchases over the horizon; the part of
/// the CLV that depends on the purchase model only.
fn discounted_purchases(bg: &BgNbd, c: &Rfm, horizon_weeks: f64, annual_rate: f64) -> Option<f64> {
    let result = bg.p_alive(c) * discounted_purchases_if_alive(bg, c, horizon_weeks, annual_rate)?;
    result.is_finite().then_some(result)
}

/// The same for a customer known to be alive: depends on (x, T) only, so
/// callers scoring many customers can compute it once per distinct pair.
pub fn discounted_purchases_if_alive(
    bg: &BgNbd,
    c: &Rfm,
    horizon_weeks: f64,
    annual_rate: f64,
) -> Option<f64> {
    if !(horizon_weeks >= 0.0
        && horizon_weeks.is_finite()
        && annual_rate > -1.0
        && annual_rate.is_finite())
    {
        return None;
    }
    let weekly_log_discount = -(annual_rate.ln_1p()) / 52.0;
    let steps = horizon_weeks.ceil() as u64;
    let mut previous = 0.0;
    let mut total = 0.0;
    for k in 1..=steps {
        let t = (k as f64).min(horizon_weeks);
        let e = bg.expected_purchases_if_alive(t, c.frequency, c.age);
        total += (e - previous) * (weekly_log_discount * t).exp();
        previous = e;
    }
    total.is_finite().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::clv::testing::{CDNOW, CUSTOMER_1, assert_close, cdnow};

    #[test]
    fn discounted_clv_sums_weekly_discounted_increments() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let value = gg.expected_average_value(2.0, 22.35).unwrap();
        // Without discounting the weekly increments telescope.
        let flat = discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 39.0, 0.0).unwrap();
        assert_close(
            flat,
            value * CDNOW.expected_purchases(39.0, &CUSTOMER_1),
            1e-12,
        );
        // One week: the only increment is discounted by (1 + rate)^(1/52).
        let one = discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 1.0, 0.1).unwrap();
        assert_close(
            one,
            value * CDNOW.expected_purchases(1.0, &CUSTOMER_1) / 1.1f64.powf(1.0 / 52.0),
            1e-12,
        );
        // Two weeks, by hand.
        let e1 = CDNOW.expected_purchases(1.0, &CUSTOMER_1);
        let e2 = CDNOW.expected_purchases(2.0, &CUSTOMER_1);
        let two = discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 2.0, 0.1).unwrap();
        assert_close(
            two,
            value * (e1 / 1.1f64.powf(1.0 / 52.0) + (e2 - e1) / 1.1f64.powf(2.0 / 52.0)),
            1e-12,
        );
        // A partial last week is counted up to the horizon.
        let partial = discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 1.5, 0.0).unwrap();
        assert_close(
            partial,
            value * CDNOW.expected_purchases(1.5, &CUSTOMER_1),
            1e-12,
        );
        assert_eq!(
            discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 0.0, 0.1),
            Some(0.0)
        );
        assert_eq!(
            discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, 52.0, -1.0),
            None
        );
        assert_eq!(
            discounted_clv(&CDNOW, &gg, &CUSTOMER_1, 22.35, f64::NAN, 0.1),
            None
        );
    }

    #[test]
    fn cdnow_clv_scores_are_finite_and_consistent() {
        let data = cdnow();
        let rfm: Vec<Rfm> = data.iter().map(|c| c.rfm).collect();
        let bg = crate::functions::clv::fit_bg_nbd(&rfm).unwrap().params;
        let spend: Vec<(f64, f64)> = data.iter().map(|c| (c.rfm.frequency, c.monetary)).collect();
        let gg = crate::functions::clv::fit_gamma_gamma(&spend)
            .unwrap()
            .params;
        let mut total_expected = 0.0;
        for c in &data {
            let alive = bg.p_alive(&c.rfm);
            assert!((0.0..=1.0).contains(&alive));
            let e = bg.expected_purchases(39.0, &c.rfm);
            assert!(e.is_finite() && e >= 0.0);
            total_expected += e;
            let value = gg
                .expected_average_value(c.rfm.frequency, c.monetary)
                .unwrap();
            // Undiscounted CLV is exactly value x expected purchases.
            let flat = discounted_clv(&bg, &gg, &c.rfm, c.monetary, 39.0, 0.0).unwrap();
            assert!(
                (flat - value * e).abs() <= 1e-9 * (1.0 + flat),
                "{flat} vs {}",
                value * e
            );
            let discounted = discounted_clv(&bg, &gg, &c.rfm, c.monetary, 39.0, 0.1).unwrap();
            assert!(discounted <= flat && discounted >= flat / 1.1f64.powf(0.75) - 1e-9);
            // A ten-year horizon (z close to 1) stays finite and above a year's.
            let long = bg.expected_purchases(520.0, &c.rfm);
            assert!(long.is_finite() && long >= e, "{long} < {e}");
        }
        assert!(total_expected.is_finite() && total_expected > 0.0);
    }
}
