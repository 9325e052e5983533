//! Synthetic landing-zone exports for demos, tests and benchmarks.
//!
//! The files imitate what real tools hand over (a Salesforce report saved
//! by Excel, a Shopify order export, a Delighted download, the Trustpilot and
//! X APIs, ...) rather than a tidy format of our own, so the ingest meets the
//! same quirks here that it meets in production: a BOM and CRLF, semicolons,
//! epoch seconds next to ISO offsets, ratings spelled as words, nested JSON.
//!
//! A small world is simulated first (customers, their buying, surveys,
//! referrals, reviews and posts) and every export is a view of it. That keeps
//! the files consistent with each other the way real systems are: orders
//! belong to customers that exist, a referral's conversion is the referee's
//! first paid order, review authors resolve through the identities export.
//! The behaviour has the shapes the reports look for (BG/NBD-like repeat
//! buying with churn, Q4 peaks, promoters who refer and post more), so the
//! report tables show something worth looking at.
//!
//! Every random draw comes from a seeded stream inside this module (no
//! `rand`, whose algorithms may change between releases), so the same
//! options give byte-identical files and committed testdata can be
//! regenerated and diffed.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc, Weekday};
use sha2::{Digest, Sha256};

/// What to generate; the CLI maps its flags onto this one to one.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub customers: usize,
    pub seed: u64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub bad_rows: bool,
}

/// One written export, so callers (and tests) can check the ingest's row
/// accounting against what was actually produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: String,
    pub rows: u64,
    pub bad_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub files: Vec<FileSummary>,
}

/// Writes every export under `opts.out` plus a README describing them.
///
/// Files are written to a temporary name and renamed, so a scheduler
/// watching the landing folder never picks up a half-written export.
pub fn generate(opts: &GenerateOptions) -> io::Result<GenerateSummary> {
    check_options(opts)?;
    let ctx = Ctx::new(opts);
    let world = World::build(&ctx);
    let out = opts.out.as_path();
    let bad = opts.bad_rows;
    let mut written = vec![
        write_customers(out, &world, bad)?,
        write_orders(out, &world, bad)?,
        write_nps(out, &world, bad)?,
        write_referrals(out, &world, bad)?,
        write_identities(out, &world, bad)?,
    ];
    for (k, year) in world.trustpilot_years().into_iter().enumerate() {
        written.push(write_trustpilot(out, &world, year, k, bad)?);
    }
    written.push(write_google_reviews(out, &world, bad)?);
    written.push(write_x_mentions(out, &world, bad)?);
    written.push(write_community(out, &world, bad)?);
    write_readme(opts, &world, &written)?;
    Ok(GenerateSummary {
        files: written.into_iter().map(|w| w.summary).collect(),
    })
}

/// The deliberately absurd dates (2099, 1969) must stay absurd, and the
/// simulation needs a period to simulate.
fn check_options(opts: &GenerateOptions) -> io::Result<()> {
    let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_string()));
    if opts.customers == 0 {
        return invalid("--customers must be at least 1");
    }
    if opts.end <= opts.start {
        return invalid("--end must be after --start");
    }
    if opts.start.year() < 1990 || opts.end.year() > 2089 {
        return invalid("--start and --end must lie between 1990 and 2089");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Random numbers

/// xoshiro256** seeded through splitmix64: tiny, fast, and fixed forever,
/// which is what byte-identical output needs.
struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// One independent stream per (purpose, index): changing how one thing
    /// is drawn does not reshuffle everything else, so diffs of committed
    /// testdata stay small when the generator evolves.
    fn stream(seed: u64, purpose: u64, index: u64) -> Rng {
        let mut x = seed
            ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ index.wrapping_add(1).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform integer in [lo, hi).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Marsaglia-Tsang; purchase rates across customers are Gamma in BG/NBD.
    fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = self.unit().max(f64::MIN_POSITIVE);
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.unit();
            if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v * scale;
            }
        }
    }

    /// Dropout probabilities across customers are Beta in BG/NBD.
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }

    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, f64)]) -> T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for &(item, w) in items {
            if x < w {
                return item;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
}

/// Stream purposes; the numbers are part of the output's identity, so never
/// renumber them.
mod stream {
    pub const SIGNUP: u64 = 1;
    pub const PROFILE: u64 = 2;
    pub const ORDERS: u64 = 3;
    pub const REFERRED: u64 = 4;
    pub const INVITES: u64 = 5;
    pub const NPS: u64 = 6;
    pub const NPS_MONTH: u64 = 7;
    pub const REVIEWS: u64 = 8;
    pub const ANON_REVIEWS: u64 = 9;
    pub const BRAND_TWEETS: u64 = 10;
    pub const TWEETS: u64 = 11;
    pub const X_CROWD: u64 = 12;
    pub const COMMUNITY: u64 = 13;
    pub const COMMUNITY_CROWD: u64 = 14;
}

/// Ids that look like the source system's, derived by hashing so they do
/// not depend on how many random draws came before.
fn stable_hex(seed: u64, kind: &str, n: u64, len: usize) -> String {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(kind.as_bytes());
    h.update(n.to_le_bytes());
    let mut s = hex::encode(h.finalize());
    s.truncate(len);
    s
}

// ---------------------------------------------------------------------------
// Time

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

fn date_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("timestamp within chrono's range")
}

/// Zero-based calendar month, for the seasonality tables.
fn month0(ms: i64) -> usize {
    utc(ms).month0() as usize
}

fn fmt_mdy(ms: i64) -> String {
    utc(ms).format("%m/%d/%Y").to_string()
}

fn fmt_sql(ms: i64) -> String {
    utc(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn fmt_z(ms: i64) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fmt_z_millis(ms: i64) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn fmt_local(ms: i64, zone: Zone) -> String {
    let offset =
        FixedOffset::east_opt(zone.offset_secs(utc(ms).date_naive())).expect("valid offset");
    utc(ms)
        .with_timezone(&offset)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Store time zones with their daylight-saving rules, because a shop's
/// export switches offset twice a year and the ingest must not care.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Eastern,
    Central,
    Mountain,
    Pacific,
    London,
    Berlin,
    Sydney,
}

impl Zone {
    fn offset_secs(self, d: NaiveDate) -> i32 {
        let (standard, summer_hours) = match self {
            Zone::Eastern => (-5, -4),
            Zone::Central => (-6, -5),
            Zone::Mountain => (-7, -6),
            Zone::Pacific => (-8, -7),
            Zone::London => (0, 1),
            Zone::Berlin => (1, 2),
            Zone::Sydney => (10, 11),
        };
        let summer = match self {
            Zone::Eastern | Zone::Central | Zone::Mountain | Zone::Pacific => us_summer(d),
            Zone::London | Zone::Berlin => eu_summer(d),
            Zone::Sydney => au_summer(d),
        };
        (if summer { summer_hours } else { standard }) * 3600
    }
}

fn nth_sunday(year: i32, month: u32, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
        .expect("month has that Sunday")
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let last = NaiveDate::from_ymd_opt(next.0, next.1, 1)
        .expect("valid date")
        .pred_opt()
        .expect("valid date");
    last - Duration::days(last.weekday().num_days_from_sunday() as i64)
}

fn us_summer(d: NaiveDate) -> bool {
    d >= nth_sunday(d.year(), 3, 2) && d < nth_sunday(d.year(), 11, 1)
}

fn eu_summer(d: NaiveDate) -> bool {
    d >= last_sunday(d.year(), 3) && d < last_sunday(d.year(), 10)
}

fn au_summer(d: NaiveDate) -> bool {
    d < nth_sunday(d.year(), 4, 1) || d >= nth_sunday(d.year(), 10, 1)
}

/// Places an event on the given UTC day at a plausible local hour (lunch
/// and evening peaks), returned as UTC milliseconds.
fn at_local_hour(r: &mut Rng, day_ms: i64, zone: Zone) -> i64 {
    const HOURS: [(i64, f64); 17] = [
        (7, 2.0),
        (8, 3.0),
        (9, 4.0),
        (10, 5.0),
        (11, 6.0),
        (12, 8.0),
        (13, 7.0),
        (14, 5.0),
        (15, 5.0),
        (16, 5.0),
        (17, 6.0),
        (18, 7.0),
        (19, 9.0),
        (20, 10.0),
        (21, 9.0),
        (22, 6.0),
        (23, 3.0),
    ];
    let day = day_ms - day_ms.rem_euclid(DAY_MS);
    let hour = r.weighted(&HOURS);
    let local = day + hour * HOUR_MS + r.below(HOUR_MS as u64 / 1000) as i64 * 1000;
    local - zone.offset_secs(utc(day).date_naive()) as i64 * 1000
}

// ---------------------------------------------------------------------------
// Reference data

struct Country {
    name: &'static str,
    code: &'static str,
    weight: f64,
    zones: &'static [Zone],
    currency: &'static str,
    isp_domain: &'static str,
}

const COUNTRIES: [Country; 9] = [
    Country {
        name: "United States",
        code: "US",
        weight: 40.0,
        zones: &[
            Zone::Eastern,
            Zone::Eastern,
            Zone::Central,
            Zone::Mountain,
            Zone::Pacific,
            Zone::Pacific,
        ],
        currency: "USD",
        isp_domain: "comcast.net",
    },
    Country {
        name: "United Kingdom",
        code: "GB",
        weight: 18.0,
        zones: &[Zone::London],
        currency: "GBP",
        isp_domain: "btinternet.com",
    },
    Country {
        name: "Germany",
        code: "DE",
        weight: 12.0,
        zones: &[Zone::Berlin],
        currency: "EUR",
        isp_domain: "web.de",
    },
    Country {
        name: "France",
        code: "FR",
        weight: 7.0,
        zones: &[Zone::Berlin],
        currency: "EUR",
        isp_domain: "orange.fr",
    },
    Country {
        name: "Canada",
        code: "CA",
        weight: 6.0,
        zones: &[Zone::Eastern, Zone::Pacific],
        currency: "CAD",
        isp_domain: "rogers.com",
    },
    Country {
        name: "Netherlands",
        code: "NL",
        weight: 5.0,
        zones: &[Zone::Berlin],
        currency: "EUR",
        isp_domain: "ziggo.nl",
    },
    Country {
        name: "Australia",
        code: "AU",
        weight: 5.0,
        zones: &[Zone::Sydney],
        currency: "AUD",
        isp_domain: "bigpond.com",
    },
    Country {
        name: "Spain",
        code: "ES",
        weight: 4.0,
        zones: &[Zone::Berlin],
        currency: "EUR",
        isp_domain: "telefonica.net",
    },
    Country {
        name: "Ireland",
        code: "IE",
        weight: 3.0,
        zones: &[Zone::London],
        currency: "EUR",
        isp_domain: "eircom.net",
    },
];

const FIRST_NAMES: [&str; 80] = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "James",
    "Mia",
    "William",
    "Amelia",
    "Benjamin",
    "Harper",
    "Lucas",
    "Evelyn",
    "Henry",
    "Abigail",
    "Alexander",
    "Emily",
    "Daniel",
    "Ella",
    "Michael",
    "Grace",
    "Samuel",
    "Chloé",
    "José",
    "Zoë",
    "Søren",
    "Björn",
    "Siobhán",
    "François",
    "Lena",
    "Jonas",
    "Lea",
    "Finn",
    "Hannah",
    "Lukas",
    "Marie",
    "Sofía",
    "Mateo",
    "Lucía",
    "Hugo",
    "Camille",
    "Louis",
    "Inès",
    "Jack",
    "Freya",
    "Aoife",
    "Conor",
    "Priya",
    "Arjun",
    "Mei",
    "Wei",
    "Yuki",
    "Kenji",
    "Fatima",
    "Omar",
    "Amara",
    "Kwame",
    "Nia",
    "Diego",
    "Valentina",
    "Ethan",
    "Charlotte",
    "Mason",
    "Aria",
    "Logan",
    "Luna",
    "Jane",
    "Tom",
    "Kate",
    "Sam",
    "Alex",
    "Ruth",
    "Max",
    "Nora",
    "Leo",
    "Ivy",
];

const LAST_NAMES: [&str; 80] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Dubois",
    "Moreau",
    "Laurent",
    "Lefèvre",
    "Bernard",
    "de Vries",
    "van Dijk",
    "Jansen",
    "Bakker",
    "García",
    "Fernández",
    "Sánchez",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Byrne",
    "Ryan",
    "Evans",
    "Hughes",
    "Patel",
    "Singh",
    "Nguyen",
    "Chen",
    "Wang",
    "Kim",
    "Tanaka",
    "Sato",
    "Okafor",
    "Mensah",
    "Novak",
    "Kowalski",
    "Andersen",
    "Nielsen",
    "Jensen",
    "Rossi",
    "Russo",
    "Costa",
    "Silva",
    "Ferreira",
    "Horvat",
    "Dąbrowski",
    "Ó Súilleabháin",
];

const MAIL_DOMAINS: [(&str, f64); 6] = [
    ("gmail.com", 40.0),
    ("outlook.com", 14.0),
    ("yahoo.com", 10.0),
    ("icloud.com", 10.0),
    ("hotmail.com", 6.0),
    ("proton.me", 3.0),
];

const COMPANY_DOMAINS: [&str; 10] = [
    "brightlane.io",
    "kestrelworks.com",
    "northpeak.co",
    "bluefernstudio.com",
    "harbourandhill.co.uk",
    "lindqvist-design.de",
    "atelier-morel.fr",
    "quaystone.ie",
    "tallgrass.ca",
    "saltbush.com.au",
];

const SEGMENTS: [(&str, f64); 3] = [("Consumer", 70.0), ("SMB", 24.0), ("Enterprise", 6.0)];

const LEAD_SOURCES: [(&str, f64); 6] = [
    ("Web", 30.0),
    ("Organic Search", 25.0),
    ("Paid Search", 20.0),
    ("Social", 12.0),
    ("Partner", 8.0),
    ("Event", 5.0),
];

/// Relative signup volume by calendar month: the gifting season brings
/// new customers.
const SIGNUP_MONTH: [f64; 12] = [
    0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.85, 0.9, 1.0, 1.1, 1.7, 1.9,
];

/// Relative order volume by calendar month: Q4 peaks.
const ORDER_MONTH: [f64; 12] = [
    0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.9, 0.95, 1.0, 1.15, 1.6, 1.9,
];

const BRAND: &str = "fernhillgoods";
const COMPETITORS: [&str; 2] = ["brambleco", "oaklinehq"];

// ---------------------------------------------------------------------------
// The simulated world

struct Ctx {
    seed: u64,
    customers: usize,
    start_ms: i64,
    /// Exclusive: the day after `end`.
    end_ms: i64,
    /// The company started inviting Trustpilot reviews on the first 1 January
    /// of the period, which is why the bundled files start at 2025.
    trustpilot_from_ms: i64,
}

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
        Ctx {
            seed: opts.seed,
            customers: opts.customers,
            start_ms,
            end_ms,
            trustpilot_from_ms,
        }
    }

    fn rng(&self, purpose: u64, index: usize) -> Rng {
        Rng::stream(self.seed, purpose, index as u64)
    }
}

#[derive(Debug, Clone)]
struct Handle {
    name: String,
    /// Whether the CRM knows this handle belongs to the customer; unlinked
    /// handles make identity resolution miss, as it does in real life.
    linked: bool,
    followers: u64,
}

struct Customer {
    id: String,
    first: String,
    last: String,
    first_base: &'static str,
    last_base: &'static str,
    email: String,
    email_in_crm: String,
    secondary_email: Option<String>,
    signup_ms: i64,
    country: &'static Country,
    zone: Zone,
    segment: &'static str,
    lead_source: &'static str,
    /// The referral code the customer signed up with (the referrer's).
    referral_code: String,
    own_code: String,
    /// Latent satisfaction, N(0, 1): drives scores, reviews, referrals, posts.
    sat: f64,
    x: Option<Handle>,
    community: Option<Handle>,
    educator: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Paid,
    Refunded,
    Voided,
}

impl Status {
    fn shopify(self) -> &'static str {
        match self {
            Status::Paid => "paid",
            Status::Refunded => "refunded",
            Status::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Order {
    cust: usize,
    at_ms: i64,
    cents: i64,
    margin_cents: i64,
    status: Status,
}

struct Referral {
    referrer: usize,
    invited_ms: i64,
    channel: &'static str,
    referee_email: String,
    clicked_ms: Option<i64>,
    signed_up_ms: Option<i64>,
    referee: Option<usize>,
    converted_ms: Option<i64>,
}

struct NpsResponse {
    cust: usize,
    at_ms: i64,
    score: u8,
    touchpoint: &'static str,
    channel: &'static str,
    comment: Option<&'static str>,
    /// Delighted only knows the person by email when the survey was sent
    /// from a list upload without the CRM id.
    email_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Trustpilot,
    Google,
}

struct Review {
    site: Site,
    author: String,
    at_ms: i64,
    stars: u8,
    title: &'static str,
    text: &'static str,
    verified: bool,
    country_code: &'static str,
}

struct Tweet {
    id: u64,
    author: String,
    author_id: u64,
    followers: u64,
    at_ms: i64,
    kind: &'static str,
    text: String,
    likes: u64,
    retweets: u64,
    reference: Option<(&'static str, u64)>,
    competitor: bool,
}

struct Post {
    author: String,
    at_ms: i64,
    kind: &'static str,
    likes: u64,
    topic: &'static str,
    text: &'static str,
}

struct Identity {
    cust: usize,
    kind: &'static str,
    value: String,
}

struct World {
    seed: u64,
    trustpilot_from_ms: i64,
    end_ms: i64,
    customers: Vec<Customer>,
    /// Sorted by time: the export's order, and the order ids follow it.
    orders: Vec<Order>,
    referrals: Vec<Referral>,
    nps: Vec<NpsResponse>,
    reviews: Vec<Review>,
    tweets: Vec<Tweet>,
    posts: Vec<Post>,
    identities: Vec<Identity>,
}

impl World {
    fn build(ctx: &Ctx) -> World {
        let mut customers = build_customers(ctx);
        let by_customer: Vec<Vec<Order>> = customers
            .iter()
            .enumerate()
            .map(|(i, c)| customer_orders(ctx, i, c))
            .collect();
        let first_paid: Vec<Option<i64>> = by_customer
            .iter()
            .map(|os| {
                os.iter()
                    .find(|o| o.status == Status::Paid)
                    .map(|o| o.at_ms)
            })
            .collect();
        let referrals = build_referrals(ctx, &mut customers, &first_paid);
        let nps = build_nps(ctx, &customers, &by_customer);
        let mut review_names = Vec::new();
        let reviews = build_reviews(ctx, &customers, &by_customer, &mut review_names);
        let tweets = build_tweets(ctx, &customers);
        let posts = build_posts(ctx, &customers);
        let identities = build_identities(&customers, review_names);
        let mut orders: Vec<Order> = by_customer.into_iter().flatten().collect();
        orders.sort_by_key(|o| (o.at_ms, o.cust));
        World {
            seed: ctx.seed,
            trustpilot_from_ms: ctx.trustpilot_from_ms,
            end_ms: ctx.end_ms,
            customers,
            orders,
            referrals,
            nps,
            reviews,
            tweets,
            posts,
            identities,
        }
    }

    /// A date well inside the period, for the valid parts of bad rows: they
    /// must be wrong for exactly one reason.
    fn mid_ms(&self) -> i64 {
        let first = self
            .customers
            .first()
            .map_or(self.end_ms - DAY_MS, |c| c.signup_ms);
        first + (self.end_ms - first) / 2
    }

    fn trustpilot_years(&self) -> Vec<i32> {
        (utc(self.trustpilot_from_ms).year()..=utc(self.end_ms - 1).year()).collect()
    }
}

// --- customers --------------------------------------------------------------

fn build_customers(ctx: &Ctx) -> Vec<Customer> {
    let mut signups = signup_times(ctx);
    signups.sort_unstable();
    let mut emails = Names::default();
    let mut handles = Names::default();
    let mut customers: Vec<Customer> = signups
        .iter()
        .enumerate()
        .map(|(i, &ms)| make_customer(ctx, i, ms, &mut emails, &mut handles))
        .collect();
    decorate_names(&mut customers);
    customers
}

/// Signups follow the seasonality table and a growth trend, by rejection
/// sampling days of the period.
fn signup_times(ctx: &Ctx) -> Vec<i64> {
    let mut r = ctx.rng(stream::SIGNUP, 0);
    let days = (ctx.end_ms - ctx.start_ms) / DAY_MS;
    (0..ctx.customers)
        .map(|_| {
            loop {
                let d = r.below(days as u64) as i64;
                let day_ms = ctx.start_ms + d * DAY_MS;
                let trend = 0.7 + 0.6 * d as f64 / days as f64;
                if r.unit() * 1.9 * 1.3 < SIGNUP_MONTH[month0(day_ms)] * trend {
                    break day_ms + r.between(6 * HOUR_MS, 23 * HOUR_MS);
                }
            }
        })
        .collect()
}

fn make_customer(
    ctx: &Ctx,
    i: usize,
    signup_ms: i64,
    emails: &mut Names,
    handles: &mut Names,
) -> Customer {
    let mut r = ctx.rng(stream::PROFILE, i);
    let country = pick_country(&mut r);
    let zone = r.pick(country.zones);
    let segment = r.weighted(&SEGMENTS);
    let first_base = r.pick(&FIRST_NAMES);
    let last_base = r.pick(&LAST_NAMES);
    let email = make_email(&mut r, first_base, last_base, country, segment, emails);
    let secondary_email = r
        .chance(0.08)
        .then(|| make_email(&mut r, first_base, last_base, country, "Consumer", emails));
    let sat = r.normal();
    let x = r.chance(0.3).then(|| Handle {
        name: x_handle(&mut r, first_base, last_base, handles),
        linked: r.chance(0.85),
        followers: followers(&mut r),
    });
    let community = r.chance(0.2).then(|| Handle {
        name: community_handle(&mut r, first_base, last_base, handles),
        linked: r.chance(0.9),
        followers: 0,
    });
    let educator = community.is_some() && r.chance(if sat > 0.5 { 0.3 } else { 0.1 });
    Customer {
        id: salesforce_id(1_500_000_000 + i as u64 * 29 + r.below(29)),
        first: first_base.to_string(),
        last: last_base.to_string(),
        first_base,
        last_base,
        email_in_crm: crm_spelling(&mut r, &email),
        email,
        secondary_email,
        signup_ms,
        country,
        zone,
        segment,
        lead_source: r.weighted(&LEAD_SOURCES),
        referral_code: String::new(),
        own_code: format!(
            "{}{}",
            slug(first_base).to_uppercase(),
            stable_hex(ctx.seed, "code", i as u64, 4).to_uppercase()
        ),
        sat,
        x,
        community,
        educator,
    }
}

/// Every CRM has a customer whose name breaks naive CSV handling; make sure
/// ours has one with a comma and one with quotes.
fn decorate_names(customers: &mut [Customer]) {
    let n = customers.len();
    if n >= 3 {
        customers[n / 3].last = format!("{}, Jr.", customers[n / 3].last_base);
        customers[2 * n / 3].first = format!("{} \"Kit\"", customers[2 * n / 3].first_base);
    }
}

fn pick_country(r: &mut Rng) -> &'static Country {
    let total: f64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut x = r.unit() * total;
    for c in &COUNTRIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    &COUNTRIES[0]
}

/// Salesforce 18-character ids: 15 case-sensitive characters plus the
/// checksum that makes them case-insensitive, increasing with creation time
/// like real record ids.
fn salesforce_id(n: u64) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut id: Vec<u8> = b"0035g000".to_vec();
    let mut body = [b'0'; 7];
    let mut v = n;
    for slot in body.iter_mut().rev() {
        *slot = B62[(v % 62) as usize];
        v /= 62;
    }
    id.extend_from_slice(&body);
    for chunk in 0..3 {
        let bits = (0..5)
            .filter(|k| id[chunk * 5 + k].is_ascii_uppercase())
            .fold(0, |acc, k| acc | (1 << k));
        id.push(SUFFIX[bits]);
    }
    String::from_utf8(id).expect("ascii")
}

/// Lower-case ASCII for email local parts and handles.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.to_lowercase().chars() {
        match ch {
            'á' | 'à' | 'â' | 'ä' | 'å' | 'ą' => out.push('a'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'ø' => out.push('o'),
            'ú' | 'ù' | 'û' | 'ü' => out.push('u'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// Names already handed out (emails, handles, display names), with the
/// next numeric suffix to try per wanted name so that a million customers
/// called Olivia Smith do not make allocation quadratic.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
    next_suffix: HashMap<String, u64>,
}

impl Names {
    fn insert(&mut self, name: String) -> bool {
        self.taken.insert(name)
    }
}

impl FromIterator<String> for Names {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        Names {
            taken: iter.into_iter().collect(),
            next_suffix: HashMap::new(),
        }
    }
}

/// `wanted`, or `wanted` with the smallest free number appended (cut so the
/// result fits `max_len` bytes).
fn unique_name(names: &mut Names, wanted: String, max_len: usize) -> String {
    if names.taken.insert(wanted.clone()) {
        return wanted;
    }
    let mut n = names.next_suffix.get(&wanted).copied().unwrap_or(2);
    let candidate = loop {
        let suffix = n.to_string();
        let mut keep = wanted.len().min(max_len.saturating_sub(suffix.len()));
        while !wanted.is_char_boundary(keep) {
            keep -= 1;
        }
        let candidate = format!("{}{suffix}", &wanted[..keep]);
        n += 1;
        if names.taken.insert(candidate.clone()) {
            break candidate;
        }
    };
    names.next_suffix.insert(wanted, n);
    candidate
}

fn make_email(
    r: &mut Rng,
    first: &str,
    last: &str,
    country: &Country,
    segment: &str,
    taken: &mut Names,
) -> String {
    let (f, l) = (slug(first), slug(last));
    let local = match r.below(5) {
        0 => format!("{f}.{l}"),
        1 => format!("{f}{l}"),
        2 => format!("{f}_{l}"),
        3 => format!("{}{l}", &f[..1]),
        _ => format!("{f}.{l}{}", r.between(1, 100)),
    };
    let domain = if segment != "Consumer" {
        r.pick(&COMPANY_DOMAINS)
    } else if r.chance(0.2) {
        country.isp_domain
    } else {
        r.weighted(&MAIL_DOMAINS)
    };
    unique_name(taken, format!("{local}@{domain}"), 200)
}

/// How people actually typed their email into the CRM: capitals and stray
/// spaces, which the ingest trims and lower-cases before hashing.
fn crm_spelling(r: &mut Rng, email: &str) -> String {
    let mut s = if r.chance(0.15) {
        let mut up = true;
        email
            .chars()
            .map(|c| {
                let out = if up { c.to_ascii_uppercase() } else { c };
                up = matches!(c, '.' | '@' | '_');
                out
            })
            .collect()
    } else {
        email.to_string()
    };
    if r.chance(0.05) {
        s.insert(0, ' ');
    }
    if r.chance(0.05) {
        s.push(' ');
    }
    s
}

fn x_handle(r: &mut Rng, first: &str, last: &str, taken: &mut Names) -> String {
    let (f, l) = (slug(first), slug(last));
    let mut base = match r.below(4) {
        0 => format!("{f}_{l}"),
        1 => format!("{f}{}", &l[..1]),
        2 => format!("{f}{l}{}", r.between(1, 100)),
        _ => format!("the{f}{l}"),
    };
    base.truncate(15);
    unique_name(taken, base, 15)
}

fn community_handle(r: &mut Rng, first: &str, last: &str, taken: &mut Names) -> String {
    let (f, l) = (slug(first), slug(last));
    let base = match r.below(3) {
        0 => format!("{}{}", capitalise(&f), capitalise(&l)),
        1 => format!("{}{l}", &f[..1]),
        _ => format!("{f}.{}{}", &l[..1], r.between(10, 100)),
    };
    unique_name(taken, base, 20)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|h| h.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Heavy-tailed reach: most people have a few hundred followers, a few have
/// tens of thousands.
fn followers(r: &mut Rng) -> u64 {
    ((180f64.ln() + 1.5 * r.normal()).exp().round() as u64).clamp(3, 2_000_000)
}

// --- orders -----------------------------------------------------------------

fn order_season(ms: i64) -> f64 {
    let d = utc(ms);
    let black_friday = (d.month() == 11 && d.day() >= 24) || (d.month() == 12 && d.day() <= 2);
    ORDER_MONTH[d.month0() as usize] * if black_friday { 1.4 } else { 1.0 }
}

/// Upper bound of `order_season`, for thinning.
const ORDER_SEASON_MAX: f64 = 2.7;

/// BG/NBD-shaped buying: a Gamma-distributed weekly purchase rate, and after
/// every purchase a Beta-distributed chance of leaving for good. Seasonality
/// thins a Poisson process running at the peak rate.
fn customer_orders(ctx: &Ctx, i: usize, c: &Customer) -> Vec<Order> {
    let mut r = ctx.rng(stream::ORDERS, i);
    if r.chance(0.08) {
        return Vec::new();
    }
    let rate = r.gamma(0.9, 0.055 / 0.9) * (0.25 * c.sat).exp();
    let dropout = (r.beta(1.0, 4.0) * (-0.35 * c.sat).exp()).clamp(0.01, 0.9);
    let spend = (70f64.ln() + 0.45 * r.normal()).exp() * segment_spend(c.segment);
    let mut orders = Vec::new();
    let mut t = c.signup_ms + (r.exp(1.5) * DAY_MS as f64) as i64;
    while t < ctx.end_ms {
        let at_ms = at_local_hour(&mut r, t, c.zone).max(c.signup_ms + 10 * 60_000);
        if at_ms < ctx.end_ms {
            orders.push(make_order(&mut r, i, c, at_ms, spend));
        }
        if r.chance(dropout) {
            break;
        }
        t = next_purchase(&mut r, t, rate, ctx.end_ms);
    }
    orders
}

fn next_purchase(r: &mut Rng, mut t: i64, rate_per_week: f64, end_ms: i64) -> i64 {
    let mean_gap_ms = WEEK_MS as f64 / (rate_per_week * ORDER_SEASON_MAX).max(1e-9);
    loop {
        t = t.saturating_add(r.exp(mean_gap_ms).min(1e15) as i64);
        if t >= end_ms || r.chance(order_season(t) / ORDER_SEASON_MAX) {
            return t;
        }
    }
}

fn segment_spend(segment: &str) -> f64 {
    match segment {
        "Enterprise" => 2.0,
        "SMB" => 1.4,
        _ => 1.0,
    }
}

fn make_order(r: &mut Rng, cust: usize, c: &Customer, at_ms: i64, spend: f64) -> Order {
    let gifting = if month0(at_ms) >= 10 { 1.08 } else { 1.0 };
    let mut amount = spend * gifting * (0.3 * r.normal()).exp();
    for _ in 0..5 {
        if (15.0..=600.0).contains(&amount) {
            break;
        }
        amount = spend * gifting * (0.3 * r.normal()).exp();
    }
    let cents = (amount.clamp(12.0, 650.0) * 100.0).round() as i64;
    let margin_cents = (cents as f64 * (0.30 + 0.28 * r.unit())).round() as i64;
    let refund = 0.04 * (-0.4 * c.sat).exp();
    let u = r.unit();
    let status = if u < refund {
        Status::Refunded
    } else if u < refund + 0.02 {
        Status::Voided
    } else {
        Status::Paid
    };
    Order {
        cust,
        at_ms,
        cents,
        margin_cents,
        status,
    }
}

// --- referrals --------------------------------------------------------------

const REFERRED_SHARE: f64 = 0.25;

/// About a quarter of customers arrive through an invite from an earlier
/// customer, happier customers inviting more; plus the invites that never
/// led anywhere, so the funnel narrows at every step.
fn build_referrals(
    ctx: &Ctx,
    customers: &mut [Customer],
    first_paid: &[Option<i64>],
) -> Vec<Referral> {
    let weights: Vec<f64> = customers
        .iter()
        .zip(first_paid)
        .map(|(c, p)| (1.0 * c.sat).exp() * if p.is_some() { 1.0 } else { 0.3 })
        .collect();
    let mut prefix = Vec::with_capacity(weights.len() + 1);
    prefix.push(0.0);
    for w in &weights {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + w);
    }
    let mut referrals = converted_referrals(ctx, customers, first_paid, &prefix);
    let converted = referrals.len();
    referrals.extend(open_invites(ctx, customers, &weights, converted));
    referrals.sort_by_key(|x| (x.invited_ms, x.referrer));
    referrals
}

fn converted_referrals(
    ctx: &Ctx,
    customers: &mut [Customer],
    first_paid: &[Option<i64>],
    prefix: &[f64],
) -> Vec<Referral> {
    let lead = 15 * DAY_MS;
    let eligible = customers
        .iter()
        .filter(|c| c.signup_ms - lead >= customers[0].signup_ms)
        .count();
    let p = (REFERRED_SHARE * customers.len() as f64 / eligible.max(1) as f64).min(0.9);
    let mut out = Vec::new();
    for i in 0..customers.len() {
        let mut r = ctx.rng(stream::REFERRED, i);
        let signup = customers[i].signup_ms;
        let earlier = customers.partition_point(|c| c.signup_ms <= signup - lead);
        if earlier == 0 || !r.chance(p) {
            continue;
        }
        let referrer = sample_prefix(&mut r, &prefix[..=earlier]);
        let invited_ms = signup - r.between(HOUR_MS, 14 * DAY_MS);
        let clicked_ms =
            invited_ms + ((signup - invited_ms) as f64 * (0.05 + 0.55 * r.unit())) as i64;
        let code = customers[referrer].own_code.clone();
        let c = &mut customers[i];
        c.referral_code = code;
        if r.chance(0.9) {
            c.lead_source = "Referral";
        }
        out.push(Referral {
            referrer,
            invited_ms,
            channel: r.weighted(&[
                ("email", 30.0),
                ("whatsapp", 30.0),
                ("link", 30.0),
                ("social", 10.0),
            ]),
            referee_email: c.email.clone(),
            clicked_ms: Some(clicked_ms),
            signed_up_ms: Some(signup),
            referee: Some(i),
            converted_ms: first_paid[i],
        });
    }
    out
}

/// Index drawn with probability proportional to its weight, given prefix
/// sums; O(log n) so a million customers stay cheap.
fn sample_prefix(r: &mut Rng, prefix: &[f64]) -> usize {
    let total = prefix[prefix.len() - 1];
    let x = r.unit() * total;
    prefix
        .partition_point(|&s| s <= x)
        .saturating_sub(1)
        .min(prefix.len() - 2)
}

fn open_invites(
    ctx: &Ctx,
    customers: &[Customer],
    weights: &[f64],
    converted: usize,
) -> Vec<Referral> {
    let total_weight: f64 = weights.iter().sum();
    let wanted = 2.7 * converted.max(1) as f64;
    let mut taken: Names = customers.iter().map(|c| c.email.clone()).collect();
    let mut out = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        let mut r = ctx.rng(stream::INVITES, i);
        let from = c.signup_ms + DAY_MS;
        if from >= ctx.end_ms {
            continue;
        }
        for _ in 0..r.poisson(wanted * weights[i] / total_weight) {
            out.push(open_invite(&mut r, i, from, ctx.end_ms, &mut taken));
        }
    }
    out
}

fn open_invite(
    r: &mut Rng,
    referrer: usize,
    from: i64,
    end_ms: i64,
    taken: &mut Names,
) -> Referral {
    let invited_ms = r.between(from, end_ms);
    let clicked_ms = Some(invited_ms + r.exp(20.0 * HOUR_MS as f64) as i64)
        .filter(|&t| t < end_ms && r.chance(0.31));
    let (first, last) = (r.pick(&FIRST_NAMES), r.pick(&LAST_NAMES));
    Referral {
        referrer,
        invited_ms,
        channel: r.weighted(&[
            ("email", 45.0),
            ("whatsapp", 15.0),
            ("link", 28.0),
            ("social", 12.0),
        ]),
        referee_email: make_email(r, first, last, &COUNTRIES[0], "Consumer", taken),
        clicked_ms,
        signed_up_ms: None,
        referee: None,
        converted_ms: None,
    }
}

// --- NPS --------------------------------------------------------------------

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

/// Surveys go out after onboarding, some purchases, support contacts and
/// yearly renewals; about 40% answer. Scores follow the customer's latent
/// satisfaction plus a shared per-month swing, so NPS lands around +20..+40
/// and moves month to month.
fn build_nps(ctx: &Ctx, customers: &[Customer], by_customer: &[Vec<Order>]) -> Vec<NpsResponse> {
    let month_noise = nps_month_noise(ctx);
    let mut out = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        let mut r = ctx.rng(stream::NPS, i);
        for (sent_ms, touchpoint) in surveys(&mut r, ctx, c, &by_customer[i]) {
            let at_ms = sent_ms + r.exp(18.0 * HOUR_MS as f64) as i64;
            if at_ms >= ctx.end_ms || !r.chance(0.4) {
                continue;
            }
            let noise = month_noise[month_index(ctx.start_ms, at_ms)];
            out.push(nps_response(&mut r, i, c, at_ms, touchpoint, noise));
        }
    }
    out.sort_by_key(|x| (x.at_ms, x.cust));
    out
}

fn month_index(start_ms: i64, ms: i64) -> usize {
    let (a, b) = (utc(start_ms), utc(ms));
    ((b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32).max(0) as usize
}

fn nps_month_noise(ctx: &Ctx) -> Vec<f64> {
    let mut r = ctx.rng(stream::NPS_MONTH, 0);
    (0..=month_index(ctx.start_ms, ctx.end_ms))
        .map(|_| 0.25 * r.normal())
        .collect()
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

fn nps_response(
    r: &mut Rng,
    cust: usize,
    c: &Customer,
    at_ms: i64,
    touchpoint: &'static str,
    month: f64,
) -> NpsResponse {
    let effect = match touchpoint {
        "support" => -0.8,
        "onboarding" => 0.2,
        "purchase" => 0.1,
        _ => 0.0,
    };
    let score = (8.6 + 1.8 * c.sat + month + effect + r.normal())
        .round()
        .clamp(0.0, 10.0) as u8;
    let comments: &[&'static str] = match score {
        9..=10 => &PROMOTER_COMMENTS,
        7..=8 => &PASSIVE_COMMENTS,
        _ => &DETRACTOR_COMMENTS,
    };
    NpsResponse {
        cust,
        at_ms,
        score,
        touchpoint,
        channel: r.weighted(&[("email", 60.0), ("in_app", 30.0), ("sms", 10.0)]),
        comment: r.chance(0.55).then(|| r.pick(comments)),
        email_only: r.chance(0.08),
    }
}

// --- reviews ----------------------------------------------------------------

const TITLES: [[&str; 4]; 5] = [
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
const TEXTS: [[&str; 3]; 5] = [
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

/// Customers who feel strongly (either way) write reviews, a while after an
/// order; strangers who never bought write some too. `review_names` collects
/// the display names the CRM has linked to customers.
fn build_reviews(
    ctx: &Ctx,
    customers: &[Customer],
    by_customer: &[Vec<Order>],
    review_names: &mut Vec<(usize, String)>,
) -> Vec<Review> {
    let mut names = Names::default();
    let mut out = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        let mut r = ctx.rng(stream::REVIEWS, i);
        let linked = r.chance(0.75);
        for site in [Site::Trustpilot, Site::Google] {
            let before = out.len();
            customer_reviews(&mut r, ctx, c, &by_customer[i], site, &mut names, &mut out);
            if linked && out.len() > before {
                review_names.push((i, out[before].author.clone()));
            }
        }
    }
    out.extend(anonymous_reviews(ctx, &mut names));
    out.sort_by(|a, b| (a.at_ms, &a.author).cmp(&(b.at_ms, &b.author)));
    out
}

fn customer_reviews(
    r: &mut Rng,
    ctx: &Ctx,
    c: &Customer,
    orders: &[Order],
    site: Site,
    names: &mut Names,
    out: &mut Vec<Review>,
) {
    let (base, from) = match site {
        Site::Trustpilot => (0.14, ctx.trustpilot_from_ms),
        Site::Google => (0.10, ctx.start_ms),
    };
    if orders.is_empty() || !r.chance(base + 0.07 * c.sat.abs()) {
        return;
    }
    let author = review_author(r, site, c.first_base, c.last_base, names);
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

/// Trustpilot shows "Jane D.", Google the full profile name; both are
/// unique here so a linked name resolves to exactly one customer.
fn review_author(r: &mut Rng, site: Site, first: &str, last: &str, names: &mut Names) -> String {
    let initial: String = last
        .chars()
        .find(|c| c.is_uppercase())
        .into_iter()
        .collect();
    let wanted = match site {
        Site::Trustpilot => format!("{first} {initial}."),
        Site::Google if r.chance(0.15) => {
            format!("{first} {}.", (b'A' + r.below(26) as u8) as char)
        }
        Site::Google => format!("{first} {last}"),
    };
    if names.insert(wanted.clone()) {
        return wanted;
    }
    let fuller = format!("{first} {last}");
    if names.insert(fuller.clone()) {
        return fuller;
    }
    unique_name(names, fuller, 200)
}

fn anonymous_reviews(ctx: &Ctx, names: &mut Names) -> Vec<Review> {
    let mut r = ctx.rng(stream::ANON_REVIEWS, 0);
    let mut out = Vec::new();
    for (site, from) in [
        (Site::Trustpilot, ctx.trustpilot_from_ms),
        (Site::Google, ctx.start_ms),
    ] {
        for _ in 0..(ctx.customers as f64 * 0.04).ceil() as usize {
            let (first, last) = (r.pick(&FIRST_NAMES), r.pick(&LAST_NAMES));
            let author = review_author(&mut r, site, first, last, names);
            let at_ms = r.between(from, ctx.end_ms);
            let stars = (3.4 + 1.6 * r.normal()).round().clamp(1.0, 5.0) as u8;
            let country = pick_country(&mut r).code;
            let verified = r.chance(0.2) || site == Site::Google;
            out.push(review(
                &mut r, site, author, at_ms, stars, verified, country,
            ));
        }
    }
    out
}

// --- social -----------------------------------------------------------------

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

/// The brand's own tweets, which reposts and replies point at.
fn brand_tweets(ctx: &Ctx) -> Vec<(i64, u64, usize)> {
    let mut r = ctx.rng(stream::BRAND_TWEETS, 0);
    let weeks = (ctx.end_ms - ctx.start_ms) / WEEK_MS;
    let mut out: Vec<(i64, u64, usize)> = (0..(weeks * 2).max(1))
        .map(|k| {
            let at = r.between(ctx.start_ms - 14 * DAY_MS, ctx.end_ms);
            (at, snowflake(&mut r, at), k as usize % BRAND_TWEETS.len())
        })
        .collect();
    out.sort_unstable();
    out
}

/// X ids are snowflakes: milliseconds since the X epoch in the high bits,
/// so they sort by time like the real ones.
fn snowflake(r: &mut Rng, at_ms: i64) -> u64 {
    (((at_ms - 1_288_834_974_657).max(0) as u64) << 22) | r.below(1 << 22)
}

struct XAuthor {
    name: String,
    id: u64,
    followers: u64,
    from_ms: i64,
    rate_per_week: f64,
    competitor_share: f64,
    /// -1 negative, 0 neutral, 1 positive.
    tone: i8,
}

/// Customers with X accounts post about the brand (promoters more often),
/// and a crowd of people who are not (known) customers post about the brand
/// and its competitors, which gives share of voice something to measure.
fn build_tweets(ctx: &Ctx, customers: &[Customer]) -> Vec<Tweet> {
    let brand = brand_tweets(ctx);
    let mut authors = customer_x_authors(ctx, customers);
    let mut taken: Names = authors.iter().map(|a| a.name.clone()).collect();
    for c in customers.iter().filter_map(|c| c.community.as_ref()) {
        taken.insert(c.name.clone());
    }
    authors.extend(crowd_x_authors(ctx, &mut taken));
    let mut out = Vec::new();
    for (k, a) in authors.iter().enumerate() {
        let mut r = ctx.rng(stream::TWEETS, k);
        let weeks = (ctx.end_ms - a.from_ms) as f64 / WEEK_MS as f64;
        for _ in 0..r.poisson(a.rate_per_week * weeks) {
            let at_ms = r.between(a.from_ms, ctx.end_ms);
            out.push(tweet(&mut r, a, at_ms, &brand));
        }
    }
    out.sort_by_key(|t| (t.at_ms, t.id));
    for k in 1..out.len() {
        if out[k].id <= out[k - 1].id {
            out[k].id = out[k - 1].id + 1;
        }
    }
    out
}

fn customer_x_authors(ctx: &Ctx, customers: &[Customer]) -> Vec<XAuthor> {
    customers
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.x.as_ref().map(|h| (i, c, h)))
        .map(|(i, c, h)| XAuthor {
            name: h.name.clone(),
            id: x_user_id(ctx.seed, "x-user", i),
            followers: h.followers,
            from_ms: c.signup_ms.max(ctx.start_ms),
            rate_per_week: 0.02 * (0.7 * c.sat).exp(),
            competitor_share: 0.08,
            tone: if c.sat > 0.3 {
                1
            } else if c.sat < -0.8 {
                -1
            } else {
                0
            },
        })
        .collect()
}

fn x_user_id(seed: u64, kind: &str, k: usize) -> u64 {
    1_000_000_000 + u64::from_str_radix(&stable_hex(seed, kind, k as u64, 12), 16).expect("hex")
}

fn crowd_x_authors(ctx: &Ctx, taken: &mut Names) -> Vec<XAuthor> {
    let mut r = ctx.rng(stream::X_CROWD, 0);
    (0..(ctx.customers / 6).max(10))
        .map(|k| {
            let (first, last) = (r.pick(&FIRST_NAMES), r.pick(&LAST_NAMES));
            XAuthor {
                name: x_handle(&mut r, first, last, taken),
                id: x_user_id(ctx.seed, "x-crowd", k),
                followers: followers(&mut r),
                from_ms: ctx.start_ms,
                rate_per_week: 0.015 * (0.8 * r.normal()).exp(),
                competitor_share: 0.45,
                tone: r.weighted(&[(1i8, 45.0), (0, 40.0), (-1, 15.0)]),
            }
        })
        .collect()
}

fn tweet(r: &mut Rng, a: &XAuthor, at_ms: i64, brand: &[(i64, u64, usize)]) -> Tweet {
    let at_ms = at_ms + r.below(1000) as i64;
    let base = Tweet {
        id: snowflake(r, at_ms),
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
    };
    if r.chance(a.competitor_share) {
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
    let latest = brand.partition_point(|b| b.0 < at_ms);
    let kind = r.weighted(&[("mention", 45.0), ("repost", 35.0), ("reply", 20.0)]);
    match (kind, latest) {
        ("repost", k) if k > 0 => {
            let (_, id, text) = brand[k - 1 - r.below(k.min(3) as u64) as usize];
            let text = format!("RT @{BRAND}: {}", BRAND_TWEETS[text]);
            Tweet {
                kind: "repost",
                text,
                reference: Some(("retweeted", id)),
                ..base
            }
        }
        ("reply", k) if k > 0 => {
            let id = brand[k - 1].1;
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
            let text = match a.tone {
                1 => r.pick(&POSITIVE_MENTIONS),
                -1 => r.pick(&NEGATIVE_MENTIONS),
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

const TOPICS: [&str; 8] = [
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
const ANSWERS: [&str; 5] = [
    "You can do this from Account > Orders > Edit, as long as it hasn't shipped.",
    "I wash mine at 30°C and line-dry; still going strong after a year.",
    "Promo codes don't stack with sale items, that's usually why it fails.",
    "Yes, all the boxes are recyclable and the tape is paper-based.",
    "Sizes run small, I'd go one up.\nThe size chart on the product page is accurate.",
];

struct CommunityMember {
    name: String,
    from_ms: i64,
    post: f64,
    reply: f64,
    answer: f64,
}

/// Forum activity: most members ask and reply, a few (educators and staff)
/// answer a lot. Staff and non-customers make up the unmatched authors.
fn build_posts(ctx: &Ctx, customers: &[Customer]) -> Vec<Post> {
    let mut members: Vec<CommunityMember> = customers
        .iter()
        .filter_map(|c| c.community.as_ref().map(|h| (c, h)))
        .map(|(c, h)| CommunityMember {
            name: h.name.clone(),
            from_ms: c.signup_ms.max(ctx.start_ms),
            post: 0.01,
            reply: 0.015,
            answer: if c.educator { 0.12 } else { 0.006 },
        })
        .collect();
    members.extend(community_crowd(ctx, customers));
    let mut out = Vec::new();
    for (k, m) in members.iter().enumerate() {
        let mut r = ctx.rng(stream::COMMUNITY, k);
        let weeks = (ctx.end_ms - m.from_ms) as f64 / WEEK_MS as f64;
        for (kind, rate) in [("post", m.post), ("reply", m.reply), ("answer", m.answer)] {
            for _ in 0..r.poisson(rate * weeks) {
                let at_ms = r.between(m.from_ms, ctx.end_ms);
                out.push(post(&mut r, &m.name, kind, at_ms));
            }
        }
    }
    out.sort_by(|a, b| (a.at_ms, &a.author).cmp(&(b.at_ms, &b.author)));
    out
}

fn community_crowd(ctx: &Ctx, customers: &[Customer]) -> Vec<CommunityMember> {
    let mut r = ctx.rng(stream::COMMUNITY_CROWD, 0);
    let mut taken: Names = customers
        .iter()
        .flat_map(|c| c.community.iter().chain(c.x.iter()).map(|h| h.name.clone()))
        .collect();
    let staff = ["fernhill_sam", "fernhill_priya"].map(|s| CommunityMember {
        name: s.to_string(),
        from_ms: ctx.start_ms,
        post: 0.02,
        reply: 0.08,
        answer: 0.25,
    });
    let crowd: Vec<CommunityMember> = (0..(ctx.customers / 10).max(5))
        .map(|_| {
            let (first, last) = (r.pick(&FIRST_NAMES), r.pick(&LAST_NAMES));
            CommunityMember {
                name: community_handle(&mut r, first, last, &mut taken),
                from_ms: r.between(ctx.start_ms, ctx.end_ms),
                post: 0.015,
                reply: 0.01,
                answer: 0.004,
            }
        })
        .collect();
    staff.into_iter().chain(crowd).collect()
}

fn post(r: &mut Rng, author: &str, kind: &'static str, at_ms: i64) -> Post {
    let (kind, likes, text) = match kind {
        "answer" if r.chance(0.3) => ("accepted_answer", r.poisson(5.0), r.pick(&ANSWERS)),
        "answer" => ("answer", r.poisson(2.0), r.pick(&ANSWERS)),
        "reply" => ("reply", r.poisson(1.0), r.pick(&REPLY_TEXTS)),
        _ => ("post", r.poisson(0.8), r.pick(&QUESTIONS)),
    };
    Post {
        author: author.to_string(),
        at_ms: at_ms + r.below(1000) as i64,
        kind,
        likes,
        topic: r.pick(&TOPICS),
        text,
    }
}

// --- identities -------------------------------------------------------------

/// What the CRM knows about each contact's other identities; only linked
/// handles and review names appear, so some activity stays unmatched.
fn build_identities(customers: &[Customer], review_names: Vec<(usize, String)>) -> Vec<Identity> {
    let mut out = Vec::new();
    for (i, c) in customers.iter().enumerate() {
        out.push(Identity {
            cust: i,
            kind: "email",
            value: c.email.clone(),
        });
        if let Some(e) = &c.secondary_email {
            out.push(Identity {
                cust: i,
                kind: "email",
                value: e.clone(),
            });
        }
        for (kind, h) in [("x", &c.x), ("community", &c.community)] {
            if let Some(h) = h.as_ref().filter(|h| h.linked) {
                out.push(Identity {
                    cust: i,
                    kind,
                    value: h.name.clone(),
                });
            }
        }
    }
    out.extend(review_names.into_iter().map(|(cust, value)| Identity {
        cust,
        kind: "review_name",
        value,
    }));
    out.sort_by_key(|x| x.cust);
    out
}

// ---------------------------------------------------------------------------
// Writing

/// A file being written record by record. Deliberately bad records are
/// spread through the file rather than appended, so line numbers in the
/// quarantine are worth checking.
struct Sink {
    rel: String,
    dest: PathBuf,
    tmp: PathBuf,
    w: BufWriter<File>,
    /// Written after every record (CSV, JSONL) ...
    terminator: &'static str,
    /// ... or between records (JSON arrays).
    separator: &'static str,
    rows: u64,
    bad: u64,
    duplicates: u64,
    good: u64,
    pending_bad: VecDeque<(u64, String)>,
}

/// What one writer produced; duplicates are reported in the README only.
struct Written {
    summary: FileSummary,
    duplicates: u64,
}

impl Sink {
    fn create(
        out: &Path,
        rel: &str,
        terminator: &'static str,
        separator: &'static str,
    ) -> io::Result<Sink> {
        let dest = out.join(rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = dest.with_extension("partial");
        Ok(Sink {
            rel: rel.to_string(),
            w: BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            dest,
            tmp,
            terminator,
            separator,
            rows: 0,
            bad: 0,
            duplicates: 0,
            good: 0,
            pending_bad: VecDeque::new(),
        })
    }

    fn csv(out: &Path, rel: &str, header: &str) -> io::Result<Sink> {
        let mut s = Sink::create(out, rel, "\n", "")?;
        s.raw(header)?;
        s.raw("\n")?;
        Ok(s)
    }

    /// Spreads `records` evenly among `expected_good` good records.
    fn plan_bad(&mut self, expected_good: usize, records: Vec<String>) {
        let n = records.len() as u64;
        for (j, rec) in records.into_iter().enumerate() {
            let at = (j as u64 + 1) * expected_good as u64 / (n + 1);
            self.pending_bad.push_back((at, rec));
        }
    }

    fn raw(&mut self, text: &str) -> io::Result<()> {
        self.w.write_all(text.as_bytes())
    }

    fn record(&mut self, text: &str) -> io::Result<()> {
        if self.rows > 0 {
            self.w.write_all(self.separator.as_bytes())?;
        }
        self.w.write_all(text.as_bytes())?;
        self.w.write_all(self.terminator.as_bytes())?;
        self.rows += 1;
        Ok(())
    }

    fn flush_bad(&mut self, up_to: u64) -> io::Result<()> {
        while self.pending_bad.front().is_some_and(|(at, _)| *at <= up_to) {
            let (_, rec) = self.pending_bad.pop_front().expect("checked");
            self.record(&rec)?;
            self.bad += 1;
        }
        Ok(())
    }

    fn good(&mut self, text: &str) -> io::Result<()> {
        self.flush_bad(self.good)?;
        self.record(text)?;
        self.good += 1;
        Ok(())
    }

    /// A re-export of a record already written: valid, but staging must
    /// dedup it by primary key.
    fn duplicate(&mut self, text: &str) -> io::Result<()> {
        self.good(text)?;
        self.duplicates += 1;
        Ok(())
    }

    fn finish(mut self, footer: &str) -> io::Result<Written> {
        self.flush_bad(u64::MAX)?;
        self.raw(footer)?;
        self.w.flush()?;
        drop(self.w);
        fs::rename(&self.tmp, &self.dest)?;
        Ok(Written {
            summary: FileSummary {
                path: self.rel,
                rows: self.rows,
                bad_rows: self.bad,
            },
            duplicates: self.duplicates,
        })
    }
}

/// Quotes only when needed, like Excel and most exporters. `delimiter` is
/// ASCII.
fn csv_field(value: &str, delimiter: char) -> Cow<'_, str> {
    let special = |b: u8| b == delimiter as u8 || matches!(b, b'"' | b'\n' | b'\r');
    if value.bytes().any(special) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

fn csv_row(fields: &[&str], delimiter: char) -> String {
    let mut out = String::new();
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            out.push(delimiter);
        }
        out.push_str(&csv_field(f, delimiter));
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn blank_if_none(ms: Option<i64>) -> String {
    ms.map(fmt_sql).unwrap_or_default()
}

// --- crm/customers.csv ------------------------------------------------------

const CUSTOMERS_HEADER: &str = "Id,Email,First Name,Last Name,Created Date,Mailing Country,Segment__c,Lead Source,Referral Code__c";

fn customer_row(c: &Customer) -> String {
    csv_row(
        &[
            &c.id,
            &c.email_in_crm,
            &c.first,
            &c.last,
            &fmt_mdy(c.signup_ms),
            c.country.name,
            c.segment,
            c.lead_source,
            &c.referral_code,
        ],
        ',',
    )
}

/// A Salesforce report saved from Excel as "CSV UTF-8": a BOM, CRLF line
/// ends and quotes only where needed.
fn write_customers(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::create(out, "crm/customers.csv", "\r\n", "")?;
    sink.raw("\u{feff}")?;
    sink.raw(CUSTOMERS_HEADER)?;
    sink.raw("\r\n")?;
    let n = w.customers.len();
    if bad {
        sink.plan_bad(n, bad_customers(w));
    }
    for (i, c) in w.customers.iter().enumerate() {
        sink.good(&customer_row(c))?;
        if n >= 2 && i == n / 2 {
            sink.duplicate(&customer_row(&w.customers[n / 5]))?;
        }
    }
    sink.finish("")
}

/// Each bad for exactly one reason: no Id, 31 February, year 2099, and an
/// unquoted comma that adds a field.
fn bad_customers(w: &World) -> Vec<String> {
    let n = w.customers.len() as u64;
    let id = |k: u64| salesforce_id(1_500_000_000 + (n + 10 + k) * 29);
    let (d1, d2) = (fmt_mdy(w.mid_ms()), fmt_mdy(w.mid_ms() + 9 * DAY_MS));
    vec![
        csv_row(
            &[
                "",
                "nora.quinn@gmail.com",
                "Nora",
                "Quinn",
                &d1,
                "Ireland",
                "Consumer",
                "Web",
                "",
            ],
            ',',
        ),
        csv_row(
            &[
                &id(1),
                "liam.berg@outlook.com",
                "Liam",
                "Berg",
                "31/02/2025",
                "Germany",
                "Consumer",
                "Web",
                "",
            ],
            ',',
        ),
        csv_row(
            &[
                &id(2),
                "ava.stone@icloud.com",
                "Ava",
                "Stone",
                "01/15/2099",
                "United States",
                "SMB",
                "Event",
                "",
            ],
            ',',
        ),
        format!(
            "{},mark.smith@yahoo.com,Mark,Smith, Jr.,{d2},United States,Consumer,Web,",
            id(3)
        ),
    ]
}

// --- crm/orders.csv ---------------------------------------------------------

const ORDERS_HEADER: &str =
    "Order ID,Customer ID,Created At,Total,Currency,Gross Margin,Financial Status";

fn order_id(seq: usize) -> String {
    (5_630_112_000_000u64 + seq as u64 * 131).to_string()
}

fn order_row(w: &World, seq: usize) -> String {
    let o = &w.orders[seq];
    let c = &w.customers[o.cust];
    csv_row(
        &[
            &order_id(seq),
            &c.id,
            &fmt_local(o.at_ms, c.zone),
            &money(o.cents),
            c.country.currency,
            &money(o.margin_cents),
            o.status.shopify(),
        ],
        ',',
    )
}

/// A Shopify order export: timestamps in the store's local time with the
/// offset, totals with two decimals, Shopify's financial status words.
fn write_orders(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::csv(out, "crm/orders.csv", ORDERS_HEADER)?;
    let n = w.orders.len();
    if bad {
        sink.plan_bad(n, bad_orders(w));
    }
    for seq in 0..n {
        sink.good(&order_row(w, seq))?;
        if n >= 4 && (seq == n / 2 || seq == 3 * n / 4) {
            sink.duplicate(&order_row(w, if seq == n / 2 { n / 4 } else { n / 3 }))?;
        }
    }
    sink.finish("")
}

/// Negative total, a status the config does not map, "yesterday", no
/// order id, and a thousands separator that splits the total into two
/// fields.
fn bad_orders(w: &World) -> Vec<String> {
    let n = w.orders.len();
    let c = &w.customers[0];
    let (cust, cur) = (c.id.as_str(), c.country.currency);
    let id = |k: usize| order_id(n + 10 + k);
    let at = |days: i64| fmt_local(w.mid_ms() + days * DAY_MS, c.zone);
    vec![
        csv_row(&[&id(1), cust, &at(0), "-42.50", cur, "12.10", "paid"], ','),
        csv_row(
            &[&id(2), cust, &at(1), "58.00", cur, "21.40", "pending"],
            ',',
        ),
        csv_row(
            &[&id(3), cust, "yesterday", "35.90", cur, "14.00", "paid"],
            ',',
        ),
        csv_row(&["", cust, &at(2), "77.25", cur, "30.00", "paid"], ','),
        format!("{},{cust},{},1,234.50,{cur},512.00,paid", id(4), at(3)),
    ]
}

// --- crm/nps_responses.csv --------------------------------------------------

const NPS_HEADER: &str = "Response ID;Person ID;Email;Score;Comment;Created;Touchpoint;Channel";

fn nps_id(seq: usize) -> String {
    (381_204_117u64 + seq as u64 * 7).to_string()
}

/// Fields in header order. A non-empty comment (index 4) is always quoted,
/// as Delighted does; everything else only when needed.
fn nps_line(fields: [&str; 8]) -> String {
    let quoted = |(k, v): (usize, &str)| match (k, v) {
        (4, "") => String::new(),
        (4, c) => format!("\"{}\"", c.replace('"', "\"\"")),
        (_, v) => csv_field(v, ';').into_owned(),
    };
    fields
        .into_iter()
        .enumerate()
        .map(quoted)
        .collect::<Vec<_>>()
        .join(";")
}

fn nps_row(w: &World, seq: usize) -> String {
    let x = &w.nps[seq];
    let c = &w.customers[x.cust];
    let person = if x.email_only { "" } else { c.id.as_str() };
    let created = (x.at_ms / 1000).to_string();
    let comment = x.comment.unwrap_or("");
    nps_line([
        &nps_id(seq),
        person,
        &c.email,
        &x.score.to_string(),
        comment,
        &created,
        x.touchpoint,
        x.channel,
    ])
}

/// A Delighted export: semicolons, epoch seconds, the person sometimes
/// known by email only.
fn write_nps(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::csv(out, "crm/nps_responses.csv", NPS_HEADER)?;
    if bad {
        sink.plan_bad(w.nps.len(), bad_nps(w));
    }
    for seq in 0..w.nps.len() {
        sink.good(&nps_row(w, seq))?;
    }
    sink.finish("")
}

/// Score 11, score "ten", no response id, "yesterday", and nobody to
/// attribute the answer to (neither person id nor email).
fn bad_nps(w: &World) -> Vec<String> {
    let c = &w.customers[0];
    let id = |k: usize| nps_id(w.nps.len() + 10 + k);
    let at = (w.mid_ms() / 1000).to_string();
    vec![
        nps_line([
            &id(1),
            &c.id,
            &c.email,
            "11",
            "Best shop ever!!",
            &at,
            "purchase",
            "email",
        ]),
        nps_line([&id(2), &c.id, &c.email, "ten", "", &at, "purchase", "email"]),
        nps_line(["", &c.id, &c.email, "8", "", &at, "onboarding", "in_app"]),
        nps_line([
            &id(3),
            &c.id,
            &c.email,
            "9",
            "",
            "yesterday",
            "support",
            "email",
        ]),
        nps_line([
            &id(4),
            "",
            "",
            "6",
            "Slow delivery.",
            &at,
            "purchase",
            "sms",
        ]),
    ]
}

// --- crm/referrals.csv ------------------------------------------------------

const REFERRALS_HEADER: &str = "Referral ID,Referrer ID,Invited At,Channel,Referee Email,Clicked At,Signed Up At,Referee ID,First Purchase At";

fn referral_id(seq: usize) -> String {
    format!("RC-{:07}", 1_000_000 + seq * 3)
}

fn referral_row(w: &World, seq: usize) -> String {
    let x = &w.referrals[seq];
    let referee = x.referee.map(|k| w.customers[k].id.as_str()).unwrap_or("");
    csv_row(
        &[
            &referral_id(seq),
            &w.customers[x.referrer].id,
            &fmt_sql(x.invited_ms),
            x.channel,
            &x.referee_email,
            &blank_if_none(x.clicked_ms),
            &blank_if_none(x.signed_up_ms),
            referee,
            &blank_if_none(x.converted_ms),
        ],
        ',',
    )
}

/// A ReferralCandy export: one row per invite, the funnel steps as
/// timestamps left empty when the step did not happen.
fn write_referrals(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::csv(out, "crm/referrals.csv", REFERRALS_HEADER)?;
    if bad {
        sink.plan_bad(w.referrals.len(), bad_referrals(w));
    }
    for seq in 0..w.referrals.len() {
        sink.good(&referral_row(w, seq))?;
    }
    sink.finish("")
}

/// No referrer, 31 February, year 2099, and a trailing extra field.
fn bad_referrals(w: &World) -> Vec<String> {
    let who = &w.customers[0].id;
    let id = |k: usize| referral_id(w.referrals.len() + 10 + k);
    let (d1, d2) = (fmt_sql(w.mid_ms()), fmt_sql(w.mid_ms() + 5 * DAY_MS));
    vec![
        csv_row(
            &[
                &id(1),
                "",
                &d1,
                "email",
                "tess.hart@gmail.com",
                "",
                "",
                "",
                "",
            ],
            ',',
        ),
        csv_row(
            &[
                &id(2),
                who,
                "31/02/2025",
                "link",
                "omar.field@gmail.com",
                "",
                "",
                "",
                "",
            ],
            ',',
        ),
        csv_row(
            &[
                &id(3),
                who,
                "2099-12-31 23:59:59",
                "whatsapp",
                "ines.roy@gmail.com",
                "",
                "",
                "",
                "",
            ],
            ',',
        ),
        format!("{},{},{d2},social,dan.eve@gmail.com,,,,,", id(4), who),
    ]
}

// --- crm/identities.csv -----------------------------------------------------

/// The CRM's contact-identity table: every email plus the handles and
/// review names someone linked to the contact.
fn write_identities(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::csv(
        out,
        "crm/identities.csv",
        "Contact ID,Identity Type,Identity Value",
    )?;
    if bad {
        let who = &w.customers[0].id;
        sink.plan_bad(
            w.identities.len(),
            vec![
                csv_row(&["", "x", "ghost_user"], ','),
                csv_row(&[who, "community", ""], ','),
                format!("{who},review_name,Doe, Jane"),
            ],
        );
    }
    for x in &w.identities {
        sink.good(&csv_row(&[&w.customers[x.cust].id, x.kind, &x.value], ','))?;
    }
    sink.finish("")
}

// --- reviews/trustpilot-YYYY.json -------------------------------------------

fn trustpilot_json(w: &World, x: &Review, id: Option<&str>, created: &str, stars: u8) -> String {
    let consumer_id = stable_hex(w.seed, "tp-consumer", hash_name(&x.author), 24);
    let id = id.map(json_str).unwrap_or_else(|| "null".to_string());
    format!(
        "    {{\"id\": {id}, \"stars\": {stars}, \"title\": {}, \"text\": {}, \"language\": \"en\", \"createdAt\": {}, \"isVerified\": {}, \"consumer\": {{\"id\": {}, \"displayName\": {}, \"countryCode\": {}, \"numberOfReviews\": {}}}, \"companyReply\": null}}",
        json_str(x.title),
        json_str(x.text),
        json_str(created),
        x.verified,
        json_str(&consumer_id),
        json_str(&x.author),
        json_str(x.country_code),
        1 + hash_name(&x.author) % 7,
    )
}

fn hash_name(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The Trustpilot business-units reviews API response, saved once per
/// calendar year: `{"reviews": [...], "links": [...]}`.
fn write_trustpilot(
    out: &Path,
    w: &World,
    year: i32,
    file_no: usize,
    bad: bool,
) -> io::Result<Written> {
    let rel = format!("reviews/trustpilot-{year}.json");
    let mut sink = Sink::create(out, &rel, "", ",\n")?;
    sink.raw("{\n  \"reviews\": [\n")?;
    let reviews: Vec<(usize, &Review)> = w
        .reviews
        .iter()
        .enumerate()
        .filter(|(_, x)| x.site == Site::Trustpilot && utc(x.at_ms).year() == year)
        .collect();
    if bad {
        sink.plan_bad(reviews.len(), bad_trustpilot(w, year, file_no));
    }
    for (k, x) in &reviews {
        let id = stable_hex(w.seed, "tp-review", *k as u64, 24);
        sink.good(&trustpilot_json(w, x, Some(&id), &fmt_z(x.at_ms), x.stars))?;
    }
    let links = format!(
        "\n  ],\n  \"links\": [\n    {{\"href\": \"https://api.trustpilot.com/v1/business-units/5f1e3c9a8b7d6e0012345678/reviews?startDateTime={year}-01-01T00:00:00Z&perPage=100&page=1\", \"method\": \"GET\", \"rel\": \"self\"}}\n  ]\n}}\n"
    );
    sink.finish(&links)
}

/// Stars 0 and 6, a null id, "yesterday", year 2099; each yearly file gets
/// three of them, rotating, so every kind is covered across files.
fn bad_trustpilot(w: &World, year: i32, file_no: usize) -> Vec<String> {
    let template = Review {
        site: Site::Trustpilot,
        author: "Pat K.".to_string(),
        at_ms: 0,
        stars: 4,
        title: "Good",
        text: "Nice products.",
        verified: false,
        country_code: "GB",
    };
    let jan1 = date_ms(NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date"));
    let june = date_ms(NaiveDate::from_ymd_opt(year, 6, 15).expect("valid date"));
    let ok_date = fmt_z(
        june.min(w.end_ms - DAY_MS)
            .max(jan1.max(w.trustpilot_from_ms)),
    );
    let id = |k: usize| stable_hex(w.seed, "tp-bad", (year as u64) * 10 + k as u64, 24);
    let kinds: [Box<dyn Fn() -> String>; 5] = [
        Box::new(|| trustpilot_json(w, &template, Some(&id(0)), &ok_date, 0)),
        Box::new(|| trustpilot_json(w, &template, Some(&id(1)), &ok_date, 6)),
        Box::new(|| trustpilot_json(w, &template, None, &ok_date, 4)),
        Box::new(|| trustpilot_json(w, &template, Some(&id(3)), "yesterday", 4)),
        Box::new(|| trustpilot_json(w, &template, Some(&id(4)), "2099-01-01T00:00:00Z", 4)),
    ];
    (0..3)
        .map(|k| kinds[(file_no * 3 + k) % kinds.len()]())
        .collect()
}

// --- reviews/google-reviews.csv ---------------------------------------------

const STAR_WORDS: [&str; 5] = ["ONE", "TWO", "THREE", "FOUR", "FIVE"];

fn google_review_id(w: &World, k: u64) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let h = stable_hex(w.seed, "google-review", k, 40);
    let tail: String = h
        .as_bytes()
        .chunks(2)
        .map(|p| {
            B64[(u8::from_str_radix(std::str::from_utf8(p).unwrap_or("0"), 16).unwrap_or(0) % 64)
                as usize] as char
        })
        .collect();
    format!("ChZDSUhNMG9nS0VJQ0Fn{tail}")
}

/// A Google Business Profile export: star ratings as words, RFC 3339 with
/// milliseconds, and often no comment at all.
fn write_google_reviews(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::csv(
        out,
        "reviews/google-reviews.csv",
        "review_id,reviewer_name,star_rating,comment,create_time",
    )?;
    let reviews: Vec<(usize, &Review)> = w
        .reviews
        .iter()
        .enumerate()
        .filter(|(_, x)| x.site == Site::Google)
        .collect();
    if bad {
        sink.plan_bad(reviews.len(), bad_google(w));
    }
    for (k, x) in reviews {
        let comment = if hash_name(&x.author).is_multiple_of(4) {
            ""
        } else {
            x.text
        };
        let id = google_review_id(w, k as u64);
        sink.good(&csv_row(
            &[
                &id,
                &x.author,
                STAR_WORDS[x.stars as usize - 1],
                comment,
                &fmt_z_millis(x.at_ms),
            ],
            ',',
        ))?;
    }
    sink.finish("")
}

/// Rating ZERO, "yesterday", no review id, and an unquoted comma in the
/// comment.
fn bad_google(w: &World) -> Vec<String> {
    let id = |k: u64| google_review_id(w, 1_000_000_000 + k);
    let at = |days: i64| fmt_z_millis(w.mid_ms() + days * DAY_MS + 123);
    vec![
        csv_row(&[&id(1), "Robin Vale", "ZERO", "Meh.", &at(0)], ','),
        csv_row(
            &[&id(2), "Kai Moss", "FOUR", "Good stuff", "yesterday"],
            ',',
        ),
        csv_row(&["", "Lee Park", "FIVE", "Great!", &at(1)], ','),
        format!("{},Ann Lowe,THREE,Okay, could be better,{}", id(4), at(2)),
    ]
}

// --- social/x-mentions.jsonl ------------------------------------------------

fn tweet_json(t: &Tweet, id: Option<u64>, created: &str) -> String {
    let id = id.map(|v| format!("\"id\":\"{v}\",")).unwrap_or_default();
    let referenced = t
        .reference
        .map(|(kind, rid)| {
            format!(",\"referenced_tweets\":[{{\"type\":\"{kind}\",\"id\":\"{rid}\"}}]")
        })
        .unwrap_or_default();
    format!(
        "{{{id}\"created_at\":{},\"text\":{},\"author_id\":\"{}\",\"author\":{{\"username\":{},\"public_metrics\":{{\"followers_count\":{}}}}},\"public_metrics\":{{\"like_count\":{},\"retweet_count\":{}}}{referenced},\"event_type\":\"{}\",\"competitor\":{}}}",
        json_str(created),
        json_str(&t.text),
        t.author_id,
        json_str(&t.author),
        t.followers,
        t.likes,
        t.retweets,
        t.kind,
        t.competitor,
    )
}

/// X API v2 tweets, one per line, with the author expanded inline and the
/// flat `event_type`/`competitor` tags the export pipeline adds.
fn write_x_mentions(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::create(out, "social/x-mentions.jsonl", "\n", "")?;
    if bad {
        sink.plan_bad(w.tweets.len(), bad_tweets(w));
    }
    for t in &w.tweets {
        sink.good(&tweet_json(t, Some(t.id), &fmt_z_millis(t.at_ms)))?;
    }
    sink.finish("")
}

/// A line cut off mid-write, no id, "yesterday", and a date before 1970.
fn bad_tweets(w: &World) -> Vec<String> {
    let t = Tweet {
        id: 1_900_000_000_000_000_000,
        author: "nobody_special".to_string(),
        author_id: 42,
        followers: 12,
        at_ms: 0,
        kind: "mention",
        text: "Loving my new order from @fernhillgoods".to_string(),
        likes: 1,
        retweets: 0,
        reference: None,
        competitor: false,
    };
    let good = fmt_z_millis(w.mid_ms());
    let full = tweet_json(&t, Some(t.id + 1), &good);
    vec![
        full[..full.find("Loving my").unwrap_or(full.len() / 2) + 9].to_string(),
        tweet_json(&t, None, &good),
        tweet_json(&t, Some(t.id + 2), "yesterday"),
        tweet_json(&t, Some(t.id + 3), "1969-07-20T20:17:40.000Z"),
    ]
}

// --- social/community-answers.jsonl -----------------------------------------

fn post_json(p: &Post, id: Option<u64>, author: Option<&str>, created: &str) -> String {
    format!(
        "{{\"post_id\":{},\"username\":{},\"created_at\":{},\"kind\":\"{}\",\"likes\":{},\"topic\":{},\"text\":{}}}",
        id.map(|v| v.to_string()).unwrap_or_else(|| "null".into()),
        author.map(json_str).unwrap_or_else(|| "null".into()),
        json_str(created),
        p.kind,
        p.likes,
        json_str(p.topic),
        json_str(p.text),
    )
}

fn post_id(seq: usize) -> u64 {
    10_000 + seq as u64
}

/// A Discourse export of forum posts, one JSON object per line; answers and
/// accepted answers are what make someone an educator.
fn write_community(out: &Path, w: &World, bad: bool) -> io::Result<Written> {
    let mut sink = Sink::create(out, "social/community-answers.jsonl", "\n", "")?;
    if bad {
        sink.plan_bad(w.posts.len(), bad_posts(w));
    }
    for (seq, p) in w.posts.iter().enumerate() {
        sink.good(&post_json(
            p,
            Some(post_id(seq)),
            Some(&p.author),
            &fmt_z_millis(p.at_ms),
        ))?;
    }
    sink.finish("")
}

/// A truncated line, a null post id, year 2099, and no username.
fn bad_posts(w: &World) -> Vec<String> {
    let p = Post {
        author: "fernhill_sam".to_string(),
        at_ms: 0,
        kind: "answer",
        likes: 1,
        topic: TOPICS[0],
        text: ANSWERS[0],
    };
    let id = |k: usize| post_id(w.posts.len() + 10 + k);
    let good = fmt_z_millis(w.mid_ms());
    let full = post_json(&p, Some(id(1)), Some(&p.author), &good);
    vec![
        full[..full.len() - 40].to_string(),
        post_json(&p, None, Some(&p.author), &good),
        post_json(&p, Some(id(2)), Some(&p.author), "2099-01-01T00:00:00.000Z"),
        post_json(&p, Some(id(3)), None, &good),
    ]
}

// --- README -----------------------------------------------------------------

const README_FILES: [(&str, &str); 9] = [
    (
        "crm/customers.csv",
        "Salesforce contact report saved by Excel: UTF-8 BOM, CRLF, `Created Date` as MM/DD/YYYY, emails with stray capitals and spaces, one last name with a comma and one first name with quotes.",
    ),
    (
        "crm/orders.csv",
        "Shopify order export: `Created At` in the store's local time with offset (DST switches), 2-decimal totals, `Financial Status` paid/refunded/voided.",
    ),
    (
        "crm/nps_responses.csv",
        "Delighted export, `;`-delimited, `Created` in epoch seconds, comments always quoted (some with `;`, `\"` or a newline), `Person ID` empty on ~8% of rows (email only).",
    ),
    (
        "crm/referrals.csv",
        "ReferralCandy export, one row per invite; funnel timestamps `YYYY-MM-DD HH:MM:SS` UTC, empty when the step did not happen.",
    ),
    (
        "crm/identities.csv",
        "CRM contact identities: every email (some contacts have two), linked X and community handles, linked review display names.",
    ),
    (
        "reviews/trustpilot-YYYY.json",
        "Trustpilot business-unit reviews API response per calendar year (`{\"reviews\": [...], \"links\": [...]}`); invitations started on the first 1 January of the period.",
    ),
    (
        "reviews/google-reviews.csv",
        "Google Business Profile export: `star_rating` ONE..FIVE, `create_time` RFC 3339 with milliseconds, comment often empty.",
    ),
    (
        "social/x-mentions.jsonl",
        "X API v2 tweets with the author inlined, plus flat `event_type` (mention/repost/reply) and `competitor` tags; ids are time-ordered snowflakes.",
    ),
    (
        "social/community-answers.jsonl",
        "Discourse forum posts: `kind` post/reply/answer/accepted_answer, `post_id` integer; staff and non-customers are unmatched authors.",
    ),
];

fn readme_description(path: &str) -> &'static str {
    let key = if path.starts_with("reviews/trustpilot-") {
        "reviews/trustpilot-YYYY.json"
    } else {
        path
    };
    README_FILES
        .iter()
        .find(|(p, _)| *p == key)
        .map(|(_, d)| *d)
        .unwrap_or("")
}

/// The README is generated with the data so its counts can never drift from
/// the files; tests assert the numbers in it.
fn write_readme(opts: &GenerateOptions, w: &World, written: &[Written]) -> io::Result<()> {
    let mut s = String::new();
    s.push_str("# Synthetic landing exports\n\n");
    s.push_str("Generated by `advocacy generate`; do not edit by hand. Regenerate with\n\n");
    s.push_str(&format!(
        "```sh\nadvocacy generate --out {} --customers {} --seed {} --start {} --end {}{}\n```\n\n",
        opts.out
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| opts.out.display().to_string()),
        opts.customers,
        opts.seed,
        opts.start,
        opts.end,
        if opts.bad_rows { "" } else { " --clean" }
    ));
    s.push_str("The same options always produce byte-identical files. The exports imitate real tools (see `config/advocacy.yaml` for the mapping onto the canonical entities).\n\n");
    s.push_str(
        "| file | rows | deliberately bad | duplicate keys | shape |\n|---|---:|---:|---:|---|\n",
    );
    for x in written {
        let f = &x.summary;
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            f.path,
            f.rows,
            f.bad_rows,
            x.duplicates,
            readme_description(&f.path)
        ));
    }
    let total: u64 = written.iter().map(|x| x.summary.rows).sum();
    let bad: u64 = written.iter().map(|x| x.summary.bad_rows).sum();
    s.push_str(&format!("| **total** | {total} | {bad} | | |\n\n"));
    s.push_str(README_NOTES);
    s.push_str(&format!(
        "\nWorld summary: {} customers, {} orders, {} referral invites ({} converted), {} NPS responses, {} reviews, {} X posts, {} community posts, {} identities.\n",
        w.customers.len(),
        w.orders.len(),
        w.referrals.len(),
        w.referrals.iter().filter(|r| r.referee.is_some()).count(),
        w.nps.len(),
        w.reviews.len(),
        w.tweets.len(),
        w.posts.len(),
        w.identities.len(),
    ));
    let path = opts.out.join("README.md");
    fs::write(path, s)
}

const README_NOTES: &str = "\
`rows` counts records (not physical lines: quoted newlines make some records span two lines; \
headers and JSON wrappers are not records) and includes the bad rows and duplicates.

## Deliberately bad rows

Each bad row is wrong for exactly one reason, so `rows = loaded + quarantined + deduplicated` \
can be asserted per file:

- `crm/customers.csv`: missing `Id`; `Created Date` 31/02/2025; `Created Date` in 2099; an unquoted comma (`Smith, Jr.`) giving 10 fields.
- `crm/orders.csv`: negative `Total`; `Financial Status` `pending` (not in the `values:` map); `Created At` `yesterday`; missing `Order ID`; `Total` `1,234.50` unquoted giving 8 fields.
- `crm/nps_responses.csv`: `Score` 11; `Score` `ten`; missing `Response ID`; `Created` `yesterday`; neither `Person ID` nor `Email`.
- `crm/referrals.csv`: missing `Referrer ID`; `Invited At` 31/02/2025; `Invited At` in 2099; an extra trailing field.
- `crm/identities.csv`: missing `Contact ID`; empty `Identity Value`; an unquoted comma giving 4 fields.
- `reviews/trustpilot-*.json`: three per file, rotating through `stars` 0, `stars` 6, `id` null, `createdAt` `yesterday`, `createdAt` in 2099.
- `reviews/google-reviews.csv`: `star_rating` `ZERO`; `create_time` `yesterday`; missing `review_id`; an unquoted comma giving 6 fields.
- `social/x-mentions.jsonl`: a truncated line (invalid JSON); no `id`; `created_at` `yesterday`; `created_at` in 1969.
- `social/community-answers.jsonl`: a truncated line (invalid JSON); `post_id` null; `created_at` in 2099; `username` null.

Duplicate keys are exact re-exports of an earlier row (one customer, two orders); they are valid \
and staging deduplicates them by primary key.

## What the data looks like

- Signups spread over the period with more in November and December and a growth trend.
- Orders: each customer has a Gamma-distributed purchase rate and after every purchase a \
Beta-distributed chance of churning (BG/NBD), thinned by month (Q4 and Black Friday peaks); ~8% \
never order. Totals are lognormal around 70 (more for SMB/Enterprise), about 20..400; ~4% refunded, \
~2% voided. Currency follows the customer's country (mostly USD/EUR/GBP, some CAD/AUD).
- About a quarter of customers were referred (`Lead Source` mostly `Referral`, `Referral Code__c` the \
referrer's code, a converted row in `referrals.csv` with `Referee ID` = them); happier customers \
refer more. Invites that went nowhere narrow the funnel: invites > clicks > signups > first purchases.
- NPS is around +20..+40 with a shared month-to-month swing; support touchpoints score lower.
- Reviews come from customers with strong feelings and from strangers; 75% of reviewing customers have \
their display name linked in `identities.csv`. X and community handles are linked for most, not all, \
customers who have them; crowd authors, staff and competitor posts stay unmatched.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &str, customers: usize) -> GenerateOptions {
        GenerateOptions {
            out: std::env::temp_dir()
                .join(format!("advocacy-generate-{}-{dir}", std::process::id())),
            customers,
            seed: 7,
            start: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            bad_rows: true,
        }
    }

    fn read_all(o: &GenerateOptions, s: &GenerateSummary) -> Vec<Vec<u8>> {
        s.files
            .iter()
            .map(|f| fs::read(o.out.join(&f.path)).unwrap())
            .collect()
    }

    #[test]
    fn same_options_give_identical_files() {
        let (a, b) = (opts("a", 120), opts("b", 120));
        let (sa, sb) = (generate(&a).unwrap(), generate(&b).unwrap());
        assert_eq!(sa, sb);
        assert_eq!(read_all(&a, &sa), read_all(&b, &sb));
        let _ = (fs::remove_dir_all(&a.out), fs::remove_dir_all(&b.out));
    }

    #[test]
    fn every_file_has_a_few_bad_rows_and_customers_look_like_excel() {
        let o = opts("c", 80);
        let s = generate(&o).unwrap();
        assert!(
            s.files.iter().all(|f| (2..=5).contains(&f.bad_rows)),
            "{:?}",
            s.files
        );
        let customers = fs::read(o.out.join("crm/customers.csv")).unwrap();
        assert!(customers.starts_with("\u{feff}Id,".as_bytes()));
        assert!(
            customers.windows(2).filter(|w| w == b"\r\n").count() as u64 == s.files[0].rows + 1
        );
        let _ = fs::remove_dir_all(&o.out);
    }

    #[test]
    fn salesforce_ids_carry_the_case_checksum() {
        let id = salesforce_id(1_500_000_000);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0035g000"));
    }
}
