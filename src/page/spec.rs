//! `queries/report.yml`: the charts of `reports/index.html`, declared by
//! analysts next to the models. Each chart is a SQL query over the
//! published report tables (and this run's `run_sources` and `run_tests`),
//! a kind, the columns it draws and a one-line reading.
//!
//! serde_yaml gives positions only for its own errors, so the line of each
//! chart and of its SQL is found in the text: errors in a chart's SQL are
//! then reported at their line and column in report.yml.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::common::ScalarValue;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    /// The page's heading.
    pub title: String,
    pub charts: Vec<ChartSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Unique; the chart's anchor in the page.
    pub id: String,
    /// Charts with the same section are grouped under it, in file order.
    pub section: String,
    pub title: String,
    pub kind: Kind,
    pub sql: String,
    /// What the chart shows, in one line, under it.
    pub reading: String,
    #[serde(default)]
    pub x: Option<Axis>,
    #[serde(default)]
    pub y: Option<Axis>,
    /// A column whose values split the rows into one line or bar per value.
    #[serde(default)]
    pub series: Option<String>,
    /// Heatmap: the column coloured in each cell.
    #[serde(default)]
    pub value: Option<Axis>,
    /// Bar: a text column written at the end of each bar (step rates).
    #[serde(default)]
    pub label: Option<String>,
    /// Table: rows shown at most.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Where the chart's SQL starts in report.yml (found in the text).
    #[serde(skip)]
    pub sql_at: SqlPosition,
    /// The line of the chart's `id:` in report.yml.
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Headline tiles: one row per figure, columns `figure`, `value`,
    /// `unit`, `margin`, `change`, `against` (what the change is from),
    /// `significant`, `note`.
    Figures,
    /// Lines over ordered x categories, optional 95% error bars.
    Line,
    /// Bars per x category, grouped by series.
    Bar,
    /// Coloured cells over x and y categories.
    Heatmap,
    /// The rows as they come.
    Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    pub column: String,
    /// With the unit, e.g. "NPS (points)".
    pub label: String,
    /// Line: columns holding the lower and upper ends of an error bar.
    #[serde(default)]
    pub low: Option<String>,
    #[serde(default)]
    pub high: Option<String>,
}

/// Where a chart's SQL text sits in report.yml: its first line, and the
/// indentation of a literal block (`|`) or the column of a plain inline
/// value. Line 0: not known (a folded `>` block or a quoted value, whose
/// text is not laid out as in the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqlPosition {
    pub line: usize,
    pub indent: usize,
    pub block: bool,
}

/// The columns each kind must have, by role (`figures` and `table` name
/// theirs in the SQL itself).
pub const FIGURE_COLUMNS: [&str; 8] = [
    "figure",
    "value",
    "unit",
    "margin",
    "change",
    "against",
    "significant",
    "note",
];

impl ChartSpec {
    /// `report.yml:LINE` of this chart, for messages.
    pub fn at(&self, file: &Path) -> String {
        format!("{}:{}", file.display(), self.line)
    }

    /// The SQL laid out as it is in report.yml (blank lines before it and
    /// its indentation back), so that DataFusion's line and column of an
    /// error are the file's; `None` where that layout is not known.
    pub fn sql_as_in_file(&self) -> Option<String> {
        let at = self.sql_at;
        if at.line == 0 {
            return None;
        }
        let mut out = "\n".repeat(at.line - 1);
        for (i, line) in self.sql.lines().enumerate() {
            if at.block || i == 0 {
                out.push_str(&" ".repeat(at.indent));
            }
            out.push_str(line);
            out.push('\n');
        }
        Some(out)
    }

    /// The chart with `$name` in its title, reading and axis labels
    /// replaced by the parameter's value; also returns the names that are
    /// not parameters (left as written).
    pub fn with_params(&self, params: &HashMap<String, ScalarValue>) -> (ChartSpec, Vec<String>) {
        let mut unknown = Vec::new();
        let mut sub = |text: &str| substitute(text, params, &mut unknown);
        let mut chart = self.clone();
        chart.title = sub(&self.title);
        chart.reading = sub(&self.reading);
        for axis in [&mut chart.x, &mut chart.y, &mut chart.value]
            .into_iter()
            .flatten()
        {
            axis.label = sub(&axis.label);
        }
        unknown.sort();
        unknown.dedup();
        (chart, unknown)
    }

    /// The columns the chart reads, by the role they play.
    pub fn required_columns(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        match self.kind {
            Kind::Figures => {
                out.extend(FIGURE_COLUMNS.iter().map(|c| ("figures", *c)));
            }
            Kind::Table => {}
            Kind::Line | Kind::Bar | Kind::Heatmap => {
                if let Some(x) = &self.x {
                    out.push(("x", x.column.as_str()));
                }
                if let Some(y) = &self.y {
                    out.push(("y", y.column.as_str()));
                    if let Some(low) = &y.low {
                        out.push(("y.low", low.as_str()));
                    }
                    if let Some(high) = &y.high {
                        out.push(("y.high", high.as_str()));
                    }
                }
                if let Some(value) = &self.value {
                    out.push(("value", value.column.as_str()));
                }
                if let Some(series) = &self.series {
                    out.push(("series", series.as_str()));
                }
                if let Some(label) = &self.label {
                    out.push(("label", label.as_str()));
                }
            }
        }
        out
    }

    /// What the kind needs that the chart does not declare.
    fn shape_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let needs = |errors: &mut Vec<String>, what: &str, present: bool| {
            if !present {
                errors.push(format!("a {:?} chart needs {what}", self.kind).to_lowercase());
            }
        };
        match self.kind {
            Kind::Line | Kind::Bar => {
                needs(&mut errors, "x: { column, label }", self.x.is_some());
                needs(&mut errors, "y: { column, label }", self.y.is_some());
            }
            Kind::Heatmap => {
                needs(&mut errors, "x: { column, label }", self.x.is_some());
                needs(&mut errors, "y: { column, label }", self.y.is_some());
                needs(
                    &mut errors,
                    "value: { column, label }",
                    self.value.is_some(),
                );
            }
            Kind::Figures | Kind::Table => {}
        }
        let error_bars = self.y.as_ref().map(|y| (y.low.is_some(), y.high.is_some()));
        if let Some((low, high)) = error_bars {
            if low != high {
                errors.push("y.low and y.high go together".into());
            }
            if low && self.kind != Kind::Line {
                errors.push("error bars (y.low, y.high) are drawn on line charts only".into());
            }
        }
        errors
    }
}

/// report.yml, read and checked for shape; `None` when the project has none.
#[derive(Debug, Clone)]
pub struct PageFile {
    pub path: PathBuf,
    pub spec: PageSpec,
}

impl PageFile {
    /// Reads `report.yml` in the queries folder. Errors are `file:line:
    /// message`, all of them.
    pub fn load(queries: &Path) -> Result<Option<PageFile>, Vec<String>> {
        let path = queries.join("report.yml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(vec![format!("cannot read {}: {e}", path.display())]),
        };
        let mut spec: PageSpec = serde_yaml::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            vec![format!("{}{at}: {e}", path.display())]
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let mut errors = Vec::new();
        let mut from = 0;
        for chart in &mut spec.charts {
            chart.line = find_id_line(&lines, &chart.id, from).unwrap_or(from + 1);
            from = chart.line;
            chart.sql_at = find_sql(&lines, chart.line);
        }
        for (i, chart) in spec.charts.iter().enumerate() {
            if spec.charts[..i].iter().any(|c| c.id == chart.id) {
                errors.push(format!(
                    "{}: chart id {} is used twice",
                    chart.at(&path),
                    chart.id
                ));
            }
            for e in chart.shape_errors() {
                errors.push(format!("{}: chart {}: {e}", chart.at(&path), chart.id));
            }
        }
        if errors.is_empty() {
            Ok(Some(PageFile { path, spec }))
        } else {
            Err(errors)
        }
    }
}

fn substitute(
    text: &str,
    params: &HashMap<String, ScalarValue>,
    unknown: &mut Vec<String>,
) -> String {
    let pattern = regex::Regex::new(r"\$([A-Za-z_][A-Za-z0-9_]*)").expect("valid pattern");
    pattern
        .replace_all(text, |c: &regex::Captures| match params.get(&c[1]) {
            Some(ScalarValue::Utf8(Some(s))) => s.clone(),
            Some(value) => value.to_string(),
            None => {
                unknown.push(c[1].to_string());
                c[0].to_string()
            }
        })
        .into_owned()
}

/// The 1-based line of `id: <id>` at or after line `from` (0-based index).
fn find_id_line(lines: &[&str], id: &str, from: usize) -> Option<usize> {
    lines.iter().enumerate().skip(from).find_map(|(i, line)| {
        let rest = line.trim_start().trim_start_matches('-').trim_start();
        let value = rest.strip_prefix("id:")?;
        let value = value.split(" #").next().unwrap_or(value).trim();
        (value.trim_matches(|c| c == '"' || c == '\'') == id).then_some(i + 1)
    })
}

/// The position of the chart's `sql:` value, searched from the chart's
/// line to the next chart.
fn find_sql(lines: &[&str], chart_line: usize) -> SqlPosition {
    for i in chart_line.saturating_sub(1)..lines.len() {
        let line = lines[i];
        if i + 1 > chart_line && line.trim_start().starts_with("- ") {
            break;
        }
        let Some(key) = line.find("sql:") else {
            continue;
        };
        if !line[..key].trim().trim_start_matches('-').trim().is_empty() {
            continue;
        }
        let value = &line[key + 4..];
        if value.trim().starts_with(['>', '"', '\'']) {
            return SqlPosition::default();
        }
        if value.trim().starts_with('|') {
            let first = lines[i + 1..].iter().position(|l| !l.trim().is_empty());
            if let Some(offset) = first {
                let text = lines[i + 1 + offset];
                return SqlPosition {
                    line: i + 2 + offset,
                    indent: text.len() - text.trim_start().len(),
                    block: true,
                };
            }
        }
        let indent = key + 4 + (value.len() - value.trim_start().len());
        return SqlPosition {
            line: i + 1,
            indent,
            block: false,
        };
    }
    SqlPosition::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<PageFile>, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.yml"), text).unwrap();
        PageFile::load(dir.path())
    }

    const TWO: &str = "\
title: T
charts:
  - id: first
    section: S
    title: One
    kind: table
    sql: SELECT 1 AS one
    reading: r
  - id: second
    section: S
    title: Two
    kind: line
    sql: |
      SELECT month,
             nps
      FROM nps_trends
    x: { column: month, label: Month }
    y: { column: nps, label: NPS (points) }
    reading: r
";

    #[test]
    fn charts_know_their_lines_and_where_their_sql_starts() {
        let page = load(TWO).unwrap().unwrap();
        let [first, second] = &page.spec.charts[..] else {
            panic!("two charts");
        };
        assert_eq!(first.line, 3);
        assert_eq!(
            first.sql_at,
            SqlPosition {
                line: 7,
                indent: 9,
                block: false
            }
        );
        assert_eq!(second.line, 9);
        assert_eq!(
            second.sql_at,
            SqlPosition {
                line: 14,
                indent: 6,
                block: true
            }
        );
        // The SQL laid out as in the file: `nps` is on line 15, column 14.
        let laid_out = second.sql_as_in_file().unwrap();
        let line15 = laid_out.lines().nth(14).unwrap();
        assert_eq!(line15.find("nps"), Some(13));
        assert_eq!(laid_out.lines().nth(6), Some(""));
        assert_eq!(
            first.sql_as_in_file().unwrap().lines().nth(6),
            Some("         SELECT 1 AS one")
        );
    }

    #[test]
    fn unknown_kinds_and_missing_axes_are_errors_with_lines() {
        let bad_kind = TWO.replace("kind: line", "kind: pie");
        let errors = load(&bad_kind).unwrap_err();
        assert!(errors[0].contains("report.yml:12:11"), "{errors:?}");
        assert!(errors[0].contains("unknown variant `pie`"), "{errors:?}");

        let no_axis = TWO.replace("    x: { column: month, label: Month }\n", "");
        let errors = load(&no_axis).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .ends_with("report.yml:9: chart second: a line chart needs x: { column, label }"),
            "{errors:?}"
        );

        let twice = TWO.replace("id: second", "id: first");
        let errors = load(&twice).unwrap_err();
        assert!(
            errors[0].ends_with("report.yml:9: chart id first is used twice"),
            "{errors:?}"
        );
    }

    #[test]
    fn folded_or_quoted_sql_has_no_file_layout_and_ids_may_have_comments() {
        let text = TWO
            .replace("id: first", "id: first  # the first")
            .replace("sql: SELECT 1 AS one", "sql: \"SELECT 1 AS one\"")
            .replace("sql: |", "sql: >");
        let page = load(&text).unwrap().unwrap();
        assert_eq!(page.spec.charts[0].line, 3);
        assert_eq!(page.spec.charts[0].sql_as_in_file(), None);
        assert_eq!(page.spec.charts[1].sql_as_in_file(), None);
    }

    #[test]
    fn parameters_fill_titles_labels_and_readings() {
        let page = load(TWO).unwrap().unwrap();
        let mut chart = page.spec.charts[1].clone();
        chart.title = "NPS in $currency, $weeks weeks, $nope".into();
        chart.reading = "$nope again, and $also".into();
        let params = HashMap::from([
            ("currency".to_string(), ScalarValue::from("EUR")),
            ("weeks".to_string(), ScalarValue::Int64(Some(26))),
        ]);
        let (filled, unknown) = chart.with_params(&params);
        assert_eq!(filled.title, "NPS in EUR, 26 weeks, $nope");
        assert_eq!(unknown, ["also", "nope"]);
    }

    #[test]
    fn a_project_without_report_yml_has_no_page() {
        assert!(load_missing().unwrap().is_none());
    }

    fn load_missing() -> Result<Option<PageFile>, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        PageFile::load(dir.path())
    }
}
