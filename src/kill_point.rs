//! Named points at which a crash test has the process killed with SIGKILL,
//! to prove that a kill anywhere leaves a warehouse the next plain run
//! recovers (`tests/crash_safety.rs`). `ADVOCACY_KILL_AT=<point>` kills at
//! the point's first pass, `<point>:<n>` at its n-th. Unset (always, in
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
