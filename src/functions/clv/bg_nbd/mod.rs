//! The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your
//! customers the easy way"; equation numbers are the paper's): each
//! customer buys at a Poisson rate lambda ~ Gamma(r, alpha) and drops out
//! after any repeat purchase with probability p ~ Beta(a, b). The
//! likelihood (eq. 6) and its analytic gradient, the fit, and the
//! predictions: P(alive) (eq. 13) and expected purchases (eq. 10).

use std::cmp::Ordering;

use super::input::{FitError, Rfm, canonical, distinct_index};
use super::optimize::{inside_edges, minimize_from};
use super::parallel::map_chunks;
use super::special::{
    digamma, interpolate_across, ln_gamma, ln_hyp2f1_split, log_add_exp, sigmoid,
};

const BG_NBD: &str = "BG/NBD";

/// BG/NBD population parameters: purchase rates are Gamma(r, alpha)
/// (alpha in weeks), drop-out probabilities after each purchase Beta(a, b).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted BG/NBD model. `customers` counts every input row (including the
/// duplicates that were collapsed), so it can be reported next to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct BgNbdFit {
    pub params: BgNbd,
    pub log_likelihood: f64,
    pub customers: u64,
    pub converged: bool,
    pub iterations: u32,
}

impl BgNbd {
    /// One customer's log-likelihood (eq. 6 of Fader, Hardie & Lee 2005),
    /// with the "still alive" and "dropped out after the last purchase"
    /// branches combined by log-sum-exp so large x cannot overflow.
    pub fn log_likelihood(&self, c: &Rfm) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = c.frequency;
        let common =
            ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
                - ln_gamma(b)
                - ln_gamma(a + b + x);
        let alive = -(r + x) * (alpha + c.age).ln();
        if x > 0.0 {
            let dead = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + c.recency).ln();
            common + log_add_exp(alive, dead)
        } else {
            common + alive
        }
    }

    /// Probability the customer has not dropped out by the end of
    /// calibration (eq. 13). Someone who never came back is alive by the
    /// model's construction (drop-out only happens after a repeat purchase).
    pub fn p_alive(&self, c: &Rfm) -> f64 {
        let x = c.frequency;
        if x <= 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        // ln((alpha + T) / (alpha + t_x)) by ln_1p: with alpha in the
        // millions (a fit at an edge) a difference of two logarithms keeps
        // only a few digits of it, and r + x multiplies the error.
        let ln_ratio = ((c.age - c.recency) / (alpha + c.recency)).ln_1p();
        let log_odds_dead = (r + x) * ln_ratio + a.ln() - (b + x - 1.0).ln();
        sigmoid(-log_odds_dead)
    }

    /// Expected number of purchases in the `t` weeks after calibration given
    /// the customer's history (eq. 10). Computed as P(alive) times the
    /// expectation for a customer known to be alive, so that the expensive
    /// part depends on (x, T) only.
    pub fn expected_purchases(&self, t: f64, c: &Rfm) -> f64 {
        if t.is_nan() || t <= 0.0 {
            return 0.0;
        }
        self.p_alive(c) * self.expected_purchases_if_alive(t, c.frequency, c.age)
    }

    /// E[purchases in (T, T + t] | alive at T, x, T]: the posterior is
    /// lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x), and for given
    /// (lambda, p) the expectation is (1 - exp(-lambda p t)) / p. It does
    /// not depend on t_x, so callers scoring many customers can share it.
    pub fn expected_purchases_if_alive(&self, t: f64, x: f64, age: f64) -> f64 {
        if t.is_nan() || t <= 0.0 {
            return 0.0;
        }
        let scale = self.alpha + age;
        let z = t / (scale + t);
        let one_minus_z = scale / (scale + t);
        conditional_integral(self.a, self.b + x, self.r + x, z, one_minus_z)
    }
}

/// I(a, B) = E_{p ~ Beta(a, B)} [(1 - (1 + p s)^(-A)) / p] with z = s/(1+s):
/// in closed form (a + B - 1)/(a - 1) [1 - (1 - z)^A 2F1(A, B; a + B - 1; z)].
///
/// The expectation is finite, positive and smooth for every a, B > 0, but
/// the closed form subtracts two numbers that agree to about
/// log10((a + B - 1) / |a - 1|) digits, is 0/0 at a = 1, and its 2F1 is
/// undefined or sign-changing for a + B - 1 <= 0 (x = 0 with a + b < 1). A
/// fit at the no-drop-out edge (b in the billions and more, a small) loses
/// every digit: six customers fitted to a = 1.9e-14, b = 9.4e13 (so
/// c / |a - 1| = 9e13) got -17.2 purchases in the next 90 days where the
/// expectation is 0.614, and 3.9 instead of 2.48 in a year. So I is summed
/// as a series of positive terms ([`conditional_series`]), and the closed
/// form is only used where that series would need too many terms (z very
/// close to 1) and the closed form itself has digits to spare.
///
/// a + B - 1 <= 0 is avoided with the exact identity I(a, B) = a/(a+B)
/// I(a+1, B) + B/(a+B) I(a, B+1) (split 1 = p + (1 - p) inside the Beta
/// integral; both weights positive, so no cancellation).
fn conditional_integral(a: f64, big_b: f64, big_a: f64, z: f64, one_minus_z: f64) -> f64 {
    if a + big_b - 1.0 < 0.5 {
        let s = a + big_b;
        return a / s * conditional_integral(a + 1.0, big_b, big_a, z, one_minus_z)
            + big_b / s * conditional_integral(a, big_b + 1.0, big_a, z, one_minus_z);
    }
    if let Some(value) = conditional_series(a, big_b, big_a, z, one_minus_z, SERIES_TERMS) {
        return value;
    }
    let (closed, magnification) = conditional_closed(a, big_b, big_a, z, one_minus_z);
    let usable = closed > 0.0 && closed.is_finite();
    if usable && magnification < CLOSED_FORM_MAX_MAGNIFICATION {
        return closed;
    }
    // Slow, but right.
    if let Some(value) = conditional_series(a, big_b, big_a, z, one_minus_z, SERIES_TERMS_MAX) {
        return value;
    }
    // Neither (z within ~1e-5 of 1): the closed form if it still has ten
    // digits, else NaN (a NULL prediction) rather than a wrong number.
    if usable && magnification < CLOSED_FORM_LAST_RESORT {
        closed
    } else {
        f64::NAN
    }
}

/// Terms [`conditional_series`] may take before the closed form is tried:
/// about (A z + 40) / (1 - z) are needed, so this covers z up to ~0.998
/// (a customer of age T with alpha + T = 0.1 week over a year).
const SERIES_TERMS: u32 = 20_000;
/// Terms it may take when the closed form has lost too many digits.
const SERIES_TERMS_MAX: u32 = 4_000_000;
/// Factor by which rounding in the closed form's exponent may be magnified
/// (1e4: about 1e-12 relative left).
const CLOSED_FORM_MAX_MAGNIFICATION: f64 = 1e4;
/// The same when the long series did not converge either (1e-10 left).
const CLOSED_FORM_LAST_RESORT: f64 = 1e6;

/// I(a, B) as a series of positive terms, without cancellation and
/// without a singularity at a = 1:
///
///   I = c (1 - z)^A sum_{n >= 1} (A)_n z^n / n! w_n,  c = a + B - 1,
///   w_1 = 1 / c,  w_{n+1} = (w_n (B + n) + 1) / (c + n).
///
/// Derivation: 2F1(A, B; c; z) = sum (A)_n z^n / n! (B)_n / (c)_n and
/// sum (A)_n z^n / n! = (1 - z)^-A, so 1 - (1 - z)^A 2F1 =
/// (1 - z)^A sum (A)_n z^n / n! (1 - (B)_n / (c)_n); with
/// q_n = (B)_n / (c)_n and c - B = a - 1, w_n = (1 - q_n) / (a - 1)
/// satisfies the recurrence above (q_{n+1} = q_n (1 - (a - 1) / (c + n))),
/// whose every operation is on positive numbers. The closed form's
/// c / (a - 1) cancels. As B grows with a fixed, w_n -> n / c and the sum
/// goes to A z / (1 - z): the no-drop-out limit A s.
///
/// Tail bound: w_m = sum_{k<m} q_k / (c + k) >= m q_m / (c + m) (q_k >=
/// q_m (c + k) / (c + m) for a >= 0), so w_{m+1} / w_m <= 1 + 1/m and the
/// term ratio from n on is at most rho = z (A + n) / n, decreasing in n.
/// None if the tail is not below 1e-17 of the sum within `max_terms`.
fn conditional_series(
    a: f64,
    big_b: f64,
    big_a: f64,
    z: f64,
    one_minus_z: f64,
    max_terms: u32,
) -> Option<f64> {
    const RESCALE: f64 = 1e200;
    let c = a + big_b - 1.0;
    let mut binomial = 1.0_f64; // (A)_n z^n / n!, divided by e^ln_scale
    let mut w = 0.0_f64;
    let mut sum = 0.0_f64;
    let mut ln_scale = 0.0_f64;
    for n in 0..max_terms {
        let nf = f64::from(n);
        binomial *= (big_a + nf) * z / (nf + 1.0);
        w = (w * (big_b + nf) + 1.0) / (c + nf);
        let term = binomial * w;
        sum += term;
        if sum > RESCALE {
            sum /= RESCALE;
            binomial /= RESCALE;
            ln_scale += RESCALE.ln();
        }
        let m = nf + 1.0; // the index of `term`
        let rho = z * (big_a + m) / m;
        if rho < 1.0 && term * rho / (1.0 - rho) <= 1e-17 * sum {
            let value = c * (big_a * ln_one_minus(z, one_minus_z) + sum.ln() + ln_scale).exp();
            return value.is_finite().then_some(value);
        }
    }
    None
}

/// ln(1 - z) to full relative precision: for small z (alpha + T large
/// against the horizon, as when r and alpha run to an edge together)
/// ln(one_minus_z) is the logarithm of a number rounded next to 1, and
/// (1 - z)^A with A = r + x in the millions magnifies that error.
fn ln_one_minus(z: f64, one_minus_z: f64) -> f64 {
    if z < 0.5 {
        (-z).ln_1p()
    } else {
        one_minus_z.ln()
    }
}

/// The closed form, with how much rounding in its exponent is magnified in
/// the result (the cancellation), across a = 1 by interpolation.
fn conditional_closed(a: f64, big_b: f64, big_a: f64, z: f64, one_minus_z: f64) -> (f64, f64) {
    const DELTA: f64 = 1e-4;
    if (a - 1.0).abs() < DELTA {
        // Through 1 -/+ DELTA, 1 -/+ 2 DELTA.
        let worst = std::cell::Cell::new(0.0_f64);
        let value = interpolate_across(a - 1.0, DELTA, |node| {
            let (v, magnification) =
                conditional_closed_at(1.0 + node, big_b, big_a, z, one_minus_z);
            worst.set(worst.get().max(magnification));
            v
        });
        return (value, worst.get());
    }
    conditional_closed_at(a, big_b, big_a, z, one_minus_z)
}

fn conditional_closed_at(a: f64, big_b: f64, big_a: f64, z: f64, one_minus_z: f64) -> (f64, f64) {
    let c = a + big_b - 1.0;
    let ln_f = ln_hyp2f1_split(big_a, big_b, c, z, one_minus_z);
    // (1 - z)^A F = exp(arg); arg -> 0 as z -> 0 or a -> 1, hence expm1.
    let ln_power = big_a * ln_one_minus(z, one_minus_z);
    let arg = ln_power + ln_f;
    let expm1 = arg.exp_m1();
    // An absolute error of eps (|ln_power| + |ln F|) in arg is a relative
    // error of that times e^arg / |e^arg - 1| in the result.
    let magnification = (ln_power.abs() + ln_f.abs()).max(1.0) * (arg.exp() / expm1.abs());
    (c / (a - 1.0) * -expm1, magnification)
}

#[derive(Clone, Copy)]
struct BgRow {
    group: u32,   // index into the distinct-x table
    recency: u32, // index into the distinct t_x table
    age: u32,     // index into the distinct T table
    weight: f64,
}

struct BgData {
    xs: Vec<f64>,        // distinct frequencies
    x_weight: Vec<f64>,  // customers per distinct frequency
    recencies: Vec<f64>, // distinct t_x
    ages: Vec<f64>,      // distinct T
    rows: Vec<BgRow>,
    total_weight: f64,
    customers: u64,
}

fn prepare_bg(data: &[Rfm]) -> Result<BgData, FitError> {
    let invalid = |index: usize, reason: &str| FitError::InvalidRow {
        model: BG_NBD,
        index,
        reason: reason.to_string(),
    };
    let mut keyed: Vec<(f64, f64, f64)> = Vec::with_capacity(data.len());
    for (i, c) in data.iter().enumerate() {
        let (x, tx, t) = (c.frequency, c.recency, c.age);
        if !(x.is_finite() && tx.is_finite() && t.is_finite()) {
            return Err(invalid(i, "frequency, recency and age must be finite"));
        }
        if x < 0.0 || x.fract() != 0.0 {
            return Err(invalid(
                i,
                &format!("frequency {x} is not a whole number >= 0"),
            ));
        }
        if tx < 0.0 || t < 0.0 || tx > t {
            return Err(invalid(
                i,
                &format!("need 0 <= recency ({tx}) <= age ({t})"),
            ));
        }
        if x == 0.0 && tx != 0.0 {
            return Err(invalid(i, &format!("recency {tx} with no repeat purchase")));
        }
        if x > 0.0 && tx == 0.0 {
            return Err(invalid(i, "repeat purchases with zero recency"));
        }
        keyed.push((canonical(x), canonical(tx), canonical(t)));
    }
    if keyed.is_empty() {
        return Err(FitError::NoCustomers {
            model: BG_NBD,
            detail: String::new(),
        });
    }
    if keyed.iter().all(|k| k.0 == 0.0) {
        return Err(FitError::Unidentifiable {
            model: BG_NBD,
            reason: "no customer made a repeat purchase".to_string(),
        });
    }
    let cmp = |p: &(f64, f64, f64), q: &(f64, f64, f64)| {
        p.0.total_cmp(&q.0)
            .then(p.1.total_cmp(&q.1))
            .then(p.2.total_cmp(&q.2))
    };
    keyed.sort_unstable_by(cmp);
    let mut xs: Vec<f64> = keyed.iter().map(|k| k.0).collect();
    xs.dedup();
    let mut recencies: Vec<f64> = keyed.iter().map(|k| k.1).collect();
    recencies.sort_unstable_by(f64::total_cmp);
    recencies.dedup();
    let mut ages: Vec<f64> = keyed.iter().map(|k| k.2).collect();
    ages.sort_unstable_by(f64::total_cmp);
    ages.dedup();
    let mut x_weight = vec![0.0; xs.len()];
    let mut rows: Vec<BgRow> = Vec::new();
    let mut previous: Option<(f64, f64, f64)> = None;
    for k in &keyed {
        if previous.is_some_and(|p| cmp(&p, k) == Ordering::Equal) {
            if let Some(last) = rows.last_mut() {
                last.weight += 1.0;
            }
        } else {
            rows.push(BgRow {
                group: distinct_index(&xs, k.0),
                recency: distinct_index(&recencies, k.1),
                age: distinct_index(&ages, k.2),
                weight: 1.0,
            });
        }
        x_weight[distinct_index(&xs, k.0) as usize] += 1.0;
        previous = Some(*k);
    }
    Ok(BgData {
        xs,
        x_weight,
        recencies,
        ages,
        rows,
        total_weight: keyed.len() as f64,
        customers: keyed.len() as u64,
    })
}

/// Total BG/NBD log-likelihood and its gradient with respect to
/// (r, alpha, a, b) on the natural scale.
fn bg_loglik_grad(data: &BgData, p: &BgNbd) -> (f64, [f64; 4]) {
    let BgNbd { r, alpha, a, b } = *p;
    let ln_a = a.ln();
    // Per distinct value: ln and reciprocal of alpha + t (in parallel too:
    // with continuous times there are as many distinct values as rows).
    let table = |values: &[f64]| -> Vec<(f64, f64)> {
        map_chunks(values, |chunk| {
            chunk
                .iter()
                .map(|t| ((alpha + t).ln(), 1.0 / (alpha + t)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    };
    let age_table = table(&data.ages);
    let rec_table = table(&data.recencies);
    // Per distinct x: the "dead" branch offset ln a - ln(b + x - 1).
    let dead_offset: Vec<f64> = data
        .xs
        .iter()
        .map(|&x| {
            if x > 0.0 {
                ln_a - (b + x - 1.0).ln()
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();

    struct Partial {
        ll: f64,
        d_r: f64,
        d_alpha: f64,
        dead_weight: Vec<f64>, // sum of w * P(dead branch) per x group
    }
    let parts = map_chunks(&data.rows, |rows| {
        let mut part = Partial {
            ll: 0.0,
            d_r: 0.0,
            d_alpha: 0.0,
            dead_weight: vec![0.0; data.xs.len()],
        };
        for row in rows {
            let g = row.group as usize;
            let x = data.xs[g];
            let rx = r + x;
            let (la, inv_a) = age_table[row.age as usize];
            let alive = -rx * la;
            if x > 0.0 {
                let (lr, inv_r) = rec_table[row.recency as usize];
                let dead = dead_offset[g] - rx * lr;
                // log-sum-exp with the branch weights it implies
                let d = dead - alive;
                let e = (-d.abs()).exp();
                let lse = alive.max(dead) + e.ln_1p();
                let w_hi = 1.0 / (1.0 + e);
                let w_dead = if d >= 0.0 { w_hi } else { 1.0 - w_hi };
                let w_alive = 1.0 - w_dead;
                part.ll += row.weight * lse;
                part.d_r -= row.weight * (w_alive * la + w_dead * lr);
                part.d_alpha -= row.weight * rx * (w_alive * inv_a + w_dead * inv_r);
                part.dead_weight[g] += row.weight * w_dead;
            } else {
                part.ll += row.weight * alive;
                part.d_r -= row.weight * la;
                part.d_alpha -= row.weight * rx * inv_a;
            }
        }
        part
    });

    let mut ll = 0.0;
    let mut grad = [0.0; 4];
    let mut dead_weight = vec![0.0; data.xs.len()];
    for part in parts {
        ll += part.ll;
        grad[0] += part.d_r;
        grad[1] += part.d_alpha;
        for (acc, w) in dead_weight.iter_mut().zip(&part.dead_weight) {
            *acc += w;
        }
    }
    // Terms that depend on x only.
    let (lg_r, dg_r) = (ln_gamma(r), digamma(r));
    let (lg_b, dg_b) = (ln_gamma(b), digamma(b));
    let (lg_ab, dg_ab) = (ln_gamma(a + b), digamma(a + b));
    ll += data.total_weight * r * alpha.ln();
    grad[0] += data.total_weight * alpha.ln();
    grad[1] += data.total_weight * r / alpha;
    for (g, &x) in data.xs.iter().enumerate() {
        let w = data.x_weight[g];
        if x > 0.0 {
            ll +=
                w * (ln_gamma(r + x) - lg_r + lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x));
            grad[0] += w * (digamma(r + x) - dg_r);
            let dg_abx = digamma(a + b + x);
            grad[2] += w * (dg_ab - dg_abx) + dead_weight[g] / a;
            grad[3] +=
                w * (dg_ab + digamma(b + x) - dg_b - dg_abx) - dead_weight[g] / (b + x - 1.0);
        }
    }
    (ll, grad)
}

/// Fits BG/NBD by maximum likelihood.
///
/// Identical customers are collapsed first (the likelihood only sees
/// distinct (x, t_x, T) triples with weights), and the search runs on
/// log-parameters with analytic gradients, so a million customers summarised
/// from order dates take well under a second (a few seconds if every
/// customer is distinct). A search that stops short of an interior optimum
/// still returns its best finite parameters, flagged `converged: false`, so
/// a report can show them with a warning; parameters are never NaN.
pub fn fit_bg_nbd(data: &[Rfm]) -> Result<BgNbdFit, FitError> {
    let prepared = prepare_bg(data)?;
    let n = prepared.total_weight;
    let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
        let p = BgNbd {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        let (ll, g) = bg_loglik_grad(&prepared, &p);
        let nat = [p.r, p.alpha, p.a, p.b];
        for i in 0..4 {
            grad[i] = -g[i] * nat[i] / n;
        }
        -ll / n
    };
    // Start at a Gamma(1, 1/rate) purchase rate and a flat Beta(1, 1)
    // drop-out: the rate sets alpha's scale, which can be anything from days
    // to years depending on the business.
    let (mut repeat, mut exposure) = (0.0, 0.0);
    for row in &prepared.rows {
        repeat += row.weight * prepared.xs[row.group as usize];
        exposure += row.weight * prepared.ages[row.age as usize];
    }
    let rate = (repeat / exposure.max(1e-12)).max(1e-12);
    let starts = [
        [0.0, (1.0 / rate).ln(), 0.0, 0.0],
        [
            (0.25f64).ln(),
            (0.25 / rate).ln(),
            (0.5f64).ln(),
            (2.0f64).ln(),
        ],
        [
            (4.0f64).ln(),
            (4.0 / rate).ln(),
            (2.0f64).ln(),
            (8.0f64).ln(),
        ],
    ];
    let best = minimize_from(&objective, &starts).ok_or(FitError::NotFinite { model: BG_NBD })?;
    let params = BgNbd {
        r: best.x[0].exp(),
        alpha: best.x[1].exp(),
        a: best.x[2].exp(),
        b: best.x[3].exp(),
    };
    // alpha is a time scale: compare it with the data's mean time between purchases.
    let interior = inside_edges(&[params.r, params.alpha * rate, params.a, params.b]);
    Ok(BgNbdFit {
        params,
        log_likelihood: -best.f * n,
        customers: prepared.customers,
        converged: best.converged && interior,
        iterations: best.iterations,
    })
}

#[cfg(test)]
mod tests;
