//! Object stores (`src/storage/`): every backend, S3 through moto, and a store that fails.

mod backends;
mod fault_proxy;
mod faults;
mod s3;

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Writes an object of the test's store.
fn put(store: &Arc<dyn ObjectStore>, key: &str, bytes: &'static [u8]) {
    runtime()
        .block_on(store.put(&Path::from(key), PutPayload::from_static(bytes)))
        .unwrap();
}

/// An object of the test's store; `None` when there is none.
fn get(store: &Arc<dyn ObjectStore>, key: &str) -> Option<bytes::Bytes> {
    runtime().block_on(async {
        match store.get(&Path::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{key}: {e}"),
        }
    })
}
