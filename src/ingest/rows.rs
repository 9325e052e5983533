//! Mapping a source record onto a canonical entity, validating it, and
//! building typed Arrow batches of good rows and of quarantined rows.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::expressions::{Planned, text_schema};
use super::values::{self, DateBounds};
use crate::config::{LineAmount, Lookup, Pii, SourceConfig};
use crate::pii;
use crate::schema::{Check, Entity, FieldDef, FieldType, timestamp_type};

/// What every row of one load shares.
pub struct LoadContext {
    pub source: String,
    pub entity: Entity,
    pub pii: Pii,
    pub salt: String,
    pub tz: Tz,
    pub bounds: DateBounds,
    /// Microseconds since the epoch, the same for every row of a run.
    pub loaded_at: i64,
    pub batch_rows: usize,
}

enum Input {
    /// Index into a record's values (see [`Mapping`]).
    Value(usize),
    Constant(String),
}

struct MappedField {
    def: &'static FieldDef,
    input: Input,
    format: Option<String>,
    values: Option<BTreeMap<String, String>>,
}

/// A value a JSON reader takes from another array of the same document.
pub struct LookupInput {
    /// The column (index into [`Mapping::columns`]) whose value is the key.
    pub column: usize,
    pub spec: Lookup,
    /// The field it fills; a required one whose key is not found rejects
    /// the record, saying so.
    pub field: &'static FieldDef,
}

/// A field whose value a SQL expression computes.
pub struct MappedExpression {
    pub field: &'static str,
    pub planned: Planned,
}

/// Where the order id and amount of a line-item export are in a record's
/// values, how lines' amounts combine, and which values feed the order's
/// other fields (each line must agree with the others on them).
#[derive(Clone)]
pub struct LineItemInputs {
    pub order_id: usize,
    pub amount: usize,
    pub mode: LineAmount,
    /// (index into the values, field name) of every field but a summed
    /// amount.
    pub fields: Vec<(usize, &'static str)>,
}

/// A source's column mapping, resolved against its entity. A record's
/// values are, in order: the source columns a reader supplies
/// ([`Mapping::columns`]), the values it looks up ([`Mapping::lookups`]),
/// then those of the SQL expressions ([`Mapping::expressions`]).
pub struct Mapping {
    fields: Vec<Option<MappedField>>,
    /// The source columns (or JSON paths) a reader must supply, in order.
    pub columns: Vec<String>,
    pub lookups: Vec<LookupInput>,
    pub expressions: Vec<MappedExpression>,
    pub filter: Option<Planned>,
    pub line_items: Option<LineItemInputs>,
}

impl Mapping {
    pub fn new(source: &SourceConfig) -> Mapping {
        let columns = source_columns(source);
        let column = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .expect("collected above")
        };
        // Lookups and expressions come after the columns, in mapping order.
        let n_lookups = source
            .columns
            .iter()
            .filter(|(_, spec)| spec.lookup.is_some())
            .count();
        let mut lookups = Vec::new();
        let mut expressions = Vec::new();
        let mut by_name: BTreeMap<&str, MappedField> = BTreeMap::new();
        for (name, spec) in &source.columns {
            let input = match (&spec.from, &spec.lookup, &spec.sql, &spec.value) {
                (Some(from), Some(lookup), _, _) => {
                    lookups.push(LookupInput {
                        column: column(from),
                        spec: lookup.clone(),
                        field: source
                            .entity
                            .field(name)
                            .expect("config checks field names"),
                    });
                    Input::Value(columns.len() + lookups.len() - 1)
                }
                (Some(from), None, _, _) => Input::Value(column(from)),
                (None, _, Some(sql), _) => {
                    expressions.push((name, sql));
                    Input::Value(columns.len() + n_lookups + expressions.len() - 1)
                }
                (None, _, None, Some(value)) => Input::Constant(value.clone()),
                (None, _, None, None) => unreachable!("config rejects a column without a source"),
            };
            let def = source
                .entity
                .field(name)
                .expect("config checks field names");
            let field = MappedField {
                def,
                input,
                format: spec.format.clone(),
                values: spec.values.clone(),
            };
            by_name.insert(name.as_str(), field);
        }
        let schema = text_schema(&read_names(&columns, n_lookups));
        let line_items = source.line_items.map(|items| {
            let index = |field: &str| match by_name.get(field).map(|m| &m.input) {
                Some(Input::Value(i)) => *i,
                _ => unreachable!("config requires {field} from each row"),
            };
            let amount = index("amount");
            let fields = by_name
                .values()
                .filter_map(|m| match m.input {
                    Input::Value(i) => Some((i, m.def.name)),
                    Input::Constant(_) => None,
                })
                .filter(|(i, _)| !(items.amount == LineAmount::Sum && *i == amount))
                .collect();
            LineItemInputs {
                order_id: index("order_id"),
                amount,
                mode: items.amount,
                fields,
            }
        });
        let fields = source
            .entity
            .fields()
            .iter()
            .map(|def| by_name.remove(def.name))
            .collect();
        Mapping {
            fields,
            columns,
            lookups,
            expressions: expressions
                .into_iter()
                .map(|(name, sql)| MappedExpression {
                    field: source.entity.field(name).expect("checked").name,
                    planned: Planned::new(sql, &schema, DataType::Utf8),
                })
                .collect(),
            filter: source
                .filter
                .as_ref()
                .map(|f| Planned::new(f, &schema, DataType::Boolean)),
            line_items,
        }
    }

    /// Whether records pass through [`super::transform::Transform`] before
    /// validation: SQL to evaluate, a filter, or lines to group.
    pub fn transforms(&self) -> bool {
        !self.expressions.is_empty() || self.filter.is_some() || self.line_items.is_some()
    }

    /// How many values a reader supplies per record: columns and lookups.
    pub fn read_width(&self) -> usize {
        self.columns.len() + self.lookups.len()
    }

    /// Names for the values a reader supplies, as SQL expressions see them.
    pub fn read_names(&self) -> Vec<String> {
        read_names(&self.columns, self.lookups.len())
    }
}

/// The columns by name; looked-up values get names no expression can
/// write (expressions read source fields only).
fn read_names(columns: &[String], lookups: usize) -> Vec<String> {
    let mut names = columns.to_vec();
    names.extend((0..lookups).map(|i| format!("\u{0}lookup {i}")));
    names
}

/// Every source column a record must supply: mapped `from` columns, the
/// fields SQL expressions and the filter name, in order of first mention.
fn source_columns(source: &SourceConfig) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !columns.iter().any(|c| c == name) {
            columns.push(name.to_string());
        }
    };
    for (_, spec) in &source.columns {
        if let Some(from) = &spec.from {
            add(from);
        }
        for field in spec.sql.iter().flat_map(|s| &s.fields) {
            add(field);
        }
    }
    for field in source.filter.iter().flat_map(|f| &f.fields) {
        add(field);
    }
    columns
}

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

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn len(&self) -> usize {
        self.rows
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
    let format = m.format.as_deref();
    Ok(match def.ty {
        FieldType::Text => Parsed::Text(check_text(ctx, def, text)?),
        FieldType::Int => Parsed::Int(check_number(def, values::parse_int(text)?)?),
        FieldType::Float => {
            let v = values::parse_float(text)?;
            if def.check == Check::NonNegative && v < 0.0 {
                return Err(format!("{v} is negative"));
            }
            if def.check == Check::Positive && !(v > 0.0 && v.is_finite()) {
                return Err(format!("{v} is not a positive number"));
            }
            Parsed::Float(v)
        }
        FieldType::Date => Parsed::Date(values::parse_date(text, format, ctx.tz, &ctx.bounds)?),
        FieldType::Timestamp => {
            Parsed::Timestamp(values::parse_timestamp(text, format, ctx.tz, &ctx.bounds)?)
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

/// The hash of a key that is an email address. Keys are hashed whatever
/// `run.pii` says: under `keep` too, so that they still join the
/// `email_hash` columns (the address itself belongs in an email field).
fn email_key(ctx: &LoadContext, text: &str) -> Option<String> {
    if !text.contains('@') {
        return None;
    }
    pii::normalize_email(text).map(|email| pii::hash_email(&ctx.salt, &email))
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
        let email = pii::normalize_email(value)
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

fn check_number(def: &FieldDef, v: i64) -> Result<i64, String> {
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

/// The quarantine table's schema: one row per rejected record.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("entity", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("row", DataType::Int64, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw_record", DataType::Utf8, false),
        Field::new("_loaded_at", timestamp_type(), false),
    ]))
}

/// Accumulates rejected records of one landing file.
pub struct QuarantineRows {
    ctx: Arc<LoadContext>,
    file: String,
    row: Int64Builder,
    field: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
    rows: usize,
}

impl QuarantineRows {
    pub fn new(ctx: Arc<LoadContext>, file: &str) -> QuarantineRows {
        QuarantineRows {
            ctx,
            file: file.to_string(),
            row: Int64Builder::new(),
            field: StringBuilder::new(),
            reason: StringBuilder::new(),
            raw: StringBuilder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Records a rejected row; the raw record and the reason (which may
    /// quote the bad value) have emails redacted unless PII is kept,
    /// because quarantine is part of the warehouse too.
    pub fn push(&mut self, row: i64, rejection: &Rejection, raw_record: &str) {
        self.row.append_value(row);
        self.field.append_option(rejection.field.as_deref());
        if self.ctx.pii == Pii::Keep {
            self.reason.append_value(&rejection.reason);
            self.raw.append_value(raw_record);
        } else {
            self.reason
                .append_value(pii::redact_emails(&rejection.reason, &self.ctx.salt));
            self.raw
                .append_value(pii::redact_emails(raw_record, &self.ctx.salt));
        }
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let n = self.rows;
        let constant = |v: &str| -> ArrayRef {
            Arc::new(datafusion::arrow::array::StringArray::from(vec![v; n]))
        };
        let loaded_at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut loaded_at = loaded_at;
        loaded_at.append_slice(&vec![self.ctx.loaded_at; n]);
        let arrays: Vec<ArrayRef> = vec![
            constant(&self.ctx.source),
            constant(self.ctx.entity.name()),
            constant(&self.file),
            Arc::new(self.row.finish()),
            Arc::new(self.field.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(loaded_at.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(quarantine_schema(), arrays).expect("builders follow the schema")
    }
}
