//! Validating a mapped record against its entity's rules and building
//! typed Arrow batches of the rows that pass.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::mapping::{Input, LoadContext, MappedField, Mapping};
use super::values;
use crate::config::Pii;
use crate::pii;
use crate::schema::{Check, Entity, FieldDef, FieldType, MAX_COUNT, MAX_DECIMAL};

/// Why a row was quarantined.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub field: Option<String>,
    pub reason: String,
}

impl Rejection {
    pub fn new(field: Option<&str>, reason: impl Into<String>) -> Rejection {
        Rejection {
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }
}

enum Parsed<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Date(i32),
    Timestamp(i64),
    Bool(bool),
    Email {
        email: String,
        hash: String,
    },
    /// An email that was present but is not stored (`pii: drop`).
    Dropped,
}

enum ColumnBuilder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
}

impl ColumnBuilder {
    fn for_type(data_type: &DataType) -> ColumnBuilder {
        match data_type {
            DataType::Utf8 => ColumnBuilder::Text(StringBuilder::new()),
            DataType::Int64 => ColumnBuilder::Int(Int64Builder::new()),
            DataType::Float64 => ColumnBuilder::Float(Float64Builder::new()),
            DataType::Date32 => ColumnBuilder::Date(Date32Builder::new()),
            DataType::Boolean => ColumnBuilder::Bool(BooleanBuilder::new()),
            DataType::Timestamp(_, _) => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            other => unreachable!("raw schemas have no {other} columns"),
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Text(b) => b.append_null(),
            ColumnBuilder::Int(b) => b.append_null(),
            ColumnBuilder::Float(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
        }
    }

    fn text(&mut self) -> &mut StringBuilder {
        match self {
            ColumnBuilder::Text(b) => b,
            _ => unreachable!("column type follows the schema"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Float(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
        }
    }
}

/// Accumulates validated rows of one landing file as Arrow columns.
pub struct EntityRows {
    ctx: Arc<LoadContext>,
    mapping: Arc<Mapping>,
    schema: SchemaRef,
    file: String,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl EntityRows {
    pub fn new(ctx: Arc<LoadContext>, mapping: Arc<Mapping>, file: &str) -> EntityRows {
        let schema = ctx.entity.arrow_schema(ctx.pii == Pii::Keep);
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::for_type(f.data_type()))
            .collect();
        EntityRows {
            ctx,
            mapping,
            schema,
            file: file.to_string(),
            columns,
            rows: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn is_full(&self) -> bool {
        self.rows >= self.ctx.batch_rows
    }

    /// Validates one record and appends it, or says why it is rejected.
    /// Nothing is appended for a rejected row.
    pub fn push(&mut self, row: i64, values: &[Option<&str>]) -> Result<(), Rejection> {
        // Parsed values may borrow from the mapping (constants), so the
        // builders are appended to through their own field, not `self`.
        let mut parsed = parse_row(&self.ctx, &self.mapping, values)?;
        append(&mut self.columns, &self.ctx, &self.file, row, &mut parsed);
        self.rows += 1;
        Ok(())
    }

    /// Takes the rows accumulated so far as one batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).expect("builders follow the schema")
    }
}

/// Appends one validated row to the builders, in schema order.
fn append(
    columns: &mut [ColumnBuilder],
    ctx: &LoadContext,
    file: &str,
    row: i64,
    parsed: &mut [Parsed<'_>],
) {
    let keep = ctx.pii == Pii::Keep;
    let mut col = 0;
    for (def, value) in ctx.entity.fields().iter().zip(parsed.iter_mut()) {
        let width = if def.ty == FieldType::Email && keep {
            2
        } else {
            1
        };
        match std::mem::replace(value, Parsed::Null) {
            Parsed::Null | Parsed::Dropped => {
                for c in &mut columns[col..col + width] {
                    c.append_null();
                }
            }
            Parsed::Email { email, hash } => {
                if keep {
                    columns[col].text().append_value(email);
                    columns[col + 1].text().append_value(hash);
                } else {
                    columns[col].text().append_value(hash);
                }
            }
            other => append_value(&mut columns[col], other),
        }
        col += width;
    }
    columns[col].text().append_value(&ctx.source);
    columns[col + 1].text().append_value(file);
    append_value(&mut columns[col + 2], Parsed::Int(row));
    append_value(&mut columns[col + 3], Parsed::Timestamp(ctx.loaded_at));
}

fn parse_row<'a>(
    ctx: &LoadContext,
    mapping: &'a Mapping,
    values: &[Option<&'a str>],
) -> Result<Vec<Parsed<'a>>, Rejection> {
    let mut out = Vec::with_capacity(mapping.fields.len());
    for (def, mapped) in ctx.entity.fields().iter().zip(&mapping.fields) {
        let parsed = match mapped {
            None => Parsed::Null,
            Some(m) => {
                let raw = match &m.input {
                    Input::Value(i) => values[*i],
                    Input::Constant(v) => Some(v.as_str()),
                };
                parse_field(ctx, m, raw).map_err(|reason| Rejection::new(Some(def.name), reason))?
            }
        };
        out.push(parsed);
    }
    if ctx.entity == Entity::Identities {
        protect_email_identity(ctx, &mut out)?;
    }
    Ok(out)
}

fn parse_field<'a>(
    ctx: &LoadContext,
    m: &'a MappedField,
    raw: Option<&'a str>,
) -> Result<Parsed<'a>, String> {
    let def = m.def;
    let text = raw.map(values::trim).filter(|t| !t.is_empty());
    let text = match (text, &m.values) {
        (Some(t), Some(map)) => Some(lookup_value(map, t).unwrap_or(t)),
        (t, _) => t,
    };
    let Some(text) = text else {
        return if def.required {
            Err("required value is missing".into())
        } else {
            Ok(Parsed::Null)
        };
    };
    if let Some(path) = &m.sum {
        let total = values::sum_over_array(text, path)?;
        return match def.ty {
            FieldType::Int if total.fract() == 0.0 && total.abs() < 9e15 => {
                Ok(Parsed::Int(check_number(def, total as i64)?))
            }
            FieldType::Int if total.fract() == 0.0 => Err(format!(
                "the sum {total} is larger than {MAX_COUNT}, the most a count may be"
            )),
            FieldType::Int => Err(format!("the sum {total} is not a whole number")),
            _ => Ok(Parsed::Float(check_float(def, total)?)),
        };
    }
    let format = m.format.as_deref();
    let tz = m.tz.unwrap_or(ctx.tz);
    Ok(match def.ty {
        FieldType::Text => Parsed::Text(check_text(ctx, def, text)?),
        FieldType::Int => Parsed::Int(check_number(def, values::parse_int(text)?)?),
        FieldType::Float => Parsed::Float(check_float(def, values::parse_float(text)?)?),
        FieldType::Date => Parsed::Date(values::parse_date(text, format, tz, ctx.tz, &ctx.bounds)?),
        FieldType::Timestamp => {
            Parsed::Timestamp(values::parse_timestamp(text, format, tz, &ctx.bounds)?)
        }
        FieldType::Bool => Parsed::Bool(values::parse_bool(text)?),
        FieldType::Email => {
            let email = pii::normalize_email(text).ok_or("not an email address")?;
            if ctx.pii == Pii::Drop {
                Parsed::Dropped
            } else {
                let hash = pii::hash_email(&ctx.salt, &email);
                Parsed::Email { email, hash }
            }
        }
    })
}

/// Text checks borrow the input whenever it needs no change: most values
/// in a large export are already lower-case labels or plain ids.
fn check_text<'a>(
    ctx: &LoadContext,
    def: &FieldDef,
    text: &'a str,
) -> Result<Cow<'a, str>, String> {
    Ok(match def.check {
        Check::OneOf(allowed) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(text)) {
            Some(canonical) => Cow::Borrowed(*canonical),
            None => {
                return Err(format!(
                    "{text:?} is not one of {} (map source values with `values:`)",
                    allowed.join(", ")
                ));
            }
        },
        Check::Currency if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) => {
            Cow::Borrowed(text)
        }
        Check::Currency if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Cow::Owned(text.to_ascii_uppercase())
        }
        Check::Currency => {
            return Err(format!(
                "{text:?} is not a three-letter currency code such as USD (map source values with `values:`)"
            ));
        }
        Check::Label if text.chars().any(char::is_uppercase) => Cow::Owned(text.to_lowercase()),
        Check::Key => match email_key(ctx, text) {
            Some(hash) => Cow::Owned(hash),
            None => Cow::Borrowed(text),
        },
        _ => Cow::Borrowed(text),
    })
    .map(|value| match def.check {
        // Free text, and any other text field that holds an address (a
        // segment, a label or a referral code mapped from an email
        // column), is redacted: the value's shape decides, not the
        // field's name. Keys are hashed whole above.
        Check::Key => value,
        // Identity values are hashed whole by `protect_email_identity`.
        _ if ctx.entity == Entity::Identities => value,
        _ if ctx.pii != Pii::Keep && value.contains('@') => {
            Cow::Owned(pii::redact_emails(&value, &ctx.salt))
        }
        _ => value,
    })
}

/// What a key holding an address becomes: the hash of the address when
/// the key is one (`jane@example.com`, or `Jane Doe <jane@example.com>` as
/// mail clients export a contact), so it joins the `email_hash` columns;
/// any other key keeps its shape with the address redacted
/// (`<email:HASH12>`). Keys are protected whatever `run.pii` says: under
/// `keep` too (the address itself belongs in an email field). `None` for a
/// key without an address.
fn email_key(ctx: &LoadContext, text: &str) -> Option<String> {
    if !text.contains('@') {
        return None;
    }
    // The bracketed form first: `<a@b.co>` would pass for an address whole.
    match pii::bracketed_address(text).or_else(|| pii::normalize_email(text)) {
        Some(email) => Some(pii::hash_email(&ctx.salt, &email)),
        None => {
            let redacted = pii::redact_emails(text, &ctx.salt);
            (redacted != text).then_some(redacted)
        }
    }
}

/// Identity values of kind `email` are raw addresses; they are stored
/// hashed (or normalised under `pii: keep`) so they join on email_hash.
/// A value of another kind that is an address (a handle that is an email)
/// is hashed like any key.
fn protect_email_identity(ctx: &LoadContext, parsed: &mut [Parsed]) -> Result<(), Rejection> {
    let fields = ctx.entity.fields();
    let index = |name: &str| {
        fields
            .iter()
            .position(|f| f.name == name)
            .expect("identity field")
    };
    // Exports spell the kind "Email", "E-mail", "email_address": all are
    // raw addresses, stored under the canonical kind "email".
    let kind_slot = &mut parsed[index("kind")];
    let is_email = matches!(kind_slot, Parsed::Text(k) if {
        let compact: String = k.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        compact.contains("email") || compact == "mail"
    });
    if !is_email {
        let slot = &mut parsed[index("value")];
        if let Parsed::Text(value) = slot
            && let Some(hash) = email_key(ctx, value)
        {
            *value = Cow::Owned(hash);
        }
        return Ok(());
    }
    *kind_slot = Parsed::Text(Cow::Borrowed("email"));
    let slot = &mut parsed[index("value")];
    if let Parsed::Text(value) = slot {
        let email = pii::bracketed_address(value)
            .or_else(|| pii::normalize_email(value))
            .ok_or_else(|| Rejection::new(Some("value"), "not an email address"))?;
        *value = Cow::Owned(match ctx.pii {
            Pii::Keep => email,
            Pii::Hash | Pii::Drop => pii::hash_email(&ctx.salt, &email),
        });
    }
    Ok(())
}

fn append_value(builder: &mut ColumnBuilder, value: Parsed<'_>) {
    match (builder, value) {
        (ColumnBuilder::Text(b), Parsed::Text(v)) => b.append_value(&v),
        (ColumnBuilder::Int(b), Parsed::Int(v)) => b.append_value(v),
        (ColumnBuilder::Float(b), Parsed::Float(v)) => b.append_value(v),
        (ColumnBuilder::Date(b), Parsed::Date(v)) => b.append_value(v),
        (ColumnBuilder::Timestamp(b), Parsed::Timestamp(v)) => b.append_value(v),
        (ColumnBuilder::Bool(b), Parsed::Bool(v)) => b.append_value(v),
        _ => unreachable!("parsed value type follows the field type"),
    }
}

fn check_float(def: &FieldDef, v: f64) -> Result<f64, String> {
    if v.abs() > MAX_DECIMAL {
        return Err(format!(
            "{v} is larger than {MAX_DECIMAL:e}, the most a number may be here \
             (amounts are summed as DECIMAL(38, 6))"
        ));
    }
    match def.check {
        Check::NonNegative if v < 0.0 => Err(format!("{v} is negative")),
        Check::Positive if !(v > 0.0 && v.is_finite()) => {
            Err(format!("{v} is not a positive number"))
        }
        Check::Magnitude => Ok(v.abs()),
        _ => Ok(v),
    }
}

fn check_number(def: &FieldDef, v: i64) -> Result<i64, String> {
    if v.unsigned_abs() > MAX_COUNT.unsigned_abs() {
        return Err(format!(
            "{v} is larger than {MAX_COUNT}, the most a count may be (sums of counts must fit a BIGINT)"
        ));
    }
    match def.check {
        Check::Range(lo, hi) if v < lo || v > hi => Err(format!("{v} is outside {lo}..{hi}")),
        Check::NonNegative if v < 0 => Err(format!("{v} is negative")),
        _ => Ok(v),
    }
}

/// Exact match first, then case-insensitive: exports are inconsistent
/// about `Paid` vs `paid`.
fn lookup_value<'a>(map: &'a BTreeMap<String, String>, text: &str) -> Option<&'a str> {
    map.get(text).map(String::as_str).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(text))
            .map(|(_, v)| v.as_str())
    })
}
