//! Referrals: about a quarter of customers arrive through an invite from
//! an earlier customer, happier customers inviting more; plus invites
//! that never led anywhere, so the funnel narrows at every step.
//!
//! The referrer of customer `i` is drawn among the customers who signed
//! up at least 15 days before `i` by rejection sampling on their
//! satisfaction, recomputed from their index: no table of all customers.

use super::Ctx;
use super::calendar::{DAY_MS, HOUR_MS};
use super::orders::ever_buys;
use super::people::{Customer, referrer_identity, satisfaction, stranger_email};
use super::random::{Rng, stream};

pub(super) const REFERRED_SHARE: f64 = 0.25;

/// Highest referral weight, for the rejection sampling.
const MAX_WEIGHT_SAT: f64 = 2.5;

pub(super) struct Referral {
    /// Unique across the file: the referee's or referrer's index times 16
    /// plus the invite's number.
    pub key: u64,
    pub referrer_id: String,
    pub invited_ms: i64,
    pub channel: &'static str,
    pub referee_email: String,
    pub clicked_ms: Option<i64>,
    pub signed_up_ms: Option<i64>,
    pub referee_id: Option<String>,
    pub converted_ms: Option<i64>,
}

fn weight(ctx: &Ctx, j: usize) -> f64 {
    let sat = satisfaction(ctx, j).min(MAX_WEIGHT_SAT);
    sat.exp() * if ever_buys(ctx, j) { 1.0 } else { 0.3 }
}

/// Mean referral weight over customers, for the open invites' rate.
const MEAN_WEIGHT: f64 = 1.53;

/// If customer `c` was referred: sets its referral code and lead source and
/// returns the converted invite.
pub(super) fn referred(ctx: &Ctx, c: &mut Customer, first_paid: Option<i64>) -> Option<Referral> {
    let lead = 15 * DAY_MS;
    let earlier = ctx.calendar.customers_before(c.signup_ms - lead);
    let mut r = ctx.rng(stream::REFERRED, c.index);
    if earlier == 0 || !r.chance(ctx.referred_chance) {
        return None;
    }
    let max = MAX_WEIGHT_SAT.exp();
    let mut referrer = 0;
    for _ in 0..64 {
        referrer = r.below(earlier as u64) as usize;
        if r.unit() * max < weight(ctx, referrer) {
            break;
        }
    }
    let (referrer_id, code) = referrer_identity(ctx, referrer);
    let invited_ms = c.signup_ms - r.between(HOUR_MS, 14 * DAY_MS);
    let clicked_ms =
        invited_ms + ((c.signup_ms - invited_ms) as f64 * (0.05 + 0.55 * r.unit())) as i64;
    c.referral_code = code;
    if r.chance(0.9) {
        c.lead_source = "Referral";
    }
    Some(Referral {
        key: c.index as u64 * 16,
        referrer_id,
        invited_ms,
        channel: r.weighted(&[
            ("email", 30.0),
            ("whatsapp", 30.0),
            ("link", 30.0),
            ("social", 10.0),
        ]),
        referee_email: c.email.clone(),
        clicked_ms: Some(clicked_ms),
        signed_up_ms: Some(c.signup_ms),
        referee_id: Some(c.id.clone()),
        converted_ms: first_paid,
    })
}

/// Invites customer `c` sent that nobody signed up from (some clicked).
pub(super) fn open_invites(ctx: &Ctx, c: &Customer) -> Vec<Referral> {
    let mut r = ctx.rng(stream::INVITES, c.index);
    let from = c.signup_ms + DAY_MS;
    if from >= ctx.end_ms {
        return Vec::new();
    }
    let mean = 2.7 * REFERRED_SHARE * weight(ctx, c.index) / MEAN_WEIGHT;
    let count = r.poisson(mean).min(15);
    (0..count)
        .map(|k| open_invite(&mut r, c, k, from, ctx.end_ms))
        .collect()
}

fn open_invite(r: &mut Rng, c: &Customer, k: u64, from: i64, end_ms: i64) -> Referral {
    let invited_ms = r.between(from, end_ms);
    let clicked_ms = Some(invited_ms + r.exp(20.0 * HOUR_MS as f64) as i64)
        .filter(|&t| t < end_ms && r.chance(0.31));
    Referral {
        key: c.index as u64 * 16 + 1 + k,
        referrer_id: c.id.clone(),
        invited_ms,
        channel: r.weighted(&[
            ("email", 45.0),
            ("whatsapp", 15.0),
            ("link", 28.0),
            ("social", 12.0),
        ]),
        referee_email: stranger_email(r),
        clicked_ms,
        signed_up_ms: None,
        referee_id: None,
        converted_ms: None,
    }
}
