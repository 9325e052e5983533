//! Reviews: customers with strong feelings (either way) write them a while
//! after an order, strangers who never bought write some too, and planted
//! validators and collaborators write three 5-star reviews.
//!
//! Display names: Trustpilot and Google show either the name the person
//! typed ("Jane D.", "Jane Doe", which several people share) or, by
//! default, their email's local part (unique). Planted advocates use the
//! unique one, so their reviews resolve to them alone.

use super::Ctx;
use super::calendar::{DAY_MS, HOUR_MS};
use super::orders::Order;
use super::people::{Customer, pick_country};
use super::random::{Rng, stream};
use super::reference::{FIRST_NAMES, LAST_NAMES};
use super::truth::Persona;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    Trustpilot,
    Google,
}

pub(super) struct Review {
    /// Unique per site: the author's index times 16 plus the review's
    /// number (strangers have indices of their own).
    pub key: u64,
    pub site: Site,
    pub author: String,
    pub at_ms: i64,
    pub stars: u8,
    pub title: &'static str,
    pub text: &'static str,
    pub verified: bool,
    pub country_code: &'static str,
}

pub(super) const TITLES: [[&str; 4]; 5] = [
    [
        "Terrible service",
        "Never again",
        "Order never arrived",
        "Avoid",
    ],
    [
        "Disappointing",
        "Not as described",
        "Slow refund",
        "Poor packaging",
    ],
    [
        "It's okay",
        "Mixed experience",
        "Average",
        "Good products, bad delivery",
    ],
    [
        "Very good",
        "Great products, slow delivery",
        "Happy overall",
        "Would buy again",
    ],
    [
        "Excellent!",
        "Best purchase this year",
        "Highly recommend",
        "Wonderful quality",
    ],
];
pub(super) const TEXTS: [[&str; 3]; 5] = [
    [
        "Paid for express delivery, waited three weeks. Support never answered.",
        "The item broke after two days and they refused a refund.",
        "Charged twice for one order.\n\nStill waiting for the money back.",
    ],
    [
        "Colours look nothing like the photos.",
        "Returned the order a month ago and still no refund.",
        "Box arrived crushed, one item missing.",
    ],
    [
        "Nice products but delivery took longer than promised.",
        "Fine for the price. Customer service was slow to reply.",
        "Quality is good, the website is confusing.",
    ],
    [
        "Good quality and friendly support. Delivery was a day late.",
        "Second order, consistent quality. Would be five stars with faster shipping.",
        "Lovely gift wrapping, my sister loved it.",
    ],
    [
        "Ordered a gift set.\n\nArrived early and beautifully wrapped. Will order again!",
        "Fantastic quality and the team sorted an exchange in minutes.",
        "I have recommended Fernhill to all my friends. Never disappointed.",
    ],
];

fn stars_for(r: &mut Rng, sat: f64) -> u8 {
    (4.15 + 1.1 * sat + 0.7 * r.normal())
        .round()
        .clamp(1.0, 5.0) as u8
}

/// Customer `c`'s reviews, and the display names the CRM has linked to
/// the customer (75% of reviewing customers, every planted one).
pub(super) fn customer_reviews(
    ctx: &Ctx,
    c: &Customer,
    orders: &[Order],
) -> (Vec<Review>, Vec<String>) {
    let mut r = ctx.rng(stream::REVIEWS, c.index);
    let linked = r.chance(0.75) || c.planted.is_some();
    let mut out = Vec::new();
    let mut names = Vec::new();
    for site in [Site::Trustpilot, Site::Google] {
        let before = out.len();
        natural_reviews(&mut r, ctx, c, orders, site, &mut out);
        if linked && out.len() > before {
            names.push(out[before].author.clone());
        }
    }
    if let Some(persona) = c.planted {
        let count = match persona {
            Persona::Validator | Persona::Collaborator => 3,
            Persona::Educator | Persona::StatusSeeker => 1,
        };
        planted_reviews(&mut r, ctx, c, count, &mut out);
        let name = c.email_local().to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for (k, x) in out.iter_mut().enumerate() {
        x.key = c.index as u64 * 16 + k as u64;
    }
    (out, names)
}

fn natural_reviews(
    r: &mut Rng,
    ctx: &Ctx,
    c: &Customer,
    orders: &[Order],
    site: Site,
    out: &mut Vec<Review>,
) {
    let (base, from) = match site {
        Site::Trustpilot => (0.14, ctx.trustpilot_from_ms),
        Site::Google => (0.10, ctx.start_ms),
    };
    if orders.is_empty() || !r.chance(base + 0.07 * c.sat.abs()) {
        return;
    }
    let author = if c.planted.is_some() || r.chance(0.4) {
        c.email_local().to_string()
    } else {
        typed_name(r, site, c.first_base, c.last_base)
    };
    let count = if r.chance(0.2) { 2 } else { 1 };
    for _ in 0..count {
        let at_ms = r.pick(orders).at_ms + r.between(2 * DAY_MS, 21 * DAY_MS);
        if at_ms < from || at_ms >= ctx.end_ms {
            continue;
        }
        let stars = stars_for(r, c.sat);
        let verified = r.chance(0.9) || site == Site::Google;
        out.push(review(
            r,
            site,
            author.clone(),
            at_ms,
            stars,
            verified,
            c.country.code,
        ));
    }
}

/// Five stars in the last 180 days, alternating sites (Google only before
/// the company started on Trustpilot).
fn planted_reviews(r: &mut Rng, ctx: &Ctx, c: &Customer, count: usize, out: &mut Vec<Review>) {
    let from = (ctx.end_ms - 180 * DAY_MS).max(c.signup_ms + DAY_MS);
    for k in 0..count {
        let at_ms = r.between(from, ctx.end_ms - HOUR_MS);
        let site = if k % 2 == 0 && at_ms >= ctx.trustpilot_from_ms {
            Site::Trustpilot
        } else {
            Site::Google
        };
        let author = c.email_local().to_string();
        out.push(review(r, site, author, at_ms, 5, true, c.country.code));
    }
}

fn review(
    r: &mut Rng,
    site: Site,
    author: String,
    at_ms: i64,
    stars: u8,
    verified: bool,
    country_code: &'static str,
) -> Review {
    let k = (stars - 1) as usize;
    Review {
        key: 0,
        site,
        author,
        at_ms: at_ms + r.below(1000) as i64,
        stars,
        title: r.pick(&TITLES[k]),
        text: r.pick(&TEXTS[k]),
        verified,
        country_code,
    }
}

/// Trustpilot shows "Jane D.", Google the full profile name or, now and
/// then, an initial.
fn typed_name(r: &mut Rng, site: Site, first: &str, last: &str) -> String {
    let initial: String = last
        .chars()
        .find(|c| c.is_uppercase())
        .into_iter()
        .collect();
    match site {
        Site::Trustpilot => format!("{first} {initial}."),
        Site::Google if r.chance(0.15) => {
            format!("{first} {}.", (b'A' + r.below(26) as u8) as char)
        }
        Site::Google => format!("{first} {last}"),
    }
}

/// Reviews by people who are not (known) customers: 4% of the block's
/// customer count per site. `crowd` numbers them across the whole file.
pub(super) fn stranger_reviews(ctx: &Ctx, block: usize, customers: usize) -> Vec<Review> {
    let mut r = ctx.rng(stream::ANON_REVIEWS, block);
    let mut out = Vec::new();
    for (site, from) in [
        (Site::Trustpilot, ctx.trustpilot_from_ms),
        (Site::Google, ctx.start_ms),
    ] {
        for _ in 0..(customers as f64 * 0.04).ceil() as usize {
            let (first, last) = (r.pick(&FIRST_NAMES), r.pick(&LAST_NAMES));
            let author = typed_name(&mut r, site, first, last);
            let at_ms = r.between(from, ctx.end_ms);
            let stars = (3.4 + 1.6 * r.normal()).round().clamp(1.0, 5.0) as u8;
            let country = pick_country(&mut r).code;
            let verified = r.chance(0.2) || site == Site::Google;
            out.push(review(
                &mut r, site, author, at_ms, stars, verified, country,
            ));
        }
    }
    for (k, x) in out.iter_mut().enumerate() {
        x.key = (1u64 << 40) + block as u64 * 100_000 + k as u64;
    }
    out
}
