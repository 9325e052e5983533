//! The bundled job on a Ballista cluster: a scheduler and two executors
//! started in this process on free loopback ports, with the same functions
//! `advocacy scheduler` and `advocacy executor` call (so a function or an
//! object store they fail to register fails here), and the real binary as
//! the client. Every report must equal a local run's.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Project, S3Server, assert_exit, bundled_config, stdout};
use advocacy::cluster::executor::{self, ExecutorOptions};
use advocacy::cluster::free_port;
use advocacy::cluster::scheduler::{self, SchedulerOptions};
use advocacy::storage::StorageOptions;
use datafusion::arrow::array::{Array, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// A date inside the bundled data's range (a backfill), as the nightly job
/// would be re-run for it.
const DATE: &str = "2025-06-30";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A scheduler and executors on this process's runtime; they stop with it.
struct Cluster {
    scheduler: SocketAddr,
    work_dirs: Vec<PathBuf>,
    _work: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Cluster {
    fn start(executors: usize, storage: StorageOptions) -> Cluster {
        // The scheduler, the executors and their health servers share this
        // runtime, which would otherwise have one worker per core (two
        // here): a worker held by one server's start-up must not keep the
        // others from answering. One CI run saw every probe of both tests
        // time out after 90 s with the default; each test's cluster has its
        // own runtime.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2 + 2 * executors)
            .enable_all()
            .build()
            .unwrap();
        let work = tempfile::tempdir().unwrap();
        let options = SchedulerOptions {
            external_host: None,
            storage: storage.clone(),
        };
        let scheduler = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move {
                if let Err(e) = scheduler::serve(listener, options, std::future::pending()).await {
                    eprintln!("scheduler stopped: {e}");
                }
            });
            address
        });
        let mut work_dirs = Vec::new();
        let mut probes = Vec::new();
        for i in 0..executors {
            let work_dir = work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&work_dir).unwrap();
            let health = SocketAddr::new(LOOPBACK, free_port(LOOPBACK).unwrap());
            let options = ExecutorOptions {
                scheduler: (LOOPBACK.to_string(), scheduler.port()),
                bind: SocketAddr::new(LOOPBACK, free_port(LOOPBACK).unwrap()),
                external_host: None,
                grpc_port: None,
                health_port: Some(health.port()),
                work_dir: Some(work_dir.clone()),
                concurrent_tasks: 2,
                memory_pool_size: Some(1 << 30),
                storage: storage.clone(),
            };
            runtime.spawn(async move {
                if let Err(e) = executor::serve(options).await {
                    eprintln!("executor {i} stopped: {e}");
                }
            });
            work_dirs.push(work_dir);
            probes.push((format!("executor {i}"), health));
        }
        // Each executor is ready once its heartbeat reached the scheduler;
        // the scheduler once an executor registered.
        probes.push(("scheduler".into(), scheduler));
        for (what, address) in probes {
            wait_ready(&what, address);
        }
        Cluster {
            scheduler,
            work_dirs,
            _work: work,
            _runtime: runtime,
        }
    }

    fn engine_yaml(&self) -> String {
        format!(
            "engine: {{ kind: ballista, scheduler: \"df://127.0.0.1:{}\" }}\n",
            self.scheduler.port()
        )
    }

    /// The Ballista jobs each executor ran a task of: a job's shuffle
    /// output is a folder named after it in the work dir.
    fn jobs_per_executor(&self) -> Vec<usize> {
        self.work_dirs
            .iter()
            .map(|dir| std::fs::read_dir(dir).map_or(0, |entries| entries.count()))
            .collect()
    }
}

/// The status code of a plain HTTP GET, or `None` when nothing answers.
fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn wait_ready(what: &str, address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = http_status(address, "/readyz");
        if status == Some(200) {
            assert_eq!(
                http_status(address, "/healthz"),
                Some(200),
                "{what} /healthz"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} at {address} is not ready after 90 s (/readyz: {status:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The bundled job in a new project, locally or on `cluster`, with the
/// warehouse at `warehouse` (`storage` holds the options it needs);
/// returns the project and the run's summary.
fn bundled_run(cluster: Option<&Cluster>, warehouse: &str, storage: &str) -> (Project, String) {
    let p = Project::new();
    bundled_config(&p, &Path::new(REPO).join("testdata"), warehouse, "2GiB");
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    let engine = cluster.map(Cluster::engine_yaml).unwrap_or_default();
    p.write("config.yaml", &format!("{config}{storage}{engine}"));
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", DATE]);
    assert_exit(&out, 0);
    (p, stdout(&out))
}

/// What a run's summary says it built and tested: each model's status and
/// rows, and the data tests' counts and failures (not the timings).
fn outcome(summary: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut models = false;
    let mut tests = false;
    for line in summary.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"model") && fields.get(1) == Some(&"status") {
            models = true;
        } else if line.starts_with("data tests:") {
            tests = true;
        }
        if tests {
            // The phase timings after the tests' block differ run to run.
            if line.is_empty() {
                break;
            }
            lines.push(line.to_string());
        } else if models && fields.len() == 7 {
            lines.push(format!(
                "{} {} {} {}",
                fields[0], fields[1], fields[2], fields[3]
            ));
        }
    }
    assert!(
        lines.len() > 35 && tests,
        "no models or tests in:\n{summary}"
    );
    lines
}

/// Every published report under `reports/`: name to rows.
fn reports(reports_dir: &Path) -> BTreeMap<String, Vec<RecordBatch>> {
    let mut tables = BTreeMap::new();
    for entry in std::fs::read_dir(reports_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            tables.insert(name, common::query_batches(&path, "SELECT * FROM t"));
        }
    }
    tables
}

/// Two floats agree when within 1e-9 of the larger (or both are tiny):
/// sums merged in another order differ in the last bits.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a - b).abs() < 1e-12
}

/// Asserts the reports are equal: the same tables, columns and rows in the
/// same order; floats within [`close`], everything else exactly.
fn assert_same_reports(
    local: &BTreeMap<String, Vec<RecordBatch>>,
    cluster: &BTreeMap<String, Vec<RecordBatch>>,
) {
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        cluster.keys().collect::<Vec<_>>(),
        "published reports"
    );
    assert_eq!(
        local.len(),
        common::repo_report_count(),
        "the report tables of queries/reports"
    );
    // Which float columns differed at all (for the README's account of
    // where merge order shows).
    let mut inexact: Vec<String> = Vec::new();
    for (name, local_batches) in local {
        let a =
            datafusion::arrow::compute::concat_batches(&local_batches[0].schema(), local_batches)
                .unwrap();
        let b = datafusion::arrow::compute::concat_batches(&a.schema(), &cluster[name]).unwrap();
        assert_eq!(a.schema(), b.schema(), "{name}: schema");
        assert_eq!(a.num_rows(), b.num_rows(), "{name}: rows");
        assert!(a.num_rows() > 0, "{name} is empty");
        for (i, field) in a.schema().fields().iter().enumerate() {
            let column = format!("{name}.{}", field.name());
            if field.data_type() == &DataType::Float64 {
                let x = a.column(i).as_any().downcast_ref::<Float64Array>().unwrap();
                let y = b.column(i).as_any().downcast_ref::<Float64Array>().unwrap();
                for row in 0..x.len() {
                    assert_eq!(x.is_null(row), y.is_null(row), "{column} row {row}: null");
                    if x.is_valid(row) {
                        if x.value(row) != y.value(row) {
                            inexact.push(column.clone());
                        }
                        assert!(
                            close(x.value(row), y.value(row)),
                            "{column} row {row}: local {} cluster {}",
                            x.value(row),
                            y.value(row)
                        );
                    }
                }
            } else {
                let x = cast(a.column(i), &DataType::Utf8).unwrap();
                let y = cast(b.column(i), &DataType::Utf8).unwrap();
                assert_eq!(x.as_ref(), y.as_ref(), "{column}");
            }
        }
    }
    inexact.dedup();
    eprintln!("float columns not bit-equal to the local run's: {inexact:?}");
}

#[test]
fn the_bundled_job_on_a_scheduler_and_two_executors_equals_a_local_run() {
    let (local, local_summary) = bundled_run(None, "warehouse", "");
    let cluster = Cluster::start(2, StorageOptions::new());
    let (p, summary) = bundled_run(Some(&cluster), "warehouse", "");

    assert_same_reports(
        &reports(&local.warehouse().join("reports")),
        &reports(&p.warehouse().join("reports")),
    );
    assert_eq!(outcome(&summary), outcome(&local_summary));

    // The models and data tests ran on both executors: a job per model
    // and per data test at least.
    let jobs = cluster.jobs_per_executor();
    assert!(jobs.iter().all(|&n| n > 0), "jobs per executor: {jobs:?}");
    let total: usize = jobs.iter().sum();
    assert!(total >= 35 + 150, "jobs per executor: {jobs:?}");

    // An ad-hoc query runs there too, with the same answer.
    let sql = "SELECT count(*) AS customers, round(sum(predicted_clv), 6) AS clv FROM customer_clv";
    assert_eq!(p.model_csv(sql), local.model_csv(sql));
    assert!(cluster.jobs_per_executor().iter().sum::<usize>() > total);
}

/// Copies every object below `prefix` of `bucket` into a local folder.
fn download(server: &S3Server, bucket: &str, prefix: &str, into: &Path) {
    let store = server.client(bucket);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let prefix = object_store::path::Path::from(prefix);
        let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
        assert!(!objects.is_empty(), "nothing under s3://{bucket}/{prefix}");
        for object in objects {
            let relative: Vec<String> = object
                .location
                .prefix_match(&prefix)
                .unwrap()
                .map(|part| part.as_ref().to_string())
                .collect();
            let path = into.join(relative.join("/"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let bytes = store
                .get(&object.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    });
}

#[test]
fn the_cluster_reads_and_writes_a_warehouse_on_s3() {
    let server = S3Server::start();
    server.create_bucket("cluster");
    let storage_yaml = format!(
        "storage:\n  s3:\n    endpoint: \"{}\"\n    region: us-east-1\n    allow_http: true\n    \
         access_key_id: test\n    secret_access_key: test\n",
        server.endpoint
    );
    // The scheduler and executors open the bucket from the `storage:`
    // section of a config file, as `--config` gives it to them.
    let servers_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(servers_config.path(), &storage_yaml).unwrap();
    let storage = advocacy::config::load_storage(servers_config.path()).unwrap();
    let cluster = Cluster::start(2, storage);

    let (local, local_summary) = bundled_run(None, "warehouse", "");
    let (p, summary) = bundled_run(Some(&cluster), "s3://cluster/warehouse", &storage_yaml);
    assert_eq!(outcome(&summary), outcome(&local_summary));
    let copied = p.path("copied");
    download(&server, "cluster", "warehouse/reports", &copied);
    assert_same_reports(
        &reports(&local.warehouse().join("reports")),
        &reports(&copied),
    );
    assert!(cluster.jobs_per_executor().iter().all(|&n| n > 0));
}
