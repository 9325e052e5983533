//! Named points at which a test stops the process. A crash test has it
//! killed with SIGKILL, to prove that a kill anywhere leaves a warehouse
//! the next plain run recovers (`tests/run/crash_safety.rs`):
//! `ADVOCACY_KILL_AT=<point>` kills at the point's first pass, `<point>:<n>`
//! at its n-th. A race test holds several processes at one point and lets
//! them go together (`ADVOCACY_HOLD_AT`, [`hold`]). Unset (always, in
//! production), a pass costs one load of a cached `None`.
//!
//! A hook rather than a kill from outside after some delay: a delay lands
//! in a different step on every machine, so the test could not say which
//! steps it covered.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Target {
    point: String,
    nth: u64,
    passes: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var("ADVOCACY_KILL_AT").ok()?;
            let (point, nth) = match spec.rsplit_once(':') {
                Some((point, n)) => (point.to_string(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Target {
                point,
                nth,
                passes: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Kills this process here if the environment asks for this point.
pub fn reached(point: &str) {
    let Some(target) = target() else {
        return;
    };
    if target.point != point || target.passes.fetch_add(1, Ordering::SeqCst) + 1 != target.nth {
        return;
    }
    eprintln!("ADVOCACY_KILL_AT: killing the process at {point}");
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    // The signal is on its way; nothing more may happen meanwhile.
    loop {
        std::thread::park();
    }
}

/// Holds this process at `point` when `ADVOCACY_HOLD_AT=<point>:<dir>`:
/// it writes `<dir>/<pid>` and waits until `<dir>/release` exists (a minute
/// at most, then it goes on). A test lines several processes up here and
/// releases them at once, so the race it must prove happens on every
/// machine, not only when the scheduler happens to interleave them.
pub fn hold(point: &str) {
    static HOLD: OnceLock<Option<(String, std::path::PathBuf)>> = OnceLock::new();
    let Some((at, dir)) = HOLD.get_or_init(|| {
        let spec = std::env::var("ADVOCACY_HOLD_AT").ok()?;
        let (at, dir) = spec.split_once(':')?;
        Some((at.to_string(), dir.into()))
    }) else {
        return;
    };
    if at != point {
        return;
    }
    let _ = std::fs::write(dir.join(std::process::id().to_string()), point);
    let release = dir.join("release");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !release.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
