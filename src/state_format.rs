//! Format versions of the warehouse's state files (the ingest manifest,
//! the run records, the lock). Each carries the version it was written
//! in, and a reader refuses a newer one rather than misread it: a file
//! written before versions counts as version 1. Delta Lake's protocol
//! check does the same for its log.

/// The run records' format (`_runs/<run_id>.json`, `_runs/latest.json`):
/// 1 before versions were recorded. Kept here, not with [`crate::run`],
/// because the pipeline reads the last record too.
pub const RUN_RECORD_VERSION: u32 = 2;

/// A state file written by a newer release than this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file} is in format {found}, written by a newer advocacy; this release reads formats \
     up to {supported}: run the release that wrote it, or a newer one"
)]
pub struct NewerFormat {
    pub file: String,
    pub found: u32,
    pub supported: u32,
}

/// Accepts `found` when this release (which writes `supported`) can read it.
pub fn check(file: &str, found: u32, supported: u32) -> Result<(), NewerFormat> {
    if found > supported {
        return Err(NewerFormat {
            file: file.to_string(),
            found,
            supported,
        });
    }
    Ok(())
}

/// The version of a file written before versions existed.
pub fn unversioned() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_or_equal_version_is_read_and_a_newer_refused() {
        assert_eq!(check("_state/lock", 1, 2), Ok(()));
        assert_eq!(check("_state/lock", 2, 2), Ok(()));
        let newer = check("_state/lock", 3, 2).unwrap_err();
        assert_eq!(
            newer.to_string(),
            "_state/lock is in format 3, written by a newer advocacy; this release reads \
             formats up to 2: run the release that wrote it, or a newer one"
        );
    }
}
