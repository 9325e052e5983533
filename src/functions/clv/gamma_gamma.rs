//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV:
//! using iso-value curves for customer base analysis"; Colombo & Jiang
//! 1999): spend per transaction is Gamma(p, nu) with nu ~ Gamma(q, v)
//! across customers. The likelihood of a customer's mean repeat spend and
//! its gradient, the fit, and the expected average order value.

use super::input::{FitError, distinct_index};
use super::optimize::{inside_edges, minimize_from};
use super::parallel::map_chunks;
use super::special::{digamma, ln_gamma};

const GAMMA_GAMMA: &str = "Gamma-Gamma";

/// Gamma-Gamma spend parameters: spend per transaction is Gamma(p, nu) with
/// nu ~ Gamma(q, v) across customers; v is in currency units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// A fitted Gamma-Gamma model. `excluded` counts the rows that carry no
/// spend information (no repeat purchase, or non-positive mean spend), so a
/// report can show how many customers the spend model actually saw.
#[derive(Clone, Debug, PartialEq)]
pub struct GammaGammaFit {
    pub params: GammaGamma,
    pub log_likelihood: f64,
    pub customers: u64,
    pub excluded: u64,
    pub converged: bool,
    pub iterations: u32,
}

impl GammaGamma {
    /// E[mean transaction value | x repeat purchases averaging `monetary`]:
    /// a credibility-weighted blend of the population mean p v / (q - 1) and
    /// the customer's own mean. The population mean only exists for q > 1,
    /// so for q <= 1 (or nonsensical input) there is no answer: None.
    pub fn expected_average_value(&self, frequency: f64, monetary: f64) -> Option<f64> {
        let GammaGamma { p, q, v } = *self;
        if !(q > 1.0 && p > 0.0 && v > 0.0 && p.is_finite() && q.is_finite() && v.is_finite()) {
            return None;
        }
        if !(frequency >= 0.0 && frequency.is_finite()) {
            return None;
        }
        if frequency == 0.0 {
            return Some(p * v / (q - 1.0));
        }
        if !(monetary >= 0.0 && monetary.is_finite()) {
            return None;
        }
        Some(p * (v + frequency * monetary) / (p * frequency + q - 1.0))
    }

    /// One customer's log-likelihood of their mean repeat spend (the
    /// density of the mean of x Gamma(p, nu) spends, mixed over nu); the fit
    /// uses an aggregated form of the same sum.
    #[cfg(test)]
    fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * v.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (v + x * m).ln()
    }
}

struct GgRow {
    group: u32,
    monetary: f64,
    weight: f64,
}

struct GgData {
    xs: Vec<f64>,
    x_weight: Vec<f64>,
    rows: Vec<GgRow>,
    total_weight: f64,
    /// sum w ln m, sum w x ln m, sum w x ln x: constant across iterations.
    sum_ln_m: f64,
    sum_x_ln_m: f64,
    sum_x_ln_x: f64,
    customers: u64,
    excluded: u64,
}

fn prepare_gg(data: &[(f64, f64)]) -> Result<GgData, FitError> {
    let mut keyed: Vec<(f64, f64)> = Vec::with_capacity(data.len());
    let mut excluded = 0u64;
    for (i, &(x, m)) in data.iter().enumerate() {
        if !(x.is_finite() && m.is_finite()) || x < 0.0 {
            return Err(FitError::InvalidRow {
                model: GAMMA_GAMMA,
                index: i,
                reason: format!("frequency ({x}) must be finite and >= 0, spend ({m}) finite"),
            });
        }
        if x == 0.0 || m <= 0.0 {
            excluded += 1;
            continue;
        }
        keyed.push((x, m));
    }
    if keyed.is_empty() {
        return Err(FitError::NoCustomers {
            model: GAMMA_GAMMA,
            detail: format!(" ({excluded} rows without a repeat purchase or positive spend)"),
        });
    }
    keyed.sort_unstable_by(|p, q| p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)));
    let mut xs: Vec<f64> = keyed.iter().map(|k| k.0).collect();
    xs.dedup();
    let mut x_weight = vec![0.0; xs.len()];
    let mut rows: Vec<GgRow> = Vec::new();
    let (mut sum_ln_m, mut sum_x_ln_m, mut sum_x_ln_x) = (0.0, 0.0, 0.0);
    let mut previous: Option<(f64, f64)> = None;
    for k in &keyed {
        let g = distinct_index(&xs, k.0);
        if previous == Some(*k) {
            if let Some(last) = rows.last_mut() {
                last.weight += 1.0;
            }
        } else {
            rows.push(GgRow {
                group: g,
                monetary: k.1,
                weight: 1.0,
            });
        }
        x_weight[g as usize] += 1.0;
        sum_ln_m += k.1.ln();
        sum_x_ln_m += k.0 * k.1.ln();
        sum_x_ln_x += k.0 * k.0.ln();
        previous = Some(*k);
    }
    let n = keyed.len();
    Ok(GgData {
        xs,
        x_weight,
        rows,
        total_weight: n as f64,
        sum_ln_m,
        sum_x_ln_m,
        sum_x_ln_x,
        customers: n as u64,
        excluded,
    })
}

/// Total Gamma-Gamma log-likelihood and gradient in (p, q, v).
fn gg_loglik_grad(data: &GgData, params: &GammaGamma) -> (f64, [f64; 3]) {
    let GammaGamma { p, q, v } = *params;
    // Row-dependent part: -(p x + q) ln(v + x m).
    let parts = map_chunks(&data.rows, |rows| {
        let (mut ll, mut dp, mut dq, mut dv) = (0.0, 0.0, 0.0, 0.0);
        for row in rows {
            let x = data.xs[row.group as usize];
            let s = v + x * row.monetary;
            let ls = s.ln();
            let pxq = p * x + q;
            ll -= row.weight * pxq * ls;
            dp -= row.weight * x * ls;
            dq -= row.weight * ls;
            dv -= row.weight * pxq / s;
        }
        [ll, dp, dq, dv]
    });
    let mut acc = [0.0; 4];
    for part in parts {
        for i in 0..4 {
            acc[i] += part[i];
        }
    }
    let (mut ll, mut dp, mut dq, mut dv) = (acc[0], acc[1], acc[2], acc[3]);
    let w = data.total_weight;
    let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
    ll += w * (q * v.ln() - lg_q) + p * (data.sum_x_ln_m + data.sum_x_ln_x) - data.sum_ln_m;
    dp += data.sum_x_ln_m + data.sum_x_ln_x;
    dq += w * (v.ln() - dg_q);
    dv += w * q / v;
    for (g, &x) in data.xs.iter().enumerate() {
        let wx = data.x_weight[g];
        let (px, pxq) = (p * x, p * x + q);
        ll += wx * (ln_gamma(pxq) - ln_gamma(px));
        let dg_pxq = digamma(pxq);
        dp += wx * x * (dg_pxq - digamma(px));
        dq += wx * dg_pxq;
    }
    (ll, [dp, dq, dv])
}

/// Fits Gamma-Gamma by maximum likelihood on (frequency, mean repeat spend).
/// Rows with frequency 0 or spend <= 0 carry no information on spend per
/// repeat transaction (and ln(0) would poison the sum), so they are left out
/// and counted in `excluded`. Same optimiser and convergence contract as
/// [`fit_bg_nbd`].
pub fn fit_gamma_gamma(data: &[(f64, f64)]) -> Result<GammaGammaFit, FitError> {
    let prepared = prepare_gg(data)?;
    let n = prepared.total_weight;
    let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
        let params = GammaGamma {
            p: theta[0].exp(),
            q: theta[1].exp(),
            v: theta[2].exp(),
        };
        let (ll, g) = gg_loglik_grad(&prepared, &params);
        let nat = [params.p, params.q, params.v];
        for i in 0..3 {
            grad[i] = -g[i] * nat[i] / n;
        }
        -ll / n
    };
    // Start where the population mean p v / (q - 1) equals the sample mean
    // spend: v carries the currency's scale.
    let mut mean = 0.0;
    for row in &prepared.rows {
        mean += row.weight * row.monetary;
    }
    let mean = (mean / n).max(1e-12);
    let starts = [
        [0.0, (2.0f64).ln(), mean.ln()],
        [(4.0f64).ln(), (4.0f64).ln(), (mean * 0.75).ln()],
        [(0.5f64).ln(), (1.5f64).ln(), mean.ln()],
    ];
    let best =
        minimize_from(&objective, &starts).ok_or(FitError::NotFinite { model: GAMMA_GAMMA })?;
    let params = GammaGamma {
        p: best.x[0].exp(),
        q: best.x[1].exp(),
        v: best.x[2].exp(),
    };
    // v is in currency units: compare it with the mean spend.
    let interior = inside_edges(&[params.p, params.q, params.v / mean]);
    Ok(GammaGammaFit {
        params,
        log_likelihood: -best.f * n,
        customers: prepared.customers,
        excluded: prepared.excluded,
        converged: best.converged && interior,
        iterations: best.iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::clv::discounted_clv;
    use crate::functions::clv::testing::{
        CDNOW, CUSTOMER_1, assert_close, assert_within, cdnow, numeric_gradient,
    };

    #[test]
    fn gamma_gamma_expected_value_and_undefined_spend() {
        let gg = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        // p (v + x m) / (p x + q - 1) for x = 2, m = 22.35: 24.66371391076...
        assert_close(
            gg.expected_average_value(2.0, 22.35).unwrap(),
            24.663_713_910_761_155,
            1e-14,
        );
        // No repeat purchase: the population mean p v / (q - 1).
        assert_close(
            gg.expected_average_value(0.0, 0.0).unwrap(),
            35.218_978_102_189_78,
            1e-14,
        );
        for q in [1.0, 0.5] {
            let bad = GammaGamma { q, ..gg };
            assert_eq!(bad.expected_average_value(2.0, 22.35), None);
            assert_eq!(
                discounted_clv(&CDNOW, &bad, &CUSTOMER_1, 22.35, 52.0, 0.1),
                None
            );
        }
        assert_eq!(gg.expected_average_value(2.0, f64::NAN), None);
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let spend = [
            (2.0, 22.35),
            (1.0, 11.77),
            (0.0, 0.0),
            (4.0, 33.32),
            (3.0, -1.0),
            (2.0, 22.35),
        ];
        let data = prepare_gg(&spend).unwrap();
        assert_eq!((data.customers, data.excluded, data.rows.len()), (4, 2, 3));
        let at = [6.0, 3.5, 15.0];
        let (ll, grad) = gg_loglik_grad(
            &data,
            &GammaGamma {
                p: at[0],
                q: at[1],
                v: at[2],
            },
        );
        let direct = |p: [f64; 3]| {
            let m = GammaGamma {
                p: p[0],
                q: p[1],
                v: p[2],
            };
            spend
                .iter()
                .filter(|s| s.0 > 0.0 && s.1 > 0.0)
                .map(|s| m.log_likelihood(s.0, s.1))
                .sum::<f64>()
        };
        assert_close(ll, direct(at), 1e-13);
        let numeric = numeric_gradient(direct, at);
        for i in 0..3 {
            assert_close(grad[i], numeric[i], 1e-6);
        }
    }

    #[test]
    fn cdnow_gamma_gamma_matches_published_fit() {
        let data = cdnow();
        let spend: Vec<(f64, f64)> = data.iter().map(|c| (c.rfm.frequency, c.monetary)).collect();
        let fit = fit_gamma_gamma(&spend).expect("Gamma-Gamma fit");
        assert!(fit.converged, "fit did not converge: {fit:?}");
        assert_eq!(fit.customers, 946, "repeat customers in the CDNOW sample");
        assert_eq!(fit.excluded, 2357 - 946);
        assert_within("p", fit.params.p, 6.25, 0.01);
        assert_within("q", fit.params.q, 3.74, 0.01);
        assert_within("v", fit.params.v, 15.44, 0.01);
        assert!(fit.log_likelihood.is_finite());
    }
}
