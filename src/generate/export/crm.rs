//! The CRM exports: Salesforce contacts, Shopify orders, Delighted NPS
//! answers, ReferralCandy invites and the contact-identity table.

use super::super::calendar::{DAY_MS, fmt_local, fmt_mdy, fmt_sql};
use super::super::people::{Customer, salesforce_id};
use super::super::sink::{Layout, Records};
use super::super::{Block, Ctx};
use super::{Export, blank_if_none, csv_field, csv_row, money};

const CUSTOMERS_HEADER: &str = "Id,Email,First Name,Last Name,Created Date,Mailing Country,Segment__c,Lead Source,Referral Code__c";
const ORDERS_HEADER: &str =
    "Order ID,Customer ID,Created At,Total,Currency,Gross Margin,Financial Status";
const NPS_HEADER: &str = "Response ID;Person ID;Email;Score;Comment;Created;Touchpoint;Channel";
const REFERRALS_HEADER: &str = "Referral ID,Referrer ID,Invited At,Channel,Referee Email,Clicked At,Signed Up At,Referee ID,First Purchase At";
const IDENTITIES_HEADER: &str = "Contact ID,Identity Type,Identity Value";

/// A Salesforce report saved from Excel as "CSV UTF-8": a BOM, CRLF line
/// ends and quotes only where needed.
pub(super) fn customers_layout() -> Layout {
    Layout {
        header: format!("\u{feff}{CUSTOMERS_HEADER}\r\n"),
        terminator: "\r\n",
        separator: "",
        footer: String::new(),
    }
}

pub(super) fn layout(export: Export) -> Layout {
    let header = match export {
        Export::Orders => ORDERS_HEADER,
        Export::Nps => NPS_HEADER,
        Export::Referrals => REFERRALS_HEADER,
        _ => IDENTITIES_HEADER,
    };
    Layout {
        header: format!("{header}\n"),
        terminator: "\n",
        separator: "",
        footer: String::new(),
    }
}

// --- crm/customers.csv ------------------------------------------------------

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

pub(super) fn customers(block: &Block, out: &mut Records) {
    for c in &block.customers {
        out.push(&customer_row(c));
    }
}

/// No Id, 31 February, year 2099, and an unquoted comma that adds a field.
pub(super) fn bad_customers(ctx: &Ctx) -> Vec<String> {
    let n = ctx.customers as u64;
    let id = |k: u64| salesforce_id(1_500_000_000 + (n + 10 + k) * 29);
    let (d1, d2) = (fmt_mdy(ctx.mid_ms), fmt_mdy(ctx.mid_ms + 9 * DAY_MS));
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

/// Shopify-like order numbers: room for 1000 orders per customer.
fn order_id(customer: u64, seq: u64) -> String {
    (5_630_112_000_000u64 + customer * 1000 + seq).to_string()
}

pub(super) fn orders(block: &Block, out: &mut Records) {
    for o in &block.orders {
        let c = &block.customers[o.cust];
        out.push(&csv_row(
            &[
                &order_id(c.index as u64, o.seq as u64),
                &c.id,
                &fmt_local(o.at_ms, c.zone),
                &money(o.cents),
                c.country.currency,
                &money(o.margin_cents),
                o.status.shopify(),
            ],
            ',',
        ));
    }
}

/// Negative total, a status the config does not map, "yesterday", no
/// order id, and a thousands separator that splits the total into two
/// fields.
pub(super) fn bad_orders(ctx: &Ctx, c: &Customer) -> Vec<String> {
    let n = ctx.customers as u64;
    let (cust, cur) = (c.id.as_str(), c.country.currency);
    let id = |k: u64| order_id(n + 10 + k, 0);
    let at = |days: i64| fmt_local(ctx.mid_ms + days * DAY_MS, c.zone);
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

fn nps_id(key: u64) -> String {
    (381_204_117u64 + key).to_string()
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

pub(super) fn nps(block: &Block, out: &mut Records) {
    for x in &block.nps {
        let c = &block.customers[x.cust];
        let person = if x.email_only { "" } else { c.id.as_str() };
        out.push(&nps_line([
            &nps_id(x.key),
            person,
            &c.email,
            &x.score.to_string(),
            x.comment.unwrap_or(""),
            &(x.at_ms / 1000).to_string(),
            x.touchpoint,
            x.channel,
        ]));
    }
}

/// Score 11, score "ten", no response id, "yesterday", and a score that
/// is not a whole number. (An answer with neither person id nor email is
/// anonymous, not bad: it counts in NPS trends.)
pub(super) fn bad_nps(ctx: &Ctx, c: &Customer) -> Vec<String> {
    let id = |k: u64| nps_id(ctx.customers as u64 * 100 + 10 + k);
    let at = (ctx.mid_ms / 1000).to_string();
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
            &c.id,
            &c.email,
            "7.5",
            "Slow delivery.",
            &at,
            "purchase",
            "sms",
        ]),
    ]
}

// --- crm/referrals.csv ------------------------------------------------------

fn referral_id(key: u64) -> String {
    format!("RC-{:07}", 1_000_000 + key)
}

pub(super) fn referrals(block: &Block, out: &mut Records) {
    for x in &block.referrals {
        out.push(&csv_row(
            &[
                &referral_id(x.key),
                &x.referrer_id,
                &fmt_sql(x.invited_ms),
                x.channel,
                &x.referee_email,
                &blank_if_none(x.clicked_ms),
                &blank_if_none(x.signed_up_ms),
                x.referee_id.as_deref().unwrap_or(""),
                &blank_if_none(x.converted_ms),
            ],
            ',',
        ));
    }
}

/// No referrer, 31 February, year 2099, and a trailing extra field.
pub(super) fn bad_referrals(ctx: &Ctx, c: &Customer) -> Vec<String> {
    let who = &c.id;
    let id = |k: u64| referral_id(ctx.customers as u64 * 16 + 10 + k);
    let (d1, d2) = (fmt_sql(ctx.mid_ms), fmt_sql(ctx.mid_ms + 5 * DAY_MS));
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
pub(super) fn identities(block: &Block, out: &mut Records) {
    for x in &block.identities {
        let c = &block.customers[x.cust];
        out.push(&csv_row(&[&c.id, x.kind, &x.value], ','));
    }
}

/// No contact id, an empty value, and an unquoted comma.
pub(super) fn bad_identities(c: &Customer) -> Vec<String> {
    let who = &c.id;
    vec![
        csv_row(&["", "x", "ghost_user"], ','),
        csv_row(&[who, "community", ""], ','),
        format!("{who},review_name,Doe, Jane"),
    ]
}
