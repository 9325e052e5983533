//! Who holds the lock, told apart well enough that two live runs are
//! never taken for one: a random token per run, and on Linux the kernel's
//! boot id, the PID namespace and the process's start time. A pid means
//! something only in the PID namespace of the kernel that gave it:
//! containers on one host share a host name and a boot id, and each may
//! be PID 1.

use std::path::Path;

/// What a run records of itself in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub boot_id: Option<String>,
    pub pid_namespace: Option<String>,
    /// Clock ticks after boot when the process started (`/proc/<pid>/stat`).
    pub process_started: Option<u64>,
}

impl Identity {
    /// This process's identity; fields stay `None` where `/proc` does not
    /// tell (not Linux, or a restricted `/proc`).
    pub fn current() -> Identity {
        Identity {
            boot_id: boot_id(),
            pid_namespace: pid_namespace(),
            process_started: process_started(std::process::id()),
        }
    }
}

/// A random token (128 bits, hex) from the kernel's generator; where there
/// is none, a hash of the time, the pid and the host.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if random.is_ok() {
        return bytes.iter().map(|b| format!("{b:02x}")).collect();
    }
    let seed = format!(
        "{:?}-{}-{}",
        std::time::SystemTime::now(),
        std::process::id(),
        super::host_name()
    );
    crate::pii::sha256_hex(seed.as_bytes())[..32].to_string()
}

/// Whether a holder recorded with `holder` identity and `pid` is provably
/// gone, seen from a process with identity `me` on the same host: only
/// when both run on the same kernel boot and in the same PID namespace,
/// and then when no process has that pid or the one that has it started
/// at another time (the pid was reused, by this very run perhaps).
pub fn is_gone(holder: &Identity, pid: u32, me: &Identity) -> bool {
    let same_pid_space = holder.boot_id.is_some()
        && holder.boot_id == me.boot_id
        && holder.pid_namespace.is_some()
        && holder.pid_namespace == me.pid_namespace;
    if !same_pid_space {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    // A zombie (dead, not yet reaped by its parent) or a dying process
    // still has its /proc entry, but holds nothing any more.
    if stat
        .as_deref()
        .and_then(parse_state)
        .is_some_and(|s| s == 'Z' || s == 'X')
    {
        return true;
    }
    match (
        stat.as_deref().and_then(parse_start_time),
        holder.process_started,
    ) {
        (Some(now), Some(then)) => now != then,
        // A start time not known on either side: only a missing pid tells.
        _ => !Path::new(&format!("/proc/{pid}")).exists(),
    }
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Field 22 of `/proc/<pid>/stat`, counted after the command name, which
/// is in parentheses and may itself hold spaces and parentheses.
fn process_started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 3 of `/proc/<pid>/stat`: the state (`R`, `S`, `Z` for a zombie...).
fn parse_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

fn parse_start_time(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the name; the start time is field 22.
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 \
                    987654 1000 50";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
        assert_eq!(parse_state(stat), Some('S'));
        assert_eq!(parse_state("1 (x) Z 0"), Some('Z'));
    }

    #[test]
    fn a_pid_counts_only_in_the_same_boot_and_pid_namespace() {
        let me = Identity::current();
        if me.boot_id.is_none() || me.pid_namespace.is_none() {
            return; // not Linux: only the TTL tells
        }
        let own_pid = std::process::id();
        // This process, as recorded by itself: alive.
        assert!(!is_gone(&me, own_pid, &me));
        // The same pid recorded by a process that started at another time:
        // the pid was reused, its holder is gone.
        let earlier = Identity {
            process_started: me.process_started.map(|t| t.saturating_sub(1)),
            ..me.clone()
        };
        assert!(is_gone(&earlier, own_pid, &me));
        // PID 1 of another container (another PID namespace) on this host:
        // nothing can be said, however our own PID 1 looks.
        let other_container = Identity {
            pid_namespace: Some("pid:[1]".into()),
            ..earlier.clone()
        };
        assert!(!is_gone(&other_container, 1, &me));
        assert!(!is_gone(&other_container, own_pid, &me));
        // A lock written before identities were recorded: only the TTL tells.
        assert!(!is_gone(&Identity::default(), own_pid, &me));
        // No process has this pid.
        assert!(is_gone(&me, u32::MAX - 1, &me));
    }

    /// A holder killed but not yet reaped by its parent (`kill -9` of a
    /// run whose parent shell is busy) keeps its pid and its /proc entry,
    /// in state Z: it is gone all the same.
    #[test]
    fn a_zombie_holder_is_gone() {
        let me = Identity::current();
        if me.boot_id.is_none() || me.pid_namespace.is_none() {
            return; // not Linux: only the TTL tells
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let holder = Identity {
            process_started: process_started(pid),
            ..me.clone()
        };
        assert!(!is_gone(&holder, pid, &me), "a live holder");
        child.kill().unwrap();
        // Not reaped: wait until the kernel shows it as a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_state(&s))
            != Some('Z')
        {
            assert!(std::time::Instant::now() < deadline, "no zombie");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(is_gone(&holder, pid, &me), "a zombie holder");
        child.wait().unwrap();
        assert!(is_gone(&holder, pid, &me), "a reaped holder");
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
