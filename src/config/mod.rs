//! The YAML config: parsing with line/column errors, `${VAR}` substitution
//! ([`text`]), sources and their mappings ([`source`]), where the PII salt
//! may come from ([`salt`]), each source's fingerprint ([`fingerprint`])
//! and the checks that need the whole file.

mod column;
mod engine;
pub mod expression;
mod fingerprint;
mod salt;
mod source;
mod text;
pub mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use column::{ColumnSpec, ElementCondition, Lookup};
pub use engine::{EngineKind, EngineSettings, WITHOUT_BALLISTA};
pub use expression::{SqlExpression, text_schema};
pub use source::{CsvOptions, Format, Freshness, LineAmount, LineItems, SourceConfig, Unpivot};
pub use text::{Text, redact, substitute_env};
use units::{parse_bytes, parse_duration};

/// The config's `storage:` section: options per URL scheme.
pub type StorageOptions = BTreeMap<String, BTreeMap<String, Text>>;

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

// `advocacy config-schema` prints this type's JSON Schema, derived from
// these definitions: doc comments become the editor's descriptions.
/// An advocacy config: where exports arrive and the warehouse lives, how
/// runs behave, and how each source's export maps to the canonical entities.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where exports arrive: a path or URL.
    pub landing: Text,
    /// Where the raw zone, reports and state live: a path or URL.
    pub warehouse: Text,
    /// Object-store options by URL scheme (`s3`, `gs`, `az`), passed to
    /// object_store's builders under their documented config keys.
    #[serde(default)]
    pub storage: StorageOptions,
    #[serde(default)]
    pub run: RunSettings,
    /// Where the models' queries execute.
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Named parameters the SQL models read as `$name`.
    #[serde(default)]
    pub vars: BTreeMap<String, VarValue>,
    /// The brand's own social accounts, by platform: their posts and
    /// replies are never advocacy, reach or share of voice.
    #[serde(default)]
    pub brand_handles: BTreeMap<String, Vec<String>>,
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    /// From the environment (`${VAR}`, whose `:-default` may not be what
    /// is used) or, with [`RunSettings::pii_salt_file`], a secret file;
    /// written in the file only with [`RunSettings::pii_salt_public`].
    pub pii_salt: Option<Text>,
    /// A file holding the salt (a mounted Kubernetes or Docker secret).
    pub pii_salt_file: Option<Text>,
    /// The salt is public (written in this file): its hashes can be
    /// reversed by anyone who reads it. For demo and test data only.
    pub pii_salt_public: bool,
    /// Rows per Parquet row group and per in-memory batch during ingest.
    pub batch_rows: usize,
    /// A warehouse lock older than this (`30m`, `6h`, `1d`) belongs to a
    /// run that died, and the next run takes it over.
    pub lock_ttl: String,
    /// The run date when `--date` is not given.
    pub date: RunDateMode,
    /// Run on a store that ignores conditional creates (If-None-Match),
    /// on which the lock cannot keep two runs apart: only when the
    /// scheduler never starts two at once.
    pub allow_unconditional_store: bool,
    /// How long each phase of a run (taking the lock, ingest, checking the
    /// sources, models with tests and publishing, the run record,
    /// releasing the lock) may take before the run fails: what bounds a
    /// run against a store that accepts connections and never answers.
    pub phase_timeout: String,
}

/// `run.date`: what a run without `--date` is dated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunDateMode {
    /// Today in `run.timezone`: a production nightly, which relies on
    /// `freshness` to notice exports that stopped arriving.
    #[default]
    Today,
    /// The day after the newest record of the data (in `run.timezone`,
    /// never after today): the date a nightly would have had the morning
    /// after the exports end, so a fixed data set (the bundled one, a
    /// demo, a replay) shows its last complete month whatever day it runs.
    LatestComplete,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            timezone: "UTC".into(),
            currency: "USD".into(),
            memory_limit: "2GiB".into(),
            pii: Pii::Hash,
            pii_salt: None,
            pii_salt_file: None,
            pii_salt_public: false,
            batch_rows: 65_536,
            lock_ttl: "6h".into(),
            date: RunDateMode::Today,
            allow_unconditional_store: false,
            phase_timeout: "30m".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pii {
    /// Store only the salted SHA-256 of each email (the default).
    Hash,
    /// Store the normalised email and its hash.
    Keep,
    /// Store neither; email identities are still hashed so they can match.
    Drop,
}

#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum VarValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
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
        config.read_salt_file()?;
        mark_literal_secrets(&config);
        // The file as written (before `${VAR}` substitution), read once for
        // where the salt came from and for the sources' fingerprints.
        let written: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        config.check_salt_origin(&written)?;
        config.hash = crate::pii::sha256_hex(text.as_bytes());
        config.check().map_err(|e| redact(&e))?;
        config.set_fingerprints(&written)?;
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
        self.engine.check()?;
        parse_duration(&self.run.lock_ttl).map_err(|e| format!("run.lock_ttl: {e}"))?;
        match parse_duration(&self.run.phase_timeout) {
            Ok(d) if d > chrono::Duration::zero() => {}
            Ok(_) => return Err("run.phase_timeout must be longer than 0".into()),
            Err(e) => return Err(format!("run.phase_timeout: {e}")),
        }
        if self.run.batch_rows == 0 {
            return Err("run.batch_rows must be at least 1".into());
        }
        check_storage_schemes(&self.storage)
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

    /// What is probably a mistake but may be meant: a timestamp column
    /// whose name says UTC or GMT ("Created date (UTC)",
    /// `date_created_gmt`) read in a `run.timezone` that is not UTC, where
    /// a value without an offset would be taken for local time.
    pub fn warnings(&self) -> Vec<String> {
        let utc_named = regex::Regex::new(r"(?i)(^|[^a-z])(utc|gmt)([^a-z]|$)").expect("valid");
        let zone = crate::clock::parse_timezone(&self.run.timezone).expect("checked at load");
        if crate::clock::is_always_utc(zone) {
            return Vec::new();
        }
        // %z, %:z, %::z, %#z: the values carry their offset.
        let offset_format = regex::Regex::new(r"%[:#]*z").expect("valid");
        let mut warnings = Vec::new();
        for source in &self.sources {
            for (field, spec) in &source.columns {
                let is_time = source.entity.field(field).is_some_and(|f| {
                    matches!(
                        f.ty,
                        crate::schema::FieldType::Date | crate::schema::FieldType::Timestamp
                    )
                });
                let with_offset = spec
                    .format
                    .as_deref()
                    .is_some_and(|f| offset_format.is_match(f));
                if let Some(from) = &spec.from
                    && is_time
                    && spec.timezone.is_none()
                    && !with_offset
                    && utc_named.is_match(from)
                {
                    warnings.push(format!(
                        "source {}: columns.{field} reads {from:?}, whose name says it is in UTC, \
                         but values without an offset are read in run.timezone {}; add \
                         `timezone: UTC` to the column (`{{ from: {from:?}, timezone: UTC }}`)",
                        source.name, self.run.timezone
                    ));
                }
            }
        }
        warnings
    }

    /// [`Config::brand_handles`] as the models read it (`$brand_handles`):
    /// one "platform:handle" per line, lower case, without a leading @, as
    /// `int_social_authors` normalises handles.
    pub fn brand_handle_lines(&self) -> String {
        let mut lines: Vec<String> = self
            .brand_handles
            .iter()
            .flat_map(|(platform, handles)| {
                handles.iter().map(move |handle| {
                    let handle = handle.trim().to_lowercase();
                    format!(
                        "{}:{}",
                        platform.trim().to_lowercase(),
                        handle.trim_start_matches('@')
                    )
                })
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }

    pub fn lock_ttl(&self) -> chrono::Duration {
        parse_duration(&self.run.lock_ttl).expect("checked at load")
    }

    pub fn phase_timeout(&self) -> std::time::Duration {
        parse_duration(&self.run.phase_timeout)
            .expect("checked at load")
            .to_std()
            .expect("checked positive at load")
    }

    pub fn salt(&self) -> &str {
        self.run.pii_salt.as_ref().map_or("", Text::as_str)
    }
}

fn check_storage_schemes(storage: &StorageOptions) -> Result<(), String> {
    for scheme in storage.keys() {
        if !matches!(scheme.as_str(), "s3" | "gs" | "az" | "file" | "memory") {
            return Err(format!(
                "storage.{scheme}: unknown scheme (expected s3, gs or az)"
            ));
        }
    }
    Ok(())
}

/// The salt and the storage credentials are masked in messages even when
/// written into the file rather than given by `${VAR}`.
fn mark_literal_secrets(config: &Config) {
    if let Some(salt) = &config.run.pii_salt {
        text::mark_secret(salt.as_str());
    }
    mark_storage_secrets(&config.storage);
}

fn mark_storage_secrets(storage: &StorageOptions) {
    for (name, value) in storage.values().flatten() {
        if text::is_secret_option(name) {
            text::mark_secret(value.as_str());
        }
    }
}

/// The `storage:` section of a config file alone, for the cluster's
/// scheduler and executors: they open the run's buckets with the same
/// options, and need nothing else of the file (not the salt, not the
/// sources), so the rest is not read and its `${VAR}`s need not be set.
pub fn load_storage(path: &Path) -> Result<StorageOptions, ConfigError> {
    #[derive(Deserialize)]
    struct StorageOnly {
        #[serde(default)]
        storage: StorageOptions,
    }
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: redact(&message),
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let only: StorageOnly =
        serde_yaml::from_str(&text).map_err(|e| invalid(locate_env_error(&text, e.to_string())))?;
    check_storage_schemes(&only.storage).map_err(invalid)?;
    mark_storage_secrets(&only.storage);
    Ok(only.storage)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        Config::parse(text, ".".into()).unwrap_err()
    }

    const HEAD: &str = "landing: l\nwarehouse: w\nrun: { pii_salt: s, pii_salt_public: true }\n";

    #[test]
    fn errors_name_the_key_with_line_and_column() {
        assert_eq!(
            parse_err("landing: l\nwarehouse: w\nbogus: 1\n"),
            "unknown field `bogus`, expected one of `landing`, `warehouse`, `storage`, `run`, \
             `engine`, `sources`, `vars`, `brand_handles`, `queries` at line 3 column 1"
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
    #[cfg(not(feature = "ballista"))]
    fn a_binary_without_ballista_refuses_the_cluster_engine_with_the_way_to_build_it() {
        assert_eq!(
            parse_err(&format!(
                "{HEAD}engine: {{ kind: ballista, scheduler: \"df://scheduler:50050\" }}\n"
            )),
            format!("engine.kind: ballista: {}", WITHOUT_BALLISTA)
        );
        let local = Config::parse(&format!("{HEAD}engine: {{ kind: local }}\n"), ".".into());
        assert_eq!(local.unwrap().engine.scheduler_url(), None);
    }

    #[test]
    #[cfg(feature = "ballista")]
    fn the_engine_is_local_unless_a_ballista_scheduler_is_given() {
        let config = Config::parse(HEAD, ".".into()).unwrap();
        assert_eq!(config.engine.kind, EngineKind::Local);
        assert_eq!(config.engine.scheduler_url(), None);
        let cluster = Config::parse(
            &format!("{HEAD}engine: {{ kind: ballista, scheduler: \"df://scheduler:50050\" }}\n"),
            ".".into(),
        )
        .unwrap();
        assert_eq!(cluster.engine.scheduler_url(), Some("df://scheduler:50050"));
        // A scheduler left in the file does not matter while the kind is local.
        let local = Config::parse(
            &format!("{HEAD}engine: {{ kind: local, scheduler: \"df://s:1\" }}\n"),
            ".".into(),
        )
        .unwrap();
        assert_eq!(local.engine.scheduler_url(), None);

        assert_eq!(
            parse_err(&format!(
                "{HEAD}engine:\n  kind: ballista\n  schedular: x\n"
            )),
            "engine: unknown field `schedular`, expected `kind` or `scheduler` at line 6 column 3"
        );
        assert!(
            parse_err(&format!("{HEAD}engine: {{ kind: spark }}\n"))
                .starts_with("engine: kind \"spark\" is neither local nor ballista"),
        );
        assert_eq!(
            parse_err(&format!("{HEAD}engine: {{ kind: ballista }}\n")),
            "engine.scheduler: kind ballista needs the scheduler's address, e.g. \"df://scheduler:50050\""
        );
        assert_eq!(
            parse_err(&format!(
                "{HEAD}engine: {{ kind: ballista, scheduler: \"http://s:50050\" }}\n"
            )),
            "engine.scheduler: \"http://s:50050\" is not a df:// URL (expected df://host:port)"
        );
        assert_eq!(
            parse_err(&format!(
                "{HEAD}engine: {{ kind: ballista, scheduler: \"df://s\" }}\n"
            )),
            "engine.scheduler: \"df://s\" has no host and port (expected df://host:port)"
        );
    }

    #[test]
    fn servers_read_only_the_storage_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advocacy.yaml");
        // The salt's variable is unset: a scheduler does not need it.
        std::fs::write(
            &path,
            "landing: l\nwarehouse: w\nrun: { pii_salt: \"${ADVOCACY_TEST_UNSET_SALT}\" }\n\
             storage:\n  s3:\n    region: eu-west-1\n",
        )
        .unwrap();
        let storage = load_storage(&path).unwrap();
        assert_eq!(storage["s3"]["region"].as_str(), "eu-west-1");
        std::fs::write(&path, "storage:\n  hdfs: { x: 1 }\n").unwrap();
        let err = load_storage(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("storage.hdfs: unknown scheme (expected s3, gs or az)"),
            "{err}"
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

    /// A salt or a secret key written into the file is masked like one
    /// from the environment; a key id is not a secret.
    #[test]
    fn literal_secrets_are_masked_in_messages() {
        let text = "landing: l\nwarehouse: w\nrun: { pii_salt: literal-salt-93, pii_salt_public: true }\n\
                    storage:\n  s3: { access_key_id: AKIDLITERAL, secret_access_key: literal-secret-93 }\n";
        Config::parse(text, PathBuf::from(".")).unwrap();
        assert_eq!(
            redact("salt literal-salt-93, key literal-secret-93, id AKIDLITERAL"),
            "salt ***, key ***, id AKIDLITERAL"
        );
    }
}
