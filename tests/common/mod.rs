//! Shared test helpers: a throwaway project folder, running the real
//! binary, reading what it wrote, and an S3 server on loopback.
#![allow(dead_code)]

pub mod counts;
pub mod shop;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

pub const SALT: &str = "test-salt";

/// A project folder: config, landing folder, queries, warehouse.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let project = Project {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::create_dir_all(project.landing()).unwrap();
        std::fs::create_dir_all(project.path("queries")).unwrap();
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn landing(&self) -> PathBuf {
        self.path("landing")
    }

    pub fn warehouse(&self) -> PathBuf {
        self.path("warehouse")
    }

    /// Writes a landing file (creating folders).
    pub fn land(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.landing().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Replaces `from` with `to` in a project file (which must hold it).
    pub fn replace_in(&self, relative: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(relative)).unwrap();
        assert!(text.contains(from), "{relative} has no {from:?}");
        self.write(relative, &text.replace(from, to));
    }

    /// Writes `config.yaml` with landing/warehouse/run settings and the
    /// given `sources:` block (YAML, already indented as a list).
    pub fn config(&self, sources: &str) {
        self.write(
            "config.yaml",
            &format!(
                "landing: landing\nwarehouse: warehouse\nrun: {{ pii: hash, pii_salt: {SALT}, pii_salt_public: true }}\nsources:\n{sources}"
            ),
        );
    }

    /// Writes `config.yaml` that runs the repository's own `queries/` over
    /// this project's landing folder; `rest` holds `vars:` (optional) and
    /// `sources:`.
    pub fn repo_config(&self, rest: &str) {
        let repo = env!("CARGO_MANIFEST_DIR");
        self.write(
            "config.yaml",
            &format!(
                "landing: landing\nwarehouse: warehouse\nqueries: {repo}/queries\nrun: {{ pii_salt: s, pii_salt_public: true }}\n{rest}"
            ),
        );
    }

    pub fn advocacy(&self, args: &[&str]) -> Output {
        advocacy_in(self.dir.path(), args, &[])
    }

    /// `advocacy <args> --config config.yaml`.
    pub fn configured(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", "config.yaml"]);
        self.advocacy(&all)
    }

    pub fn advocacy_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        advocacy_in(self.dir.path(), args, env)
    }

    pub fn ingest(&self) -> Output {
        self.advocacy(&["ingest", "--config", "config.yaml", "--date", "2026-11-01"])
    }

    /// `advocacy build` of `config.yaml` at `date` with `--select` patterns.
    pub fn build(&self, date: &str, select: &[&str]) -> Output {
        let mut args = vec![
            "build",
            "--config",
            "config.yaml",
            "--date",
            date,
            "--select",
        ];
        args.extend_from_slice(select);
        self.advocacy(&args)
    }

    /// `advocacy query --format csv` over the models of `config.yaml`'s
    /// warehouse: the header and rows, one line each.
    pub fn model_csv(&self, sql: &str) -> Vec<String> {
        let out = self.advocacy(&["query", "--config", "config.yaml", "--format", "csv", sql]);
        assert_exit(&out, 0);
        stdout(&out).lines().map(str::to_string).collect()
    }

    /// Runs SQL over every Parquet file below a warehouse folder.
    pub fn query(&self, folder: &str, sql: &str) -> String {
        query_parquet(&self.warehouse().join(folder), sql)
    }

    /// Every text value of every Parquet file of the warehouse (each value
    /// cast to text, one per line), then every run record.
    pub fn warehouse_text(&self) -> String {
        let mut text = String::new();
        for file in self.parquet_files() {
            for batch in query_batches(&file, "SELECT * FROM t") {
                for column in batch.columns() {
                    let as_text = cast(column, &DataType::Utf8).unwrap();
                    let strings = as_text.as_any().downcast_ref::<StringArray>().unwrap();
                    for i in 0..strings.len() {
                        if strings.is_valid(i) {
                            text.push_str(strings.value(i));
                            text.push('\n');
                        }
                    }
                }
            }
        }
        for entry in std::fs::read_dir(self.warehouse().join("_runs")).unwrap() {
            text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        text
    }

    /// The last run's record, `_runs/latest.json`.
    pub fn latest_record(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.warehouse().join("_runs/latest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Every Parquet file the warehouse holds, recursively.
    pub fn parquet_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.warehouse(), &mut out);
        out.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
        out.sort();
        out
    }
}

/// Writes `config.yaml`: the bundled `config/advocacy.yaml` with its
/// landing folder, warehouse and memory limit replaced, and the
/// repository's `queries/`.
pub fn bundled_config(p: &Project, landing: &Path, warehouse: &str, memory_limit: &str) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(Path::new(repo).join("config/advocacy.yaml")).unwrap();
    let mut replaced = 0;
    let text: String = text
        .lines()
        .map(|line| {
            let new = match line {
                "landing: ../testdata" => format!("landing: {}", landing.display()),
                "warehouse: ../warehouse" => format!("warehouse: {warehouse}"),
                "queries: ../queries" => format!("queries: {repo}/queries"),
                "  memory_limit: 2GiB" => format!("  memory_limit: {memory_limit}"),
                other => return format!("{other}\n"),
            };
            replaced += 1;
            format!("{new}\n")
        })
        .collect();
    assert_eq!(
        replaced, 4,
        "config/advocacy.yaml no longer has the expected location and memory lines"
    );
    p.write("config.yaml", &text);
}

/// Every file below `folder`, relative path -> bytes: to show a folder was
/// left byte for byte as it was.
pub fn snapshot(folder: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = Vec::new();
    walk(folder, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(folder).unwrap().display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            (relative, bytes)
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub fn advocacy_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_advocacy"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env_remove("ADVOCACY_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run advocacy")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Runs SQL over a folder of Parquet files registered as table `t`, and
/// returns the result as a pretty-printed table.
/// How many report tables the repository's `queries/reports/` defines.
pub fn repo_report_count() -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/reports");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
}

pub fn query_parquet(folder: &Path, sql: &str) -> String {
    let batches = query_batches(folder, sql);
    pretty_format_batches(&batches).unwrap().to_string()
}

pub fn query_batches(folder: &Path, sql: &str) -> Vec<RecordBatch> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        let options = ParquetReadOptions::default();
        ctx.register_parquet("t", folder.to_str().unwrap(), options)
            .await
            .unwrap_or_else(|e| panic!("register {}: {e}", folder.display()));
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    })
}

/// Collapses a pretty table into trimmed lines for compact comparisons.
pub fn lines(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| !l.starts_with('+'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// moto's S3 server on a free loopback port, stopped on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    /// moto picks its own free port (`-p 0`) and prints it: choosing a
    /// free port here and passing it on let two tests be handed the same
    /// port, and one then talked to the other's server until that stopped
    /// (a refused connection in CI).
    pub fn start() -> S3Server {
        let program =
            std::env::var("ADVOCACY_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}); run the suite with scripts/test.sh, which installs it")
            });
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the announced address, then keeps draining moto's request
        // log so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("moto did not announce its port within 30 s");
        let endpoint = format!("http://127.0.0.1:{port}");
        S3Server { child, endpoint }
    }

    /// A client of one bucket of this server (moto takes any credentials),
    /// to seed exports and read what runs left.
    pub fn client(&self, bucket: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        std::sync::Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        )
    }

    /// Creates a bucket with a plain HTTP PUT (moto accepts unsigned
    /// requests), so the tests need no AWS client.
    pub fn create_bucket(&self, bucket: &str) {
        let port: u16 = self.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        use std::io::{Read, Write};
        // moto may still be settling on its port (a refused connection right
        // after the first one answered was seen in CI): retry for a while.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("moto on port {port} refused a connection ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("moto on port {port}: {e}"),
            }
        };
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "create bucket: {response}"
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the slow suites run: `ADVOCACY_SLOW_TESTS=1`, which
/// `scripts/test.sh` (and so CI) sets. Without it a slow test says on
/// stderr that it was skipped and passes, so `cargo test` alone stays
/// quick while editing.
#[track_caller]
pub fn slow_suite() -> bool {
    if std::env::var("ADVOCACY_SLOW_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "skipped the slow test at {}: ADVOCACY_SLOW_TESTS=1 runs it (scripts/test.sh sets it)",
        std::panic::Location::caller()
    );
    false
}
