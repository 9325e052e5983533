//! The warehouse lock: a second run exits 4 naming the holder, stale locks
//! are taken over (old, or their process on this host gone), --force-unlock
//! works, and the lock is released after success, failure, Ctrl-C and
//! SIGTERM.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Project, assert_exit, stderr};

const SOURCE: &str = r#"  - name: shop
    entity: orders
    format: csv
    path: orders*.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
"#;

fn lock_file(p: &Project) -> std::path::PathBuf {
    p.warehouse().join("_state/lock")
}

fn hold_lock(p: &Project, started_at: &str) {
    write_lock(p, "20261101T000000Z-other", "etl-7", 4242, started_at);
}

/// Writes the lock file as a run with these details would hold it.
fn write_lock(p: &Project, run_id: &str, host: &str, pid: u32, started_at: &str) {
    std::fs::create_dir_all(p.warehouse().join("_state")).unwrap();
    std::fs::write(
        lock_file(p),
        format!(
            r#"{{"run_id": "{run_id}", "host": "{host}", "pid": {pid}, "command": "run", "started_at": "{started_at}"}}"#
        ),
    )
    .unwrap();
}

/// Starts `advocacy ingest` on the project, stderr captured.
fn spawn_ingest(p: &Project, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_advocacy"))
        .args(["ingest", "--config", "config.yaml"])
        .args(extra)
        .current_dir(p.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn small_project() -> Project {
    let p = Project::new();
    p.config(SOURCE);
    p.land("orders.csv", "id,cid,at,amount\no1,C1,2025-01-01,5\n");
    p
}

/// Enough orders that an ingest in a debug build takes about a second.
fn large_orders() -> String {
    let mut csv = String::from("id,cid,at,amount\n");
    for i in 0..300_000 {
        csv.push_str(&format!(
            "o{i},C{},2025-01-0{}T10:00:00Z,{}.5\n",
            i % 977,
            1 + i % 9,
            i % 400
        ));
    }
    csv
}

#[test]
fn a_second_run_exits_4_naming_the_holder() {
    let p = small_project();
    let now = chrono::Utc::now().to_rfc3339();
    hold_lock(&p, &now);
    let out = p.ingest();
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("locked by run 20261101T000000Z-other (run) on host etl-7 pid 4242 since")
            && err.contains(&now[..19]),
        "{err}"
    );
    assert!(
        !p.warehouse().join("raw").exists(),
        "a locked-out run wrote data"
    );
    assert!(lock_file(&p).exists(), "the holder's lock was removed");
}

#[test]
fn a_stale_lock_is_taken_over_and_force_unlock_works() {
    let p = small_project();
    let old = (chrono::Utc::now() - chrono::Duration::hours(7)).to_rfc3339();
    hold_lock(&p, &old);
    assert_exit(&p.ingest(), 0);
    assert!(!lock_file(&p).exists());

    hold_lock(&p, &chrono::Utc::now().to_rfc3339());
    let forced = p.advocacy(&["ingest", "--config", "config.yaml", "--force-unlock"]);
    assert_exit(&forced, 0);
    assert!(!lock_file(&p).exists());

    // An unreadable lock blocks a run but not --force-unlock.
    std::fs::write(lock_file(&p), "not json").unwrap();
    assert_exit(&p.ingest(), 4);
    let forced = p.advocacy(&["ingest", "--config", "config.yaml", "--force-unlock"]);
    assert_exit(&forced, 0);
    assert!(!lock_file(&p).exists());
}

#[test]
fn the_lock_is_released_after_a_failed_run() {
    let p = small_project();
    p.land("orders-2.csv", "wrong,header\n1,2\n");
    assert_exit(&p.ingest(), 1);
    assert!(!lock_file(&p).exists());
}

#[test]
fn concurrent_runs_one_wins_the_others_exit_4() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("orders.csv", large_orders());
    let children: Vec<_> = (0..3).map(|_| spawn_ingest(&p, &["-q"])).collect();
    let mut codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    codes.sort();
    assert_eq!(codes[0], 0, "{codes:?}");
    assert!(codes.contains(&4), "no run was locked out: {codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 4), "{codes:?}");
    let loaded = p.query("raw/orders", "SELECT count(*) AS n FROM t");
    assert_eq!(common::lines(&loaded)[1..], ["300000"]);
    assert!(!lock_file(&p).exists());
}

/// Four runs find the same dead lock at once: exactly one gets the lock
/// (on local files the dead lock is renamed away, checked and created
/// anew), the others are refused; no renamed lock is left behind.
#[test]
fn only_one_of_several_runs_takes_over_a_dead_lock() {
    let p = Project::new();
    p.config(SOURCE);
    p.land("orders.csv", large_orders());
    hold_lock(&p, "2020-01-01T00:00:00Z");
    let children: Vec<_> = (0..4).map(|_| spawn_ingest(&p, &[])).collect();
    let outcomes: Vec<(i32, bool)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let took_over = stderr(&out).contains("taking over the warehouse lock");
            (out.status.code().unwrap(), took_over)
        })
        .collect();
    // All four ask within milliseconds, while the winner's ingest takes
    // most of a second: one runs, three are refused. A takeover that let
    // two in would show two 0s.
    let mut codes: Vec<i32> = outcomes.iter().map(|(code, _)| *code).collect();
    codes.sort();
    assert_eq!(codes, [0, 4, 4, 4], "{outcomes:?}");
    assert!(outcomes.iter().any(|(_, took)| *took), "{outcomes:?}");
    assert!(!lock_file(&p).exists());
    let leftovers: Vec<_> = std::fs::read_dir(p.warehouse().join("_state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Ctrl-C (SIGINT) and SIGTERM (what Kubernetes, systemd and Airflow send)
/// both stop the run and release the lock.
#[test]
fn ctrl_c_and_sigterm_release_the_lock() {
    for signal in ["-INT", "-TERM"] {
        let p = Project::new();
        p.config(SOURCE);
        p.land("orders.csv", large_orders());
        let child = spawn_ingest(&p, &["-q"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !lock_file(&p).exists() {
            assert!(Instant::now() < deadline, "the run never took the lock");
            std::thread::sleep(Duration::from_millis(5));
        }
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("interrupted"),
            "{signal}: {}",
            stderr(&out)
        );
        assert!(!lock_file(&p).exists(), "{signal} left the lock behind");
    }
}

/// After a SIGKILL the lock stays, but its holder's pid on this host no
/// longer runs: the next run takes it over at once, however fresh it is,
/// and so when the pid runs again in a process started at another time.
/// The same fresh lock held by a live process (this test's own) still
/// stops the run with exit 4, and so does one on another host, in another
/// PID namespace (issue 27, point 3: two containers that are both PID 1),
/// or written before holders recorded their boot and namespace.
#[test]
fn a_lock_whose_process_is_gone_is_taken_over_at_once() {
    let p = small_project();
    let mut finished = Command::new("true").spawn().unwrap();
    finished.wait().unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let started: u64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    // A lock as a run on this host (or in another PID namespace) writes it.
    let write = |host: &str, pid: u32, namespace: &str, started: u64| {
        write_lock(&p, "20261101T000000Z-killed", host, pid, &now);
        let mut lock: serde_json::Value =
            serde_json::from_slice(&std::fs::read(lock_file(&p)).unwrap()).unwrap();
        lock["boot_id"] = boot_id.trim().into();
        lock["pid_namespace"] = namespace.into();
        lock["process_started"] = started.into();
        std::fs::write(lock_file(&p), lock.to_string()).unwrap();
    };
    let here = namespace.to_string_lossy().into_owned();
    let ingest = || {
        p.advocacy_env(
            &["ingest", "--config", "config.yaml", "--date", "2026-11-01"],
            &[("HOSTNAME", "test-host")],
        )
    };
    let taken_over = |out: &std::process::Output| {
        assert_exit(out, 0);
        assert!(
            stderr(out).contains("taking over the warehouse lock"),
            "{}",
            stderr(out)
        );
        assert!(!lock_file(&p).exists());
    };
    // This test process holds it: alive.
    write("test-host", std::process::id(), &here, started);
    assert_exit(&ingest(), 4);
    // Another host: only the TTL tells.
    write("other-host", finished.id(), &here, started);
    assert_exit(&ingest(), 4);
    // Another container on this host (another PID namespace, as two
    // containers that are both PID 1): its pid means nothing here.
    write("test-host", finished.id(), "pid:[1]", started);
    assert_exit(&ingest(), 4);
    // A lock written before holders recorded their namespace: the TTL.
    write_lock(
        &p,
        "20261101T000000Z-killed",
        "test-host",
        finished.id(),
        &now,
    );
    assert_exit(&ingest(), 4);
    // Its process is gone.
    write("test-host", finished.id(), &here, started);
    taken_over(&ingest());
    // Its pid is live again, but in a process started at another time.
    write("test-host", std::process::id(), &here, started + 1);
    taken_over(&ingest());
}

/// Issue 27, point 3: a 0-byte or foreign `_state/lock` names no holder.
/// While younger than `run.lock_ttl` it stops runs (exit 4, saying what is
/// wrong); older, it is taken over like any dead lock, without
/// `--force-unlock`.
#[test]
fn an_unreadable_lock_older_than_the_ttl_is_taken_over() {
    let p = small_project();
    for contents in ["", "not a lock"] {
        std::fs::create_dir_all(p.warehouse().join("_state")).unwrap();
        std::fs::write(lock_file(&p), contents).unwrap();
        let young = p.ingest();
        assert_exit(&young, 4);
        assert!(
            stderr(&young).contains("_state/lock exists but is unreadable"),
            "{}",
            stderr(&young)
        );
        let aged = Command::new("touch")
            .args(["-d", "2 days ago"])
            .arg(lock_file(&p))
            .status()
            .unwrap();
        assert!(aged.success());
        let out = p.ingest();
        assert_exit(&out, 0);
        assert!(
            stderr(&out)
                .contains("taking over an unreadable warehouse lock older than run.lock_ttl"),
            "{}",
            stderr(&out)
        );
        assert!(!lock_file(&p).exists());
    }
}
