//! Buying: every paid order comes from BG/NBD and every order value from
//! Gamma-Gamma, with exactly the parameters of the profile (see
//! `truth.rs`), so the CLV report can be checked against what generated
//! the data. Refunds and voids are extra orders on top, outside both
//! models, as they are outside the models' inputs.

use super::Ctx;
use super::calendar::{DAY_MS, HOUR_MS, WEEK_MS, at_local_hour};
use super::exchange::units_per_usd;
use super::people::Customer;
use super::random::{Rng, stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Paid,
    Refunded,
    Voided,
}

impl Status {
    pub fn shopify(self) -> &'static str {
        match self {
            Status::Paid => "paid",
            Status::Refunded => "refunded",
            Status::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Order {
    /// The customer's position in its block.
    pub cust: usize,
    /// The order's number among the customer's orders, in time order.
    pub seq: usize,
    pub at_ms: i64,
    pub cents: i64,
    pub margin_cents: i64,
    pub status: Status,
}

/// No customer places more orders than this (order ids leave room for
/// this many per customer); the heavy profile's busiest buyer stays far
/// below it.
const MAX_ORDERS: usize = 999;

/// Whether customer `i` ever orders; the first draw of its order stream,
/// so a referee can weigh referrers without simulating their buying.
pub(super) fn ever_buys(ctx: &Ctx, i: usize) -> bool {
    !ctx.rng(stream::ORDERS, i).chance(0.08)
}

/// One customer's orders, in time order. The first paid order is the
/// customer's birth in BG/NBD terms; after it, purchases arrive as a
/// Poisson process with a Gamma-distributed weekly rate, and after each
/// repeat purchase the customer leaves for good with a Beta-distributed
/// probability.
pub(super) fn customer_orders(ctx: &Ctx, cust: usize, c: &Customer) -> Vec<Order> {
    let mut r = ctx.rng(stream::ORDERS, c.index);
    if r.chance(0.08) {
        return Vec::new();
    }
    let bg = ctx.profile.bg_nbd();
    let rate_per_week = r.gamma(bg.r, 1.0 / bg.alpha);
    let dropout = r.beta(bg.a, bg.b);
    let mut spend = ctx.rng(stream::SPEND, c.index);
    let gg = ctx.profile.gamma_gamma();
    let nu = spend.gamma(gg.q, 1.0 / gg.v);

    let mut paid = Vec::new();
    let mut t = c.signup_ms + (r.exp(1.5 * DAY_MS as f64) as i64).max(10 * 60_000);
    let mean_gap_ms = WEEK_MS as f64 / rate_per_week.max(1e-12);
    while t < ctx.end_ms && paid.len() < MAX_ORDERS {
        paid.push(t);
        t = t.saturating_add(r.exp(mean_gap_ms).min(1e15) as i64);
        if paid.len() > 1 && r.chance(dropout) {
            break;
        }
    }
    let mut orders = Vec::with_capacity(paid.len() + 2);
    let refund_chance = (0.06 * (-0.4 * c.sat).exp()).min(0.3);
    for at in paid {
        let at_ms = at_local_hour(&mut r, at, c.zone).max(c.signup_ms + 10 * 60_000);
        if at_ms >= ctx.end_ms {
            continue;
        }
        let value = spend.gamma(gg.p, 1.0 / nu);
        orders.push(order(&mut r, cust, c, at_ms, value, Status::Paid));
        if orders.len() < MAX_ORDERS && r.chance(refund_chance) {
            let later = at_ms + r.between(HOUR_MS, 20 * DAY_MS);
            let status = if r.chance(0.67) {
                Status::Refunded
            } else {
                Status::Voided
            };
            let value = spend.gamma(gg.p, 1.0 / nu);
            if later < ctx.end_ms {
                orders.push(order(&mut r, cust, c, later, value, status));
            }
        }
    }
    orders.sort_by_key(|o| o.at_ms);
    for (seq, o) in orders.iter_mut().enumerate() {
        o.seq = seq;
    }
    orders
}

fn order(r: &mut Rng, cust: usize, c: &Customer, at_ms: i64, usd: f64, status: Status) -> Order {
    let cents = ((usd * units_per_usd(c.country.currency, at_ms) * 100.0).round() as i64).max(1);
    let margin_cents = (cents as f64 * (0.30 + 0.28 * r.unit())).round() as i64;
    Order {
        cust,
        seq: 0,
        at_ms,
        cents,
        margin_cents,
        status,
    }
}
