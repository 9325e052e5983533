//! The warehouse lock, `_state/lock`: taken with a conditional create so
//! two runs never write the same warehouse at once, released at the end
//! (success, failure, Ctrl-C or SIGTERM), and taken over when older than
//! the TTL or when its holder's process on this host is gone.

mod process;
mod takeover;

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::{Location, StorageError};
use takeover::Expected;

pub const LOCK_PATH: &str = "_state/lock";

/// The lock's format: 1 before versions were recorded.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// [`FORMAT_VERSION`] when written by this release.
    #[serde(default = "crate::state_format::unversioned")]
    pub format_version: u32,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub started_at: DateTime<Utc>,
    /// Refreshed while the run lives; locks written before heartbeats
    /// have none and count from `started_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Random per run: a heartbeat or release checks it besides the run
    /// id, so a lock is never taken for one's own by its look alone.
    #[serde(default)]
    pub token: String,
    /// The kernel boot, PID namespace and process start time of the
    /// holder (Linux): what makes its pid mean something (see
    /// [`process`]). Absent in locks written before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_started: Option<u64>,
}

impl LockInfo {
    /// The lock this process writes for run `run_id` of `command`.
    pub fn for_this_process(run_id: &str, command: &str, started_at: DateTime<Utc>) -> LockInfo {
        let identity = process::Identity::current();
        LockInfo {
            format_version: FORMAT_VERSION,
            run_id: run_id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            command: command.to_string(),
            started_at,
            heartbeat_at: None,
            token: process::random_token(),
            boot_id: identity.boot_id,
            pid_namespace: identity.pid_namespace,
            process_started: identity.process_started,
        }
    }

    fn identity(&self) -> process::Identity {
        process::Identity {
            boot_id: self.boot_id.clone(),
            pid_namespace: self.pid_namespace.clone(),
            process_started: self.process_started,
        }
    }

    /// When the holder was last known alive: the TTL counts from here.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.heartbeat_at.unwrap_or(self.started_at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the warehouse is locked by run {} ({}) on host {} pid {} since {}; \
         wait for it, or pass --force-unlock if that run is dead",
        .0.run_id, .0.command, .0.host, .0.pid, .0.started_at.to_rfc3339()
    )]
    Held(Box<LockInfo>),
    #[error("{LOCK_PATH} exists but is unreadable ({0}); remove it or pass --force-unlock")]
    Unreadable(String),
    #[error("{0}; the lock may be held by that release's run (pass --force-unlock if it is dead)")]
    Newer(#[from] crate::state_format::NewerFormat),
    #[error(
        "the warehouse lock was taken over by run {} (host {} pid {}) while this run \
         held it; this run stopped before publishing anything more",
        .0.run_id, .0.host, .0.pid
    )]
    Lost(Box<LockInfo>),
    #[error("the warehouse lock was removed while this run held it; this run stopped")]
    Removed,
    #[error(
        "the store accepted a second conditional create of the same object: it ignores \
         If-None-Match (as MinIO before 2024 and some Ceph RGW releases do), so the lock \
         cannot keep two runs apart and one run could delete the other's files. Use a \
         store that honours conditional writes, or, only if the scheduler never starts two \
         runs at once, set `run.allow_unconditional_store: true`"
    )]
    NoConditionalCreate,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A held lock; call [`Lock::release`] when the run ends.
pub struct Lock {
    warehouse: Location,
    pub info: LockInfo,
}

/// A holder on this host whose process no longer runs (killed) is dead
/// whatever its age, when its pid can be judged: same kernel boot, same
/// PID namespace (Linux, see [`process::is_gone`]). Elsewhere (another
/// host, another container, a lock written before identities) only the
/// TTL tells.
fn holder_is_dead(holder: &LockInfo) -> bool {
    holder.host == host_name()
        && process::is_gone(
            &holder.identity(),
            holder.pid,
            &process::Identity::current(),
        )
}

pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Lock {
    /// Takes the lock, or says who holds it. A lock older than `ttl` (a
    /// run that crashed without releasing) or any lock under `force` is
    /// removed and taken.
    pub async fn acquire(
        warehouse: &Location,
        info: LockInfo,
        ttl: chrono::Duration,
        force: bool,
    ) -> Result<Lock, LockError> {
        let lock = Lock {
            warehouse: warehouse.clone(),
            info,
        };
        if lock.try_create().await? {
            return Ok(lock);
        }
        let holder = match lock.read_holder().await {
            Ok(holder) => holder,
            Err(LockError::Unreadable(_) | LockError::Newer(_)) if force => None,
            // A 0-byte or foreign lock names no holder: its age is the
            // object's, and past the TTL it is taken over like any other.
            Err(LockError::Unreadable(why)) => {
                if lock.object_age().await?.is_some_and(|age| age <= ttl) {
                    return Err(LockError::Unreadable(why));
                }
                tracing::warn!(reason = %why, "taking over an unreadable warehouse lock older than run.lock_ttl");
                if lock.take_over(Expected::Unreadable).await? {
                    return Ok(lock);
                }
                return match lock.read_holder().await? {
                    holder if lock.is_ours(holder.as_ref()) => Ok(lock),
                    Some(h) => Err(LockError::Held(Box::new(h))),
                    None => Err(LockError::Unreadable("empty".into())),
                };
            }
            Err(e) => return Err(e),
        };
        // A create whose answer was lost and that was retried finds the
        // lock it made itself: it is ours.
        if lock.is_ours(holder.as_ref()) {
            return Ok(lock);
        }
        let stale = holder
            .as_ref()
            .is_some_and(|h| Utc::now() - h.last_seen() > ttl || holder_is_dead(h));
        if !(force || stale) {
            return Err(match holder {
                Some(h) => LockError::Held(Box::new(h)),
                None => LockError::Unreadable("empty".into()),
            });
        }
        tracing::warn!(holder = ?holder, forced = force, "taking over the warehouse lock");
        let expected = holder.as_ref().map_or(Expected::Anything, Expected::Holder);
        if lock.take_over(expected).await? {
            return Ok(lock);
        }
        match lock.read_holder().await? {
            // The takeover's update went through but its answer was lost.
            holder if lock.is_ours(holder.as_ref()) => Ok(lock),
            Some(h) => Err(LockError::Held(Box::new(h))),
            None => Err(LockError::Unreadable("empty".into())),
        }
    }

    fn is_ours(&self, holder: Option<&LockInfo>) -> bool {
        holder.is_some_and(|h| h.run_id == self.info.run_id && h.token == self.info.token)
    }

    /// How long ago the lock object was last written; `None` when gone.
    async fn object_age(&self) -> Result<Option<chrono::Duration>, LockError> {
        let path = self.warehouse.path(LOCK_PATH);
        match self.warehouse.store.head(&path).await {
            Ok(meta) => Ok(Some(Utc::now() - meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::object("head", &path, e).into()),
        }
    }

    /// Checks, once the lock is held, that the store honours conditional
    /// creates: a second create of the same object must fail. Tried on an
    /// object of this run's own (`_state/lock.probe-<token>`, removed
    /// after): on the lock itself, a takeover by rename elsewhere could
    /// move it away for an instant and make the second create succeed.
    /// Every run checks, so the first run on such a store finds out.
    pub async fn check_conditional_create(&self) -> Result<(), LockError> {
        let probe = self
            .warehouse
            .path(&format!("{LOCK_PATH}.probe-{}", self.info.token));
        let create = || {
            let body = PutPayload::from(self.info.token.clone().into_bytes());
            self.warehouse
                .store
                .put_opts(&probe, body, PutOptions::from(PutMode::Create))
        };
        let outcome = match create().await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => match create().await {
                Ok(_) => Err(LockError::NoConditionalCreate),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(()),
                Err(e) => Err(StorageError::object("create", &probe, e).into()),
            },
            Err(e) => Err(StorageError::object("create", &probe, e).into()),
        };
        if let Err(e) = self.warehouse.delete_if_exists(&probe).await {
            tracing::warn!(error = %e, "cannot remove the conditional-create probe");
        }
        outcome
    }

    async fn try_create(&self) -> Result<bool, LockError> {
        self.put(&self.info, PutMode::Create)
            .await
            .map_err(|e| StorageError::object("create", &self.warehouse.path(LOCK_PATH), e).into())
    }

    /// Writes `info` as the lock under `mode`; false when the condition
    /// does not hold (another run's lock is there, or it changed).
    async fn put(&self, info: &LockInfo, mode: PutMode) -> Result<bool, object_store::Error> {
        let path = self.warehouse.path(LOCK_PATH);
        let body = serde_json::to_vec_pretty(info).expect("lock info serialises");
        let options = PutOptions::from(mode);
        match self
            .warehouse
            .store
            .put_opts(&path, PutPayload::from(body), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn read_holder(&self) -> Result<Option<LockInfo>, LockError> {
        let path = self.warehouse.path(LOCK_PATH);
        match self.warehouse.get_opt(&path).await? {
            None => Ok(None),
            Some(bytes) => {
                let info: LockInfo = serde_json::from_slice(&bytes)
                    .map_err(|e| LockError::Unreadable(e.to_string()))?;
                crate::state_format::check(LOCK_PATH, info.format_version, FORMAT_VERSION)?;
                Ok(Some(info))
            }
        }
    }

    /// Runs `work` while refreshing the lock's heartbeat every quarter of
    /// the TTL, so a run longer than the TTL is never taken for dead. A
    /// heartbeat that finds the lock another run's, or gone, stops `work`
    /// with an error: two runs must never write the warehouse at once,
    /// and the loser is the one that can no longer prove it holds it.
    pub async fn keep_alive<F: std::future::Future>(
        &self,
        ttl: chrono::Duration,
        work: F,
    ) -> Result<F::Output, LockError> {
        let period = (ttl / 4).to_std().unwrap_or_default().clamp(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(300),
        );
        let beat = async {
            loop {
                tokio::time::sleep(period).await;
                if let Err(lost) = self.heartbeat().await {
                    return lost;
                }
            }
        };
        tokio::select! {
            output = work => Ok(output),
            lost = beat => Err(lost),
        }
    }

    /// Rewrites the lock with a fresh `heartbeat_at` if it is still ours;
    /// an error when it is not. Read and write are two requests: a
    /// takeover in between is possible only once heartbeats have already
    /// failed for a whole TTL, and the next heartbeat then sees it. A
    /// store that cannot be reached is only a warning: the run's own
    /// requests fail and say why.
    async fn heartbeat(&self) -> Result<(), LockError> {
        match self.read_holder().await {
            Ok(holder) if self.is_ours(holder.as_ref()) => {
                let info = LockInfo {
                    heartbeat_at: Some(Utc::now()),
                    ..self.info.clone()
                };
                if let Err(e) = self.put(&info, PutMode::Overwrite).await {
                    tracing::warn!(error = %e, "cannot refresh the warehouse lock");
                }
                Ok(())
            }
            Ok(Some(holder)) => Err(LockError::Lost(Box::new(holder))),
            Ok(None) => Err(LockError::Removed),
            // Our lock was replaced by one this release cannot read (a
            // newer release's, or garbage): it is not ours any more.
            Err(e @ (LockError::Newer(_) | LockError::Unreadable(_))) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the warehouse lock");
                Ok(())
            }
        }
    }

    /// Removes the lock if it is provably still ours: a takeover may have
    /// replaced it, and a lock that cannot be read may be another run's.
    pub async fn release(self) -> Result<(), LockError> {
        release_if_ours(&self.warehouse, &self.info).await
    }
}

/// Removes the lock `info` describes if it is still there, unchanged in
/// run and token; what else is there is left alone. Also what a run that
/// gave up while taking the lock calls (its create may have gone through).
pub async fn release_if_ours(warehouse: &Location, info: &LockInfo) -> Result<(), LockError> {
    let lock = Lock {
        warehouse: warehouse.clone(),
        info: info.clone(),
    };
    match lock.read_holder().await {
        Ok(holder) if lock.is_ours(holder.as_ref()) => {
            let path = warehouse.path(LOCK_PATH);
            Ok(warehouse.delete_if_exists(&path).await?)
        }
        Ok(Some(holder)) => {
            tracing::warn!(holder = %holder.run_id, "lock was taken over; leaving it");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e @ (LockError::Newer(_) | LockError::Unreadable(_))) => {
            tracing::warn!("{e}; leaving it");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(run_id: &str) -> LockInfo {
        LockInfo {
            host: "elsewhere".into(),
            pid: 1,
            ..LockInfo::for_this_process(run_id, "run", Utc::now())
        }
    }

    /// A run whose lock another run took (here by force) stops at its next
    /// heartbeat instead of writing on beside it, and leaves the other's
    /// lock in place.
    #[tokio::test]
    async fn a_run_that_lost_its_lock_stops() {
        let storage = Default::default();
        let warehouse = Location::open("memory://lock-lost", &storage, true).unwrap();
        let ttl = chrono::Duration::milliseconds(800);
        let lock = Lock::acquire(&warehouse, info("first"), ttl, false)
            .await
            .unwrap();
        let outcome = lock
            .keep_alive(ttl, async {
                let _other = Lock::acquire(&warehouse, info("second"), ttl, true)
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "finished"
            })
            .await;
        match outcome {
            Err(LockError::Lost(holder)) => assert_eq!(holder.run_id, "second"),
            other => panic!("kept running: {other:?}"),
        }
        lock.release().await.unwrap();
        let holder = Lock::acquire(&warehouse, info("third"), ttl, false).await;
        match holder {
            Err(LockError::Held(holder)) => assert_eq!(holder.run_id, "second"),
            other => panic!("{:?}", other.map(|l| l.info)),
        }
    }

    /// A run that outlives the TTL keeps its lock: its heartbeat is fresh,
    /// so a second run is refused throughout, and takes it once released.
    #[tokio::test]
    async fn a_heartbeat_keeps_a_long_run_s_lock() {
        let storage = Default::default();
        let warehouse = Location::open("memory://lock-heartbeat", &storage, true).unwrap();
        let ttl = chrono::Duration::milliseconds(800);
        let lock = Lock::acquire(&warehouse, info("long"), ttl, false)
            .await
            .unwrap();
        let attempts = lock
            .keep_alive(ttl, async {
                let mut refused = 0;
                for _ in 0..6 {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    match Lock::acquire(&warehouse, info("second"), ttl, false).await {
                        Err(LockError::Held(holder)) => {
                            assert_eq!(holder.run_id, "long");
                            refused += 1;
                        }
                        other => panic!("a live run's lock was taken: {:?}", other.map(|l| l.info)),
                    }
                }
                refused
            })
            .await
            .unwrap();
        // 1.8 s, more than twice the TTL, all refused.
        assert_eq!(attempts, 6);
        let holder = lock.read_holder().await.unwrap().unwrap();
        assert!(holder.heartbeat_at.unwrap() - holder.started_at > chrono::Duration::seconds(1));
        lock.release().await.unwrap();
        let second = Lock::acquire(&warehouse, info("second"), ttl, false)
            .await
            .unwrap();
        assert_eq!(second.info.run_id, "second");
    }

    /// On a store with conditional updates (the memory store, as S3 and
    /// GCS), eight runs taking over the same dead lock at once: one wins.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_conditional_update_lets_one_of_many_take_over() {
        let storage = Default::default();
        let warehouse = Location::open("memory://lock-takeover", &storage, true).unwrap();
        let ttl = chrono::Duration::hours(6);
        let dead = LockInfo {
            started_at: Utc::now() - chrono::Duration::days(1),
            ..info("dead")
        };
        let body = serde_json::to_vec(&dead).unwrap();
        warehouse
            .put(&warehouse.path(LOCK_PATH), body)
            .await
            .unwrap();
        let attempts = (0..8).map(|i| {
            let warehouse = warehouse.clone();
            tokio::spawn(async move {
                Lock::acquire(&warehouse, info(&format!("run{i}")), ttl, false).await
            })
        });
        let mut winners = Vec::new();
        for attempt in attempts.collect::<Vec<_>>() {
            match attempt.await.unwrap() {
                Ok(lock) => winners.push(lock.info.run_id.clone()),
                Err(LockError::Held(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let holder = Lock {
            warehouse: warehouse.clone(),
            info: info("reader"),
        }
        .read_holder()
        .await
        .unwrap()
        .unwrap();
        assert_eq!(holder.run_id, winners[0]);
    }
}
