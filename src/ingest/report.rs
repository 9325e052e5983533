//! What ingest reports: per file and per source, rows read, loaded,
//! quarantined and skipped (read = the other three), and the table printed
//! at the end of a run.

use serde::Serialize;

use super::sink::RowCounts;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum FileStatus {
    Loaded,
    /// Same path, size and version (or content) as already loaded.
    Unchanged,
    /// Same content as another landing file already loaded.
    Duplicate {
        of: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    #[serde(flatten)]
    pub status: FileStatus,
    pub bytes: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub rows_skipped: u64,
    /// Columns of the file that the mapping does not read and that no
    /// earlier file of the source had: reported once, then known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
    /// What looked wrong in the file without failing it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Wall time of reading, validating and writing the file.
    pub seconds: f64,
    /// Rows read per second.
    pub rows_per_second: f64,
}

impl FileReport {
    /// A file not read (yet): no rows, no time.
    pub fn unread(path: String, bytes: u64) -> FileReport {
        FileReport {
            path,
            status: FileStatus::Unchanged,
            bytes,
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            rows_skipped: 0,
            ignored_columns: Vec::new(),
            warnings: Vec::new(),
            seconds: 0.0,
            rows_per_second: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub entity: String,
    pub files: Vec<FileReport>,
    /// Set when the source could not be listed at all.
    pub error: Option<String>,
    /// What looks wrong without failing the source (a new file much
    /// smaller than the source's usual ones).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Sums over the files: rows_read = rows_loaded + rows_quarantined +
    /// rows_skipped.
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub rows_skipped: u64,
}

impl SourceReport {
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .files
                .iter()
                .any(|f| matches!(f.status, FileStatus::Failed { .. }))
    }

    pub(super) fn add_totals(&mut self) {
        let mut t = RowCounts::default();
        for f in &self.files {
            t.read += f.rows_read;
            t.loaded += f.rows_loaded;
            t.quarantined += f.rows_quarantined;
            t.skipped += f.rows_skipped;
        }
        self.rows_read = t.read;
        self.rows_loaded = t.loaded;
        self.rows_quarantined = t.quarantined;
        self.rows_skipped = t.skipped;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub sources: Vec<SourceReport>,
}

impl IngestReport {
    pub fn failed(&self) -> bool {
        self.sources.iter().any(SourceReport::failed)
    }

    /// Every source's and file's warnings, files named.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for source in &self.sources {
            for file in &source.files {
                out.extend(
                    file.warnings
                        .iter()
                        .map(|w| format!("source {}: {}: {w}", source.source, file.path)),
                );
            }
            out.extend(source.warnings.iter().cloned());
        }
        out
    }

    /// A fixed-width table for the end of a run.
    pub fn summary_table(&self) -> String {
        let w = self
            .sources
            .iter()
            .map(|s| s.source.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        let f = self
            .sources
            .iter()
            .flat_map(|s| s.files.iter().map(|f| f.path.len()))
            .chain([11])
            .max()
            .unwrap_or(11);
        let row = |source: &str, file: &str, status: &str, counts: [&dyn std::fmt::Display; 6]| {
            let [r, l, q, k, s, rate] = counts;
            format!(
                "{source:<w$} {file:<f$} {status:<10} {r:>10} {l:>10} {q:>12} {k:>8} {s:>8} {rate:>10}\n"
            )
        };
        let mut out = row(
            "source",
            "file",
            "status",
            [
                &"read",
                &"loaded",
                &"quarantined",
                &"skipped",
                &"seconds",
                &"rows/s",
            ],
        );
        for source in &self.sources {
            if let Some(error) = &source.error {
                out.push_str(&format!("{:<w$} {error}\n", source.source));
            }
            if source.files.is_empty() && source.error.is_none() {
                out.push_str(&format!("{:<w$} (no files matched)\n", source.source));
            }
            for file in &source.files {
                let status = match &file.status {
                    FileStatus::Loaded => "loaded",
                    FileStatus::Unchanged => "unchanged",
                    FileStatus::Duplicate { .. } => "duplicate",
                    FileStatus::Failed { .. } => "FAILED",
                };
                out.push_str(&row(
                    &source.source,
                    &file.path,
                    status,
                    [
                        &file.rows_read,
                        &file.rows_loaded,
                        &file.rows_quarantined,
                        &file.rows_skipped,
                        &format!("{:.2}", file.seconds),
                        &format!("{:.0}", file.rows_per_second),
                    ],
                ));
                if let FileStatus::Failed { error } = &file.status {
                    out.push_str(&format!("{:<w$}   error: {error}\n", ""));
                }
                for warning in &file.warnings {
                    out.push_str(&format!("{:<w$}   warning: {warning}\n", ""));
                }
                if !file.ignored_columns.is_empty() {
                    let columns = file.ignored_columns.join(", ");
                    out.push_str(&format!(
                        "{:<w$}   new columns, not mapped (ignored): {columns}\n",
                        ""
                    ));
                }
            }
            for warning in &source.warnings {
                out.push_str(&format!("{:<w$}   warning: {warning}\n", ""));
            }
            if source.files.len() > 1 {
                out.push_str(&row(
                    &source.source,
                    "(all files)",
                    "",
                    [
                        &source.rows_read,
                        &source.rows_loaded,
                        &source.rows_quarantined,
                        &source.rows_skipped,
                        &"",
                        &"",
                    ],
                ));
            }
        }
        out
    }
}

/// How many earlier files a new one is compared with, and how many there
/// must be before a comparison means anything.
const TRUNCATION_WINDOW: usize = 7;
const TRUNCATION_MIN_HISTORY: usize = 3;

/// A warning when a new file has fewer than half the rows of the median of
/// the source's last seven files (`earlier`: their rows read, newest
/// first): the mark of an export cut short. Needs three earlier files.
pub fn truncation_warning(source: &str, file: &FileReport, earlier: &[u64]) -> Option<String> {
    if file.status != FileStatus::Loaded || earlier.len() < TRUNCATION_MIN_HISTORY {
        return None;
    }
    let mut last: Vec<u64> = earlier.iter().take(TRUNCATION_WINDOW).copied().collect();
    last.sort_unstable();
    let n = last.len();
    let median = if n % 2 == 1 {
        last[n / 2] as f64
    } else {
        (last[n / 2 - 1] + last[n / 2]) as f64 / 2.0
    };
    ((file.rows_read as f64) < median / 2.0).then(|| {
        format!(
            "source {source}: {} has {} rows, fewer than half the median ({median}) of the \
             source's last {n} files; was the export cut short?",
            file.path, file.rows_read
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(rows: u64) -> FileReport {
        FileReport {
            status: FileStatus::Loaded,
            rows_read: rows,
            rows_loaded: rows,
            ..FileReport::unread("orders-5.csv".into(), 0)
        }
    }

    #[test]
    fn a_file_under_half_the_median_of_the_last_seven_warns() {
        // Last seven of eight earlier files (newest first): 100, 90, 110,
        // 100, 95, 105, 100 -> sorted 90 95 100 100 100 105 110, median 100;
        // the eighth (2) is outside the window.
        let earlier = [100, 90, 110, 100, 95, 105, 100, 2];
        let warning = truncation_warning("crm", &loaded(49), &earlier).unwrap();
        assert!(warning.contains("orders-5.csv has 49 rows"), "{warning}");
        assert!(
            warning.contains("median (100) of the source's last 7 files"),
            "{warning}"
        );
        assert_eq!(truncation_warning("crm", &loaded(50), &earlier), None);
        // Even count: 10, 20, 30, 40 -> median 25; 12 < 12.5 warns.
        assert!(truncation_warning("crm", &loaded(12), &[10, 20, 30, 40]).is_some());
        assert!(truncation_warning("crm", &loaded(13), &[10, 20, 30, 40]).is_none());
        // Two earlier files are not a history.
        assert_eq!(truncation_warning("crm", &loaded(1), &[100, 100]), None);
        let mut unchanged = loaded(1);
        unchanged.status = FileStatus::Unchanged;
        assert_eq!(truncation_warning("crm", &unchanged, &earlier), None);
    }
}
