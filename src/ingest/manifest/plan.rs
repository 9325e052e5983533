//! The incremental decision, as pure functions of the manifest and the
//! landing listing: which files to read ([`plan`]), what a file that was
//! read turned out to be ([`after_read`]), and which copies lost their
//! original ([`Manifest::orphaned_duplicates`]). Ingest only carries the
//! answers out.

use object_store::ObjectMeta;

use super::{Manifest, ManifestEntry};

/// What decides whether a loaded file still stands: the source, the
/// fingerprint of its configuration today, and `--full-refresh`.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub source: &'a str,
    pub fingerprint: &'a str,
    /// The same configuration as an earlier release fingerprinted it.
    pub legacy_fingerprint: &'a str,
    pub full_refresh: bool,
}

impl Policy<'_> {
    /// Whether the entry's rows were loaded as the config says today: not
    /// under `--full-refresh`, and with this fingerprint (or before
    /// fingerprints were recorded).
    pub fn loaded_as_configured(&self, entry: &ManifestEntry) -> bool {
        !self.full_refresh
            && entry
                .fingerprint
                .as_deref()
                .is_none_or(|f| f == self.fingerprint || f == self.legacy_fingerprint)
    }
}

/// What a listed landing file needs, decided before reading it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The version that was loaded, loaded as configured: nothing to do.
    Skip,
    /// The version that was loaded, by a release that recorded no
    /// fingerprint or fingerprinted the same configuration another way:
    /// record today's rather than reload every file on the upgrade (the
    /// entry to save).
    RecordFingerprint(ManifestEntry),
    /// New, changed in place, loaded under another configuration, or
    /// `--full-refresh`: read it. `previous` is what the manifest holds for its path.
    Read {
        previous: Option<ManifestEntry>,
        reason: ReadReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReason {
    New,
    /// Another size or version than the one loaded.
    Changed,
    FullRefresh,
    /// The source's mapping, PII salt or mode, or the time zone changed.
    ConfigChanged,
}

impl ReadReason {
    /// Why a file that was loaded before is read again, for the log.
    pub fn reload(self) -> Option<&'static str> {
        match self {
            ReadReason::New | ReadReason::Changed => None,
            ReadReason::FullRefresh => Some("--full-refresh"),
            ReadReason::ConfigChanged => {
                Some("the source's mapping, PII salt or mode, or time zone changed")
            }
        }
    }
}

/// One action per listed file, in the listing's order; `relative` gives a
/// listed object's path in the landing area.
pub fn plan(
    manifest: &Manifest,
    policy: &Policy,
    listing: &[ObjectMeta],
    relative: impl Fn(&ObjectMeta) -> String,
) -> Vec<Action> {
    listing
        .iter()
        .map(|meta| {
            let previous = manifest.find(policy.source, &relative(meta));
            decide(previous, policy, meta)
        })
        .collect()
}

fn decide(previous: Option<&ManifestEntry>, policy: &Policy, meta: &ObjectMeta) -> Action {
    let Some(prev) = previous else {
        return Action::Read {
            previous: None,
            reason: ReadReason::New,
        };
    };
    let reason = if !same_version(prev, meta) {
        ReadReason::Changed
    } else if policy.full_refresh {
        ReadReason::FullRefresh
    } else if !policy.loaded_as_configured(prev) {
        ReadReason::ConfigChanged
    } else if prev.fingerprint.as_deref() != Some(policy.fingerprint) {
        return Action::RecordFingerprint(ManifestEntry {
            fingerprint: Some(policy.fingerprint.to_string()),
            ..prev.clone()
        });
    } else {
        return Action::Skip;
    };
    Action::Read {
        previous: Some(prev.clone()),
        reason,
    }
}

/// Unchanged when size and version match; object stores without an e_tag
/// fall back to the modification time.
fn same_version(entry: &ManifestEntry, meta: &ObjectMeta) -> bool {
    entry.size == meta.size
        && match (&entry.e_tag, &meta.e_tag) {
            (Some(a), Some(b)) => a == b,
            _ => entry.last_modified == meta.last_modified.timestamp_micros(),
        }
}

/// What a file that was read is, once its content hash is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Touched but identical to the rows loaded from it (its entry): keep
    /// those rows and record the new version.
    SameContent(Box<ManifestEntry>),
    /// A copy of another file of the source whose rows are loaded (a
    /// renamed copy, or a file changed into a copy of another): load
    /// nothing, and any earlier rows of this path go.
    CopyOf(String),
    /// Rows of its own: publish them, replacing any earlier ones.
    NewRows,
}

/// `previous` is the path's entry before the read, `hash` the content read.
pub fn after_read(
    manifest: &Manifest,
    policy: &Policy,
    path: &str,
    previous: Option<&ManifestEntry>,
    hash: &str,
) -> Outcome {
    if let Some(prev) = previous.filter(|p| p.hash == hash && policy.loaded_as_configured(p)) {
        return Outcome::SameContent(Box::new(prev.clone()));
    }
    // Only rows loaded as configured today can stand for this file's: a
    // copy loaded under another salt or mapping holds other values.
    match manifest
        .find_content(policy.source, hash)
        .filter(|e| e.path != path && policy.loaded_as_configured(e))
    {
        Some(original) => Outcome::CopyOf(original.path.clone()),
        None => Outcome::NewRows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use object_store::path::Path;

    const POLICY: Policy = Policy {
        source: "orders",
        fingerprint: "f1",
        legacy_fingerprint: "legacy-f1",
        full_refresh: false,
    };

    fn meta(path: &str, size: u64, e_tag: &str) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            size,
            e_tag: Some(e_tag.to_string()),
            version: None,
        }
    }

    fn entry(path: &str, size: u64, e_tag: &str, hash: &str) -> ManifestEntry {
        ManifestEntry {
            source: "orders".into(),
            path: path.into(),
            size,
            e_tag: Some(e_tag.into()),
            last_modified: 1_700_000_000_000_000,
            hash: hash.into(),
            rows_read: 2,
            rows_loaded: 2,
            rows_quarantined: 0,
            rows_skipped: 0,
            load_date: "2026-11-01".into(),
            raw_object: Some(format!(
                "raw/orders/load_date=2026-11-01/orders-{hash}.parquet"
            )),
            quarantine_object: None,
            duplicate_of: None,
            loaded_at: 0,
            columns: None,
            fingerprint: Some("f1".into()),
            run_id: None,
        }
    }

    fn manifest(entries: Vec<ManifestEntry>) -> Manifest {
        Manifest { entries }
    }

    fn plan_one(manifest: &Manifest, policy: &Policy, meta: ObjectMeta) -> Action {
        let mut actions = plan(manifest, policy, &[meta], |m| m.location.to_string());
        assert_eq!(actions.len(), 1);
        actions.remove(0)
    }

    fn read(previous: Option<ManifestEntry>, reason: ReadReason) -> Action {
        Action::Read { previous, reason }
    }

    #[test]
    fn a_file_the_manifest_does_not_know_is_read() {
        let m = manifest(vec![entry("a.csv", 10, "e1", "h1")]);
        assert_eq!(
            plan_one(&m, &POLICY, meta("b.csv", 10, "e1")),
            read(None, ReadReason::New)
        );
        // The same path under another source is another file.
        let other = Policy {
            source: "customers",
            ..POLICY
        };
        assert_eq!(
            plan_one(&m, &other, meta("a.csv", 10, "e1")),
            read(None, ReadReason::New)
        );
    }

    #[test]
    fn the_loaded_version_is_skipped() {
        let m = manifest(vec![entry("a.csv", 10, "e1", "h1")]);
        assert_eq!(plan_one(&m, &POLICY, meta("a.csv", 10, "e1")), Action::Skip);
    }

    #[test]
    fn another_size_or_version_is_read_again() {
        let prev = entry("a.csv", 10, "e1", "h1");
        let m = manifest(vec![prev.clone()]);
        for changed in [meta("a.csv", 11, "e1"), meta("a.csv", 10, "e2")] {
            assert_eq!(
                plan_one(&m, &POLICY, changed),
                read(Some(prev.clone()), ReadReason::Changed)
            );
        }
    }

    #[test]
    fn without_an_e_tag_the_modification_time_decides() {
        let mut prev = entry("a.csv", 10, "e1", "h1");
        prev.e_tag = None;
        let m = manifest(vec![prev.clone()]);
        let same = meta("a.csv", 10, "e9");
        assert_eq!(plan_one(&m, &POLICY, same.clone()), Action::Skip);
        let touched = ObjectMeta {
            last_modified: same.last_modified + chrono::Duration::seconds(1),
            ..same
        };
        assert_eq!(
            plan_one(&m, &POLICY, touched),
            read(Some(prev), ReadReason::Changed)
        );
    }

    #[test]
    fn a_new_configuration_or_full_refresh_reads_it_again() {
        let prev = entry("a.csv", 10, "e1", "h1");
        let m = manifest(vec![prev.clone()]);
        let changed = Policy {
            fingerprint: "f2",
            ..POLICY
        };
        assert_eq!(
            plan_one(&m, &changed, meta("a.csv", 10, "e1")),
            read(Some(prev.clone()), ReadReason::ConfigChanged)
        );
        let refresh = Policy {
            full_refresh: true,
            ..POLICY
        };
        assert_eq!(
            plan_one(&m, &refresh, meta("a.csv", 10, "e1")),
            read(Some(prev), ReadReason::FullRefresh)
        );
        assert_eq!(ReadReason::FullRefresh.reload(), Some("--full-refresh"));
        assert_eq!(ReadReason::Changed.reload(), None);
    }

    #[test]
    fn an_entry_without_a_fingerprint_takes_todays_unread() {
        let mut prev = entry("a.csv", 10, "e1", "h1");
        prev.fingerprint = None;
        let m = manifest(vec![prev.clone()]);
        let Action::RecordFingerprint(saved) = plan_one(&m, &POLICY, meta("a.csv", 10, "e1"))
        else {
            panic!("expected RecordFingerprint");
        };
        assert_eq!(saved.fingerprint.as_deref(), Some("f1"));
        assert_eq!(
            ManifestEntry {
                fingerprint: None,
                ..saved
            },
            prev
        );
        // So does one fingerprinted by a release before the salt key.
        prev.fingerprint = Some("legacy-f1".into());
        let m = manifest(vec![prev.clone()]);
        let Action::RecordFingerprint(saved) = plan_one(&m, &POLICY, meta("a.csv", 10, "e1"))
        else {
            panic!("expected RecordFingerprint");
        };
        assert_eq!(saved.fingerprint.as_deref(), Some("f1"));
    }

    #[test]
    fn a_copy_loaded_under_another_configuration_is_not_an_original() {
        let mut original = entry("a.csv", 10, "e1", "h1");
        original.fingerprint = Some("f0".into());
        let m = manifest(vec![original]);
        assert_eq!(
            after_read(&m, &POLICY, "copy-of-a.csv", None, "h1"),
            Outcome::NewRows
        );
    }

    #[test]
    fn a_file_touched_but_identical_keeps_its_rows() {
        let prev = entry("a.csv", 10, "e1", "h1");
        let m = manifest(vec![prev.clone()]);
        assert_eq!(
            after_read(&m, &POLICY, "a.csv", Some(&prev), "h1"),
            Outcome::SameContent(Box::new(prev.clone()))
        );
        // Under a new configuration the same bytes give other rows.
        let changed = Policy {
            fingerprint: "f2",
            ..POLICY
        };
        assert_eq!(
            after_read(&m, &changed, "a.csv", Some(&prev), "h1"),
            Outcome::NewRows
        );
    }

    #[test]
    fn a_renamed_copy_loads_nothing() {
        let m = manifest(vec![entry("a.csv", 10, "e1", "h1")]);
        assert_eq!(
            after_read(&m, &POLICY, "copy-of-a.csv", None, "h1"),
            Outcome::CopyOf("a.csv".into())
        );
        // A copy of a copy points at the file whose rows are loaded.
        let mut copy = entry("copy-of-a.csv", 10, "e1", "h1");
        copy.duplicate_of = Some("a.csv".into());
        copy.raw_object = None;
        let m = manifest(vec![entry("a.csv", 10, "e1", "h1"), copy]);
        assert_eq!(
            after_read(&m, &POLICY, "third.csv", None, "h1"),
            Outcome::CopyOf("a.csv".into())
        );
    }

    #[test]
    fn a_file_changed_into_a_copy_of_another_is_that_copy() {
        let b = entry("b.csv", 12, "e2", "h2");
        let m = manifest(vec![entry("a.csv", 10, "e1", "h1"), b.clone()]);
        assert_eq!(
            after_read(&m, &POLICY, "b.csv", Some(&b), "h1"),
            Outcome::CopyOf("a.csv".into())
        );
    }

    #[test]
    fn a_file_changed_in_place_has_new_rows() {
        let prev = entry("a.csv", 10, "e1", "h1");
        let m = manifest(vec![prev.clone()]);
        assert_eq!(
            after_read(&m, &POLICY, "a.csv", Some(&prev), "h2"),
            Outcome::NewRows
        );
        assert_eq!(
            after_read(&m, &POLICY, "b.csv", None, "h2"),
            Outcome::NewRows
        );
    }

    #[test]
    fn a_copy_whose_original_changed_is_orphaned() {
        let mut copy = entry("copy.csv", 10, "e1", "h1");
        copy.duplicate_of = Some("a.csv".into());
        let intact = manifest(vec![entry("a.csv", 10, "e1", "h1"), copy.clone()]);
        assert!(intact.orphaned_duplicates("orders").is_empty());
        let changed = manifest(vec![entry("a.csv", 11, "e2", "h2"), copy.clone()]);
        assert_eq!(changed.orphaned_duplicates("orders"), ["copy.csv"]);
        let gone = manifest(vec![copy]);
        assert_eq!(gone.orphaned_duplicates("orders"), ["copy.csv"]);
    }
}
