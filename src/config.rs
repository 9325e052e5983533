//! The YAML config: parsing with line/column errors, `${VAR}` substitution
//! and the checks that need the whole file (entities, required mappings).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use datafusion::arrow::datatypes::DataType;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::ingest::expressions::SqlExpression;
use crate::schema::{Entity, FieldType};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A string from the config with `${VAR}` / `${VAR:-default}` already
/// substituted. Values that came from the environment are remembered so
/// [`redact`] can keep them out of every log line and error.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs; it must never show a credential.
        write!(f, "{:?}", redact(&self.0))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        let raw = deserializer.deserialize_any(ScalarVisitor)?;
        substitute_env(&raw, |name| std::env::var(name).ok())
            .map(Text)
            .map_err(de::Error::custom)
    }
}

fn secrets() -> &'static Mutex<BTreeSet<String>> {
    static SECRETS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Replaces every value substituted from the environment with `***`.
/// Short values are left alone: masking "1" or "us" would garble messages
/// without protecting anything.
pub fn redact(message: &str) -> String {
    let secrets = secrets().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = message.to_string();
    for secret in secrets.iter().rev() {
        if secret.len() >= 4 {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
pub fn substitute_env(
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in {raw:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            match lookup(name) {
                Some(value) => {
                    secrets()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(value.clone());
                    out.push_str(&value);
                }
                None => match default {
                    Some(d) => out.push_str(d),
                    None => {
                        return Err(format!(
                            "environment variable {name} is not set (set it, or write ${{{name}:-default}})"
                        ));
                    }
                },
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where exports arrive: a path or URL.
    pub landing: Text,
    /// Where the raw zone, reports and state live: a path or URL.
    pub warehouse: Text,
    /// Object-store options by URL scheme (`s3`, `gs`, `az`), passed to
    /// object_store's builders under their documented config keys.
    #[serde(default)]
    pub storage: BTreeMap<String, BTreeMap<String, Text>>,
    #[serde(default)]
    pub run: RunSettings,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Named parameters the SQL models read as `$name`.
    #[serde(default)]
    pub vars: BTreeMap<String, VarValue>,
    /// The folder of SQL models, relative to the config file.
    #[serde(default = "default_queries")]
    pub queries: PathBuf,
    /// Directory the config was read from; relative paths resolve here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// SHA-256 of the config text, recorded in every run record.
    #[serde(skip)]
    pub hash: String,
}

fn default_queries() -> PathBuf {
    PathBuf::from("queries")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// The zone days are cut in (IANA name): `$run_date` is today there and
    /// the models see it as `$timezone`.
    pub timezone: String,
    /// The base currency (ISO 4217 code) every amount is converted to; the
    /// models see it as `$currency`.
    pub currency: String,
    /// Memory pool of the query engine, e.g. `2GiB`, `512MiB`.
    pub memory_limit: String,
    pub pii: Pii,
    pub pii_salt: Option<Text>,
    /// Rows per Parquet row group and per in-memory batch during ingest.
    pub batch_rows: usize,
    /// A warehouse lock older than this (`30m`, `6h`, `1d`) belongs to a
    /// run that died, and the next run takes it over.
    pub lock_ttl: String,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            timezone: "UTC".into(),
            currency: "USD".into(),
            memory_limit: "2GiB".into(),
            pii: Pii::Hash,
            pii_salt: None,
            batch_rows: 65_536,
            lock_ttl: "6h".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pii {
    /// Store only the salted SHA-256 of each email (the default).
    Hash,
    /// Store the normalised email and its hash.
    Keep,
    /// Store neither; email identities are still hashed so they can match.
    Drop,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum VarValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Json,
    Jsonl,
    Parquet,
}

#[derive(Clone, Debug, Deserialize)]
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
    /// JSON pointer to the array of records: in the document (`json`) or
    /// in each line (`jsonl`).
    pub records: Option<String>,
    /// Canonical field -> where its value comes from, in field order.
    pub columns: Vec<(String, ColumnSpec)>,
    /// Rows for which this predicate is not true are skipped (counted).
    pub filter: Option<SqlExpression>,
    /// Orders only: rows sharing an order_id in a file are one order's lines.
    pub line_items: Option<LineItems>,
    /// SHA-256 of everything that decides the values this source stores:
    /// its mapping as written (all but `path`) and the PII mode, salt and
    /// time zone. Recorded per loaded file; a file loaded under another
    /// fingerprint is loaded again.
    pub fingerprint: String,
}

/// How the lines of a line-item orders export make one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItems {
    pub amount: LineAmount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineAmount {
    /// The order's amount is the sum of its lines' amounts.
    Sum,
    /// The first non-empty line amount is the order's total (Shopify).
    First,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    entity: Entity,
    format: Format,
    path: String,
    #[serde(default)]
    csv: Option<CsvOptions>,
    #[serde(default)]
    records: Option<String>,
    columns: BTreeMap<String, ColumnSpec>,
    #[serde(default)]
    filter: Option<SqlExpression>,
    #[serde(default)]
    line_items: Option<LineItems>,
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
        if let Some(pointer) = &raw.records
            && !pointer.is_empty()
            && !pointer.starts_with('/')
        {
            return Err(format!(
                "source {source}: records {pointer:?} is not a JSON pointer (it starts with '/', e.g. /reviews)"
            ));
        }
        let csv = raw.csv.unwrap_or_default();
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
            if spec.lookup.is_some() && !is_json {
                return Err(format!(
                    "source {source}: columns.{field}: `lookup` reads JSON documents (`format: json` or `jsonl`)"
                ));
            }
            if let Some(lookup) = &spec.lookup
                && !lookup.records.starts_with('/')
            {
                return Err(format!(
                    "source {source}: columns.{field}: lookup records {:?} is not a JSON pointer (it starts with '/', e.g. /includes/users)",
                    lookup.records
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
            columns,
            filter: raw.filter,
            line_items: raw.line_items,
            fingerprint: String::new(),
        })
    }
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
        && amount.is_some_and(|s| s.values.is_some())
    {
        return Err(format!(
            "source {source}: with `line_items: {{ amount: sum }}` each line's amount is a number; `values` cannot map it"
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

/// Where a canonical field's value comes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnSpec {
    /// Source column name or dotted JSON path; `None` for a constant.
    pub from: Option<String>,
    /// A constant value for every row.
    pub value: Option<String>,
    /// chrono format for dates and timestamps.
    pub format: Option<String>,
    /// Source value -> canonical value (e.g. `paid: completed`).
    pub values: Option<BTreeMap<String, String>>,
    /// A SQL expression over the record's source fields.
    pub sql: Option<SqlExpression>,
    /// With `from`: the value is looked up in another array of the same
    /// JSON document (X API pages keep authors in `includes.users`).
    pub lookup: Option<Lookup>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// JSON pointer to the array to look in, from the document's root.
    pub records: String,
    /// The field of those records that `from`'s value must equal.
    pub key: String,
    /// The field or dotted path whose value is taken.
    pub value: String,
}

impl<'de> Deserialize<'de> for ColumnSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = ColumnSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a source column name or a map with `from`, `sql`, `value`, `lookup`, `format` or `values`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnSpec, E> {
                Ok(ColumnSpec {
                    from: Some(v.to_string()),
                    ..ColumnSpec::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ColumnSpec, A::Error> {
                let mut spec = ColumnSpec::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "from" => spec.from = Some(map.next_value::<Text>()?.0),
                        "value" => spec.value = Some(map.next_value::<Text>()?.0),
                        "format" => spec.format = Some(map.next_value::<String>()?),
                        "values" => {
                            let values: BTreeMap<Text, Text> = map.next_value()?;
                            spec.values =
                                Some(values.into_iter().map(|(k, v)| (k.0, v.0)).collect());
                        }
                        "sql" => spec.sql = Some(map.next_value::<SqlExpression>()?),
                        "lookup" => spec.lookup = Some(map.next_value::<Lookup>()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["from", "value", "sql", "lookup", "format", "values"],
                            ));
                        }
                    }
                }
                let sources = [
                    spec.from.is_some(),
                    spec.value.is_some(),
                    spec.sql.is_some(),
                ];
                match sources.iter().filter(|s| **s).count() {
                    0 => Err(de::Error::custom(
                        "a column needs `from` (a source column), `sql` (an expression) or `value` (a constant)",
                    )),
                    1 if spec.lookup.is_some() && spec.from.is_none() => Err(de::Error::custom(
                        "`lookup` needs `from`: the field whose value is looked up",
                    )),
                    1 => Ok(spec),
                    _ => Err(de::Error::custom(
                        "a column takes one of `from` (a source column), `sql` (an expression) or `value` (a constant)",
                    )),
                }
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl Config {
    /// Reads and checks a config file; every error names the file, and
    /// parse errors carry line and column.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, base_dir).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Config, String> {
        let mut config: Config = serde_yaml::from_str(text)
            .map_err(|e| redact(&locate_env_error(text, e.to_string())))?;
        config.base_dir = base_dir;
        config.hash = crate::pii::sha256_hex(text.as_bytes());
        config.check().map_err(|e| redact(&e))?;
        config.set_fingerprints(text)?;
        Ok(config)
    }

    /// Fills each source's [`SourceConfig::fingerprint`]. The mapping is
    /// taken from the YAML as a value with its keys sorted, so comments,
    /// layout, flow or block style and key order do not count; the glob is
    /// left out (widening it must not reload what it already matched).
    fn set_fingerprints(&mut self, text: &str) -> Result<(), String> {
        let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let written = document
            .get("sources")
            .and_then(serde_yaml::Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let settings = format!(
            "pii={:?}\nsalt={}\ntimezone={}\n",
            self.run.pii,
            self.salt(),
            self.run.timezone
        );
        for (source, value) in self.sources.iter_mut().zip(written) {
            let mut value = canonical_yaml(value);
            if let serde_yaml::Value::Mapping(map) = &mut value {
                map.remove("path");
            }
            let mapping = serde_yaml::to_string(&value).map_err(|e| e.to_string())?;
            source.fingerprint = crate::pii::sha256_hex(format!("{mapping}{settings}").as_bytes());
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for source in &self.sources {
            if !names.insert(source.name.as_str()) {
                return Err(format!(
                    "sources: two sources are named {:?}; names must be unique",
                    source.name
                ));
            }
        }
        if self.run.pii != Pii::Keep && self.run.pii_salt.as_ref().is_none_or(|s| s.0.is_empty()) {
            return Err(
                "run.pii_salt: a salt is required to hash emails (e.g. pii_salt: \"${ADVOCACY_PII_SALT}\")"
                    .into(),
            );
        }
        crate::clock::parse_timezone(&self.run.timezone)
            .map_err(|e| format!("run.timezone: {e}"))?;
        if self.run.currency.len() != 3
            || !self.run.currency.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(format!(
                "run.currency: {:?} is not a three-letter currency code such as USD or EUR",
                self.run.currency
            ));
        }
        parse_bytes(&self.run.memory_limit).map_err(|e| format!("run.memory_limit: {e}"))?;
        crate::lock::parse_duration(&self.run.lock_ttl)
            .map_err(|e| format!("run.lock_ttl: {e}"))?;
        if self.run.batch_rows == 0 {
            return Err("run.batch_rows must be at least 1".into());
        }
        for scheme in self.storage.keys() {
            if !matches!(scheme.as_str(), "s3" | "gs" | "az" | "file" | "memory") {
                return Err(format!(
                    "storage.{scheme}: unknown scheme (expected s3, gs or az)"
                ));
            }
        }
        Ok(())
    }

    /// Resolves a possibly relative location against the config's folder.
    pub fn resolve_location(&self, location: &str) -> String {
        if location.contains("://") || Path::new(location).is_absolute() {
            location.to_string()
        } else {
            self.base_dir.join(location).to_string_lossy().into_owned()
        }
    }

    pub fn queries_dir(&self) -> PathBuf {
        self.base_dir.join(&self.queries)
    }

    pub fn memory_limit_bytes(&self) -> usize {
        parse_bytes(&self.run.memory_limit).expect("checked at load")
    }

    pub fn lock_ttl(&self) -> chrono::Duration {
        crate::lock::parse_duration(&self.run.lock_ttl).expect("checked at load")
    }

    pub fn salt(&self) -> &str {
        self.run.pii_salt.as_ref().map_or("", Text::as_str)
    }
}

/// The value with every mapping's keys in sorted order (tags and merges
/// kept as written).
fn canonical_yaml(value: serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value;
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(Value, Value)> = map
                .into_iter()
                .map(|(k, v)| (k, canonical_yaml(v)))
                .collect();
            entries.sort_by_key(|(k, _)| serde_yaml::to_string(k).unwrap_or_default());
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(canonical_yaml).collect()),
        Value::Tagged(tagged) => {
            let tagged = *tagged;
            Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: tagged.tag,
                value: canonical_yaml(tagged.value),
            }))
        }
        other => other,
    }
}

/// serde_yaml gives no position for errors raised while substituting a
/// scalar; point at the first `${NAME` in the text instead.
fn locate_env_error(text: &str, message: String) -> String {
    let Some(rest) = message.strip_prefix("environment variable ") else {
        return message;
    };
    if message.contains(" at line ") {
        return message;
    }
    let name = rest.split_whitespace().next().unwrap_or_default();
    let needle = format!("${{{name}");
    for (number, line) in text.lines().enumerate() {
        if let Some(column) = line.find(&needle) {
            return format!("{message} at line {} column {}", number + 1, column + 1);
        }
    }
    message
}

/// Parses sizes like `2GiB`, `512MiB`, `1.5GB` or a plain byte count.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 2GiB or 512MiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{text:?}: unknown unit (use B, KiB, MiB, GiB)")),
    };
    Ok((number * factor) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(substitute_env("a${SET}b", env).unwrap(), "avalueb");
        assert_eq!(substitute_env("${UNSET:-x}", env).unwrap(), "x");
        assert_eq!(substitute_env("$$5 and $x", env).unwrap(), "$5 and $x");
        let err = substitute_env("${UNSET}", env).unwrap_err();
        assert!(err.contains("UNSET is not set"), "{err}");
    }

    fn parse_err(text: &str) -> String {
        Config::parse(text, ".".into()).unwrap_err()
    }

    const HEAD: &str = "landing: l\nwarehouse: w\nrun: { pii_salt: s }\n";

    #[test]
    fn errors_name_the_key_with_line_and_column() {
        assert_eq!(
            parse_err("landing: l\nwarehouse: w\nbogus: 1\n"),
            "unknown field `bogus`, expected one of `landing`, `warehouse`, `storage`, `run`, \
             `sources`, `vars`, `queries` at line 3 column 1"
        );
        let unknown_entity = parse_err(&format!(
            "{HEAD}sources:\n  - name: a\n    entity: custmers\n"
        ));
        assert!(
            unknown_entity.starts_with("sources[0].entity: unknown variant `custmers`")
                && unknown_entity.ends_with("at line 6 column 13"),
            "{unknown_entity}"
        );
        assert_eq!(
            parse_err("landing: l\nwarehouse: w\nrun:\n  batch_rows: many\n"),
            "run.batch_rows: invalid type: string \"many\", expected usize at line 4 column 15"
        );
        let unmapped = parse_err(&format!(
            "{HEAD}sources:\n  - name: a\n    entity: customers\n    format: csv\n    path: x.csv\n    columns:\n      customer_id: Id\n"
        ));
        assert_eq!(
            unmapped,
            "sources: source a: required customers field(s) not mapped in `columns`: signup_date at line 5 column 3"
        );
        let typo = parse_err(&format!(
            "{HEAD}sources:\n  - name: a\n    entity: customers\n    format: csv\n    path: x.csv\n    columns:\n      customer_id: Id\n      signup_date: {{ form: x }}\n"
        ));
        assert!(
            typo.starts_with("sources[0].columns.signup_date: unknown field `form`")
                && typo.ends_with("at line 11 column 20"),
            "{typo}"
        );
        assert_eq!(
            parse_err("landing: l\nwarehouse: \"${ADVOCACY_TEST_UNSET_VAR}\"\n"),
            "environment variable ADVOCACY_TEST_UNSET_VAR is not set (set it, or write \
             ${ADVOCACY_TEST_UNSET_VAR:-default}) at line 2 column 13"
        );
    }

    #[test]
    fn a_path_that_leaves_the_landing_location_is_an_error() {
        for path in ["../other/*.csv", "crm/../../x.csv", "/etc/passwd"] {
            let err = parse_err(&format!(
                "{HEAD}sources:\n  - name: a\n    entity: identities\n    format: csv\n    path: \"{path}\"\n    columns: {{ customer_id: a, kind: b, value: c }}\n"
            ));
            assert!(err.contains("leaves the landing location"), "{path}: {err}");
        }
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }
}
