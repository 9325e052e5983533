//! NPS surveys: sent after onboarding, some purchases, support contacts
//! and yearly renewals; about 40% answer. Scores follow the customer's
//! latent satisfaction plus a shared per-month swing, so NPS lands around
//! +20..+40 and moves month to month, except in the planted dip month,
//! when every score is pulled down (see `truth.rs`).

use super::Ctx;
use super::calendar::{DAY_MS, HOUR_MS, WEEK_MS, month_index};
use super::orders::Order;
use super::people::Customer;
use super::random::{Rng, stream};
use super::truth::{NPS_DIP, Persona};

const PROMOTER_COMMENTS: [&str; 8] = [
    "Great products and fast delivery.",
    "Love the quality, will order again!",
    "Customer service went above and beyond.",
    "Fast shipping; great packaging.",
    "Great service.\nWill definitely recommend to friends.",
    "Très bien, livraison rapide.",
    "The \"express\" option is worth every penny.",
    "Everything arrived on time, thank you!",
];
const PASSIVE_COMMENTS: [&str; 5] = [
    "Good, but shipping took a while.",
    "Nice products, a bit pricey.",
    "Okay overall; the website could be easier to use.",
    "Fine. Nothing special.",
    "Decent quality, delivery was average.",
];
const DETRACTOR_COMMENTS: [&str; 6] = [
    "Order arrived late and support was slow.",
    "Item was damaged; refund took weeks.",
    "Too expensive for the quality.",
    "Couldn't reach anyone by phone.\nVery frustrating.",
    "Website kept crashing at checkout, gave up twice.",
    "Wrong size sent, exchange was a hassle.",
];

pub(super) struct NpsResponse {
    pub cust: usize,
    /// Unique across the file: the customer's index times 100 plus the
    /// answer's number.
    pub key: u64,
    pub at_ms: i64,
    pub score: u8,
    pub touchpoint: &'static str,
    pub channel: &'static str,
    pub comment: Option<&'static str>,
    /// Delighted only knows the person by email when the survey was sent
    /// from a list upload without the CRM id.
    pub email_only: bool,
}

/// The shared month-to-month swing of scores, with the dip month's pull.
pub(super) fn month_effects(ctx: &Ctx) -> Vec<f64> {
    let mut r = ctx.rng(stream::NPS_MONTH, 0);
    (0..=month_index(ctx.start_ms, ctx.end_ms))
        .map(|m| 0.25 * r.normal() - if m == ctx.nps_dip_index { NPS_DIP } else { 0.0 })
        .collect()
}

pub(super) fn customer_nps(
    ctx: &Ctx,
    cust: usize,
    c: &Customer,
    orders: &[Order],
) -> Vec<NpsResponse> {
    let mut r = ctx.rng(stream::NPS, c.index);
    let mut out = Vec::new();
    for (sent_ms, touchpoint) in surveys(&mut r, ctx, c, orders) {
        let at_ms = sent_ms + r.exp(18.0 * HOUR_MS as f64) as i64;
        if at_ms >= ctx.end_ms || !r.chance(0.4) {
            continue;
        }
        out.push(answer(&mut r, ctx, cust, c, at_ms, touchpoint));
    }
    if let Some(persona) = c.planted {
        out.extend(planted_answers(&mut r, ctx, cust, c, persona));
    }
    out.sort_by_key(|x| x.at_ms);
    for (k, x) in out.iter_mut().enumerate() {
        x.key = c.index as u64 * 100 + k as u64;
    }
    out.truncate(100);
    out
}

fn surveys(r: &mut Rng, ctx: &Ctx, c: &Customer, orders: &[Order]) -> Vec<(i64, &'static str)> {
    let mut out = vec![(c.signup_ms + 14 * DAY_MS, "onboarding")];
    for o in orders {
        if r.chance(0.3) {
            out.push((o.at_ms + 3 * DAY_MS, "purchase"));
        }
    }
    let weeks = (ctx.end_ms - c.signup_ms) as f64 / WEEK_MS as f64;
    for _ in 0..r.poisson(0.012 * weeks) {
        out.push((r.between(c.signup_ms, ctx.end_ms), "support"));
    }
    let mut anniversary = c.signup_ms + 365 * DAY_MS;
    while anniversary < ctx.end_ms {
        if orders
            .iter()
            .any(|o| o.at_ms < anniversary && o.at_ms >= anniversary - 365 * DAY_MS)
        {
            out.push((anniversary, "renewal"));
        }
        anniversary += 365 * DAY_MS;
    }
    out
}

fn answer(
    r: &mut Rng,
    ctx: &Ctx,
    cust: usize,
    c: &Customer,
    at_ms: i64,
    touchpoint: &'static str,
) -> NpsResponse {
    let effect = match touchpoint {
        "support" => -0.8,
        "onboarding" => 0.2,
        "purchase" => 0.1,
        _ => 0.0,
    };
    let month = ctx.month_effects[month_index(ctx.start_ms, at_ms)];
    let mut score = (8.6 + 1.8 * c.sat + month + effect + r.normal())
        .round()
        .clamp(0.0, 10.0) as u8;
    if c.planted.is_some() {
        score = score.max(9);
    }
    let comments: &[&'static str] = match score {
        9..=10 => &PROMOTER_COMMENTS,
        7..=8 => &PASSIVE_COMMENTS,
        _ => &DETRACTOR_COMMENTS,
    };
    NpsResponse {
        cust,
        key: 0,
        at_ms,
        score,
        touchpoint,
        channel: r.weighted(&[("email", 60.0), ("in_app", 30.0), ("sms", 10.0)]),
        comment: r.chance(0.55).then(|| r.pick(comments)),
        email_only: c.planted.is_none() && r.chance(0.08),
    }
}

/// A planted advocate answers as a promoter in the last 60 days; a
/// collaborator also writes feedback in three answers of the last 180.
fn planted_answers(
    r: &mut Rng,
    ctx: &Ctx,
    cust: usize,
    c: &Customer,
    persona: Persona,
) -> Vec<NpsResponse> {
    let recent = |r: &mut Rng, days: i64| {
        r.between(
            (ctx.end_ms - days * DAY_MS).max(c.signup_ms + DAY_MS),
            ctx.end_ms - HOUR_MS,
        )
    };
    let mut out = Vec::new();
    let commented = if persona == Persona::Collaborator {
        3
    } else {
        0
    };
    for k in 0..=commented {
        let at_ms = if k == 0 {
            recent(r, 60)
        } else {
            recent(r, 180)
        };
        let score = 9 + r.below(2) as u8;
        out.push(NpsResponse {
            cust,
            key: 0,
            at_ms,
            score,
            touchpoint: "purchase",
            channel: "email",
            comment: (k > 0).then(|| r.pick(&PROMOTER_COMMENTS)),
            email_only: false,
        });
    }
    out
}
