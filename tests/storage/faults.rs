//! A flaky or vanishing object store (issue 11, point 3): advocacy talks to
//! moto through a fault-injecting proxy on loopback (`fault_proxy.rs`).
//! Transient 5xx, 429, dropped connections and cut-short downloads are
//! retried with backoff (the `storage.s3` retry settings) and the run
//! publishes the same reports; the server going away mid-run fails the run
//! with exit 1 naming the object, leaves the published reports as they
//! were, and the next run takes the dead run's lock over and completes; a
//! multipart upload that fails is aborted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fault_proxy::{Fault, FaultProxy, Outcome, Plan, Request};
use crate::common;
use crate::common::{Project, S3Server, assert_exit, stderr, stdout};
use datafusion::arrow::array::{Array, BinaryArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::properties::WriterProperties;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use advocacy::config::Text;
use advocacy::storage::parquet_file::{PART_SIZE, ParquetFile, wait_for_aborts};
use advocacy::storage::{Location, StorageOptions};

const BUCKET: &str = "faults";
const SECRET: &str = "sekrit-Value-8472";

/// Short backoff so that the tests take seconds: 10 retries of 5 ms
/// growing to at most 50 ms, within 10 s.
const RETRY: &str = "    max_retries: 10\n    retry_timeout: 10s\n    retry_init_backoff: 5ms\n    retry_max_backoff: 50ms\n";

use super::{get, put, runtime};

fn list(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = runtime()
        .block_on(
            store
                .list(Some(&Path::from(prefix)))
                .try_collect::<Vec<_>>(),
        )
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    keys.sort();
    keys
}

/// A Parquet object decoded to a pretty table.
fn table(bytes: bytes::Bytes) -> String {
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// The keys of the multipart uploads moto holds open in the bucket
/// (ListMultipartUploads, which moto answers unsigned).
fn open_uploads(server: &S3Server) -> Vec<String> {
    let response = raw_http(server, "GET", &format!("/{BUCKET}?uploads"));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split("<Upload>")
        .skip(1)
        .map(|upload| {
            let key = upload.split("<Key>").nth(1).unwrap_or_default();
            key.split("</Key>").next().unwrap_or_default().to_string()
        })
        .collect()
}

fn raw_http(server: &S3Server, method: &str, target: &str) -> String {
    let address = server.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The project of these tests: NPS exports in `landing/`, one staging
/// model and two reports, the warehouse at `s3://faults/<warehouse>`.
fn project(warehouse: &str) -> Project {
    let p = Project::new();
    p.write(
        "config.yaml",
        &format!(
            r#"landing: s3://{BUCKET}/landing
warehouse: s3://{BUCKET}/{warehouse}
storage:
  s3:
    endpoint: "${{TEST_S3_ENDPOINT}}"
    region: us-east-1
    allow_http: true
    access_key_id: test
    secret_access_key: "${{TEST_S3_SECRET}}"
{RETRY}run: {{ pii_salt: s, pii_salt_public: true }}
sources:
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps/*.csv
    columns: {{ response_id: id, customer_id: cid, responded_at: at, score: score }}
"#
        ),
    );
    p.write(
        "queries/staging/stg_nps_responses.sql",
        "SELECT * FROM raw_nps_responses",
    );
    p.write(
        "queries/reports/nps_counts.sql",
        "SELECT count(*) AS responses, sum(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS promoters, \
         sum(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS detractors FROM stg_nps_responses",
    );
    p.write(
        "queries/reports/nps_by_customer.sql",
        "SELECT customer_id, count(*) AS responses, min(score) AS lowest, max(score) AS highest \
         FROM stg_nps_responses GROUP BY customer_id",
    );
    p
}

const SEPTEMBER: &[u8] = b"id,cid,at,score\nr1,C1,2026-09-01,10\nr2,C2,2026-09-02,3\nr3,C3,2026-09-03,eleven\nr4,C1,2026-09-04,8\n";
const OCTOBER: &[u8] =
    b"id,cid,at,score\nr5,C2,2026-10-01,9\nr6,C4,2026-10-02,6\nr7,C5,2026-10-03,10\n";
const NOVEMBER: &[u8] = b"id,cid,at,score\nr8,C3,2026-11-01,2\nr9,C6,2026-11-02,9\n";

fn seed(server: &S3Server) -> Arc<dyn ObjectStore> {
    server.create_bucket(BUCKET);
    let s3 = server.client(BUCKET);
    put(&s3, "landing/nps/2026-09.csv", SEPTEMBER);
    put(&s3, "landing/nps/2026-10.csv", OCTOBER);
    s3
}

/// Runs `advocacy run` against `endpoint`; returns the output and the pid
/// the run had (the lock records it).
fn run(p: &Project, endpoint: &str, date: &str) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_advocacy"))
        .args(["run", "--config", "config.yaml", "--date", date])
        .env("TEST_S3_ENDPOINT", endpoint)
        .env("TEST_S3_SECRET", SECRET)
        .env_remove("ADVOCACY_LOG")
        .current_dir(p.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run advocacy");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        !stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET),
        "the secret leaked"
    );
    (out, pid)
}

/// The decoded reports (current and history) of a warehouse, by key below it.
fn reports(s3: &Arc<dyn ObjectStore>, warehouse: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for folder in ["reports", "history"] {
        for key in list(s3, &format!("{warehouse}/{folder}")) {
            let relative = key
                .strip_prefix(&format!("{warehouse}/"))
                .unwrap()
                .to_string();
            let bytes = get(s3, &key).unwrap();
            let text = if key.ends_with(".parquet") {
                table(bytes)
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            out.insert(relative, text);
        }
    }
    out
}

/// Every object key of a warehouse below it, without the run records
/// (named by run id) and with the `_SUCCESS` marker's run id left out.
fn layout(s3: &Arc<dyn ObjectStore>, warehouse: &str) -> Vec<String> {
    list(s3, warehouse)
        .into_iter()
        .map(|k| {
            k.strip_prefix(&format!("{warehouse}/"))
                .unwrap()
                .to_string()
        })
        .filter(|k| !k.starts_with("_runs/"))
        .collect()
}

/// Every row of every raw and quarantine file, load times left out.
fn loaded_rows(s3: &Arc<dyn ObjectStore>, warehouse: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for folder in ["raw", "quarantine"] {
        for key in list(s3, &format!("{warehouse}/{folder}")) {
            let relative = key
                .strip_prefix(&format!("{warehouse}/"))
                .unwrap()
                .to_string();
            let batches: Vec<RecordBatch> =
                ParquetRecordBatchReaderBuilder::try_new(get(s3, &key).unwrap())
                    .unwrap()
                    .build()
                    .unwrap()
                    .map(|b| {
                        let b = b.unwrap();
                        let keep: Vec<usize> = (0..b.num_columns())
                            .filter(|&i| !b.schema().field(i).name().contains("loaded_at"))
                            .collect();
                        b.project(&keep).unwrap()
                    })
                    .collect();
            out.insert(
                relative,
                pretty_format_batches(&batches).unwrap().to_string(),
            );
        }
    }
    out
}

#[test]
fn transient_faults_are_retried_and_the_run_publishes_the_same_reports() {
    if !common::slow_suite() {
        return;
    }
    let started = Instant::now();
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);

    let clean = project("clean");
    let (out, _) = run(&clean, &proxy.endpoint, "2026-11-01");
    assert_exit(&out, 0);
    let requests = proxy.log().len();
    assert_eq!(proxy.injected_total(), 0);

    // Every third request fails, each kind in turn.
    proxy.clear_log();
    proxy.set(Plan::Every {
        every: 3,
        faults: Fault::ALL.to_vec(),
    });
    let faulty = project("faulty");
    let (out, _) = run(&faulty, &proxy.endpoint, "2026-11-01");
    assert_exit(&out, 0);
    let injected = proxy.injected();
    eprintln!(
        "clean run: {requests} requests; faulty run: {} requests, injected {injected:?}",
        proxy.log().len()
    );
    for kind in Fault::ALL {
        assert!(
            injected.get(&kind).copied().unwrap_or(0) >= 1,
            "no {kind:?} injected: {injected:?}"
        );
    }
    // Each fault cost one more request: the retries.
    assert_eq!(proxy.log().len(), requests + proxy.injected_total());

    let expected = reports(&s3, "clean");
    assert!(
        expected.contains_key("reports/nps_counts/nps_counts.parquet")
            && expected.contains_key("reports/nps_by_customer/nps_by_customer.parquet"),
        "{expected:#?}"
    );
    assert!(
        expected["reports/nps_counts/nps_counts.parquet"]
            .contains("| 6         | 3         | 2          |"),
        "{expected:#?}"
    );
    let mut got = reports(&s3, "faulty");
    // `_SUCCESS` holds each run's own id.
    let (clean_marker, faulty_marker) = (
        expected["reports/_SUCCESS"].clone(),
        got.remove("reports/_SUCCESS").unwrap(),
    );
    assert_ne!(clean_marker, faulty_marker);
    let mut expected = expected;
    expected.remove("reports/_SUCCESS");
    assert_eq!(got, expected);
    assert_eq!(layout(&s3, "faulty"), layout(&s3, "clean"));
    assert_eq!(loaded_rows(&s3, "faulty"), loaded_rows(&s3, "clean"));
    assert!(open_uploads(&server).is_empty());
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// The server goes away at the first request `gone_at` matches, during a
/// second run over a warehouse that a first run published: the run fails
/// with exit 1 naming `object`, the reports are as the first run left
/// them, and once the server is back the next run takes over the lock the
/// failed run could not release, and completes.
fn server_vanishes_mid_run(gone_at: fn(&Request) -> bool, object: &str, success_kept: bool) {
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    let p = project("warehouse");

    let (out, _) = run(&p, &proxy.endpoint, "2026-11-01");
    assert_exit(&out, 0);
    let published = reports(&s3, "warehouse");
    let run_id = |marker: &str| {
        serde_json::from_str::<serde_json::Value>(marker).unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first_run_id = run_id(&published["reports/_SUCCESS"]);

    put(&s3, "landing/nps/2026-11.csv", NOVEMBER);
    proxy.clear_log();
    proxy.set(Plan::GoneAt(Arc::new(gone_at)));
    let started = Instant::now();
    let (out, failed_pid) = run(&p, &proxy.endpoint, "2026-11-02");
    let took = started.elapsed();
    let gone = proxy
        .log()
        .iter()
        .filter(|(_, o)| *o == Outcome::Gone)
        .count();
    eprintln!(
        "the run failed in {took:?} after {} requests ({gone} dropped as the server went)",
        proxy.log().len()
    );
    assert!(proxy.is_gone(), "the server never went away");
    assert_exit(&out, 1);
    let err = stderr(&out);
    // The failure is logged naming the object it hit first, and the run's
    // error names it too, then the run record it could not write.
    assert!(
        err.lines()
            .any(|l| l.contains(" ERROR ") && l.contains(object)),
        "no error naming {object}:\n{err}"
    );
    let error_line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert!(
        error_line.contains(object)
            && error_line
                .contains("the run record could not be written either: write warehouse/_runs/"),
        "{error_line}\n{err}"
    );
    assert!(
        took < Duration::from_secs(30),
        "the failed run took {took:?}"
    );

    // Readers still see the first run's reports, whole. A run that failed
    // while replacing them removed `_SUCCESS` before the first: the marker
    // never names a run whose reports are not all there.
    let mut expected = published.clone();
    if !success_kept {
        expected.remove("reports/_SUCCESS");
    }
    assert_eq!(reports(&s3, "warehouse"), expected);
    // The failed run could not release its lock: the server was gone.
    let lock: serde_json::Value =
        serde_json::from_slice(&get(&s3, "warehouse/_state/lock").expect("the lock stays"))
            .unwrap();
    assert_eq!(lock["pid"], failed_pid, "{lock}");
    assert_ne!(lock["run_id"], first_run_id.as_str(), "{lock}");
    assert!(!std::path::Path::new(&format!("/proc/{failed_pid}")).exists());

    proxy.heal();
    let (out, _) = run(&p, &proxy.endpoint, "2026-11-02");
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("taking over the warehouse lock"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        get(&s3, "warehouse/_state/lock"),
        None,
        "the lock was not released"
    );
    let now = reports(&s3, "warehouse");
    assert!(
        now["reports/nps_counts/nps_counts.parquet"]
            .contains("| 8         | 4         | 3          |"),
        "{now:#?}"
    );
    assert_ne!(run_id(&now["reports/_SUCCESS"]), first_run_id);
    assert!(open_uploads(&server).is_empty());
}

#[test]
fn the_server_vanishing_during_ingest_fails_the_run_and_the_next_run_completes() {
    if !common::slow_suite() {
        return;
    }
    server_vanishes_mid_run(
        |r| r.method == "PUT" && r.key().starts_with("warehouse/_state/tmp/"),
        "cannot write warehouse/_state/tmp/",
        true,
    );
}

#[test]
fn the_server_vanishing_while_publishing_fails_the_run_and_the_next_run_completes() {
    if !common::slow_suite() {
        return;
    }
    server_vanishes_mid_run(
        |r| r.method == "PUT" && r.key().starts_with("warehouse/reports/nps_"),
        "cannot publish reports/nps_",
        false,
    );
}

/// Issue 27, point 3: a store that ignores `If-None-Match` (here the proxy
/// strips it, as older MinIO and some Ceph releases ignore it) would let
/// two runs hold the lock at once. The first run on it finds out (a second
/// create of its own lock must fail, and does not), stops with exit 1
/// naming the setting that allows it knowingly, and leaves no lock behind.
/// With the setting, it runs and says so.
#[test]
fn a_store_that_ignores_conditional_creates_is_refused() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    proxy.set(Plan::IgnoreConditions);
    let p = project("unconditional");
    let (out, _) = run(&p, &proxy.endpoint, "2026-10-15");
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the store accepted a second conditional create of the same object")
            && stderr(&out).contains("run.allow_unconditional_store: true"),
        "{}",
        stderr(&out)
    );
    assert!(get(&s3, "unconditional/_state/lock").is_none());
    assert_eq!(list(&s3, "unconditional/_state"), Vec::<String>::new());
    assert!(list(&s3, "unconditional/reports").is_empty());

    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config.replace(
            "run: { pii_salt: s, pii_salt_public: true }",
            "run: { pii_salt: s, pii_salt_public: true, allow_unconditional_store: true }",
        ),
    );
    let (out, _) = run(&p, &proxy.endpoint, "2026-10-15");
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("going on: run.allow_unconditional_store is set"),
        "{}",
        stderr(&out)
    );
}

/// Issue 27, point 8: a store that accepts connections and never answers
/// (here: every download of a landing file hangs) fails the run within
/// `run.phase_timeout` (exit 1, naming the phase) instead of after the
/// client's timeouts and retries add up, request after request. The lock
/// is released, and once the store answers the next run completes.
#[test]
fn a_store_that_never_answers_fails_the_run_within_the_phase_timeout() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    let p = project("hung");
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config.replace(
            "run: { pii_salt: s, pii_salt_public: true }",
            "run: { pii_salt: s, pii_salt_public: true, phase_timeout: 3s }",
        ),
    );
    proxy.set(Plan::HangMatching(Arc::new(|r: &Request| {
        r.method == "GET" && r.key().starts_with("landing/")
    })));
    let started = Instant::now();
    let (out, _) = run(&p, &proxy.endpoint, "2026-10-15");
    let took = started.elapsed();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("ingest did not finish within run.phase_timeout (3s)"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(15), "the run took {took:?}");
    assert!(
        proxy.log().iter().any(|(_, o)| *o == Outcome::Hung),
        "nothing hung"
    );
    assert!(get(&s3, "hung/_state/lock").is_none());

    proxy.set(Plan::Pass);
    let (out, _) = run(&p, &proxy.endpoint, "2026-10-15");
    assert_exit(&out, 0);
}

// ---- multipart uploads, at the ParquetFile level ----

/// `s3://faults/mp` through the proxy, with short retries.
fn location(proxy: &FaultProxy, max_retries: usize) -> Location {
    let mut s3 = BTreeMap::new();
    for (key, value) in [
        ("endpoint", proxy.endpoint.as_str()),
        ("region", "us-east-1"),
        ("allow_http", "true"),
        ("access_key_id", "test"),
        ("secret_access_key", SECRET),
        ("retry_timeout", "10s"),
        ("retry_init_backoff", "5ms"),
        ("retry_max_backoff", "20ms"),
    ] {
        s3.insert(key.to_string(), Text(value.to_string()));
    }
    s3.insert("max_retries".into(), Text(max_retries.to_string()));
    let storage: StorageOptions = BTreeMap::from([("s3".to_string(), s3)]);
    Location::open(&format!("s3://{BUCKET}/mp"), &storage, true).unwrap()
}

fn blob_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("blob", DataType::Binary, false),
    ]))
}

/// `batches` batches of 16 rows of 64 KiB of noise (incompressible):
/// 1 MiB each.
fn blob_batches(batches: usize) -> Vec<RecordBatch> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..batches)
        .map(|b| {
            let ids = Int64Array::from_iter_values((0..16).map(|i| (b * 16 + i) as i64));
            let blobs: Vec<Vec<u8>> = (0..16)
                .map(|_| (0..8 * 1024).flat_map(|_| next().to_le_bytes()).collect())
                .collect();
            let blobs = BinaryArray::from_iter_values(blobs.iter());
            RecordBatch::try_new(blob_schema(), vec![Arc::new(ids), Arc::new(blobs)]).unwrap()
        })
        .collect()
}

/// Row groups of 16 rows (1 MiB): bytes reach the upload while batches
/// are written, not only at the close.
fn streaming_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_max_row_group_row_count(Some(16))
        .build()
}

fn requests_matching(proxy: &FaultProxy, what: fn(&Request) -> bool) -> Vec<Outcome> {
    proxy
        .log()
        .into_iter()
        .filter(|(r, _)| what(r))
        .map(|(_, o)| o)
        .collect()
}

/// The upload of `mp/big.parquet` was aborted once (moto answered 204),
/// no upload is left open, and no object appeared.
fn assert_aborted_and_absent(proxy: &FaultProxy, server: &S3Server) {
    assert_eq!(
        requests_matching(proxy, is_abort_multipart),
        [Outcome::Forwarded(204)]
    );
    assert_eq!(open_uploads(server), Vec::<String>::new());
    assert_eq!(get(&server.client(BUCKET), "mp/big.parquet"), None);
}

fn is_create_multipart(r: &Request) -> bool {
    r.method == "POST" && r.target.contains("?uploads") && !r.target.contains("uploadId=")
}

fn is_abort_multipart(r: &Request) -> bool {
    r.method == "DELETE" && r.target.contains("uploadId=")
}

/// Writes `batches` into `mp/<name>` and closes it.
async fn write_and_close(
    location: &Location,
    name: &str,
    batches: &[RecordBatch],
) -> Result<(u64, u64), String> {
    let mut file = ParquetFile::create(location, location.path(name), blob_schema())
        .map_err(|e| e.to_string())?;
    for batch in batches {
        file.write(batch).await.map_err(|e| e.to_string())?;
    }
    file.close().await.map_err(|e| e.to_string())
}

/// An upload whose parts keep failing: the write or the close fails
/// naming the object, and the multipart upload is aborted (moto holds no
/// open upload afterwards, and no object appeared).
#[test]
fn a_multipart_upload_whose_parts_fail_is_aborted() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&server.endpoint);
    let location = location(&proxy, 3);
    proxy.set(Plan::Matching {
        rule: Arc::new(Request::is_upload_part),
        fault: Fault::Unavailable,
        times: usize::MAX,
    });
    let batches = blob_batches(20); // 20 MiB: two parts
    let err = runtime()
        .block_on(write_and_close(&location, "big.parquet", &batches))
        .unwrap_err();
    assert!(err.contains("mp/big.parquet"), "{err}");
    assert!(err.contains("503"), "{err}");
    assert_eq!(
        requests_matching(&proxy, is_create_multipart),
        [Outcome::Forwarded(200)]
    );
    // Every attempt at a part failed: 1 + 3 retries for each part tried.
    let parts = requests_matching(&proxy, Request::is_upload_part);
    assert!(
        parts.len() >= 4
            && parts
                .iter()
                .all(|o| *o == Outcome::Injected(Fault::Unavailable)),
        "{parts:?}"
    );
    assert!(requests_matching(&proxy, Request::is_complete_multipart).is_empty());
    assert_aborted_and_absent(&proxy, &server);

    // The check can fail: an upload nobody aborts is listed.
    let created = raw_http(&server, "POST", &format!("/{BUCKET}/mp/dangling?uploads"));
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    assert_eq!(open_uploads(&server), ["mp/dangling"]);
}

/// CompleteMultipartUpload keeps failing: the close fails and the upload
/// is aborted.
#[test]
fn a_multipart_upload_that_cannot_complete_is_aborted() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&server.endpoint);
    let location = location(&proxy, 2);
    proxy.set(Plan::Matching {
        rule: Arc::new(Request::is_complete_multipart),
        fault: Fault::Internal,
        times: usize::MAX,
    });
    let batches = blob_batches(20);
    let err = runtime()
        .block_on(write_and_close(&location, "big.parquet", &batches))
        .unwrap_err();
    assert!(err.contains("mp/big.parquet"), "{err}");
    let parts = requests_matching(&proxy, Request::is_upload_part);
    assert_eq!(parts, [Outcome::Forwarded(200), Outcome::Forwarded(200)]);
    assert_eq!(
        requests_matching(&proxy, Request::is_complete_multipart),
        [Outcome::Injected(Fault::Internal); 3]
    );
    assert_aborted_and_absent(&proxy, &server);
}

/// A ParquetFile given up half-way (its caller failed elsewhere, e.g. the
/// query feeding it) is dropped unfinished: its upload is aborted.
#[test]
fn a_multipart_upload_dropped_unfinished_is_aborted() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&server.endpoint);
    let location = location(&proxy, 3);
    let batches = blob_batches(20);
    runtime().block_on(async {
        let path = location.path("big.parquet");
        let mut file =
            ParquetFile::create_with(&location, path, blob_schema(), streaming_properties())
                .unwrap();
        for batch in &batches {
            file.write(batch).await.unwrap();
        }
        // A part went out while writing; the rest is still buffered.
        assert!(batches.len() * 1024 * 1024 > PART_SIZE);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !requests_matching(&proxy, Request::is_upload_part).contains(&Outcome::Forwarded(200))
        {
            assert!(
                Instant::now() < deadline,
                "no part uploaded: {:?}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(file);
        wait_for_aborts().await;
    });
    assert_eq!(
        requests_matching(&proxy, is_create_multipart),
        [Outcome::Forwarded(200)]
    );
    assert!(!requests_matching(&proxy, Request::is_upload_part).is_empty());
    assert_aborted_and_absent(&proxy, &server);
}

/// Transient faults on every step of a multipart upload (create, parts,
/// complete) are retried: the object is complete and reads back whole.
#[test]
fn a_multipart_upload_survives_transient_faults() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let proxy = FaultProxy::start(&server.endpoint);
    let location = location(&proxy, 10);
    proxy.set(Plan::Every {
        every: 2,
        faults: vec![
            Fault::Unavailable,
            Fault::Internal,
            Fault::TooMany,
            Fault::Drop,
        ],
    });
    let batches = blob_batches(40); // 40 MiB: three parts
    let (rows, bytes) = runtime()
        .block_on(write_and_close(&location, "big.parquet", &batches))
        .unwrap();
    assert_eq!(rows, 640);
    let injected = proxy.injected();
    eprintln!(
        "multipart upload: {} requests, injected {injected:?}",
        proxy.log().len()
    );
    for kind in [
        Fault::Unavailable,
        Fault::Internal,
        Fault::TooMany,
        Fault::Drop,
    ] {
        assert!(
            injected.get(&kind).copied().unwrap_or(0) >= 1,
            "{injected:?}"
        );
    }
    let parts = requests_matching(&proxy, Request::is_upload_part);
    assert_eq!(
        parts
            .iter()
            .filter(|o| **o == Outcome::Forwarded(200))
            .count(),
        3,
        "{parts:?}"
    );
    assert!(requests_matching(&proxy, is_abort_multipart).is_empty());
    assert_eq!(open_uploads(&server), Vec::<String>::new());

    let stored = get(&server.client(BUCKET), "mp/big.parquet").unwrap();
    assert_eq!(stored.len() as u64, bytes);
    let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(stored)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let read_rows: usize = read.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(read_rows, 640);
    let blobs = |batches: &[RecordBatch]| -> Vec<Vec<u8>> {
        batches
            .iter()
            .flat_map(|b| {
                let column = b.column(1).as_any().downcast_ref::<BinaryArray>().unwrap();
                (0..column.len())
                    .map(|i| column.value(i).to_vec())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert!(
        blobs(&read) == blobs(&batches),
        "the object differs from what was written"
    );
}

/// The retry settings are checked when the store opens, naming the key.
#[test]
fn a_bad_retry_setting_names_the_key() {
    if !common::slow_suite() {
        return;
    }
    for (key, value, expected) in [
        (
            "max_retries",
            "many",
            "storage.s3.max_retries: \"many\" is not a whole number",
        ),
        (
            "retry_timeout",
            "3 minutes",
            "storage.s3.retry_timeout: \"3 minutes\" is not a duration like 200ms, 30s or 3m",
        ),
        (
            "retry_backoff_base",
            "0.5",
            "storage.s3.retry_backoff_base: \"0.5\" is not a number of at least 1",
        ),
        ("max_retry", "3", "storage.s3.max_retry: unknown option"),
    ] {
        let s3 = BTreeMap::from([
            (key.to_string(), Text(value.to_string())),
            ("region".to_string(), Text("us-east-1".into())),
        ]);
        let storage: StorageOptions = BTreeMap::from([("s3".to_string(), s3)]);
        let err = Location::open("s3://bucket/warehouse", &storage, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{key}: {err}");
    }
}

/// With `max_retries: 0` a single injected 503 fails the run: the retries
/// that the other tests rely on are the setting's doing.
#[test]
fn without_retries_one_transient_fault_fails_the_run() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    let p = project("noretry");
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    assert!(config.contains("    max_retries: 10\n"));
    p.write(
        "config.yaml",
        &config.replace("    max_retries: 10\n", "    max_retries: 0\n"),
    );
    proxy.set(Plan::Matching {
        rule: Arc::new(|r: &Request| {
            r.method == "PUT"
                && r.key() == "noretry/reports/nps_by_customer/nps_by_customer.parquet"
        }),
        fault: Fault::Unavailable,
        times: 1,
    });
    let (out, _) = run(&p, &proxy.endpoint, "2026-11-01");
    assert_eq!(proxy.injected().get(&Fault::Unavailable), Some(&1));
    // The one report whose copy got the 503 is not published; the run
    // says so and exits 1.
    assert_exit(&out, 1);
    let summary = stdout(&out);
    let failed = summary
        .lines()
        .skip_while(|l| !l.starts_with("nps_by_customer "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(failed.contains("FAILED"), "{summary}");
    assert!(
        failed.contains("cannot publish reports/nps_by_customer/nps_by_customer.parquet")
            && failed.contains("503 Service Unavailable"),
        "{summary}"
    );
    assert_eq!(
        get(
            &s3,
            "noretry/reports/nps_by_customer/nps_by_customer.parquet"
        ),
        None
    );
    assert!(get(&s3, "noretry/reports/nps_counts/nps_counts.parquet").is_some());
}

/// A report large enough to go up as a multipart upload (24 MB of hashes)
/// whose parts keep failing: the model fails naming its object, the
/// upload is aborted, and the report the previous run published stays.
#[test]
fn a_large_report_whose_upload_fails_is_aborted_and_the_old_one_stays() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    let p = project("large");
    p.write(
        "queries/reports/big.sql",
        // It reads the run date, so the next night computes it again.
        "SELECT v, sha256(CAST(v AS VARCHAR)) AS h1, sha512(CAST(v AS VARCHAR)) AS h2, \
         $run_date AS run_date FROM (SELECT unnest(range(0, 250000)) AS v)",
    );
    let (out, _) = run(&p, &proxy.endpoint, "2026-11-01");
    assert_exit(&out, 0);
    let created = requests_matching(&proxy, is_create_multipart);
    assert_eq!(created, [Outcome::Forwarded(200)], "no multipart upload");
    let published = get(&s3, "large/reports/big/big.parquet").unwrap();
    assert!(published.len() > PART_SIZE, "{}", published.len());

    proxy.clear_log();
    proxy.set(Plan::Matching {
        rule: Arc::new(Request::is_upload_part),
        fault: Fault::Unavailable,
        times: usize::MAX,
    });
    let (out, _) = run(&p, &proxy.endpoint, "2026-11-02");
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("cannot write _state/models/big.parquet"),
        "{all}"
    );
    assert_eq!(
        requests_matching(&proxy, is_abort_multipart),
        [Outcome::Forwarded(204)],
        "{all}"
    );
    assert_eq!(open_uploads(&server), Vec::<String>::new());
    assert_eq!(get(&s3, "large/reports/big/big.parquet"), Some(published));
    // The other reports published; `_SUCCESS` is gone, as for any run
    // that published only some of them.
    assert_eq!(get(&s3, "large/reports/_SUCCESS"), None);
}

/// The answer to the lock's conditional create is lost after moto made
/// the lock: the retried create finds a lock (412), which is this run's
/// own, and the run goes on, releasing it at the end.
#[test]
fn a_lost_answer_to_the_lock_create_does_not_lock_the_run_out() {
    if !common::slow_suite() {
        return;
    }
    let server = S3Server::start();
    let s3 = seed(&server);
    let proxy = FaultProxy::start(&server.endpoint);
    let is_lock_put = |r: &Request| r.method == "PUT" && r.key() == "own/_state/lock";
    proxy.set(Plan::Matching {
        rule: Arc::new(is_lock_put),
        fault: Fault::LoseResponse,
        times: 1,
    });
    let p = project("own");
    let (out, _) = run(&p, &proxy.endpoint, "2026-11-01");
    assert_exit(&out, 0);
    let lock_puts: Vec<Outcome> = requests_matching(&proxy, is_lock_put);
    assert_eq!(
        lock_puts[..2],
        [
            Outcome::Injected(Fault::LoseResponse),
            Outcome::Forwarded(412)
        ],
        "{lock_puts:?}"
    );
    assert_eq!(get(&s3, "own/_state/lock"), None);
    assert!(get(&s3, "own/reports/_SUCCESS").is_some());
}

/// The same writer on local files and the memory store: a multipart
/// object (three parts) reads back whole, and one given up leaves nothing.
#[test]
fn large_objects_on_local_files_and_memory_are_whole_or_absent() {
    if !common::slow_suite() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("wh");
    let storage = StorageOptions::new();
    let batches = blob_batches(40);
    for url in [local.to_str().unwrap(), "memory://storage-faults-large"] {
        let location = Location::open(url, &storage, true).unwrap();
        runtime().block_on(async {
            let (rows, bytes) = write_and_close(&location, "big.parquet", &batches)
                .await
                .unwrap();
            assert_eq!(rows, 640);
            let stored = location
                .store
                .get(&location.path("big.parquet"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(stored.len() as u64, bytes, "{url}");
            let read: usize = ParquetRecordBatchReaderBuilder::try_new(stored)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum();
            assert_eq!(read, 640, "{url}");

            let mut file = ParquetFile::create_with(
                &location,
                location.path("given-up.parquet"),
                blob_schema(),
                streaming_properties(),
            )
            .unwrap();
            for batch in &batches {
                file.write(batch).await.unwrap();
            }
            file.abort().await.unwrap();
            let listed: Vec<String> = location
                .store
                .list(Some(&location.prefix))
                .map_ok(|m| location.relative(&m.location))
                .try_collect()
                .await
                .unwrap();
            assert_eq!(listed, ["big.parquet"], "{url}");
        });
    }
    // No staging file of the given-up upload is left on disk either.
    let mut files: Vec<String> = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["big.parquet"]);
}
