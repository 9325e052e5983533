//! The YAML config: parsing with line/column errors, `${VAR}` substitution
//! and the checks that need the whole file (entities, required mappings).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

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
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            quote: '"',
            header: true,
            column_names: Vec::new(),
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
    /// JSON pointer to the array of records (`format: json` only).
    pub records: Option<String>,
    /// Canonical field -> where its value comes from, in field order.
    pub columns: Vec<(String, ColumnSpec)>,
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
        if raw.csv.is_some() && raw.format != Format::Csv {
            return Err(format!("source {source}: `csv` options need `format: csv`"));
        }
        if raw.records.is_some() && raw.format != Format::Json {
            return Err(format!("source {source}: `records` needs `format: json`"));
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
        })
    }
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
}

impl<'de> Deserialize<'de> for ColumnSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = ColumnSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a source column name or a map with `from`, `format`, `values` or `value`",
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
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["from", "value", "format", "values"],
                            ));
                        }
                    }
                }
                match (&spec.from, &spec.value) {
                    (Some(_), Some(_)) => Err(de::Error::custom(
                        "a column takes either `from` (a source column) or `value` (a constant), not both",
                    )),
                    (None, None) => Err(de::Error::custom(
                        "a column needs `from` (a source column) or `value` (a constant)",
                    )),
                    _ => Ok(spec),
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
        Ok(config)
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
    fn parses_sizes() {
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }
}
