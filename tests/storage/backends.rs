//! One storage suite over every backend, as object_store's own
//! `integration` module runs the same checks over each store: whole-object
//! put and get, atomic replace, copy and rename, conditional create,
//! listing, and the warehouse lock, over `memory://`, a local folder and
//! the S3 server the tests start (moto, on a free loopback port).

use std::collections::BTreeMap;

use advocacy::config::Text;
use advocacy::lock::{LOCK_PATH, Lock, LockError, LockInfo};
use advocacy::storage::{Location, StorageOptions};
use chrono::Utc;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::common::S3Server;

async fn every_check(warehouse: &Location) {
    put_then_get(warehouse).await;
    a_put_replaces_the_whole_object(warehouse).await;
    copy_and_rename(warehouse).await;
    a_conditional_create_happens_once(warehouse).await;
    listing_sees_every_object_below_a_prefix(warehouse).await;
    the_lock_admits_one_run_and_is_taken_over_when_stale(warehouse).await;
}

#[tokio::test]
async fn memory() {
    let warehouse = Location::open(
        "memory://storage-suite/warehouse",
        &StorageOptions::new(),
        true,
    )
    .unwrap();
    every_check(&warehouse).await;
}

#[tokio::test]
async fn local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse");
    let warehouse = Location::open(path.to_str().unwrap(), &StorageOptions::new(), true).unwrap();
    every_check(&warehouse).await;
}

#[tokio::test]
async fn s3() {
    let server = S3Server::start();
    server.create_bucket("suite");
    let s3: BTreeMap<String, Text> = [
        ("endpoint", server.endpoint.as_str()),
        ("region", "us-east-1"),
        ("allow_http", "true"),
        ("access_key_id", "test"),
        ("secret_access_key", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Text(v.to_string())))
    .collect();
    let options: StorageOptions = [("s3".to_string(), s3)].into_iter().collect();
    let warehouse = Location::open("s3://suite/warehouse", &options, true).unwrap();
    every_check(&warehouse).await;
}

async fn put_then_get(w: &Location) {
    let path = w.path("suite/put/a.txt");
    w.put(&path, b"hello".to_vec()).await.unwrap();
    assert_eq!(
        w.get_opt(&path).await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert!(w.exists(&path).await.unwrap());
    let missing = w.path("suite/put/missing.txt");
    assert_eq!(w.get_opt(&missing).await.unwrap(), None);
    assert!(!w.exists(&missing).await.unwrap());
    w.delete_if_exists(&path).await.unwrap();
    w.delete_if_exists(&path).await.unwrap(); // deleting twice is fine
    assert!(!w.exists(&path).await.unwrap());
}

/// Readers see the old object or the new one, never a mixture or a cut:
/// a large object replaced by a small one reads back as the small one.
async fn a_put_replaces_the_whole_object(w: &Location) {
    let path = w.path("suite/replace/report.parquet");
    w.put(&path, vec![b'a'; 1 << 20]).await.unwrap();
    w.put(&path, b"small".to_vec()).await.unwrap();
    assert_eq!(
        w.get_opt(&path).await.unwrap().as_deref(),
        Some(&b"small"[..])
    );
    let meta = w.store.head(&path).await.unwrap();
    assert_eq!(meta.size, 5);
}

async fn copy_and_rename(w: &Location) {
    let from = w.path("suite/copy/from.txt");
    let copy = w.path("suite/copy/copy.txt");
    let moved = w.path("suite/copy/moved.txt");
    w.put(&from, b"rows".to_vec()).await.unwrap();
    w.store.copy(&from, &copy).await.unwrap();
    assert_eq!(
        w.get_opt(&copy).await.unwrap().as_deref(),
        Some(&b"rows"[..])
    );
    w.rename(&from, &moved).await.unwrap();
    assert!(!w.exists(&from).await.unwrap());
    assert_eq!(
        w.get_opt(&moved).await.unwrap().as_deref(),
        Some(&b"rows"[..])
    );
}

async fn a_conditional_create_happens_once(w: &Location) {
    let path = w.path("suite/create/once");
    let create = || PutOptions::from(PutMode::Create);
    w.store
        .put_opts(&path, PutPayload::from_static(b"first"), create())
        .await
        .unwrap();
    let second = w
        .store
        .put_opts(&path, PutPayload::from_static(b"second"), create())
        .await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{second:?}"
    );
    assert_eq!(
        w.get_opt(&path).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

async fn listing_sees_every_object_below_a_prefix(w: &Location) {
    for name in [
        "suite/list/a/1",
        "suite/list/a/2",
        "suite/list/a/b/3",
        "suite/list/other",
    ] {
        w.put(&w.path(name), b"x".to_vec()).await.unwrap();
    }
    let mut all: Vec<String> = w
        .store
        .list(Some(&w.path("suite/list/a")))
        .map_ok(|m| w.relative(&m.location))
        .try_collect()
        .await
        .unwrap();
    all.sort();
    assert_eq!(
        all,
        ["suite/list/a/1", "suite/list/a/2", "suite/list/a/b/3"]
    );
    let level = w
        .store
        .list_with_delimiter(Some(&w.path("suite/list/a")))
        .await
        .unwrap();
    assert_eq!(level.objects.len(), 2);
    let prefixes: Vec<String> = level
        .common_prefixes
        .iter()
        .map(|p| w.relative(p))
        .collect();
    assert_eq!(prefixes, ["suite/list/a/b"]);
}

fn info(run_id: &str, started_at: chrono::DateTime<Utc>) -> LockInfo {
    LockInfo {
        host: "elsewhere".into(),
        pid: 1,
        heartbeat_at: Some(started_at),
        ..LockInfo::for_this_process(run_id, "run", started_at)
    }
}

/// One run holds the lock, a second is told who holds it; once released
/// the second takes it; a lock older than the TTL is taken over (by the
/// conditional update on S3 and memory, by the documented rename on a
/// local folder) and the run that held it finds it gone.
async fn the_lock_admits_one_run_and_is_taken_over_when_stale(w: &Location) {
    let ttl = chrono::Duration::hours(6);
    let first = Lock::acquire(w, info("first", Utc::now()), ttl, false)
        .await
        .unwrap();
    match Lock::acquire(w, info("second", Utc::now()), ttl, false).await {
        Err(LockError::Held(holder)) => assert_eq!(holder.run_id, "first"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("two runs hold the lock"),
    }
    first.release().await.unwrap();
    let second = Lock::acquire(w, info("second", Utc::now()), ttl, false)
        .await
        .unwrap();
    second.release().await.unwrap();
    assert!(!w.exists(&w.path(LOCK_PATH)).await.unwrap());

    let day_ago = Utc::now() - chrono::Duration::days(1);
    let dead = serde_json::to_vec(&info("dead", day_ago)).unwrap();
    w.put(&w.path(LOCK_PATH), dead).await.unwrap();
    let third = Lock::acquire(w, info("third", Utc::now()), ttl, false)
        .await
        .unwrap();
    let holder: LockInfo =
        serde_json::from_slice(&w.get_opt(&w.path(LOCK_PATH)).await.unwrap().unwrap()).unwrap();
    assert_eq!(holder.run_id, "third");
    third.release().await.unwrap();
    assert!(!w.exists(&w.path(LOCK_PATH)).await.unwrap());
}
