//! Issue 30, points 1 to 3: the command line as a scheduler relies on it.
//! Every subcommand accepts exactly the flags it uses (a table of each
//! flag, accepted or refused); exit codes are the documented ones; a closed
//! pipe is not an error; output is plain off a terminal; at default
//! verbosity each file and model says when it is done; with
//! `--log-format json` every line is JSON and a run ends with
//! `run_finished`.

use crate::common::shop::SOURCE;
use crate::common::{Project, assert_exit, stderr, stdout};

fn project() -> Project {
    let p = Project::new();
    p.config(SOURCE);
    p.land(
        "orders.csv",
        "id,cid,at,amount\no1,C1,2025-01-01,10\no2,C1,2025-01-02,250\no3,C2,2025-01-03,40\n",
    );
    p.write(
        "queries/reports/revenue.sql",
        "SELECT customer_id, sum(amount) AS revenue FROM raw_orders GROUP BY customer_id",
    );
    p.write(
        "queries/models.yml",
        "unit_tests:\n  - name: sums\n    model: revenue\n    given:\n      - input: raw_orders\n        rows: [{ customer_id: C1, amount: 2 }, { customer_id: C1, amount: 3 }]\n    expect:\n      rows: [{ customer_id: C1, revenue: 5 }]\n",
    );
    p
}

/// Each subcommand with each flag it takes, run for real on a small
/// project (in this order: `test` needs what `run` built), with the exit
/// code expected; then every flag it does not take, refused by the
/// argument parser with exit 2 before anything is read.
#[test]
fn every_subcommand_takes_exactly_its_flags() {
    let p = project();
    let config = ["--config", "config.yaml"];
    let accepted: &[(&str, &[&str], i32)] = &[
        ("run", &["--date", "2026-11-01"], 0),
        ("run", &["--select", "revenue"], 0),
        ("run", &["-s", "revenue"], 0),
        ("run", &["--full-refresh"], 0),
        ("run", &["--force-unlock"], 0),
        ("run", &["--log-format", "json"], 0),
        ("run", &["-v"], 0),
        ("run", &["-q"], 0),
        (
            "ingest",
            &["--date", "2026-11-01", "--full-refresh", "--force-unlock"],
            0,
        ),
        (
            "build",
            &[
                "--date",
                "2026-11-01",
                "--select",
                "revenue",
                "--force-unlock",
            ],
            0,
        ),
        ("validate", &["--date", "2026-11-01", "-v"], 0),
        ("test", &["--date", "2026-11-01", "-q"], 0),
        ("test", &["--select", "revenue", "--log-format", "json"], 0),
        (
            "test",
            &["--unit", "-s", "revenue", "--date", "2026-11-01"],
            0,
        ),
        (
            "build",
            &["--dev", "x", "-s", "revenue", "--date", "2026-11-01"],
            0,
        ),
        ("build", &["--full-refresh", "-s", "revenue"], 0),
        ("diff", &["--dev", "x", "--format", "json", "revenue"], 0),
        (
            "diff",
            &["--from-date", "2026-11-01", "--to-date", "2026-11-01"],
            0,
        ),
        ("dag", &["--format", "mermaid"], 0),
        ("dag", &["--format", "json", "-q"], 0),
        ("lineage", &["revenue.revenue", "--format", "json"], 0),
        ("query", &["SELECT 1 AS one", "--format", "csv"], 0),
        ("repair-manifest", &["--force-unlock"], 0),
    ];
    let generated = p.path("generated");
    let generated = generated.to_str().unwrap();
    let standalone: &[&[&str]] = &[
        &[
            "generate",
            "--out",
            generated,
            "--customers",
            "5",
            "--seed",
            "7",
            "--start",
            "2025-01-01",
            "--end",
            "2025-03-31",
            "--profile",
            "heavy",
            "--clean",
        ],
        &["config-schema"],
        &["completions", "zsh"],
        &["man"],
        // The servers run until stopped: their flags are checked by clap
        // before --help is printed.
        &[
            "scheduler",
            "--bind",
            "127.0.0.1:0",
            "--external-host",
            "h",
            "--log-format",
            "json",
            "-v",
            "--help",
        ],
        &[
            "executor",
            "--scheduler",
            "h:1",
            "--bind",
            "127.0.0.1:0",
            "--external-host",
            "h",
            "--grpc-port",
            "1",
            "--health-port",
            "2",
            "--work-dir",
            "/tmp",
            "--concurrent-tasks",
            "1",
            "--memory-pool-size",
            "1GiB",
            "-q",
            "--help",
        ],
    ];
    for args in standalone {
        let out = p.advocacy(args);
        assert_exit(&out, 0);
    }
    for args in [
        &["generate", "--out", generated, "--config-x"][..],
        &["config-schema", "--config", "config.yaml"],
        &["man", "--date", "2026-11-01"],
        &["scheduler", "--date", "2026-11-01"],
        &["executor", "--select", "x"],
    ] {
        assert_exit(&p.advocacy(args), 2);
    }
    for (command, flags, code) in accepted {
        let mut args = vec![*command];
        args.extend(config);
        args.extend(*flags);
        let out = p.advocacy(&args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "advocacy {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            stdout(&out),
            stderr(&out)
        );
    }
    let refused: &[(&str, &[&str])] = &[
        ("ingest", &["--select", "revenue"]),
        ("validate", &["--select", "bogus_model"]),
        ("validate", &["--force-unlock"]),
        ("validate", &["--full-refresh"]),
        ("dag", &["--date", "2026-11-01"]),
        ("dag", &["--select", "revenue"]),
        ("test", &["--force-unlock"]),
        ("lineage", &["revenue.revenue", "--date", "2026-11-01"]),
        ("lineage", &["revenue.revenue", "--select", "revenue"]),
        ("diff", &["--dev", "x", "--select", "revenue"]),
        ("diff", &["--dev", "x", "--date", "2026-11-01"]),
        ("diff", &["--dev", "x", "--force-unlock"]),
        ("test", &["--unit", "--full-refresh"]),
        ("query", &["SELECT 1", "--date", "2026-11-01"]),
        ("query", &["SELECT 1", "--force-unlock"]),
        ("query", &["SELECT 1", "-s", "revenue"]),
        ("repair-manifest", &["--date", "2026-11-01"]),
        ("repair-manifest", &["--select", "revenue"]),
    ];
    for (command, flags) in refused {
        let mut args = vec![*command];
        args.extend(config);
        args.extend(*flags);
        let out = p.advocacy(&args);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("unexpected argument"),
            "advocacy {}: {}",
            args.join(" "),
            stderr(&out)
        );
    }
}

/// A misspelled `--select` fails before any export is read: the raw zone
/// stays empty and the message names the model.
#[test]
fn a_misspelled_select_fails_before_anything_is_read() {
    let p = project();
    let out = p.advocacy(&["run", "--config", "config.yaml", "--select", "revenu"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("revenu"), "{}", stderr(&out));
    assert!(
        !p.warehouse().join("raw").exists(),
        "the run loaded exports"
    );
}

/// `test` before anything was built has nothing to test: an error, not
/// "0 passed".
#[test]
fn testing_a_warehouse_with_nothing_built_is_an_error() {
    let p = project();
    let out = p.advocacy(&["test", "--config", "config.yaml"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("no model has been built in this warehouse yet"),
        "{}",
        stderr(&out)
    );
}

/// `advocacy query ... | head -1`: the reader closes the pipe early; the
/// query ends quietly with 0, no panic, no backtrace.
#[test]
fn a_closed_pipe_ends_a_query_quietly() {
    let p = project();
    assert_exit(&p.advocacy(&["run", "--config", "config.yaml", "-q"]), 0);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_advocacy"))
        .current_dir(p.dir.path())
        .args(["query", "--config", "config.yaml", "--format", "csv"])
        .arg("SELECT * FROM unnest(range(1, 200000)) AS t(n)")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close our end of the pipe.
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert_eq!(first.trim(), "n");
    assert_exit(&out, 0);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// At default verbosity, off a terminal, a run says each file and model
/// as it is done, in plain text (no colour codes, with or without
/// NO_COLOR), before its summary.
#[test]
fn a_run_says_what_it_has_done_as_it_goes_in_plain_text() {
    let p = project();
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        let out = p.advocacy_env(&["run", "--config", "config.yaml", "--full-refresh"], env);
        assert_exit(&out, 0);
        let err = stderr(&out);
        let file = err
            .lines()
            .find(|l| l.contains("file done"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            file.contains("source=shop") && file.contains("rows_loaded=3"),
            "{file}"
        );
        let model = err
            .lines()
            .find(|l| l.contains("model done"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            model.contains("model=revenue") && model.contains("rows=2"),
            "{model}"
        );
        assert!(
            !err.contains('\u{1b}'),
            "colour codes off a terminal: {err:?}"
        );
    }
}

/// `--log-format json`: every line of stdout and stderr parses as JSON,
/// the summary is the run record, and the last line is `run_finished`
/// with the run's counts and exit code. A run that fails before it has a
/// record ends the same way.
#[test]
fn json_logs_are_json_lines_ending_with_run_finished() {
    let p = project();
    let out = p.advocacy(&["run", "--config", "config.yaml", "--log-format", "json"]);
    assert_exit(&out, 0);
    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    };
    let events = parse(&stdout(&out));
    let logs = parse(&stderr(&out));
    assert!(
        logs.iter().any(|l| l["fields"]["message"] == "model done"),
        "{logs:?}"
    );
    assert_eq!(events[0]["event"], "summary");
    assert_eq!(events[0]["record"]["status"], "succeeded");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["rows_read"], 3);
    assert_eq!(last["rows_loaded"], 3);
    assert_eq!(last["models"], 1);
    assert_eq!(last["run_date"], events[0]["record"]["run_date"]);

    let out = p.advocacy(&["run", "--config", "nope.yaml", "--log-format", "json"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let events = parse(&stdout(&out));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["exit_code"], 2);
    assert!(
        last["error"].as_str().unwrap().contains("nope.yaml"),
        "{last}"
    );
}

/// `--version` names the commit it was built from and the DataFusion
/// release it runs.
#[test]
fn the_version_names_the_commit_and_datafusion() {
    let out = Project::new().advocacy(&["--version"]);
    assert_exit(&out, 0);
    let version = stdout(&out);
    assert!(version.starts_with("advocacy 0."), "{version}");
    assert!(version.contains("(commit "), "{version}");
    assert!(version.contains(", DataFusion 55."), "{version}");
}

/// A warehouse whose store cannot be reached is a failed run (exit 1, the
/// store's message), not "another run holds the lock" (exit 4), though
/// the lock is the first object the run touches.
#[test]
fn an_unreachable_store_is_exit_1_not_a_held_lock() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped: nothing answers on the port.
    let p = project();
    p.write(
        "config.yaml",
        &format!(
            "landing: landing\nwarehouse: s3://nowhere/warehouse\nstorage:\n  s3:\n    endpoint: http://127.0.0.1:{port}\n    region: us-east-1\n    allow_http: true\n    access_key_id: test\n    secret_access_key: test\n    max_retries: 0\nrun: {{ pii_salt: s, pii_salt_public: true }}\nsources:\n{SOURCE}"
        ),
    );
    let out = p.advocacy(&["run", "--config", "config.yaml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1"), "{err}");
}

/// Validates `config` (YAML) against `advocacy config-schema` with the
/// Python jsonschema package, as an editor's YAML plugin would; returns
/// the first error, if any.
fn schema_error(schema: &str, config: &str) -> Option<String> {
    let python = std::env::var("ADVOCACY_PYTHON").unwrap_or_else(|_| {
        panic!("ADVOCACY_PYTHON is not set: run bash scripts/test.sh, which installs jsonschema")
    });
    let dir = tempfile::tempdir().unwrap();
    let value: serde_yaml::Value = serde_yaml::from_str(config).unwrap();
    std::fs::write(dir.path().join("schema.json"), schema).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&value).unwrap(),
    )
    .unwrap();
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))\n\
                  print(errors[0].message if errors else '')\n";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(dir.path().join("schema.json"))
        .arg(dir.path().join("config.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let message = stdout(&out).trim().to_string();
    (!message.is_empty()).then_some(message)
}

/// `advocacy config-schema` is a JSON Schema the bundled config and every
/// example of the README's record shapes satisfy, and that refuses a
/// misspelled key where the YAML has one.
#[test]
fn the_config_schema_accepts_the_bundled_config_and_refuses_a_misspelled_key() {
    let out = Project::new().advocacy(&["config-schema"]);
    assert_exit(&out, 0);
    let schema = stdout(&out);
    let repo = env!("CARGO_MANIFEST_DIR");
    let bundled = std::fs::read_to_string(format!("{repo}/config/advocacy.yaml")).unwrap();
    assert_eq!(schema_error(&schema, &bundled), None);
    let misspelled = bundled.replacen("timezone:", "timezon:", 1);
    assert_ne!(misspelled, bundled);
    let error = schema_error(&schema, &misspelled).expect("refused");
    assert!(error.contains("timezon"), "{error}");
    let column = bundled.replacen("entity: customers", "entity: customer", 1);
    assert!(schema_error(&schema, &column).is_some());
    let readme = std::fs::read_to_string(format!("{repo}/README.md")).unwrap();
    let section = &readme[readme.find("### Record shapes").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let shapes = &section[start..start + section[start..].find("```").unwrap()];
    let config = format!("landing: l\nwarehouse: w\n{shapes}");
    assert_eq!(schema_error(&schema, &config), None);
}

/// Completion scripts and the man page come from the same definitions as
/// the parser: they name the subcommands and their flags.
#[test]
fn completions_and_the_man_page_name_every_subcommand() {
    let p = Project::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = p.advocacy(&["completions", shell]);
        assert_exit(&out, 0);
        let script = stdout(&out);
        for word in ["repair-manifest", "config-schema", "full-refresh"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = p.advocacy(&["man"]);
    assert_exit(&out, 0);
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH advocacy"),
        "{page}"
    );
    assert!(page.contains("repair\\-manifest"), "{page}");
    assert_exit(&p.advocacy(&["completions", "tcsh"]), 2);
}

/// A binary built without the `ballista` feature (a plain `cargo build`)
/// refuses the cluster's processes, saying how to build one.
#[test]
#[cfg(not(feature = "ballista"))]
fn the_servers_need_a_binary_built_with_ballista() {
    let p = Project::new();
    for server in [&["scheduler"][..], &["executor", "--scheduler", "h:1"]] {
        let out = p.advocacy(server);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("cargo build --release --features ballista"),
            "{}",
            stderr(&out)
        );
    }
}
