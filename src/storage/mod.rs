//! Object-store locations: turning the config's paths and URLs into
//! stores, registering them with DataFusion, and whole-object writes.

pub mod parquet_file;
pub mod registry;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use datafusion::prelude::SessionContext;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig,
};
use url::Url;

pub use crate::config::StorageOptions;
use crate::config::{Text, redact};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{location}: {message}")]
    Location { location: String, message: String },
    #[error("{op} {path}: {source}")]
    Object {
        op: &'static str,
        path: String,
        source: object_store::Error,
    },
}

impl StorageError {
    pub fn object(op: &'static str, path: &Path, source: object_store::Error) -> StorageError {
        StorageError::Object {
            op,
            path: path.to_string(),
            source,
        }
    }
}

/// A folder in an object store: the landing area or the warehouse.
#[derive(Clone, Debug)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    /// The folder's path inside the store (no leading or trailing slash).
    pub prefix: Path,
    /// The folder's URL, ending in `/`; DataFusion reads tables below it.
    pub url: Url,
}

fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Location {
    /// Opens a path or URL. Local folders are created when `create` is set
    /// (the warehouse) and must exist otherwise (the landing area).
    pub fn open(
        location: &str,
        storage: &StorageOptions,
        create: bool,
    ) -> Result<Location, StorageError> {
        let fail = |message: String| StorageError::Location {
            location: redact(location),
            message: redact(&message),
        };
        if !location.contains("://") || location.starts_with("file://") {
            let raw = location.strip_prefix("file://").unwrap_or(location);
            let absolute = std::path::absolute(raw).map_err(|e| fail(e.to_string()))?;
            if create {
                std::fs::create_dir_all(&absolute).map_err(|e| fail(e.to_string()))?;
            } else if !absolute.is_dir() {
                return Err(fail("no such folder".into()));
            }
            let absolute = absolute.canonicalize().map_err(|e| fail(e.to_string()))?;
            let url = Url::from_directory_path(&absolute)
                .map_err(|_| fail("not an absolute path".into()))?;
            let prefix = Path::from_absolute_path(&absolute).map_err(|e| fail(e.to_string()))?;
            return Ok(Location {
                store: Arc::new(LocalFileSystem::new()),
                prefix,
                url,
            });
        }
        let mut url = Url::parse(location).map_err(|e| fail(e.to_string()))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let prefix = Path::from_url_path(url.path()).map_err(|e| fail(e.to_string()))?;
        let store = store_for_url(&url, storage).map_err(fail)?;
        Ok(Location { store, prefix, url })
    }

    /// The object path of `relative` inside this folder.
    pub fn path(&self, relative: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// The path of `path` relative to this folder, `/`-separated.
    pub fn relative(&self, path: &Path) -> String {
        match path.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    /// The URL of a folder below this one, as DataFusion's listing tables
    /// want it (with a trailing slash).
    pub fn folder_url(&self, relative: &str) -> String {
        let relative = relative.trim_matches('/');
        format!("{}{}/", self.url, relative)
    }

    /// Makes SQL able to read this location's URLs.
    pub fn register(&self, ctx: &SessionContext) {
        let mut root = self.url.clone();
        root.set_path("/");
        ctx.register_object_store(&root, self.store.clone());
    }

    /// Writes a whole object with one put: readers see the previous object
    /// or this one, never a part.
    pub async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| StorageError::object("write", path, e))
    }

    /// Like [`Location::put`], with a Content-Type for the object stores
    /// that serve it (S3, GCS, Azure, memory), so that a browser opening
    /// the object's URL shows it instead of downloading it. Local files
    /// have no such attribute (object_store's LocalFileSystem refuses
    /// attributes); the browser goes by the file's extension there.
    pub async fn put_typed(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StorageError> {
        if self.url.scheme() == "file" {
            return self.put(path, bytes).await;
        }
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, AttributeValue::from(content_type));
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(path, PutPayload::from(bytes), options)
            .await
            .map(|_| ())
            .map_err(|e| StorageError::object("write", path, e))
    }

    /// Reads a whole (small) object; `None` when it does not exist.
    pub async fn get_opt(&self, path: &Path) -> Result<Option<bytes::Bytes>, StorageError> {
        match self.store.get(path).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|e| StorageError::object("read", path, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::object("read", path, e)),
        }
    }

    /// Whether an object is there, from its metadata alone (a `head`, so
    /// nothing is downloaded).
    pub async fn exists(&self, path: &Path) -> Result<bool, StorageError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::object("head", path, e)),
        }
    }

    pub async fn delete_if_exists(&self, path: &Path) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::object("delete", path, e)),
        }
    }

    pub async fn rename(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        self.store
            .rename(from, to)
            .await
            .map_err(|e| StorageError::object("rename", from, e))
    }
}

/// Where a report's current version is, relative to the warehouse.
pub fn report_object(name: &str) -> String {
    format!("reports/{name}/{name}.parquet")
}

/// A run's record, relative to the warehouse: written when the run gets to
/// its end, so its presence says the run finished.
pub fn run_record_object(run_id: &str) -> String {
    format!("_runs/{run_id}.json")
}

/// The store behind an object-store URL (its scheme and bucket), built
/// from `storage.<scheme>` and the environment's credentials. The run's
/// locations and the cluster's store registry ([`registry`]) both build
/// their stores here, so a scheduler and its executors reach a bucket with
/// exactly the options and retry policy the client uses.
pub fn store_for_url(url: &Url, storage: &StorageOptions) -> Result<Arc<dyn ObjectStore>, String> {
    // Per-scheme builders rather than `object_store::parse_url_opts`
    // (0.13.2), which starts from `Builder::new()` and so ignores the
    // AWS_*/GOOGLE_*/AZURE_* credentials of the environment, drops an
    // option key it does not know without a word (a typo in
    // `storage.s3` would go unnoticed), has no way to set the retry
    // policy, and makes a new empty store for every `memory://` URL,
    // where the warehouse and its tests need one store per name.
    let options = storage.get(url.scheme());
    Ok(match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new()),
        "memory" => {
            let key = url.host_str().unwrap_or_default().to_string();
            let mut stores = memory_stores().lock().unwrap_or_else(|e| e.into_inner());
            stores
                .entry(key)
                .or_insert_with(|| Arc::new(InMemory::new()))
                .clone()
        }
        "s3" | "s3a" => Arc::new(build_s3(url, options)?),
        "gs" => Arc::new(build_gcs(url, options)?),
        "az" | "abfs" | "abfss" | "azure" => Arc::new(build_azure(url, options)?),
        other => {
            return Err(format!(
                "unsupported scheme {other}:// (use a path, file://, memory://, s3://, gs:// or az://)"
            ));
        }
    })
}

/// Retries transient failures (5xx, 429, timeouts, dropped connections)
/// with exponential backoff and jitter. object_store's defaults, stated
/// here so the policy is visible; `storage.<scheme>` overrides them with
/// the keys of [`RETRY_KEYS`].
fn default_retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(180),
    }
}

/// The retry settings `storage.<scheme>` may hold next to object_store's
/// own config keys (object_store has no config keys for them).
pub const RETRY_KEYS: [&str; 5] = [
    "max_retries",
    "retry_timeout",
    "retry_init_backoff",
    "retry_max_backoff",
    "retry_backoff_base",
];

/// Splits `storage.<scheme>` into the retry policy and the options left
/// for object_store's builder.
fn retry_config<'a>(
    scheme: &str,
    options: Options<'a>,
) -> Result<(RetryConfig, Vec<OptionRef<'a>>), String> {
    let mut retry = default_retry_config();
    let mut rest = Vec::new();
    for (key, value) in options.into_iter().flatten() {
        let text = value.as_str().trim();
        let invalid = |what: &str| format!("storage.{scheme}.{key}: {text:?} is not {what}");
        let duration =
            || parse_duration(text).map_err(|_| invalid("a duration like 200ms, 30s or 3m"));
        match key.as_str() {
            "max_retries" => {
                retry.max_retries = text.parse().map_err(|_| invalid("a whole number"))?;
            }
            "retry_timeout" => retry.retry_timeout = duration()?,
            "retry_init_backoff" => retry.backoff.init_backoff = duration()?,
            "retry_max_backoff" => retry.backoff.max_backoff = duration()?,
            "retry_backoff_base" => {
                retry.backoff.base = text
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b >= 1.0)
                    .ok_or_else(|| invalid("a number of at least 1"))?;
            }
            _ => rest.push((key, value)),
        }
    }
    if retry.backoff.init_backoff > retry.backoff.max_backoff {
        return Err(format!(
            "storage.{scheme}.retry_init_backoff is longer than retry_max_backoff"
        ));
    }
    Ok((retry, rest))
}

/// `250ms`, `30s`, `3m`, `1h`: the durations `run.lock_ttl` takes too.
fn parse_duration(text: &str) -> Result<Duration, ()> {
    crate::config::units::parse_duration(text)
        .ok()
        .and_then(|d| d.to_std().ok())
        .ok_or(())
}

type Options<'a> = Option<&'a BTreeMap<String, Text>>;

/// One `storage.<scheme>` option: key and value.
type OptionRef<'a> = (&'a String, &'a Text);

fn unknown_key(scheme: &str, key: &str) -> String {
    format!(
        "storage.{scheme}.{key}: unknown option (see object_store's config keys for {scheme}; \
         retries are set with {})",
        RETRY_KEYS.join(", ")
    )
}

fn build_s3(url: &Url, options: Options) -> Result<object_store::aws::AmazonS3, String> {
    let (retry, options) = retry_config("s3", options)?;
    let mut builder = AmazonS3Builder::from_env()
        .with_url(url.as_str())
        .with_retry(retry);
    for (key, value) in options {
        let parsed: AmazonS3ConfigKey = key.parse().map_err(|_| unknown_key("s3", key))?;
        builder = builder.with_config(parsed, value.as_str());
    }
    builder.build().map_err(|e| e.to_string())
}

fn build_gcs(url: &Url, options: Options) -> Result<object_store::gcp::GoogleCloudStorage, String> {
    let (retry, options) = retry_config("gs", options)?;
    let mut builder = GoogleCloudStorageBuilder::from_env()
        .with_url(url.as_str())
        .with_retry(retry);
    for (key, value) in options {
        let parsed: GoogleConfigKey = key.parse().map_err(|_| unknown_key("gs", key))?;
        builder = builder.with_config(parsed, value.as_str());
    }
    builder.build().map_err(|e| e.to_string())
}

fn build_azure(url: &Url, options: Options) -> Result<object_store::azure::MicrosoftAzure, String> {
    let (retry, options) = retry_config("az", options)?;
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_url(url.as_str())
        .with_retry(retry);
    for (key, value) in options {
        let parsed: AzureConfigKey = key.parse().map_err(|_| unknown_key("az", key))?;
        builder = builder.with_config(parsed, value.as_str());
    }
    builder.build().map_err(|e| e.to_string())
}
