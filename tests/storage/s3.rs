//! The whole run against a real S3 API (moto on a free loopback port):
//! landing exports read from a bucket, raw zone and reports written to it,
//! and credentials from `${VAR}` never printed.

use super::{get, put};
use crate::common::{Project, S3Server, assert_exit, stderr, stdout};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const SECRET: &str = "sekrit-Value-8472";

fn config(bucket: &str) -> String {
    format!(
        r#"landing: s3://{bucket}/landing
warehouse: s3://{bucket}/warehouse
storage:
  s3:
    endpoint: "${{TEST_S3_ENDPOINT}}"
    region: us-east-1
    allow_http: true
    access_key_id: test
    secret_access_key: "${{TEST_S3_SECRET}}"
run: {{ pii_salt: s, pii_salt_public: true }}
vars: {{ promoter_min: 9, passive_min: 7 }}
sources:
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps/*.csv
    columns: {{ response_id: id, customer_id: cid, responded_at: at, score: score }}
"#
    )
}

#[test]
fn run_reads_landing_and_writes_the_warehouse_on_s3() {
    let server = S3Server::start();
    server.create_bucket("advocacy");
    let s3 = server.client("advocacy");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(s3.put(
            &Path::from("landing/nps/2026-10.csv"),
            PutPayload::from_static(
                b"id,cid,at,score\nr1,C1,2026-10-01,10\nr2,C2,2026-10-02,3\nr3,C3,2026-10-03,eleven\n",
            ),
        ))
        .unwrap();

    let p = Project::new();
    p.write("config.yaml", &config("advocacy"));
    p.write(
        "queries/staging/stg_nps_responses.sql",
        "SELECT * FROM raw_nps_responses",
    );
    p.write(
        "queries/reports/nps_counts.sql",
        "SELECT count(*) AS responses, sum(CASE WHEN score >= $promoter_min THEN 1 ELSE 0 END) AS promoters FROM stg_nps_responses",
    );
    // A page of one chart: it is published beside the report, as HTML.
    p.write(
        "queries/report.yml",
        "title: Counts\ncharts:\n  - id: counts\n    section: NPS\n    title: Answers\n    kind: table\n    sql: SELECT responses, promoters FROM nps_counts\n    reading: What loaded.\n",
    );
    let env = [
        ("TEST_S3_ENDPOINT", server.endpoint.as_str()),
        ("TEST_S3_SECRET", SECRET),
    ];
    let out = p.advocacy_env(
        &[
            "run",
            "--config",
            "config.yaml",
            "--date",
            "2026-11-01",
            "-vv",
            "--log-format",
            "json",
        ],
        &env,
    );
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
    // Logs are one JSON object per line.
    for line in stderr(&out).lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }

    let listed: Vec<String> = runtime
        .block_on(
            s3.list(Some(&Path::from("warehouse")))
                .try_collect::<Vec<_>>(),
        )
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    let raw_hash = runtime
        .block_on(async {
            let bytes = s3
                .get(&Path::from("landing/nps/2026-10.csv"))
                .await?
                .bytes()
                .await?;
            Ok::<_, object_store::Error>(blake3::hash(&bytes).to_hex().to_string())
        })
        .unwrap();
    for expected in [
        format!("warehouse/raw/nps_responses/load_date=2026-11-01/surveys-{raw_hash}.parquet"),
        format!("warehouse/quarantine/surveys/load_date=2026-11-01/{raw_hash}.parquet"),
        "warehouse/reports/nps_counts/nps_counts.parquet".into(),
        "warehouse/history/nps_counts/run_date=2026-11-01/nps_counts.parquet".into(),
        "warehouse/_state/ingest_manifest.parquet".into(),
        "warehouse/_runs/latest.json".into(),
    ] {
        assert!(
            listed.contains(&expected),
            "{expected} missing from {listed:#?}"
        );
    }
    assert!(
        !listed.iter().any(|p| p.contains("_state/tmp")),
        "{listed:#?}"
    );

    let report = runtime
        .block_on(async {
            s3.get(&Path::from(
                "warehouse/reports/nps_counts/nps_counts.parquet",
            ))
            .await?
            .bytes()
            .await
        })
        .unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(report.clone())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&[batch])
        .unwrap()
        .to_string();
    assert!(text.contains("| 2         | 1         |"), "{text}");

    // The page opens in a browser from the bucket: served as HTML.
    for key in [
        "warehouse/reports/index.html",
        "warehouse/history/_page/run_date=2026-11-01/index.html",
    ] {
        let (content_type, html) = runtime
            .block_on(async {
                let got = s3.get(&Path::from(key)).await?;
                let content_type = got
                    .attributes
                    .get(&object_store::Attribute::ContentType)
                    .map(|v| v.to_string());
                Ok::<_, object_store::Error>((content_type, got.bytes().await?))
            })
            .unwrap();
        assert_eq!(
            content_type.as_deref(),
            Some("text/html; charset=utf-8"),
            "{key}"
        );
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert!(
            html.contains("<td class=\"num\">2</td><td class=\"num\">1</td>"),
            "{html}"
        );
    }

    // A second night with nothing new reuses every model from the bucket
    // (their fingerprints are in the footers there), and publishes the
    // same bytes.
    let out = p.advocacy_env(
        &["run", "--config", "config.yaml", "--date", "2026-11-01"],
        &env,
    );
    assert_exit(&out, 0);
    for model in ["stg_nps_responses", "nps_counts"] {
        let line = stdout(&out)
            .lines()
            .find(|l| l.starts_with(&format!("{model} ")))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string());
        assert_eq!(line.as_deref(), Some("reused"), "{}", stdout(&out));
    }
    let again = get(&s3, "warehouse/reports/nps_counts/nps_counts.parquet");
    assert_eq!(again, Some(report));
}

#[test]
fn credentials_never_reach_errors_or_logs() {
    let server = S3Server::start();
    // No bucket: every request fails, and the error must not carry the secret.
    let p = Project::new();
    p.write("config.yaml", &config("missing-bucket"));
    p.write("queries/staging/noop.sql", "SELECT 1 AS one");
    let out = p.advocacy_env(
        &[
            "run",
            "--config",
            "config.yaml",
            "-vv",
            "--log-format",
            "json",
        ],
        &[
            ("TEST_S3_ENDPOINT", server.endpoint.as_str()),
            ("TEST_S3_SECRET", SECRET),
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains(SECRET), "{all}");
    assert!(all.contains("missing-bucket"), "{all}");
}

const SALT: &str = "pepper-Salt-5531";

/// Credentials and the PII salt come from the environment and never
/// appear anywhere a run leaves text: stdout and stderr of a successful
/// run (debug logs, text and JSON), every object it writes (run records
/// included), a config error that quotes a value, and every `--help`.
#[test]
fn neither_credentials_nor_the_salt_appear_in_output_objects_or_help() {
    let server = S3Server::start();
    server.create_bucket("secrets");
    let s3 = server.client("secrets");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(s3.put(
            &Path::from("landing/nps/2026-10.csv"),
            PutPayload::from_static(
                b"id,cid,at,score\nr1,C1,2026-10-01,10\nr2,C2,2026-10-02,eleven\n",
            ),
        ))
        .unwrap();
    let p = Project::new();
    p.write(
        "config.yaml",
        &config("secrets").replace(
            "run: { pii_salt: s, pii_salt_public: true }",
            "run: { pii_salt: \"${TEST_SALT}\" }",
        ),
    );
    p.write(
        "queries/reports/nps.sql",
        "SELECT count(*) AS n FROM raw_nps_responses",
    );
    let env = [
        ("TEST_S3_ENDPOINT", server.endpoint.as_str()),
        ("TEST_S3_SECRET", SECRET),
        ("TEST_SALT", SALT),
    ];
    let mut printed = String::new();
    for format in ["text", "json"] {
        let out = p.advocacy_env(
            &[
                "run",
                "--config",
                "config.yaml",
                "-vv",
                "--log-format",
                format,
                "--full-refresh",
            ],
            &env,
        );
        assert_exit(&out, 0);
        printed.push_str(&stdout(&out));
        printed.push_str(&stderr(&out));
    }
    // A value that fails its check is quoted in the error: redacted.
    p.write(
        "bad.yaml",
        &config("secrets")
            .replace(
                "run: { pii_salt: s, pii_salt_public: true }",
                "run: { pii_salt: \"${TEST_SALT}\" }",
            )
            .replace("allow_http: true", "allow_http: \"${TEST_SALT}\""),
    );
    let bad = p.advocacy_env(&["run", "--config", "bad.yaml"], &env);
    assert_ne!(bad.status.code(), Some(0));
    assert!(stderr(&bad).contains("***"), "{}", stderr(&bad));
    printed.push_str(&stderr(&bad));
    for command in [
        "",
        "run",
        "ingest",
        "build",
        "validate",
        "dag",
        "test",
        "query",
        "generate",
        "scheduler",
        "executor",
    ] {
        let args: Vec<&str> = [command, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let help = p.advocacy_env(&args, &env);
        assert_exit(&help, 0);
        printed.push_str(&stdout(&help));
    }
    assert!(
        printed.contains("run ") && printed.contains("--full-refresh"),
        "{printed}"
    );
    for secret in [SECRET, SALT] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    let objects: Vec<object_store::ObjectMeta> =
        runtime.block_on(s3.list(None).try_collect()).unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o.location.as_ref().starts_with("warehouse/_runs/"))
    );
    for meta in &objects {
        let bytes = runtime
            .block_on(async { s3.get(&meta.location).await.unwrap().bytes().await })
            .unwrap();
        for secret in [SECRET, SALT] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                meta.location
            );
        }
    }
}

/// The lock's takeover on a real S3 API: four runs find the same dead lock
/// (a day-old heartbeat from another host); the conditional update on its
/// e-tag lets exactly one of them take it over. All four are held after
/// reading the dead lock and let go together, so every run races (left to
/// the scheduler, a run sometimes finished before the next one started).
#[test]
fn on_s3_exactly_one_of_several_runs_takes_over_a_dead_lock() {
    let server = S3Server::start();
    server.create_bucket("locks");
    let s3 = server.client("locks");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut csv = String::from("id,cid,at,score\n");
    for i in 0..40_000 {
        csv.push_str(&format!("r{i},C{},2026-10-01,{}\n", i % 500, i % 11));
    }
    let day_ago = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    runtime.block_on(async {
        s3.put(&Path::from("landing/nps/2026-10.csv"), PutPayload::from(csv.into_bytes()))
            .await
            .unwrap();
        let lock = format!(
            r#"{{"run_id": "20261101T000000Z-dead", "host": "elsewhere", "pid": 1, "command": "run", "started_at": "{day_ago}", "heartbeat_at": "{day_ago}"}}"#
        );
        s3.put(&Path::from("warehouse/_state/lock"), PutPayload::from(lock.into_bytes()))
            .await
            .unwrap();
    });
    let p = Project::new();
    p.write("config.yaml", &config("locks"));
    let held = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_advocacy"))
                .args(["ingest", "--config", "config.yaml", "--date", "2026-11-01"])
                .current_dir(p.dir.path())
                .env("TEST_S3_ENDPOINT", &server.endpoint)
                .env("TEST_S3_SECRET", SECRET)
                .env(
                    "ADVOCACY_HOLD_AT",
                    format!("lock_takeover:{}", held.path().display()),
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(held.path()).unwrap().count() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "not all four runs reached the takeover"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::write(held.path().join("release"), "").unwrap();
    let outcomes: Vec<(Option<i32>, String)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (out.status.code(), stderr(&out))
        })
        .collect();
    // Each run says it takes the dead lock over; only the one whose
    // conditional update won runs (exit 0), the others exit 4.
    let mut tried: Vec<Option<i32>> = outcomes
        .iter()
        .filter(|(_, err)| err.contains("taking over the warehouse lock"))
        .map(|(code, _)| *code)
        .collect();
    tried.sort();
    assert_eq!(tried.len(), 4, "{outcomes:#?}");
    assert_eq!(tried[0], Some(0), "{outcomes:#?}");
    assert!(tried[1..].iter().all(|c| *c == Some(4)), "{outcomes:#?}");
    assert!(
        outcomes
            .iter()
            .all(|(code, _)| matches!(code, Some(0) | Some(4))),
        "{outcomes:#?}"
    );
    let lock = runtime.block_on(s3.head(&Path::from("warehouse/_state/lock")));
    assert!(
        matches!(lock, Err(object_store::Error::NotFound { .. })),
        "{lock:?}"
    );
}

/// An incremental model kept in a bucket: the second night computes only
/// its new day, from the state and month objects there, and every table
/// equals a full rebuild's.
#[test]
fn an_incremental_model_computes_only_the_new_day_on_s3() {
    let server = S3Server::start();
    server.create_bucket("advocacy");
    let s3 = server.client("advocacy");
    let land = |name: &str, text: &'static [u8]| put(&s3, &format!("landing/nps/{name}"), text);
    land(
        "2026-10-01.csv",
        b"id,cid,at,score\nr1,C1,2026-10-01,10\nr2,C2,2026-10-01,3\n",
    );
    let p = Project::new();
    p.write("config.yaml", &config("advocacy"));
    p.write(
        "queries/staging/stg_nps_responses.sql",
        "SELECT response_id, customer_id, score, CAST(responded_at AS DATE) AS day \
         FROM raw_nps_responses \
         WHERE CAST(responded_at AS DATE) BETWEEN $start_date AND $end_date",
    );
    p.write(
        "queries/reports/nps_counts.sql",
        "SELECT day, count(*) AS responses FROM stg_nps_responses GROUP BY day ORDER BY day",
    );
    p.write(
        "queries/models.yml",
        "models:\n  - name: stg_nps_responses\n    incremental: { by: day }\n    columns:\n      - name: response_id\n        tests: [unique]\n",
    );
    let env = [
        ("TEST_S3_ENDPOINT", server.endpoint.as_str()),
        ("TEST_S3_SECRET", SECRET),
    ];
    let run = |date: &str, extra: &[&str]| {
        let mut args = vec!["run", "--config", "config.yaml", "--date", date];
        args.extend_from_slice(extra);
        let out = p.advocacy_env(&args, &env);
        assert_exit(&out, 0);
        stdout(&out)
    };
    run("2026-10-01", &[]);
    land("2026-10-02.csv", b"id,cid,at,score\nr3,C3,2026-10-02,9\n");
    run("2026-10-02", &[]);
    let record = get(&s3, "warehouse/_runs/latest.json").unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(
        record["models"][0]["days_computed"],
        serde_json::json!(["2026-10-02"])
    );
    let counts = |p: &Project| {
        let out = p.advocacy_env(
            &[
                "query",
                "--config",
                "config.yaml",
                "--format",
                "csv",
                "SELECT * FROM nps_counts ORDER BY day",
            ],
            &env,
        );
        assert_exit(&out, 0);
        stdout(&out)
    };
    let nightly = counts(&p);
    assert_eq!(nightly, "day,responses\n2026-10-01,2\n2026-10-02,1\n");
    run("2026-10-02", &["--full-refresh"]);
    assert_eq!(counts(&p), nightly);
}
