//! One `sources:` entry: where an export is, its format, and how its
//! fields map to a canonical entity, checked as far as the entry alone
//! allows.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use serde::Deserialize;

use super::column::ColumnSpec;
use super::expression::SqlExpression;
use crate::schema::{Entity, FieldType};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Json,
    Jsonl,
    Parquet,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    pub delimiter: char,
    pub quote: char,
    pub header: bool,
    /// Column names when the file has no header row.
    pub column_names: Vec<String>,
    /// Rows after the header that are not records (Qualtrics writes a row
    /// of question labels and one of import ids); counted as skipped.
    pub skip_after_header: usize,
    /// A regular expression; records whose text (fields joined by the
    /// delimiter, without CSV quotes) matches it are skipped: report
    /// footers such as "Grand Totals (3 records)".
    pub skip_matching: Option<String>,
    /// The file's character encoding when it is not UTF-8: a WHATWG label
    /// such as `windows-1252`, `latin1` or `utf-16le`. A byte-order mark
    /// is honoured without it.
    pub encoding: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            quote: '"',
            header: true,
            column_names: Vec::new(),
            skip_after_header: 0,
            skip_matching: None,
            encoding: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSource")]
pub struct SourceConfig {
    pub name: String,
    pub entity: Entity,
    pub format: Format,
    /// Glob under the landing location, e.g. `crm/customers*.csv`.
    pub path: String,
    pub csv: CsvOptions,
    /// Where the records are in the document (`json`) or in each line
    /// (`jsonl`): a JSON pointer to an array, to one object, or ending in
    /// `/*` to every value of an object keyed by id.
    pub records: Option<String>,
    /// Wide files (the ECB's one column per currency): every column but the
    /// kept ones becomes a row of its own.
    pub unpivot: Option<Unpivot>,
    /// A text file's character encoding when it is not UTF-8 (a WHATWG
    /// label); for CSV the same as `csv.encoding`, which it fills in.
    pub encoding: Option<String>,
    /// Canonical field -> where its value comes from, in field order.
    pub columns: Vec<(String, ColumnSpec)>,
    /// Rows for which this predicate is not true are skipped (counted).
    pub filter: Option<SqlExpression>,
    /// Orders only: rows sharing an order_id in a file are one order's lines.
    pub line_items: Option<LineItems>,
    /// The reports that depend on this source's entity need it: with no
    /// file and no rows, or rows older than `freshness.error_after`, they
    /// are held back (default true).
    pub required: bool,
    /// How old the newest record may be at the end of the run date.
    pub freshness: Freshness,
    /// Load landing files reached through a symbolic link, when the link
    /// stays inside the landing folder (default false: such a file fails,
    /// unread, and a link out of the landing always does).
    pub follow_symlinks: bool,
    /// SHA-256 of everything that decides the values this source stores
    /// but the salt: its mapping as written (all but where its files are,
    /// `path` and `follow_symlinks`, and what it owes, `required` and
    /// `freshness`), the PII mode and the time zone. Ingest combines it with a key derived from the
    /// salt into the fingerprint recorded per loaded file; a file loaded
    /// under another one is loaded again.
    pub fingerprint: String,
    /// The fingerprint releases before the salt key recorded (a plain hash
    /// over the salt): an entry that has it takes today's unreloaded.
    pub legacy_fingerprint: String,
}

/// `freshness: { warn_after, error_after }`: bounds on the age of a
/// source's newest record (its entity's event time, in the raw zone) at
/// the end of the run date, like dbt's source freshness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freshness {
    pub warn_after: Option<chrono::Duration>,
    pub error_after: Option<chrono::Duration>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFreshness {
    #[serde(default)]
    warn_after: Option<String>,
    #[serde(default)]
    error_after: Option<String>,
}

impl RawFreshness {
    fn parse(self, source: &str, entity: Entity) -> Result<Freshness, String> {
        if entity.event_time().is_none() {
            return Err(format!(
                "source {source}: {entity} records have no event time, so `freshness` cannot be measured; use `required` alone"
            ));
        }
        let bound = |key: &str, text: Option<String>| {
            text.map(|t| {
                super::units::parse_duration(&t)
                    .map_err(|e| format!("source {source}: freshness.{key}: {e}"))
            })
            .transpose()
        };
        let freshness = Freshness {
            warn_after: bound("warn_after", self.warn_after)?,
            error_after: bound("error_after", self.error_after)?,
        };
        if let (Some(warn), Some(error)) = (freshness.warn_after, freshness.error_after)
            && warn > error
        {
            return Err(format!(
                "source {source}: freshness.warn_after is longer than error_after"
            ));
        }
        Ok(freshness)
    }
}

/// `unpivot: { keep, name, value, skip_values }`: each column not kept
/// becomes one row, with the column's name (trimmed) in the source column
/// `name` and its cell in `value`; a cell equal to one of `skip_values`
/// (trimmed) is a skipped row.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unpivot {
    #[serde(default)]
    pub keep: Vec<String>,
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub skip_values: Vec<String>,
}

impl Unpivot {
    /// The columns a mapping may read: the kept ones, the name and the value.
    fn columns(&self) -> impl Iterator<Item = &String> {
        self.keep.iter().chain([&self.name, &self.value])
    }
}

/// How the lines of a line-item orders export make one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItems {
    pub amount: LineAmount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineAmount {
    /// The order's amount is the sum of its lines' amounts.
    Sum,
    /// The first non-empty line amount is the order's total (Shopify).
    First,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Source")]
struct RawSource {
    /// Letters, digits, '_' or '-'.
    name: String,
    /// The canonical entity the export is mapped to.
    entity: Entity,
    format: Format,
    /// Glob under the landing location, e.g. `crm/customers*.csv`.
    path: String,
    #[serde(default)]
    csv: Option<CsvOptions>,
    /// JSON pointer to the records: an array, one object, or ending in `/*`.
    #[serde(default)]
    records: Option<String>,
    /// Wide files: every column but the kept ones becomes a row.
    #[serde(default)]
    unpivot: Option<Unpivot>,
    /// A text file's character encoding when it is not UTF-8 (a WHATWG label).
    #[serde(default)]
    encoding: Option<String>,
    /// Canonical field -> where its value comes from.
    columns: BTreeMap<String, ColumnSpec>,
    /// Rows for which this SQL predicate is not true are skipped.
    #[serde(default)]
    filter: Option<SqlExpression>,
    /// Orders only: rows sharing an order_id are one order's lines.
    #[serde(default)]
    line_items: Option<LineItems>,
    /// Whether the reports built on this source's entity need it (default true).
    #[serde(default)]
    required: Option<bool>,
    /// How old the newest record may be at the end of the run date.
    #[serde(default)]
    freshness: Option<RawFreshness>,
    /// Load landing files reached through a symbolic link inside the landing folder.
    #[serde(default)]
    follow_symlinks: bool,
}

/// A source is written as [`RawSource`] is read.
impl schemars::JsonSchema for SourceConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawSource::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawSource::json_schema(generator)
    }
}

impl TryFrom<RawSource> for SourceConfig {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, String> {
        let source = &raw.name;
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "source name {source:?} must be letters, digits, '_' or '-'"
            ));
        }
        // A glob is matched below the landing prefix: `..` or a leading `/`
        // could only ever match nothing there, or mean another folder.
        if raw.path.starts_with('/') || raw.path.split(['/', '\\']).any(|part| part == "..") {
            return Err(format!(
                "source {source}: path {:?} leaves the landing location; paths are globs below it (e.g. crm/*.csv)",
                raw.path
            ));
        }
        if raw.csv.is_some() && raw.format != Format::Csv {
            return Err(format!("source {source}: `csv` options need `format: csv`"));
        }
        let is_json = matches!(raw.format, Format::Json | Format::Jsonl);
        if raw.records.is_some() && !is_json {
            return Err(format!(
                "source {source}: `records` needs `format: json` or `jsonl`"
            ));
        }
        if let Some(pointer) = &raw.records {
            check_records_path(pointer)
                .map_err(|e| format!("source {source}: records {pointer:?} {e}"))?;
        }
        let encoding = raw.encoding.clone();
        let mut csv = raw.csv.clone().unwrap_or_default();
        if let Some(label) = &encoding {
            if raw.format == Format::Parquet {
                return Err(format!(
                    "source {source}: `encoding` applies to text formats (csv, json, jsonl), not parquet"
                ));
            }
            if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() {
                return Err(format!(
                    "source {source}: encoding {label:?} is not an encoding (e.g. windows-1252, latin1, utf-16le)"
                ));
            }
            match &csv.encoding {
                Some(other) if other != label => {
                    return Err(format!(
                        "source {source}: `encoding` {label:?} and `csv.encoding` {other:?} disagree; set one"
                    ));
                }
                _ => csv.encoding = Some(label.clone()),
            }
        }
        if raw.format == Format::Csv {
            check_csv_options(source, &csv)?;
        }
        let entity = raw.entity;
        for field in raw.columns.keys() {
            if entity.field(field).is_none() {
                let known: Vec<_> = entity.fields().iter().map(|f| f.name).collect();
                return Err(format!(
                    "source {source}: {entity} has no field {field:?}; its fields are {}",
                    known.join(", ")
                ));
            }
        }
        let missing: Vec<_> = entity
            .fields()
            .iter()
            .filter(|f| f.required && !raw.columns.contains_key(f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "source {source}: required {entity} field(s) not mapped in `columns`: {}",
                missing.join(", ")
            ));
        }
        for (field, spec) in &raw.columns {
            let def = entity.field(field).expect("checked above");
            if spec.format.is_some() && !matches!(def.ty, FieldType::Date | FieldType::Timestamp) {
                return Err(format!(
                    "source {source}: `format` applies to dates and timestamps, not {field}"
                ));
            }
            if spec.timezone.is_some() && !matches!(def.ty, FieldType::Date | FieldType::Timestamp)
            {
                return Err(format!(
                    "source {source}: `timezone` applies to dates and timestamps, not {field}"
                ));
            }
            if spec.lookup.is_some() && !is_json {
                return Err(format!(
                    "source {source}: columns.{field}: `lookup` reads JSON documents (`format: json` or `jsonl`)"
                ));
            }
            if let Some(lookup) = &spec.lookup {
                if lookup.records.is_empty() {
                    return Err(format!(
                        "source {source}: columns.{field}: lookup records is empty: name the array, from the document's root (/includes/users) or in the record (columns)"
                    ));
                }
                check_records_path(&lookup.records).map_err(|e| {
                    format!(
                        "source {source}: columns.{field}: lookup records {:?} {e}",
                        lookup.records
                    )
                })?;
            }
            if spec.sum.is_some() && raw.format == Format::Parquet {
                return Err(format!(
                    "source {source}: columns.{field}: `sum` adds up a JSON array (json, jsonl, or a csv cell holding one), not a parquet list"
                ));
            }
            if spec.sum.is_some() && !matches!(def.ty, FieldType::Float | FieldType::Int) {
                return Err(format!(
                    "source {source}: `sum` adds numbers up, and {field} is not a number"
                ));
            }
        }
        if let Some(filter) = &raw.filter
            && !matches!(filter.data_type, DataType::Boolean | DataType::Null)
        {
            return Err(format!(
                "source {source}: filter {:?} is not a condition (it gives {}, not true or false)",
                filter.text, filter.data_type
            ));
        }
        if raw.line_items.is_some() {
            check_line_items(source, entity, &raw.columns, raw.line_items)?;
        }
        if let Some(unpivot) = &raw.unpivot {
            check_unpivot(source, &raw, unpivot)?;
        }
        let freshness = match raw.freshness {
            Some(f) => f.parse(source, entity)?,
            None => Freshness::default(),
        };
        // Keep the mapping in the entity's field order so raw files are
        // laid out the same whatever order the YAML lists them in.
        let mut columns = Vec::new();
        let mut specs = raw.columns;
        for def in entity.fields() {
            if let Some(spec) = specs.remove(def.name) {
                columns.push((def.name.to_string(), spec));
            }
        }
        Ok(SourceConfig {
            name: raw.name,
            entity,
            format: raw.format,
            path: raw.path,
            csv,
            records: raw.records,
            unpivot: raw.unpivot,
            encoding,
            columns,
            filter: raw.filter,
            line_items: raw.line_items,
            required: raw.required.unwrap_or(true),
            freshness,
            follow_symlinks: raw.follow_symlinks,
            fingerprint: String::new(),
            legacy_fingerprint: String::new(),
        })
    }
}

/// A records path is a JSON pointer, with or without its leading `/`,
/// whose only `*` is a last token (every value there).
fn check_records_path(path: &str) -> Result<(), String> {
    let tokens: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = tokens.len() - 1;
    if tokens
        .iter()
        .enumerate()
        .any(|(i, t)| *t == "*" && i != last)
    {
        return Err(
            "has `*` before its end: only a last `/*` (every value there) is allowed".into(),
        );
    }
    Ok(())
}

/// A wide file turns into rows before anything is mapped, so the mapping
/// reads only the kept columns, the name and the value.
fn check_unpivot(source: &str, raw: &RawSource, unpivot: &Unpivot) -> Result<(), String> {
    if raw.format == Format::Parquet {
        return Err(format!(
            "source {source}: `unpivot` reads csv, json or jsonl, not parquet"
        ));
    }
    let mut names: Vec<&String> = unpivot.columns().collect();
    names.sort();
    names.dedup();
    if names.len() != unpivot.keep.len() + 2 || names.iter().any(|n| n.trim().is_empty()) {
        return Err(format!(
            "source {source}: unpivot's `name`, `value` and `keep` must be different, non-empty columns"
        ));
    }
    if let Some((field, _)) = raw.columns.iter().find(|(_, s)| s.lookup.is_some()) {
        return Err(format!(
            "source {source}: columns.{field}: `lookup` and `unpivot` do not combine"
        ));
    }
    if raw.line_items.is_some() {
        return Err(format!(
            "source {source}: `unpivot` and `line_items` do not combine"
        ));
    }
    let read = raw.columns.iter().flat_map(|(field, spec)| {
        let sql = spec.sql.iter().flat_map(|s| &s.fields);
        spec.from
            .iter()
            .chain(sql)
            .map(move |c| (format!("columns.{field}"), c))
    });
    let filtered = raw
        .filter
        .iter()
        .flat_map(|f| &f.fields)
        .map(|c| ("filter".to_string(), c));
    for (reader, column) in read.chain(filtered) {
        if !unpivot.columns().any(|c| c == column) {
            return Err(format!(
                "source {source}: {reader} reads {column:?}, but with `unpivot` a row has only the kept columns ({}), {:?} and {:?}",
                match unpivot.keep.is_empty() {
                    true => "none".to_string(),
                    false => unpivot.keep.join(", "),
                },
                unpivot.name,
                unpivot.value
            ));
        }
    }
    Ok(())
}

/// Lines are grouped by order_id and their amounts combined, so both must
/// come from each row, not be constants.
fn check_line_items(
    source: &str,
    entity: Entity,
    columns: &BTreeMap<String, ColumnSpec>,
    line_items: Option<LineItems>,
) -> Result<(), String> {
    if entity != Entity::Orders {
        return Err(format!(
            "source {source}: `line_items` applies to orders, not {entity}"
        ));
    }
    let amount = columns.get("amount");
    if let Some(items) = line_items
        && items.amount == LineAmount::Sum
        && amount.is_some_and(|s| s.values.is_some() || s.sum.is_some())
    {
        return Err(format!(
            "source {source}: with `line_items: {{ amount: sum }}` each line's amount is a number; `values` or `sum` cannot make it"
        ));
    }
    for field in ["order_id", "amount"] {
        if columns.get(field).is_some_and(|s| s.value.is_some()) {
            return Err(format!(
                "source {source}: with `line_items`, {field} must come from each row (`from` or `sql`), not a constant"
            ));
        }
    }
    Ok(())
}

fn check_csv_options(source: &str, csv: &CsvOptions) -> Result<(), String> {
    if !csv.delimiter.is_ascii() || !csv.quote.is_ascii() {
        return Err(format!(
            "source {source}: csv delimiter and quote must be single ASCII characters"
        ));
    }
    if !csv.header && csv.column_names.is_empty() {
        return Err(format!(
            "source {source}: `header: false` needs `column_names` to name the columns"
        ));
    }
    if let Some(label) = &csv.encoding
        && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
    {
        return Err(format!(
            "source {source}: csv.encoding {label:?} is not an encoding (e.g. windows-1252, latin1, utf-16le)"
        ));
    }
    if let Some(pattern) = &csv.skip_matching {
        regex::Regex::new(pattern).map_err(|e| {
            format!("source {source}: csv.skip_matching is not a regular expression: {e}")
        })?;
    }
    Ok(())
}
