//! The object stores of a scheduler or executor process: built on first
//! use for each bucket a plan names, from the same `storage:` options and
//! environment credentials as the client's, so no store (and no secret)
//! travels with a query.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use super::{StorageOptions, store_for_url};
use crate::config::redact;

/// DataFusion's default registry knows `file://` only, and Ballista's
/// stock one adds `s3://` from `AWS_*` variables; this one resolves every
/// scheme the run itself can open (`s3`, `gs`, `az`, `file`, `memory`).
#[derive(Debug)]
pub struct StoreRegistry {
    storage: StorageOptions,
    /// The stores built so far, one per scheme and bucket (DataFusion's
    /// registry keys them that way).
    built: DefaultObjectStoreRegistry,
}

impl StoreRegistry {
    pub fn new(storage: StorageOptions) -> StoreRegistry {
        StoreRegistry {
            storage,
            built: DefaultObjectStoreRegistry::new(),
        }
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.built.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.built.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.built.get_store(url) {
            return Ok(store);
        }
        let store = store_for_url(url, &self.storage).map_err(|message| {
            DataFusionError::Configuration(redact(&format!(
                "object store for {}://{}: {message}",
                url.scheme(),
                url.host_str().unwrap_or_default()
            )))
        })?;
        self.built.register_store(url, store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn builds_each_bucket_once_and_refuses_unknown_schemes() {
        let registry = StoreRegistry::new(StorageOptions::new());
        let url = Url::parse("memory://registry-test/some/table/").unwrap();
        let first = registry.get_store(&url).unwrap();
        first
            .put(&Path::from("x"), PutPayload::from_static(b"1"))
            .await
            .unwrap();
        // Another path of the same bucket is the same store.
        let again = registry
            .get_store(&Url::parse("memory://registry-test/other/").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(again.head(&Path::from("x")).await.is_ok());
        let file = registry
            .get_store(&Url::parse("file:///tmp/").unwrap())
            .unwrap();
        assert!(file.to_string().starts_with("LocalFileSystem"), "{file}");
        let err = registry
            .get_store(&Url::parse("hdfs://namenode/x/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("object store for hdfs://namenode: unsupported scheme hdfs://"),
            "{err}"
        );
    }

    #[test]
    fn storage_options_reach_the_builder() {
        let mut storage = StorageOptions::new();
        storage.insert(
            "s3".into(),
            [(
                "no_such_option".to_string(),
                crate::config::Text("1".into()),
            )]
            .into(),
        );
        let err = StoreRegistry::new(storage)
            .get_store(&Url::parse("s3://bucket/x/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("storage.s3.no_such_option: unknown option"),
            "{err}"
        );
    }
}
