//! The Kubernetes example under deploy/ says what the binary accepts: every
//! container's arguments parse, the probes point at the ports the servers
//! are told to serve them on, the nightly run reaches the scheduler's
//! Service, and the mounted config validates against the bundled models.

mod common;

use std::path::Path;

use common::{advocacy_in, assert_exit, stderr};
use serde::Deserialize;
use serde_yaml::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Every object of every manifest in deploy/kubernetes.
fn manifests() -> Vec<Value> {
    let mut objects = Vec::new();
    for name in [
        "config.yaml",
        "scheduler.yaml",
        "executor.yaml",
        "nightly.yaml",
    ] {
        let text =
            std::fs::read_to_string(Path::new(REPO).join("deploy/kubernetes").join(name)).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            objects.push(Value::deserialize(document).unwrap_or_else(|e| panic!("{name}: {e}")));
        }
    }
    objects
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
    let objects = manifests();
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
    let config = find(&objects, "ConfigMap", "advocacy-config")["data"]["advocacy.yaml"]
        .as_str()
        .unwrap();
    assert!(
        config.contains(&format!(
            "scheduler: \"df://advocacy-scheduler:{service_port}\""
        )),
        "{config}"
    );
}

#[test]
fn the_mounted_config_validates_against_the_bundled_models() {
    let objects = manifests();
    let config = find(&objects, "ConfigMap", "advocacy-config")["data"]["advocacy.yaml"]
        .as_str()
        .unwrap();
    // The image holds the models at /opt/advocacy/queries; here they are
    // the repository's.
    assert!(config.contains("queries: /opt/advocacy/queries\n"));
    let config = config.replace(
        "queries: /opt/advocacy/queries\n",
        &format!("queries: {REPO}/queries\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("advocacy.yaml"), config).unwrap();
    let out = advocacy_in(
        dir.path(),
        &["validate", "--config", "advocacy.yaml"],
        &[("ADVOCACY_PII_SALT", "from-the-secret")],
    );
    assert_exit(&out, 0);
}
