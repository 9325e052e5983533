//! What `advocacy --version` says besides the crate's version: the commit
//! it was built from (`git`, when the source is a checkout; "unknown" in
//! an image built from a tarball, or `ADVOCACY_COMMIT` set by the build)
//! and the DataFusion release it runs (from Cargo.lock).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ADVOCACY_COMMIT");
    // Only paths that exist: cargo takes a missing one (`packed-refs`
    // before the first `git gc`) as changed, and would rebuild the crate
    // on every build. A gc that packs the refs changes `refs/heads`.
    for path in [
        ".git/HEAD",
        ".git/refs/heads",
        ".git/packed-refs",
        "Cargo.lock",
    ] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("ADVOCACY_COMMIT").ok().or_else(git_commit);
    println!(
        "cargo:rustc-env=ADVOCACY_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    let datafusion = std::fs::read_to_string("Cargo.lock")
        .ok()
        .and_then(|lock| locked_version(&lock, "datafusion"))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ADVOCACY_DATAFUSION_VERSION={datafusion}");
}

/// The checkout's commit, short.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--abbrev=12", "--match=NONE"])
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

/// The version Cargo.lock pins for a package.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            let version = lines.next()?.strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}
