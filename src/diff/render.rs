//! `advocacy diff` as text: per report, its counts on one line, then the
//! schema changes and the columns that changed.

use super::{Diff, ReportDiff, TableDiff};

pub fn render(diff: &Diff) -> String {
    let mut out = format!("{} -> {}\n", diff.old, diff.new);
    for report in &diff.reports {
        out.push_str(&report_block(report, diff));
    }
    out
}

fn report_block(report: &ReportDiff, diff: &Diff) -> String {
    let name = &report.report;
    let Some(table) = &report.diff else {
        return match report.status {
            "only_new" => format!("{name}: only in {} (not in {})\n", diff.new, diff.old),
            "only_old" => format!("{name}: only in {} (not in {})\n", diff.old, diff.new),
            _ => format!("{name}: in neither\n"),
        };
    };
    if table.is_empty() {
        return format!("{name}: unchanged ({} rows)\n", table.new_rows);
    }
    let mut out = format!("{name}: {}\n", counts(table));
    for change in &table.schema {
        let types = match (&change.old_type, &change.new_type) {
            (Some(old), Some(new)) => format!("{old} -> {new}"),
            (Some(t), None) | (None, Some(t)) => t.clone(),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "    column {} {} ({types})\n",
            change.column, change.change
        ));
    }
    if table.columns.is_empty() {
        return out;
    }
    let width = table
        .columns
        .iter()
        .map(|c| c.column.len())
        .chain(["column".len()])
        .max()
        .unwrap_or(0);
    out.push_str(&format!(
        "    {:width$}  {:>7}  {:>6}  largest changes (key: old -> new)\n",
        "column", "changed", "share"
    ));
    for column in &table.columns {
        let largest: Vec<String> = column
            .largest
            .iter()
            .map(|c| format!("{}: {} -> {}", c.key, c.old, c.new))
            .collect();
        out.push_str(
            format!(
                "    {:width$}  {:>7}  {:>5.1}%  {}",
                column.column,
                column.changed,
                100.0 * column.share,
                largest.join("; ")
            )
            .trim_end(),
        );
        out.push('\n');
    }
    out
}

fn counts(table: &TableDiff) -> String {
    let by = match (&table.key, &table.note) {
        (Some(key), _) => format!("by {}", key.join(", ")),
        (None, Some(note)) => format!("whole rows ({note})"),
        (None, None) => "whole rows (no key in models.yml)".to_string(),
    };
    let changed = table
        .changed
        .map(|c| format!(", {c} changed"))
        .unwrap_or_default();
    format!(
        "{} -> {} rows, {by}: {} added, {} removed{changed}",
        table.old_rows, table.new_rows, table.added, table.removed
    )
}
