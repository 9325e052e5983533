//! Taking over a dead run's lock without letting two runs in: the lock
//! is replaced only if it is still what was read.

use object_store::{ObjectStoreExt, PutMode};

use super::{LOCK_PATH, Lock, LockError, LockInfo};
use crate::storage::StorageError;

/// What a takeover expects to find in place of the lock it replaces: if
/// something else is there, another run got in first.
#[derive(Clone, Copy)]
pub(super) enum Expected<'a> {
    /// The dead holder's lock, unchanged.
    Holder(&'a LockInfo),
    /// A lock that names no holder (0 bytes, not a lock), still so.
    Unreadable,
    /// Whatever is there (`--force-unlock`).
    Anything,
}

impl Expected<'_> {
    fn matches(self, found: Option<&LockInfo>) -> bool {
        match self {
            Expected::Holder(holder) => found == Some(holder),
            Expected::Unreadable => found.is_none(),
            Expected::Anything => true,
        }
    }
}

impl Lock {
    /// Replaces the lock (`expected`, as read) with ours, unless another run
    /// changed it since: two runs that find the same dead lock never both
    /// take it. Stores with conditional updates (S3, GCS, Azure, memory)
    /// replace it with `PutMode::Update` on its e-tag. Local files have
    /// none: the lock is first renamed away (a rename either happens or
    /// finds nothing), kept only if it is still the dead one, and then
    /// created anew, which only one run can do.
    pub(super) async fn take_over(&self, expected: Expected<'_>) -> Result<bool, LockError> {
        let path = self.warehouse.path(LOCK_PATH);
        let current = match self.warehouse.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return self.try_create().await,
            Err(e) => return Err(StorageError::object("read", &path, e).into()),
        };
        let meta = current.meta.clone();
        let bytes = current
            .bytes()
            .await
            .map_err(|e| StorageError::object("read", &path, e))?;
        let now: Option<LockInfo> = serde_json::from_slice(&bytes).ok();
        if !expected.matches(now.as_ref()) {
            return Ok(false); // another run took it over meanwhile
        }
        let update = object_store::UpdateVersion {
            e_tag: meta.e_tag,
            version: meta.version,
        };
        crate::kill_point::hold("lock_takeover");
        match self.put(&self.info, PutMode::Update(update)).await {
            Ok(taken) => Ok(taken),
            // The lock went meanwhile: another run released or moved it.
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) => {
                self.take_over_by_rename(expected).await
            }
            Err(e) => Err(StorageError::object("replace", &path, e).into()),
        }
    }

    /// Local files: rename the lock to a name of our own, check that what
    /// we moved is the dead lock, and create ours.
    async fn take_over_by_rename(&self, expected: Expected<'_>) -> Result<bool, LockError> {
        let path = self.warehouse.path(LOCK_PATH);
        let moved = self
            .warehouse
            .path(&format!("{LOCK_PATH}.taken-by-{}", self.info.run_id));
        match self.warehouse.store.rename(&path, &moved).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return self.try_create().await,
            Err(e) => return Err(StorageError::object("rename", &path, e).into()),
        }
        let got: Option<LockInfo> = self
            .warehouse
            .get_opt(&moved)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok());
        if !expected.matches(got.as_ref()) {
            // We moved a live run's fresh lock: put it back, unless a third
            // run has created one meanwhile; the live run then finds the
            // third one's lock at its next heartbeat and stops.
            let _ = self
                .warehouse
                .store
                .rename_if_not_exists(&moved, &path)
                .await;
            self.warehouse.delete_if_exists(&moved).await?;
            return Ok(false);
        }
        self.warehouse.delete_if_exists(&moved).await?;
        self.try_create().await
    }
}
