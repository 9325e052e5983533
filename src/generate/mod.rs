//! Synthetic landing-zone exports for demos, tests and benchmarks.
//!
//! The files imitate what real tools hand over (a Salesforce report saved
//! by Excel, a Shopify order export, a Delighted download, the Trustpilot and
//! X APIs, ...) rather than a tidy format of our own, so the ingest meets the
//! same quirks here that it meets in production: a BOM and CRLF, semicolons,
//! epoch seconds next to ISO offsets, ratings spelled as words, nested JSON.
//!
//! Customers are simulated in blocks of [`BLOCK`], in parallel, and each
//! block's records are appended to every export before the next blocks are
//! simulated: memory stays the same whatever the number of customers. Every
//! customer is a pure function of the seed and its index (its own random
//! streams, its signup day by quantile), so anything a record needs about
//! another customer (a referee's referrer) is recomputed, and the files are
//! byte-identical for the same options whatever the number of threads.
//!
//! Buying follows BG/NBD and spending Gamma-Gamma with known parameters,
//! one month has a planted NPS dip and one customer in 200 is a planted
//! advocate of a known persona (`truth.rs`), so reports at any scale can be
//! checked against what generated the data.

mod calendar;
mod exchange;
mod export;
mod nps;
mod orders;
mod people;
mod random;
mod readme;
mod reference;
mod referrals;
mod reviews;
mod sink;
mod social;
mod truth;

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

use crate::config::Text;
use crate::storage::Location;
use calendar::{DAY_MS, SignupCalendar, date_ms, month_index, month_start_ms, utc};
use export::Export;
use nps::NpsResponse;
use orders::{Order, Status};
use people::Customer;
use random::{Rng, hash64};
use referrals::Referral;
use reviews::Review;
use sink::Sink;
use social::{Post, Tweet};

pub use truth::{BgNbdTruth, GammaGammaTruth, Persona, PlantedAdvocate, Profile, Truth};

/// Customers simulated together; part of the output's identity (stranger
/// reviews and crowd posts are drawn per block), so never change it.
pub const BLOCK: usize = 2048;

/// What to generate; the CLI maps its flags onto this one to one.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// A local folder or an object-store URL (`s3://bucket/landing`, ...).
    pub out: String,
    pub customers: usize,
    pub seed: u64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub bad_rows: bool,
    pub profile: Profile,
    /// The config's `storage:` options for `out`'s scheme (endpoint,
    /// credentials), as `advocacy run` uses them.
    pub storage: BTreeMap<String, BTreeMap<String, Text>>,
}

impl GenerateOptions {
    /// The bundled testdata's options (600 customers, seed 42, June 2024 to
    /// October 2026, bad rows, standard profile) writing to `out`.
    pub fn new(out: impl Into<String>) -> GenerateOptions {
        GenerateOptions {
            out: out.into(),
            customers: 600,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2024, 6, 1).expect("valid date"),
            end: NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date"),
            bad_rows: true,
            profile: Profile::Standard,
            storage: BTreeMap::new(),
        }
    }
}

/// One written export, so callers (and tests) can check the ingest's row
/// accounting against what was actually produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: String,
    pub rows: u64,
    pub bad_rows: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateSummary {
    pub files: Vec<FileSummary>,
    pub truth: Truth,
    pub bytes: u64,
}

impl GenerateSummary {
    /// What `advocacy generate` prints: each file with its rows and bad
    /// rows, then the size, the speed, and where the planted truth is.
    pub fn describe(&self, seconds: f64, out: &str) -> String {
        let mut text = String::new();
        for file in &self.files {
            text.push_str(&format!(
                "{:<36} {:>10} rows {:>4} bad\n",
                file.path, file.rows, file.bad_rows
            ));
        }
        let mb = self.bytes as f64 / 1e6;
        text.push_str(&format!(
            "{mb:.1} MB in {seconds:.1} s ({:.0} MB/s); planted truth in {}/README.md\n",
            mb / seconds.max(1e-9),
            out.trim_end_matches('/')
        ));
        text
    }
}

/// What one writer produced; duplicates are reported in the README only.
struct Written {
    summary: FileSummary,
    description: &'static str,
    duplicates: u64,
    bytes: u64,
}

/// The simulation's fixed facts, shared by every block.
struct Ctx {
    seed: u64,
    customers: usize,
    profile: Profile,
    start_ms: i64,
    /// Exclusive: the day after `end`.
    end_ms: i64,
    /// The company started inviting Trustpilot reviews on the first 1 January
    /// of the period, which is why the bundled files start at 2025.
    trustpilot_from_ms: i64,
    calendar: SignupCalendar,
    /// Chance that a customer who could have been referred was.
    referred_chance: f64,
    nps_dip_index: usize,
    month_effects: Vec<f64>,
    /// A date well inside the period, for the valid parts of bad rows: they
    /// must be wrong for exactly one reason.
    mid_ms: i64,
}

/// Hash kind of the planted-advocate choice.
const PLANTED: u64 = 17;

impl Ctx {
    fn new(opts: &GenerateOptions) -> Ctx {
        let start_ms = date_ms(opts.start);
        let end_ms = date_ms(opts.end) + DAY_MS;
        let jan1 = NaiveDate::from_ymd_opt(opts.start.year() + 1, 1, 1).expect("valid date");
        let first_jan = if opts.start.ordinal() == 1 {
            start_ms
        } else {
            date_ms(jan1)
        };
        let trustpilot_from_ms = if first_jan < end_ms {
            first_jan
        } else {
            start_ms
        };
        let calendar = SignupCalendar::new(start_ms, end_ms, opts.customers);
        let ineligible = calendar.customers_before(start_ms + 16 * DAY_MS);
        let eligible = opts.customers.saturating_sub(ineligible).max(1);
        let referred_chance =
            (referrals::REFERRED_SHARE * opts.customers as f64 / eligible as f64).min(0.9);
        // The dip is three fifths into the period, in a whole month.
        let months = month_index(start_ms, end_ms - 1);
        let nps_dip_index = if months >= 2 {
            (months * 3 / 5).clamp(1, months - 1)
        } else {
            0
        };
        let mut ctx = Ctx {
            seed: opts.seed,
            customers: opts.customers,
            profile: opts.profile,
            start_ms,
            end_ms,
            trustpilot_from_ms,
            calendar,
            referred_chance,
            nps_dip_index,
            month_effects: Vec::new(),
            mid_ms: 0,
        };
        ctx.month_effects = nps::month_effects(&ctx);
        let first = people::signup_ms(&ctx, &ctx.calendar, 0);
        ctx.mid_ms = first + (end_ms - first) / 2;
        ctx
    }

    fn rng(&self, purpose: u64, index: usize) -> Rng {
        Rng::stream(self.seed, purpose, index as u64)
    }

    fn planted(&self, i: usize) -> Option<Persona> {
        let hash = hash64(self.seed, PLANTED, i as u64);
        if !hash.is_multiple_of(truth::PLANTED_ONE_IN) {
            return None;
        }
        let signup = people::signup_ms(self, &self.calendar, i);
        truth::planted_persona(hash, signup, self.end_ms)
    }

    fn nps_dip_month(&self) -> NaiveDate {
        utc(month_start_ms(self.start_ms, self.nps_dip_index)).date_naive()
    }
}

struct Identity {
    cust: usize,
    kind: &'static str,
    value: String,
}

/// A block of consecutive customers and everything they (and the block's
/// share of strangers) did. Records are in time order within the block.
struct Block {
    /// Position among the world's blocks (0 writes the world-wide exports).
    index: usize,
    customers: Vec<Customer>,
    orders: Vec<Order>,
    referrals: Vec<Referral>,
    nps: Vec<NpsResponse>,
    reviews: Vec<Review>,
    tweets: Vec<Tweet>,
    posts: Vec<Post>,
    identities: Vec<Identity>,
}

impl Block {
    fn build(ctx: &Ctx, index: usize, range: Range<usize>) -> Block {
        let mut b = Block {
            index,
            customers: Vec::with_capacity(range.len()),
            orders: Vec::new(),
            referrals: Vec::new(),
            nps: Vec::new(),
            reviews: Vec::new(),
            tweets: Vec::new(),
            posts: Vec::new(),
            identities: Vec::new(),
        };
        let size = range.len();
        for i in range {
            b.add_customer(ctx, i);
        }
        b.reviews
            .extend(reviews::stranger_reviews(ctx, index, size));
        b.tweets.extend(social::crowd_tweets(ctx, index, size));
        b.posts.extend(social::crowd_posts(ctx, index, size));
        b.orders.sort_by_key(|o| (o.at_ms, o.cust));
        b.referrals.sort_by_key(|x| (x.invited_ms, x.key));
        b.nps.sort_by_key(|x| (x.at_ms, x.key));
        b.reviews.sort_by_key(|x| (x.at_ms, x.key));
        b.tweets.sort_by_key(|t| (t.at_ms, t.id));
        b.posts.sort_by_key(|p| (p.at_ms, p.id));
        b
    }

    fn add_customer(&mut self, ctx: &Ctx, i: usize) {
        let cust = self.customers.len();
        let mut c = people::make_customer(ctx, &ctx.calendar, i);
        let orders = orders::customer_orders(ctx, cust, &c);
        let first_paid = orders
            .iter()
            .find(|o| o.status == Status::Paid)
            .map(|o| o.at_ms);
        self.referrals
            .extend(referrals::referred(ctx, &mut c, first_paid));
        self.referrals.extend(referrals::open_invites(ctx, &c));
        self.nps.extend(nps::customer_nps(ctx, cust, &c, &orders));
        let (reviews, review_names) = reviews::customer_reviews(ctx, &c, &orders);
        self.reviews.extend(reviews);
        self.tweets.extend(social::customer_tweets(ctx, &c));
        self.posts.extend(social::customer_posts(ctx, &c));
        self.add_identities(cust, &c, review_names);
        self.orders.extend(orders);
        self.customers.push(c);
    }

    /// What the CRM knows about the contact's other identities; only linked
    /// handles and review names appear, so some activity stays unmatched.
    fn add_identities(&mut self, cust: usize, c: &Customer, review_names: Vec<String>) {
        let mut add = |kind: &'static str, value: String| {
            self.identities.push(Identity { cust, kind, value })
        };
        add("email", c.email.clone());
        if let Some(e) = &c.secondary_email {
            add("email", e.clone());
        }
        for (kind, h) in [("x", &c.x), ("community", &c.community)] {
            if let Some(h) = h.as_ref().filter(|h| h.linked) {
                add(kind, h.name.clone());
            }
        }
        for name in review_names {
            add("review_name", name);
        }
    }
}

/// Counts for the README's world summary.
#[derive(Default)]
struct WorldCounts {
    customers: u64,
    orders: u64,
    referrals: u64,
    converted: u64,
    nps: u64,
    reviews: u64,
    tweets: u64,
    posts: u64,
    identities: u64,
}

impl WorldCounts {
    fn add(&mut self, b: &Block) {
        self.customers += b.customers.len() as u64;
        self.orders += b.orders.len() as u64;
        self.referrals += b.referrals.len() as u64;
        self.converted += b
            .referrals
            .iter()
            .filter(|r| r.referee_id.is_some())
            .count() as u64;
        self.nps += b.nps.len() as u64;
        self.reviews += b.reviews.len() as u64;
        self.tweets += b.tweets.len() as u64;
        self.posts += b.posts.len() as u64;
        self.identities += b.identities.len() as u64;
    }
}

/// The deliberately absurd dates (2099, 1969) must stay absurd, and the
/// simulation needs a period to simulate.
fn check_options(opts: &GenerateOptions) -> io::Result<()> {
    let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_string()));
    if opts.customers == 0 {
        return invalid("--customers must be at least 1");
    }
    if opts.customers > 100_000_000 {
        return invalid("--customers must be at most 100000000");
    }
    if opts.end <= opts.start {
        return invalid("--end must be after --start");
    }
    if opts.start.year() < 1990 || opts.end.year() > 2089 {
        return invalid("--start and --end must lie between 1990 and 2089");
    }
    Ok(())
}

/// Writes every export under `opts.out` plus a README describing them and
/// what was planted.
pub fn generate(opts: &GenerateOptions) -> io::Result<GenerateSummary> {
    check_options(opts)?;
    let location = Location::open(&opts.out, &opts.storage, true)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let ctx = Ctx::new(opts);
    let exports = Export::all(&ctx);
    let mut sinks: Vec<Sink> = exports
        .iter()
        .map(|e| {
            let rel = e.path();
            Sink::create(
                location.store.clone(),
                location.path(&rel),
                &rel,
                e.description(),
                e.layout(),
            )
        })
        .collect();
    let result = write_blocks(&ctx, opts, &rt, &exports, &mut sinks);
    let (counts, planted) = match result {
        Ok(done) => done,
        Err(e) => {
            for sink in sinks {
                sink.abort(&rt);
            }
            return Err(e);
        }
    };
    let mut written = Vec::with_capacity(sinks.len());
    for sink in sinks {
        written.push(sink.finish(&rt)?);
    }
    let bytes = written.iter().map(|w| w.bytes).sum();
    let truth = Truth {
        profile: opts.profile,
        bg_nbd: opts.profile.bg_nbd(),
        gamma_gamma: opts.profile.gamma_gamma(),
        nps_dip_month: ctx.nps_dip_month(),
        planted_advocates: planted,
    };
    let text = readme::readme(opts, &written, &counts, &truth);
    rt.block_on(location.put(&location.path("README.md"), text.into_bytes()))
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(GenerateSummary {
        files: written.into_iter().map(|w| w.summary).collect(),
        truth,
        bytes,
    })
}

/// Simulates the blocks a batch at a time, in parallel, and appends their
/// records to the files in block order.
fn write_blocks(
    ctx: &Ctx,
    opts: &GenerateOptions,
    rt: &tokio::runtime::Runtime,
    exports: &[Export],
    sinks: &mut [Sink],
) -> io::Result<(WorldCounts, Vec<PlantedAdvocate>)> {
    let blocks = ctx.customers.div_ceil(BLOCK);
    let batch = 2 * rayon::current_num_threads().max(1);
    let mut counts = WorldCounts::default();
    let mut planted = Vec::new();
    for first in (0..blocks).step_by(batch) {
        let built: Vec<(Block, Vec<sink::Records>)> = (first..(first + batch).min(blocks))
            .into_par_iter()
            .map(|b| {
                let range = b * BLOCK..((b + 1) * BLOCK).min(ctx.customers);
                let block = Block::build(ctx, b, range);
                let records = exports.iter().map(|e| e.records(ctx, &block)).collect();
                (block, records)
            })
            .collect();
        for (offset, (block, records)) in built.iter().enumerate() {
            let opening = first + offset == 0;
            for (k, export) in exports.iter().enumerate() {
                if opening && opts.bad_rows {
                    let bad = export.bad_records(ctx, &block.customers[0]);
                    sinks[k].plan_bad(records[k].len(), bad);
                }
                let duplicates = if opening {
                    export.duplicates(records[k].len())
                } else {
                    Vec::new()
                };
                sinks[k].block(rt, &records[k], &duplicates)?;
            }
            counts.add(block);
            planted.extend(block.customers.iter().filter_map(|c| {
                c.planted.map(|persona| PlantedAdvocate {
                    customer_id: c.id.clone(),
                    persona,
                })
            }));
        }
    }
    Ok((counts, planted))
}
