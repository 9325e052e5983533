//! The Kubernetes example under deploy/ says what the binary accepts and
//! passes review: every container's arguments parse, the probes point at
//! the ports the servers are told to serve them on, the nightly run
//! reaches the scheduler's Service, the mounted config validates against
//! the bundled models with either engine, the CronJob is bounded and does
//! not retry what a retry cannot fix, and checkov finds nothing in the
//! rendered manifests that is not waived with a reason.

use std::path::Path;

use crate::common;
use crate::common::{advocacy_in, assert_exit, stderr, stdout};
use serde::Deserialize;
use serde_yaml::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// What `kubectl apply -k deploy/kubernetes/<name>` applies, rendered by
/// [`render`].
fn manifests(name: &str) -> Vec<Value> {
    render(&Path::new(REPO).join("deploy/kubernetes").join(name))
}

/// The objects of a kustomization, with the kustomize features these
/// manifests use (kustomize itself is a Go binary no registry here
/// offers): resources (files, and folders of their own kustomization),
/// then `namespace`, `labels`, `images` and JSON 6902 `patches`.
fn render(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_yaml::from_str(&text).unwrap();
    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_sequence().unwrap() {
        let path = dir.join(resource.as_str().unwrap());
        if path.is_dir() {
            objects.extend(render(&path));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let object = Value::deserialize(document).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            objects.push(object);
        }
    }
    for object in &mut objects {
        if let Some(namespace) = kustomization.get("namespace") {
            object["metadata"]["namespace"] = namespace.clone();
        }
        for label in kustomization["labels"].as_sequence().into_iter().flatten() {
            for (key, value) in label["pairs"].as_mapping().unwrap() {
                let metadata = object["metadata"].as_mapping_mut().unwrap();
                let labels = metadata
                    .entry("labels".into())
                    .or_insert_with(|| Value::Mapping(Default::default()));
                labels[key] = value.clone();
            }
        }
        for image in kustomization["images"].as_sequence().into_iter().flatten() {
            let new = format!(
                "{}:{}",
                image["newName"].as_str().unwrap(),
                image["newTag"].as_str().unwrap()
            );
            for container in containers_mut(object) {
                if container["image"] == image["name"] {
                    container["image"] = Value::String(new.clone());
                }
            }
        }
    }
    for patch in kustomization["patches"].as_sequence().into_iter().flatten() {
        let target = &patch["target"];
        let object = objects
            .iter_mut()
            .find(|o| o["kind"] == target["kind"] && o["metadata"]["name"] == target["name"])
            .unwrap_or_else(|| panic!("no target for {patch:?}"));
        let ops: Value = serde_yaml::from_str(patch["patch"].as_str().unwrap()).unwrap();
        for op in ops.as_sequence().unwrap() {
            apply_json_patch(object, op);
        }
    }
    objects
}

/// One JSON 6902 operation: `add` (at an index, a key, or `-` to append)
/// and `replace`.
fn apply_json_patch(object: &mut Value, op: &Value) {
    let path = op["path"].as_str().unwrap();
    let (parent, last) = path.rsplit_once('/').unwrap();
    let mut at = object;
    for token in parent.split('/').skip(1) {
        at = match token.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[token],
        };
    }
    let value = op["value"].clone();
    match (op["op"].as_str().unwrap(), last) {
        ("add", "-") => at.as_sequence_mut().unwrap().push(value),
        ("add" | "replace", key) => match key.parse::<usize>() {
            Ok(i) => at.as_sequence_mut().unwrap()[i] = value,
            Err(_) => at[key] = value,
        },
        (other, _) => panic!("JSON patch op {other} is not rendered here"),
    }
}

/// The containers of a Deployment's or a CronJob's pods.
fn containers_mut(object: &mut Value) -> Vec<&mut Value> {
    let pod = match object["kind"].as_str() {
        Some("CronJob") => &mut object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        Some("Deployment") => &mut object["spec"]["template"]["spec"],
        _ => return Vec::new(),
    };
    match pod["containers"].as_sequence_mut() {
        Some(containers) => containers.iter_mut().collect(),
        None => Vec::new(),
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

fn pod_container(pod_spec: &Value) -> &Value {
    &pod_spec["containers"][0]
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The value after `flag` in a container's arguments.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[at + 1]
}

/// The container port a probe names.
fn probe_port(container: &Value, probe: &str) -> (String, u64) {
    let get = &container[probe]["httpGet"];
    let name = get["port"].as_str().unwrap();
    let port = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| {
            panic!("{probe} names port {name}, which the container does not expose")
        });
    (
        get["path"].as_str().unwrap().to_string(),
        port["containerPort"].as_u64().unwrap(),
    )
}

#[test]
fn every_container_command_parses() {
    let objects = manifests("ballista");
    let scheduler = pod_container(
        &find(&objects, "Deployment", "advocacy-scheduler")["spec"]["template"]["spec"],
    );
    let executor = pod_container(
        &find(&objects, "Deployment", "advocacy-executor")["spec"]["template"]["spec"],
    );
    let nightly = pod_container(
        &find(&objects, "CronJob", "advocacy-nightly")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    );
    let dir = tempfile::tempdir().unwrap();
    for container in [scheduler, executor, nightly] {
        // clap refuses an unknown flag or a bad value before it gets to
        // --help, and prints the help (exit 0) when all of them parse.
        let mut line = args(container);
        line.push("--help".into());
        let refs: Vec<&str> = line.iter().map(String::as_str).collect();
        let out = advocacy_in(dir.path(), &refs, &[]);
        assert_exit(&out, 0);
        assert!(stderr(&out).is_empty(), "{line:?}: {}", stderr(&out));
    }

    // The scheduler serves its probes on its gRPC port; the executor on
    // the port --health-port gives it.
    let scheduler_args = args(scheduler);
    let bind_port: u64 = flag(&scheduler_args, "--bind")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        probe_port(scheduler, "readinessProbe"),
        ("/healthz".into(), bind_port)
    );
    assert_eq!(
        probe_port(scheduler, "livenessProbe"),
        ("/healthz".into(), bind_port)
    );
    let executor_args = args(executor);
    let health: u64 = flag(&executor_args, "--health-port").parse().unwrap();
    assert_eq!(
        probe_port(executor, "readinessProbe"),
        ("/readyz".into(), health)
    );
    assert_eq!(
        probe_port(executor, "livenessProbe"),
        ("/healthz".into(), health)
    );

    // The nightly run cuts each query stage into as many partitions as the
    // executors have task slots.
    let executors = find(&objects, "Deployment", "advocacy-executor");
    let slots = executors["spec"]["replicas"].as_u64().unwrap()
        * flag(&executor_args, "--concurrent-tasks")
            .parse::<u64>()
            .unwrap();
    let partitions = nightly["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DATAFUSION_EXECUTION_TARGET_PARTITIONS")
        .expect("the nightly run sets its partitions")["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(partitions, slots.to_string());

    // Executors and the nightly run reach the scheduler through its Service.
    let service = find(&objects, "Service", "advocacy-scheduler");
    let service_port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(bind_port, service_port);
    assert_eq!(
        flag(&executor_args, "--scheduler"),
        format!("advocacy-scheduler:{service_port}")
    );
    let env = |name: &str| {
        nightly["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("the nightly run sets no {name}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(env("ADVOCACY_ENGINE"), "ballista");
    assert_eq!(
        env("ADVOCACY_SCHEDULER"),
        format!("df://advocacy-scheduler:{service_port}")
    );
}

/// The config as mounted validates against the bundled models, with the
/// base's local engine and with the overlay's cluster, the salt read from
/// its secret file.
#[test]
fn the_mounted_config_validates_against_the_bundled_models() {
    let objects = manifests("base");
    let config = find(&objects, "ConfigMap", "advocacy-config")["data"]["advocacy.yaml"]
        .as_str()
        .unwrap();
    // The image holds the models at /opt/advocacy/queries; here they are
    // the repository's. The salt is a file of the Secret.
    let dir = tempfile::tempdir().unwrap();
    let salt = dir.path().join("pii-salt");
    std::fs::write(&salt, "from-the-secret").unwrap();
    for mounted in [
        "queries: /opt/advocacy/queries\n",
        "pii_salt_file: /var/run/secrets/advocacy/pii-salt\n",
    ] {
        assert!(config.contains(mounted), "{mounted}");
    }
    let config = config
        .replace(
            "queries: /opt/advocacy/queries\n",
            &format!("queries: {REPO}/queries\n"),
        )
        .replace(
            "pii_salt_file: /var/run/secrets/advocacy/pii-salt\n",
            &format!("pii_salt_file: {}\n", salt.display()),
        );
    std::fs::write(dir.path().join("advocacy.yaml"), config).unwrap();
    let validate = |env: &[(&str, &str)]| {
        advocacy_in(dir.path(), &["validate", "--config", "advocacy.yaml"], env)
    };
    assert_exit(&validate(&[]), 0);
    let cluster = [
        ("ADVOCACY_ENGINE", "ballista"),
        ("ADVOCACY_SCHEDULER", "df://advocacy-scheduler:50050"),
    ];
    if cfg!(feature = "ballista") {
        assert_exit(&validate(&cluster), 0);
        let out = validate(&[("ADVOCACY_ENGINE", "ballista")]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("engine.scheduler"),
            "{}",
            stderr(&out)
        );
    } else {
        // A binary built without the cluster says how to build one.
        let out = validate(&cluster);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("cargo build --release --features ballista"),
            "{}",
            stderr(&out)
        );
    }
}

/// The nightly CronJob: one run at a time, stopped after a bound, exit
/// codes 2, 3 and 4 never retried, a restricted pod with a read-only root
/// filesystem whose writes go to an emptyDir.
#[test]
fn the_nightly_job_is_bounded_and_restricted() {
    let objects = manifests("base");
    let cron = find(&objects, "CronJob", "advocacy-nightly");
    assert_eq!(cron["metadata"]["namespace"], "advocacy");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cron["spec"]["jobTemplate"]["spec"];
    assert!(job["activeDeadlineSeconds"].as_u64().unwrap() > 0);
    let rule = &job["podFailurePolicy"]["rules"][0];
    assert_eq!(rule["action"], "FailJob");
    let codes: Vec<u64> = rule["onExitCodes"]["values"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(codes, [2, 3, 4]);
    let pod = &job["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = pod_container(pod);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["image"], "registry.example.com/advocacy:0.1.0");
    let tmp = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/tmp")
        .expect("/tmp is mounted");
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == tmp["name"])
        .unwrap();
    assert!(volume.get("emptyDir").is_some(), "{volume:?}");
    // The base runs no cluster.
    assert!(objects.iter().all(|o| o["kind"] != "Deployment"));
}

/// checkov over the rendered base and overlay: no failed check, and every
/// skipped one waived in the manifests with a reason.
#[test]
fn checkov_finds_nothing_in_the_rendered_manifests() {
    if !common::slow_suite() {
        return;
    }
    let checkov = std::env::var("ADVOCACY_CHECKOV").unwrap_or_else(|_| {
        panic!("ADVOCACY_CHECKOV is not set: run bash scripts/test.sh, which installs checkov")
    });
    for name in ["base", "ballista"] {
        // Not tempfile's default ".tmp..." name: checkov skips hidden folders.
        let dir = tempfile::Builder::new()
            .prefix("rendered-")
            .tempdir()
            .unwrap();
        let rendered: Vec<String> = manifests(name)
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap())
            .collect();
        std::fs::write(dir.path().join("rendered.yaml"), rendered.join("---\n")).unwrap();
        let out = std::process::Command::new(&checkov)
            .args(["--framework", "kubernetes", "--output", "json", "-d"])
            .arg(dir.path())
            .env("BC_SKIP_MAPPING", "TRUE")
            .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}{}", stdout(&out), stderr(&out)));
        let results = &report["results"];
        let failed: Vec<String> = results["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} ({})", c["check_id"], c["check_name"], c["resource"]))
            .collect();
        assert!(failed.is_empty(), "{name}: {failed:#?}");
        assert!(
            report["summary"]["passed"].as_u64().is_some_and(|p| p > 50),
            "{name}: checkov checked nothing: {}",
            report["summary"]
        );
        for skipped in results["skipped_checks"].as_array().into_iter().flatten() {
            let why = skipped["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or("");
            assert!(
                why.len() > 20,
                "{name}: {skipped} is waived without a reason"
            );
        }
    }
}

/// The systemd unit's command parses, and it does not restart the exit
/// codes a retry cannot fix; the Airflow DAG is valid Python.
#[test]
fn the_systemd_and_airflow_examples_hold() {
    let unit =
        std::fs::read_to_string(Path::new(REPO).join("deploy/systemd/advocacy-nightly.service"))
            .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/advocacy "))
        .expect("ExecStart");
    let mut args: Vec<&str> = line.split_whitespace().collect();
    args.push("--help");
    let dir = tempfile::tempdir().unwrap();
    assert_exit(&advocacy_in(dir.path(), &args, &[]), 0);
    assert!(unit.contains("RestartPreventExitStatus=2 3 4\n"));
    let python = std::env::var("ADVOCACY_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(Path::new(REPO).join("deploy/airflow/advocacy_nightly.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
