//! The export files: which ones a world produces, how each lays out its
//! records, and the spelling helpers they share. One module per source
//! system family, each with its deliberately bad rows.

mod crm;
mod finance;
mod reviews;
mod social;

use std::borrow::Cow;

use chrono::Datelike;

use super::calendar::{fmt_sql, utc};
use super::people::Customer;
use super::sink::{Layout, Records};
use super::{Block, Ctx};

/// One export file of the landing area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Export {
    Customers,
    Orders,
    Nps,
    Referrals,
    Identities,
    /// The Trustpilot reviews of one calendar year; the number is the
    /// file's position among the yearly files.
    Trustpilot(i32, usize),
    Google,
    X,
    Community,
    ExchangeRates,
}

impl Export {
    /// Every file of a world, in the order the README lists them.
    pub fn all(ctx: &Ctx) -> Vec<Export> {
        let mut out = vec![
            Export::Customers,
            Export::Orders,
            Export::Nps,
            Export::Referrals,
            Export::Identities,
        ];
        let years = utc(ctx.trustpilot_from_ms).year()..=utc(ctx.end_ms - 1).year();
        out.extend(years.enumerate().map(|(k, y)| Export::Trustpilot(y, k)));
        out.extend([
            Export::Google,
            Export::X,
            Export::Community,
            Export::ExchangeRates,
        ]);
        out
    }

    pub fn path(self) -> String {
        match self {
            Export::Customers => "crm/customers.csv".into(),
            Export::Orders => "crm/orders.csv".into(),
            Export::Nps => "crm/nps_responses.csv".into(),
            Export::Referrals => "crm/referrals.csv".into(),
            Export::Identities => "crm/identities.csv".into(),
            Export::Trustpilot(year, _) => format!("reviews/trustpilot-{year}.json"),
            Export::Google => "reviews/google-reviews.csv".into(),
            Export::X => "social/x-mentions.jsonl".into(),
            Export::Community => "social/community-answers.jsonl".into(),
            Export::ExchangeRates => "finance/ecb-exchange-rates.csv".into(),
        }
    }

    pub fn layout(self) -> Layout {
        match self {
            Export::Customers => crm::customers_layout(),
            Export::Orders | Export::Nps | Export::Referrals | Export::Identities => {
                crm::layout(self)
            }
            Export::Trustpilot(year, _) => reviews::trustpilot_layout(year),
            Export::Google => reviews::google_layout(),
            Export::ExchangeRates => finance::layout(),
            Export::X | Export::Community => Layout {
                header: String::new(),
                terminator: "\n",
                separator: "",
                footer: String::new(),
            },
        }
    }

    /// The block's records of this file.
    pub fn records(self, ctx: &Ctx, block: &Block) -> Records {
        let mut out = Records::default();
        match self {
            Export::Customers => crm::customers(block, &mut out),
            Export::Orders => crm::orders(block, &mut out),
            Export::Nps => crm::nps(block, &mut out),
            Export::Referrals => crm::referrals(block, &mut out),
            Export::Identities => crm::identities(block, &mut out),
            Export::Trustpilot(year, _) => reviews::trustpilot(ctx, block, year, &mut out),
            Export::Google => reviews::google(ctx, block, &mut out),
            Export::X => social::tweets(block, &mut out),
            Export::Community => social::posts(block, &mut out),
            Export::ExchangeRates => finance::rates(ctx, block.index == 0, &mut out),
        }
        out
    }

    /// The deliberately bad records, each wrong for exactly one reason.
    /// `first` is the first customer, whose id the bad rows borrow.
    pub fn bad_records(self, ctx: &Ctx, first: &Customer) -> Vec<String> {
        match self {
            Export::Customers => crm::bad_customers(ctx),
            Export::Orders => crm::bad_orders(ctx, first),
            Export::Nps => crm::bad_nps(ctx, first),
            Export::Referrals => crm::bad_referrals(ctx, first),
            Export::Identities => crm::bad_identities(first),
            Export::Trustpilot(year, k) => reviews::bad_trustpilot(ctx, year, k),
            Export::Google => reviews::bad_google(ctx),
            Export::X => social::bad_tweets(ctx),
            Export::Community => social::bad_posts(ctx),
            Export::ExchangeRates => finance::bad_rates(ctx),
        }
    }

    /// Exact re-exports of earlier records in the first block: (after
    /// record, copy of record).
    pub fn duplicates(self, records: usize) -> Vec<(usize, usize)> {
        let n = records;
        match self {
            Export::Customers if n >= 2 => vec![(n / 2, n / 5)],
            Export::Orders if n >= 4 => vec![(n / 2, n / 4), (3 * n / 4, n / 3)],
            _ => Vec::new(),
        }
    }

    /// What the README says about the file's shape.
    pub fn description(self) -> &'static str {
        match self {
            Export::Customers => {
                "Salesforce contact report saved by Excel: UTF-8 BOM, CRLF, `Created Date` as MM/DD/YYYY, emails with stray capitals and spaces, one last name with a comma and one first name with quotes."
            }
            Export::Orders => {
                "Shopify order export: `Created At` in the customer's local time with offset (DST switches), 2-decimal totals in the customer's currency, `Financial Status` paid/refunded/voided."
            }
            Export::Nps => {
                "Delighted export, `;`-delimited, `Created` in epoch seconds, comments always quoted (some with `;`, `\"` or a newline), `Person ID` empty on ~8% of rows (email only)."
            }
            Export::Referrals => {
                "ReferralCandy export, one row per invite; funnel timestamps `YYYY-MM-DD HH:MM:SS` UTC, empty when the step did not happen."
            }
            Export::Identities => {
                "CRM contact identities: every email (some contacts have two), linked X and community handles, linked review display names."
            }
            Export::Trustpilot(..) => {
                "Trustpilot business-unit reviews API response per calendar year (`{\"reviews\": [...], \"links\": [...]}`); invitations started on the first 1 January of the period."
            }
            Export::Google => {
                "Google Business Profile export: `star_rating` ONE..FIVE, `create_time` RFC 3339 with milliseconds, comment often empty."
            }
            Export::X => {
                "X API v2 tweets with the author inlined, plus flat `event_type` (mention/repost/reply) and `competitor` tags; ids are time-ordered snowflakes."
            }
            Export::Community => {
                "Discourse forum posts: `kind` post/reply/answer/accepted_answer, `post_id` integer; staff and non-customers are unmatched authors."
            }
            Export::ExchangeRates => {
                "ECB euro reference rates as the ECB data portal downloads them (series `EXR.D.<currency>.EUR.SP00.A`): one row per currency and TARGET business day, `OBS_VALUE` units of the currency for one euro, four decimals."
            }
        }
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
