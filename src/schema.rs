//! The canonical entities of the raw zone: their fields, types and the
//! checks every ingested row must pass.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

/// One of the eight canonical entities exports are mapped to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Customers,
    Orders,
    NpsResponses,
    Referrals,
    Reviews,
    SocialActivity,
    Identities,
    ExchangeRates,
}

impl Entity {
    pub const ALL: [Entity; 8] = [
        Entity::Customers,
        Entity::Orders,
        Entity::NpsResponses,
        Entity::Referrals,
        Entity::Reviews,
        Entity::SocialActivity,
        Entity::Identities,
        Entity::ExchangeRates,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Entity::Customers => "customers",
            Entity::Orders => "orders",
            Entity::NpsResponses => "nps_responses",
            Entity::Referrals => "referrals",
            Entity::Reviews => "reviews",
            Entity::SocialActivity => "social_activity",
            Entity::Identities => "identities",
            Entity::ExchangeRates => "exchange_rates",
        }
    }

    /// The table name SQL models use to read this entity's raw zone.
    pub fn table_name(self) -> String {
        format!("raw_{}", self.name())
    }

    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Entity::Customers => CUSTOMERS,
            Entity::Orders => ORDERS,
            Entity::NpsResponses => NPS_RESPONSES,
            Entity::Referrals => REFERRALS,
            Entity::Reviews => REVIEWS,
            Entity::SocialActivity => SOCIAL_ACTIVITY,
            Entity::Identities => IDENTITIES,
            Entity::ExchangeRates => EXCHANGE_RATES,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The fields that identify a record; staging keeps one row per key.
    pub fn primary_key(self) -> &'static [&'static str] {
        match self {
            Entity::Customers => &["customer_id"],
            Entity::Orders => &["order_id"],
            Entity::NpsResponses => &["response_id"],
            Entity::Referrals => &["referral_id"],
            Entity::Reviews => &["site", "review_id"],
            Entity::SocialActivity => &["platform", "event_id"],
            Entity::Identities => &["customer_id", "kind", "value"],
            Entity::ExchangeRates => &["date", "currency", "quote_currency"],
        }
    }

    /// The field that says when a record happened, which a source's
    /// freshness is measured on; identities have none.
    pub fn event_time(self) -> Option<&'static str> {
        match self {
            Entity::Customers => Some("signup_date"),
            Entity::Orders => Some("ordered_at"),
            Entity::NpsResponses => Some("responded_at"),
            Entity::Referrals => Some("invited_at"),
            Entity::Reviews => Some("published_at"),
            Entity::SocialActivity => Some("occurred_at"),
            Entity::Identities => None,
            Entity::ExchangeRates => Some("date"),
        }
    }

    /// The typed Arrow schema of this entity's raw Parquet files. Email
    /// fields become `<name>_hash`, plus the raw `<name>` when PII is kept.
    pub fn arrow_schema(self, keep_email: bool) -> SchemaRef {
        let mut fields = Vec::new();
        for def in self.fields() {
            for (name, data_type) in def.output_columns(keep_email) {
                fields.push(Field::new(name, data_type, true));
            }
        }
        fields.push(Field::new("_source", DataType::Utf8, false));
        fields.push(Field::new("_file", DataType::Utf8, false));
        fields.push(Field::new("_row", DataType::Int64, false));
        fields.push(Field::new("_loaded_at", timestamp_type(), false));
        Arc::new(Schema::new(fields))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The logical timestamp type of every raw and report timestamp column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Int,
    Float,
    Date,
    Timestamp,
    Bool,
    /// A raw email address: normalised, then hashed or kept per `run.pii`.
    Email,
}

/// A rule a parsed value must satisfy, beyond parsing as its type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    None,
    /// Inclusive integer range.
    Range(i64, i64),
    NonNegative,
    /// An amount read by its size, whichever its sign: a refund is
    /// money back whether the export writes 10.00 (Shopify) or -10.00
    /// (WooCommerce's `refunds[].total`).
    Magnitude,
    /// A number above 0 (an exchange rate).
    Positive,
    /// An ISO 4217 code: three letters, upper-cased (`eur` -> `EUR`).
    Currency,
    /// Lower-cased text that must be one of these values.
    OneOf(&'static [&'static str]),
    /// Lower-cased free-form label (site, platform, kind).
    Label,
    /// Free text that may carry personal data (emails are redacted).
    FreeText,
    /// A key naming a person (a customer id, a handle): when an export
    /// uses the email address as the key, the address is stored as its
    /// hash, exactly as an email field's `_hash` column, so it joins them.
    Key,
}

#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    pub check: Check,
}

impl FieldDef {
    /// The columns this field becomes in the raw zone.
    pub fn output_columns(&self, keep_email: bool) -> Vec<(String, DataType)> {
        match self.ty {
            FieldType::Email if keep_email => vec![
                (self.name.to_string(), DataType::Utf8),
                (format!("{}_hash", self.name), DataType::Utf8),
            ],
            FieldType::Email => vec![(format!("{}_hash", self.name), DataType::Utf8)],
            FieldType::Text => vec![(self.name.to_string(), DataType::Utf8)],
            FieldType::Int => vec![(self.name.to_string(), DataType::Int64)],
            FieldType::Float => vec![(self.name.to_string(), DataType::Float64)],
            FieldType::Date => vec![(self.name.to_string(), DataType::Date32)],
            FieldType::Timestamp => vec![(self.name.to_string(), timestamp_type())],
            FieldType::Bool => vec![(self.name.to_string(), DataType::Boolean)],
        }
    }
}

const fn req(name: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: true,
        check: Check::None,
    }
}

const fn opt(name: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        name,
        ty,
        required: false,
        check: Check::None,
    }
}

const fn checked(mut def: FieldDef, check: Check) -> FieldDef {
    def.check = check;
    def
}

use FieldType::{Bool, Date, Email, Float, Int, Text, Timestamp};

/// The largest magnitude of a decimal field (an amount, a margin, a
/// rate). Amounts are summed as DECIMAL(38, 6), which holds just under
/// 10^32: at most 10^15 a row, converted at a rate up to 10^2, a sum over
/// 10^14 rows still fits. Larger values are quarantined at ingest rather
/// than fail the night's models.
pub const MAX_DECIMAL: f64 = 1e15;

/// The largest whole number a field may hold (followers, likes, shares):
/// sums of counts are computed as DECIMAL(38, 0), and 10^12 keeps any
/// realistic sum within BIGINT, the type the reports give them.
pub const MAX_COUNT: i64 = 1_000_000_000_000;

pub const ORDER_STATUSES: &[&str] = &["completed", "refunded", "cancelled", "open"];
pub const SOCIAL_EVENT_TYPES: &[&str] = &[
    "mention",
    "share",
    "repost",
    "reply",
    "like",
    "post",
    "answer",
    "accepted_answer",
];

static CUSTOMERS: &[FieldDef] = &[
    checked(req("customer_id", Text), Check::Key),
    opt("email", Email),
    checked(opt("name", Text), Check::FreeText),
    req("signup_date", Date),
    opt("country", Text),
    opt("segment", Text),
    checked(opt("acquisition_channel", Text), Check::Label),
    opt("referral_code", Text),
];

static ORDERS: &[FieldDef] = &[
    req("order_id", Text),
    checked(req("customer_id", Text), Check::Key),
    req("ordered_at", Timestamp),
    checked(req("amount", Float), Check::NonNegative),
    checked(opt("currency", Text), Check::Currency),
    opt("gross_margin", Float),
    checked(opt("status", Text), Check::OneOf(ORDER_STATUSES)),
    // What was refunded of a completed order (a partial refund): revenue,
    // CLV and referred revenue count the amount net of it.
    checked(opt("refunded_amount", Float), Check::Magnitude),
];

static NPS_RESPONSES: &[FieldDef] = &[
    req("response_id", Text),
    checked(opt("customer_id", Text), Check::Key),
    opt("email", Email),
    req("responded_at", Timestamp),
    checked(req("score", Int), Check::Range(0, 10)),
    checked(opt("comment", Text), Check::FreeText),
    checked(opt("touchpoint", Text), Check::Label),
    checked(opt("channel", Text), Check::Label),
];

static REFERRALS: &[FieldDef] = &[
    req("referral_id", Text),
    checked(req("referrer_customer_id", Text), Check::Key),
    req("invited_at", Timestamp),
    checked(opt("channel", Text), Check::Label),
    opt("referee_email", Email),
    opt("clicked_at", Timestamp),
    opt("signed_up_at", Timestamp),
    checked(opt("referee_customer_id", Text), Check::Key),
    opt("converted_at", Timestamp),
];

static REVIEWS: &[FieldDef] = &[
    req("review_id", Text),
    checked(req("site", Text), Check::Label),
    checked(req("rating", Int), Check::Range(1, 5)),
    req("published_at", Timestamp),
    checked(opt("author_name", Text), Check::FreeText),
    opt("author_email", Email),
    checked(opt("author_handle", Text), Check::Key),
    checked(opt("title", Text), Check::FreeText),
    checked(opt("body", Text), Check::FreeText),
    opt("verified", Bool),
    checked(opt("customer_id", Text), Check::Key),
];

static SOCIAL_ACTIVITY: &[FieldDef] = &[
    req("event_id", Text),
    checked(req("platform", Text), Check::Label),
    checked(opt("handle", Text), Check::Key),
    checked(req("event_type", Text), Check::OneOf(SOCIAL_EVENT_TYPES)),
    req("occurred_at", Timestamp),
    checked(opt("followers", Int), Check::NonNegative),
    checked(opt("likes", Int), Check::NonNegative),
    checked(opt("shares", Int), Check::NonNegative),
    checked(opt("text", Text), Check::FreeText),
    checked(opt("sentiment", Text), Check::Label),
    opt("competitor", Bool),
];

static IDENTITIES: &[FieldDef] = &[
    checked(req("customer_id", Text), Check::Key),
    checked(req("kind", Text), Check::Label),
    req("value", Text),
];

/// One row: on `date`, one unit of `currency` is worth `rate` units of
/// `quote_currency` (`run.currency` when the export does not say). Exports
/// quote against any currency (the ECB against the euro):
/// `stg_exchange_rates` turns them into rates to `run.currency`.
static EXCHANGE_RATES: &[FieldDef] = &[
    req("date", Date),
    checked(req("currency", Text), Check::Currency),
    checked(req("rate", Float), Check::Positive),
    checked(opt("quote_currency", Text), Check::Currency),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_fields_are_hashed_columns_unless_kept() {
        let hashed = Entity::Customers.arrow_schema(false);
        assert!(hashed.field_with_name("email_hash").is_ok());
        assert!(hashed.field_with_name("email").is_err());
        let kept = Entity::Customers.arrow_schema(true);
        assert!(kept.field_with_name("email").is_ok());
        assert!(kept.field_with_name("email_hash").is_ok());
    }

    #[test]
    fn every_schema_ends_with_lineage_columns() {
        for entity in Entity::ALL {
            let schema = entity.arrow_schema(false);
            let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
            assert_eq!(
                &names[names.len() - 4..],
                &["_source", "_file", "_row", "_loaded_at"]
            );
        }
    }
}
