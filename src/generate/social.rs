//! Social activity: X posts about the brand and its competitors, and
//! community forum posts. Customers with accounts post (promoters more
//! often), a crowd of people who are not (known) customers posts too, which
//! gives share of voice something to measure, and planted status seekers
//! and educators do what their persona needs.

use super::Ctx;
use super::calendar::{DAY_MS, HOUR_MS, WEEK_MS};
use super::people::{Customer, crowd_community_handle, crowd_x_handle, followers};
use super::random::{Rng, hash64, stable_hex, stream};
use super::reference::BRAND;
use super::truth::Persona;

const BRAND_TWEETS: [&str; 8] = [
    "New autumn collection is live 🍂",
    "Free shipping this weekend only",
    "We're hiring! Come build Fernhill with us",
    "Black Friday starts now: up to 30% off everything",
    "Tip: wash linen at 30°C and line-dry, it lasts for years",
    "Thank you for 10k followers 💚",
    "Our holiday gift guide is here 🎁",
    "Back in stock: the everyday tote",
];
const POSITIVE_MENTIONS: [&str; 5] = [
    "Just got my order from @fernhillgoods, beautifully packed and arrived early 🙌",
    "@fernhillgoods customer service is next level. Sorted my issue in 5 minutes",
    "If you need a gift, @fernhillgoods never disappoints",
    "Third order from @fernhillgoods this year and still impressed",
    "Shoutout to @fernhillgoods for the quick exchange, no questions asked",
];
const NEUTRAL_MENTIONS: [&str; 4] = [
    "Anyone tried @fernhillgoods? Thinking about ordering",
    "@fernhillgoods do you ship to Ireland?",
    "Ordered from @fernhillgoods, let's see how it goes",
    "Comparing a few shops for a gift, @fernhillgoods looks nice",
];
const NEGATIVE_MENTIONS: [&str; 3] = [
    "@fernhillgoods my order is 2 weeks late and no reply to my emails 😤",
    "Disappointed with @fernhillgoods, item arrived damaged",
    "@fernhillgoods refund still not processed after 10 days",
];
const REPLIES: [&str; 5] = [
    "@fernhillgoods Love this! Mine arrived yesterday",
    "@fernhillgoods Can confirm, the quality is great",
    "@fernhillgoods When does the sale end?",
    "@fernhillgoods Any plans for a store in Berlin?",
    "@fernhillgoods Still waiting on my refund...",
];
const COMPETITOR_POSTS: [&str; 5] = [
    "Just ordered from @{c}, great prices",
    "@{c} delivery was super fast this time",
    "Switched to @{c} for home stuff",
    "@{c} customer support was unhelpful today",
    "Loving my new throw from @{c}",
];
pub(super) const TOPICS: [&str; 8] = [
    "Getting started with your first order",
    "How do I change my delivery address?",
    "Best way to care for linen?",
    "Gift cards and promo codes",
    "Returns and exchanges",
    "Sizing advice",
    "Is the packaging recyclable?",
    "Pausing or skipping a subscription",
];
const QUESTIONS: [&str; 4] = [
    "Has anyone figured out how to combine two orders?",
    "What's the best way to wash the waffle towels?",
    "Is there a student discount?",
    "My promo code is rejected at checkout, any ideas?",
];
const REPLY_TEXTS: [&str; 4] = [
    "Same question here!",
    "Thanks, that helped 👍",
    "+1, would love this",
    "Following",
];
pub(super) const ANSWERS: [&str; 5] = [
    "You can do this from Account > Orders > Edit, as long as it hasn't shipped.",
    "I wash mine at 30°C and line-dry; still going strong after a year.",
    "Promo codes don't stack with sale items, that's usually why it fails.",
    "Yes, all the boxes are recyclable and the tape is paper-based.",
    "Sizes run small, I'd go one up.\nThe size chart on the product page is accurate.",
];
const COMPETITORS: [&str; 2] = ["brambleco", "oaklinehq"];

pub(super) struct Tweet {
    pub id: u64,
    pub author: String,
    pub author_id: u64,
    pub followers: u64,
    pub at_ms: i64,
    pub kind: &'static str,
    pub text: String,
    pub likes: u64,
    pub retweets: u64,
    pub reference: Option<(&'static str, u64)>,
    pub competitor: bool,
}

#[derive(Clone)]
pub(super) struct Post {
    pub id: u64,
    pub author: String,
    pub at_ms: i64,
    pub kind: &'static str,
    pub likes: u64,
    pub topic: &'static str,
    pub text: &'static str,
}

// --- X -------------------------------------------------------------------------

/// The brand tweets twice a week from two weeks before the period; tweet
/// `k` lies at a hashed point of its slot, so the latest one before any
/// instant is known without a list.
const BRAND_SLOT_MS: i64 = 84 * HOUR_MS;

fn brand_tweet(ctx: &Ctx, k: i64) -> (i64, u64, usize) {
    let at = ctx.start_ms - 14 * DAY_MS
        + k * BRAND_SLOT_MS
        + (hash64(ctx.seed, stream::BRAND_TWEETS, k as u64) % BRAND_SLOT_MS as u64) as i64;
    (at, snowflake(at, k as u64), k as usize % BRAND_TWEETS.len())
}

/// The `back`-th brand tweet before `at_ms` (0 = the latest), if any.
fn brand_tweet_before(ctx: &Ctx, at_ms: i64, back: i64) -> Option<(i64, u64, usize)> {
    let mut k = (at_ms - (ctx.start_ms - 14 * DAY_MS)).div_euclid(BRAND_SLOT_MS);
    if k >= 0 && brand_tweet(ctx, k).0 >= at_ms {
        k -= 1;
    }
    (k - back >= 0).then(|| brand_tweet(ctx, k - back))
}

/// X ids are snowflakes: milliseconds since the X epoch in the high bits,
/// so they sort by time like the real ones; the low bits come from a hash
/// of the author and the post's number.
fn snowflake(at_ms: i64, low: u64) -> u64 {
    (((at_ms - 1_288_834_974_657).max(0) as u64) << 22) | (low & 0x3F_FFFF)
}

struct XAuthor {
    key: u64,
    name: String,
    id: u64,
    followers: u64,
    from_ms: i64,
    rate_per_week: f64,
    competitor_share: f64,
    /// -1 negative, 0 neutral, 1 positive.
    tone: i8,
}

fn x_user_id(seed: u64, kind: &str, k: u64) -> u64 {
    1_000_000_000 + u64::from_str_radix(&stable_hex(seed, kind, k, 12), 16).expect("hex")
}

pub(super) fn customer_tweets(ctx: &Ctx, c: &Customer) -> Vec<Tweet> {
    let Some(h) = &c.x else {
        return Vec::new();
    };
    let a = XAuthor {
        key: c.index as u64,
        name: h.name.clone(),
        id: x_user_id(ctx.seed, "x-user", c.index as u64),
        followers: h.followers,
        from_ms: c.signup_ms.max(ctx.start_ms),
        rate_per_week: 0.02 * (0.7 * c.sat).exp() * ctx.profile.social_rate(),
        competitor_share: 0.08,
        tone: if c.sat > 0.3 {
            1
        } else if c.sat < -0.8 {
            -1
        } else {
            0
        },
    };
    let mut r = ctx.rng(stream::TWEETS, c.index);
    let mut out = author_tweets(&mut r, ctx, &a);
    if c.planted == Some(Persona::StatusSeeker) {
        let from = (ctx.end_ms - 180 * DAY_MS).max(a.from_ms + DAY_MS);
        for _ in 0..4 + r.below(3) {
            let at_ms = r.between(from, ctx.end_ms - HOUR_MS);
            let n = out.len() as u64;
            let t = brand_tweet_about(&mut r, ctx, &a, at_ms, n, true);
            out.push(t);
        }
    }
    out
}

/// X users who are not known customers: one for every six customers of
/// the block.
pub(super) fn crowd_tweets(ctx: &Ctx, block: usize, customers: usize) -> Vec<Tweet> {
    let mut r = ctx.rng(stream::X_CROWD, block);
    let mut out = Vec::new();
    for j in 0..customers.div_ceil(6) {
        let k = block as u64 * 10_000 + j as u64;
        let a = XAuthor {
            key: (1 << 40) + k,
            name: crowd_x_handle(&mut r, k as usize),
            id: x_user_id(ctx.seed, "x-crowd", k),
            followers: followers(&mut r),
            from_ms: ctx.start_ms,
            rate_per_week: 0.015 * (0.8 * r.normal()).exp() * ctx.profile.social_rate(),
            competitor_share: 0.45,
            tone: r.weighted(&[(1i8, 45.0), (0, 40.0), (-1, 15.0)]),
        };
        let mut tr = ctx.rng(stream::TWEETS, (1 << 40) + k as usize);
        out.extend(author_tweets(&mut tr, ctx, &a));
    }
    out
}

fn author_tweets(r: &mut Rng, ctx: &Ctx, a: &XAuthor) -> Vec<Tweet> {
    let weeks = (ctx.end_ms - a.from_ms) as f64 / WEEK_MS as f64;
    let count = r.poisson(a.rate_per_week * weeks).min(1000);
    (0..count)
        .map(|n| {
            let at_ms = r.between(a.from_ms, ctx.end_ms);
            tweet(r, ctx, a, at_ms, n)
        })
        .collect()
}

fn base_tweet(r: &mut Rng, ctx: &Ctx, a: &XAuthor, at_ms: i64, n: u64) -> Tweet {
    let at_ms = at_ms + r.below(1000) as i64;
    Tweet {
        id: snowflake(at_ms, hash64(ctx.seed, stream::TWEETS, a.key * 4096 + n)),
        author: a.name.clone(),
        author_id: a.id,
        followers: a.followers,
        at_ms,
        kind: "mention",
        text: String::new(),
        likes: 0,
        retweets: 0,
        reference: None,
        competitor: false,
    }
}

fn tweet(r: &mut Rng, ctx: &Ctx, a: &XAuthor, at_ms: i64, n: u64) -> Tweet {
    if r.chance(a.competitor_share) {
        let base = base_tweet(r, ctx, a, at_ms, n);
        let c = r.pick(&COMPETITORS);
        let text = r.pick(&COMPETITOR_POSTS).replace("{c}", c);
        return with_engagement(
            r,
            Tweet {
                text,
                competitor: true,
                ..base
            },
        );
    }
    brand_tweet_about(r, ctx, a, at_ms, n, false)
}

/// A mention of, repost of or reply to the brand; `positive` forces a
/// positive mention or a repost (planted status seekers).
fn brand_tweet_about(
    r: &mut Rng,
    ctx: &Ctx,
    a: &XAuthor,
    at_ms: i64,
    n: u64,
    positive: bool,
) -> Tweet {
    let base = base_tweet(r, ctx, a, at_ms, n);
    let kind = if positive {
        r.weighted(&[("mention", 50.0), ("repost", 50.0)])
    } else {
        r.weighted(&[("mention", 45.0), ("repost", 35.0), ("reply", 20.0)])
    };
    match (kind, brand_tweet_before(ctx, base.at_ms, 0)) {
        ("repost", Some(_)) => {
            let back = r.below(3) as i64;
            let (_, id, text) = brand_tweet_before(ctx, base.at_ms, back)
                .or_else(|| brand_tweet_before(ctx, base.at_ms, 0))
                .expect("checked");
            Tweet {
                kind: "repost",
                text: format!("RT @{BRAND}: {}", BRAND_TWEETS[text]),
                reference: Some(("retweeted", id)),
                ..base
            }
        }
        ("reply", Some((_, id, _))) => {
            // The last reply is the complaint: only unhappy authors reach it,
            // and they never send the first, most enthusiastic one.
            let unhappy = usize::from(a.tone < 0);
            let text = REPLIES[r.below(4) as usize + unhappy].to_string();
            with_engagement(
                r,
                Tweet {
                    kind: "reply",
                    text,
                    reference: Some(("replied_to", id)),
                    ..base
                },
            )
        }
        _ => {
            let text = match (positive, a.tone) {
                (true, _) | (false, 1) => r.pick(&POSITIVE_MENTIONS),
                (false, -1) => r.pick(&NEGATIVE_MENTIONS),
                _ => r.pick(&NEUTRAL_MENTIONS),
            };
            with_engagement(
                r,
                Tweet {
                    text: text.to_string(),
                    ..base
                },
            )
        }
    }
}

/// Likes scale with the author's reach; a retweet's own metrics are zero in
/// the X API, so reposts never come through here.
fn with_engagement(r: &mut Rng, t: Tweet) -> Tweet {
    let likes = r.poisson((0.3 + t.followers as f64 * 0.004).min(5000.0));
    let retweets = r.poisson(likes as f64 * 0.2);
    Tweet {
        likes,
        retweets,
        ..t
    }
}

// --- community -------------------------------------------------------------------

struct Member {
    key: u64,
    name: String,
    from_ms: i64,
    post: f64,
    reply: f64,
    answer: f64,
}

/// Forum activity: most members ask and reply, a few (educators and staff)
/// answer a lot.
pub(super) fn customer_posts(ctx: &Ctx, c: &Customer) -> Vec<Post> {
    let Some(h) = &c.community else {
        return Vec::new();
    };
    let social = ctx.profile.social_rate();
    let m = Member {
        key: c.index as u64,
        name: h.name.clone(),
        from_ms: c.signup_ms.max(ctx.start_ms),
        post: 0.01 * social,
        reply: 0.015 * social,
        answer: if c.educator { 0.12 } else { 0.006 } * social,
    };
    let mut r = ctx.rng(stream::COMMUNITY, c.index);
    let mut out = member_posts(&mut r, ctx, &m);
    if c.planted == Some(Persona::Educator) {
        let from = (ctx.end_ms - 180 * DAY_MS).max(m.from_ms + DAY_MS);
        for _ in 0..6 + r.below(4) {
            let at_ms = r.between(from, ctx.end_ms - HOUR_MS);
            let n = out.len() as u64;
            out.push(post(&mut r, &m, "answer", at_ms, n));
        }
    }
    out
}

/// Staff (in the first block) and forum members who are not known
/// customers: one for every ten customers of the block.
pub(super) fn crowd_posts(ctx: &Ctx, block: usize, customers: usize) -> Vec<Post> {
    let mut r = ctx.rng(stream::COMMUNITY_CROWD, block);
    let mut members = Vec::new();
    if block == 0 {
        for (s, name) in ["fernhill_sam", "fernhill_priya"].into_iter().enumerate() {
            members.push(Member {
                key: 200_000_000 + s as u64,
                name: name.to_string(),
                from_ms: ctx.start_ms,
                post: 0.02,
                reply: 0.08,
                answer: 0.25,
            });
        }
    }
    let social = ctx.profile.social_rate();
    for j in 0..customers.div_ceil(10) {
        let k = block as u64 * 1_000 + j as u64;
        members.push(Member {
            key: 100_000_000 + k,
            name: crowd_community_handle(&mut r, k as usize),
            from_ms: r.between(ctx.start_ms, ctx.end_ms),
            post: 0.015 * social,
            reply: 0.01 * social,
            answer: 0.004 * social,
        });
    }
    let mut out = Vec::new();
    for m in &members {
        let mut pr = ctx.rng(stream::COMMUNITY, m.key as usize);
        out.extend(member_posts(&mut pr, ctx, m));
    }
    out
}

fn member_posts(r: &mut Rng, ctx: &Ctx, m: &Member) -> Vec<Post> {
    let weeks = (ctx.end_ms - m.from_ms) as f64 / WEEK_MS as f64;
    let mut out = Vec::new();
    for (kind, rate) in [("post", m.post), ("reply", m.reply), ("answer", m.answer)] {
        for _ in 0..r.poisson(rate * weeks) {
            if out.len() >= 990 {
                break;
            }
            let at_ms = r.between(m.from_ms, ctx.end_ms);
            let n = out.len() as u64;
            out.push(post(r, m, kind, at_ms, n));
        }
    }
    out
}

fn post(r: &mut Rng, m: &Member, kind: &'static str, at_ms: i64, n: u64) -> Post {
    let (kind, likes, text) = match kind {
        "answer" if r.chance(0.3) => ("accepted_answer", r.poisson(5.0), r.pick(&ANSWERS)),
        "answer" => ("answer", r.poisson(2.0), r.pick(&ANSWERS)),
        "reply" => ("reply", r.poisson(1.0), r.pick(&REPLY_TEXTS)),
        _ => ("post", r.poisson(0.8), r.pick(&QUESTIONS)),
    };
    Post {
        id: 10_000 + m.key * 1000 + n,
        author: m.name.clone(),
        at_ms: at_ms + r.below(1000) as i64,
        kind,
        likes,
        topic: r.pick(&TOPICS),
        text,
    }
}
