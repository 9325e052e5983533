//! A landing file's counts (status, read, loaded, quarantined, skipped)
//! as the run's summary and its run record give them.

use super::{Project, stdout};

/// The summary line of one file: status, read, loaded, quarantined, skipped.
pub fn file_counts(out: &std::process::Output, file: &str) -> Vec<String> {
    source_file_counts(out, None, file)
}

/// The summary line of one file of one source (two sources may read one
/// file), or of the first source that read it.
fn source_file_counts(out: &std::process::Output, source: Option<&str>, file: &str) -> Vec<String> {
    let summary = stdout(out);
    let line = summary
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            let first = words.next();
            words.next() == Some(file) && source.is_none_or(|s| first == Some(s))
        })
        .unwrap_or_else(|| panic!("{file} missing from the summary:\n{summary}"));
    line.split_whitespace()
        .skip(2)
        .take(5)
        .map(str::to_string)
        .collect()
}

/// The run record's counts for one file, in the same order.
pub fn recorded_counts(p: &Project, file: &str) -> Vec<String> {
    source_recorded_counts(p, None, file)
}

fn source_recorded_counts(p: &Project, source: Option<&str>, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = record["ingest"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| source.is_none_or(|name| s["source"] == name))
        .flat_map(|s| s["files"].as_array().unwrap().iter());
    let entry = files
        .into_iter()
        .find(|f| f["path"] == file)
        .unwrap_or_else(|| panic!("{file} missing from the run record"));
    let mut counts = vec![entry["status"].as_str().unwrap().to_string()];
    for key in [
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "rows_skipped",
    ] {
        counts.push(entry[key].to_string());
    }
    counts
}

/// Asserts one file's counts (status, read, loaded, quarantined, skipped)
/// in both the summary and the run record, and that the rows read are
/// the rows loaded, quarantined and skipped.
pub fn assert_counts(out: &std::process::Output, p: &Project, file: &str, expected: [&str; 5]) {
    assert_source_counts(out, p, None, file, expected);
}

/// [`assert_counts`] for one source's reading of a file.
pub fn assert_source_counts(
    out: &std::process::Output,
    p: &Project,
    source: Option<&str>,
    file: &str,
    expected: [&str; 5],
) {
    let summary = source_file_counts(out, source, file);
    assert_eq!(summary, expected, "{file} in the summary");
    assert_eq!(
        source_recorded_counts(p, source, file),
        expected,
        "{file} in the run record"
    );
    let n: Vec<u64> = summary[1..].iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(
        n[0],
        n[1] + n[2] + n[3],
        "{file}: read = loaded + quarantined + skipped"
    );
}
