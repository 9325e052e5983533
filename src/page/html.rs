//! The page itself: one HTML file with its styles inline and no script,
//! font or image to fetch (a Content-Security-Policy of `default-src
//! 'none'` makes the browser refuse any that slipped in). Charts are
//! `<figure>`s with their title, the drawing, a legend and the reading;
//! headline figures are tiles and lists are tables. It reflows to one
//! column on a phone and prints on A4 without splitting a figure.

use super::chart::{Drawn, compact};
use std::collections::HashMap;

use super::data::Table;
use super::spec::{ChartSpec, Kind};

/// What a chart turned into.
pub enum Body {
    Svg(Drawn),
    Html(String),
    /// No rows: said, not drawn empty.
    Empty,
    /// The chart could not be made; the message is shown in its place.
    Failed(String),
}

pub struct Section<'a> {
    pub title: &'a str,
    pub charts: Vec<(&'a ChartSpec, Body)>,
}

pub struct Header<'a> {
    pub title: &'a str,
    pub run_id: &'a str,
    pub run_date: String,
    pub generated_at: String,
    pub status: &'a str,
    /// Shown under the run line, before any chart.
    pub notices: &'a [String],
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --line: #ddd; --up: #009E73; --down: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header, main { max-width: 1120px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 28px 0 8px; border-bottom: 2px solid #0072B2; padding-bottom: 2px; }
h3 { font-size: 1.02rem; margin: 0 0 6px; }
.run { color: var(--muted); margin: 0 0 10px; font-size: .9rem; }
.notices { margin: 0 0 12px; padding: 8px 12px 8px 28px; border-left: 4px solid var(--down); background: #fdf3ec; font-size: .92rem; }
nav ul { list-style: none; padding: 0; margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .9rem; }
nav a { color: #0072B2; }
figure { margin: 0 0 22px; break-inside: avoid; page-break-inside: avoid; }
figure svg { width: 100%; height: auto; display: block; }
.reading { color: var(--muted); margin: 4px 0 0; font-size: .92rem; }
.legend { list-style: none; padding: 0; margin: 4px 0 0; display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: .85rem; }
.legend span { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; border: 1px solid #999; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.tile .label { font-size: .85rem; color: var(--muted); }
.tile .value { font-size: 1.6rem; font-weight: 600; }
.tile .margin { font-size: .9rem; color: var(--muted); }
.tile .change { font-size: .88rem; }
.tile .note { font-size: .8rem; color: var(--muted); }
.significant { font-weight: 600; }
.up { color: var(--up); } .down { color: var(--down); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty, .failed { padding: 12px; border: 1px dashed var(--line); color: var(--muted); }
.failed { border-color: var(--down); color: var(--down); }
@media (max-width: 600px) { body { font-size: 15px; } h1 { font-size: 1.3rem; } .tile .value { font-size: 1.3rem; } }
@media print {
  @page { size: A4; margin: 12mm; }
  body { font-size: 11pt; }
  nav { display: none; }
  header, main { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
"#;

pub fn page(header: &Header, sections: &[Section]) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    // An empty icon of its own, or a browser asks the server for
    // /favicon.ico when the page is served over HTTP.
    out.push_str("<link rel=\"icon\" href=\"data:,\">\n");
    out.push_str(&format!(
        "<title>{} · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n",
        escape(header.title),
        escape(&header.run_date),
        escape(header.title)
    ));
    out.push_str(&format!(
        "<p class=\"run\">Run date {} · run {} ({}) · made {} UTC by advocacy from the published report tables</p>\n",
        escape(&header.run_date),
        escape(header.run_id),
        escape(header.status),
        escape(&header.generated_at)
    ));
    if !header.notices.is_empty() {
        out.push_str("<ul class=\"notices\">");
        for notice in header.notices {
            out.push_str(&format!("<li>{}</li>", escape(notice)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<nav><ul>");
    for (i, section) in sections.iter().enumerate() {
        out.push_str(&format!(
            "<li><a href=\"#section-{i}\">{}</a></li>",
            escape(section.title)
        ));
    }
    out.push_str("</ul></nav>\n</header>\n<main>\n");
    for (i, section) in sections.iter().enumerate() {
        out.push_str(&format!(
            "<section id=\"section-{i}\">\n<h2>{}</h2>\n",
            escape(section.title)
        ));
        for (chart, body) in &section.charts {
            figure(&mut out, chart, body);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Figures => "figures",
        Kind::Line => "line",
        Kind::Bar => "bar",
        Kind::Heatmap => "heatmap",
        Kind::Table => "table",
    }
}

fn figure(out: &mut String, chart: &ChartSpec, body: &Body) {
    let title = escape(&chart.title);
    out.push_str(&format!(
        "<figure class=\"chart\" id=\"{}\" data-kind=\"{}\">\n<figcaption><h3>{title}</h3></figcaption>\n",
        escape(&chart.id),
        kind_name(chart.kind)
    ));
    match body {
        Body::Svg(drawn) => {
            // The SVG is labelled with the chart's title for screen readers.
            let svg = drawn.svg.replacen(
                "<svg ",
                &format!("<svg role=\"img\" aria-label=\"{title}\" "),
                1,
            );
            out.push_str(&svg);
            out.push('\n');
            if !drawn.legend.is_empty() {
                out.push_str("<ul class=\"legend\">");
                for (name, colour) in &drawn.legend {
                    out.push_str(&format!(
                        "<li><span style=\"background:{colour}\"></span>{}</li>",
                        escape(name)
                    ));
                }
                out.push_str("</ul>\n");
            }
        }
        Body::Html(html) => out.push_str(html),
        Body::Empty => out.push_str("<p class=\"empty\">No rows for this chart in this run.</p>\n"),
        Body::Failed(message) => out.push_str(&format!(
            "<p class=\"failed\">This chart could not be made: {}</p>\n",
            escape(message)
        )),
    }
    out.push_str(&format!(
        "<p class=\"reading\">{}</p>\n</figure>\n",
        escape(&chart.reading)
    ));
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let rounded = v.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A headline value with its unit: percentages and points to one
/// decimal, money (a currency code) and counts whole.
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{v:.1}%"),
        "points" => format!("{v:.1} pts"),
        "" => compact(v),
        // A currency code or a word ("customers"): a whole number.
        u => format!("{} {u}", thousands(v)),
    }
}

/// A change or margin of a headline value: a percentage moves in
/// percentage points.
fn difference_with_unit(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{v:.1} pp"),
        _ => with_unit(v, unit),
    }
}

/// Headline tiles from the `figures` columns (see [`super::spec::Kind`]).
pub fn tiles(table: &Table) -> String {
    let text = |name: &str, row: usize| -> Option<String> {
        table.column(name).and_then(|c| c.text[row].clone())
    };
    let number = |name: &str, row: usize| -> Option<f64> {
        table
            .column(name)
            .and_then(|c| c.number.as_ref())
            .and_then(|n| n[row])
    };
    let mut out = String::from("<div class=\"tiles\">\n");
    for row in 0..table.rows {
        let unit = text("unit", row).unwrap_or_default();
        let value = number("value", row)
            .map(|v| with_unit(v, &unit))
            .unwrap_or_else(|| "n/a".into());
        out.push_str("<div class=\"tile\">");
        out.push_str(&format!(
            "<div class=\"label\">{}</div><div class=\"value\">{}</div>",
            escape(&text("figure", row).unwrap_or_default()),
            escape(&value)
        ));
        if let Some(margin) = number("margin", row) {
            out.push_str(&format!(
                "<div class=\"margin\">± {} (95%)</div>",
                escape(&difference_with_unit(margin, &unit))
            ));
        }
        let significant = table
            .column("significant")
            .and_then(|c| c.boolean.as_ref())
            .and_then(|b| b[row]);
        match number("change", row) {
            Some(change) => {
                let sign = if change > 0.0 { "+" } else { "" };
                let class = match (significant, change > 0.0) {
                    (Some(true), true) => "change significant up",
                    (Some(true), false) => "change significant down",
                    _ => "change",
                };
                let verdict = match significant {
                    Some(true) => "significant at 95%",
                    Some(false) => "within the noise",
                    None => "not tested",
                };
                let against = text("against", row).unwrap_or_else(|| "before".into());
                out.push_str(&format!(
                    "<div class=\"{class}\">{sign}{} vs {} · {verdict}</div>",
                    escape(&difference_with_unit(change, &unit)),
                    escape(&against)
                ));
            }
            None => out.push_str("<div class=\"change\">no earlier figure to compare</div>"),
        }
        if let Some(note) = text("note", row) {
            out.push_str(&format!("<div class=\"note\">{}</div>", escape(&note)));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
    out
}

/// A number in a table cell: whole numbers with thousands separators,
/// others to two decimals.
fn cell_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        thousands(v)
    } else {
        format!("{v:.2}")
    }
}

/// A table heading: the column's `label:` from models.yml, else its name
/// in words (`rows_read` -> "Rows read").
fn heading(name: &str, labels: &HashMap<String, String>) -> String {
    if let Some(label) = labels.get(name) {
        return label.clone();
    }
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

pub fn table(table: &Table, limit: usize, labels: &HashMap<String, String>) -> String {
    let mut out = String::from("<div class=\"scroll\"><table>\n<thead><tr>");
    for c in &table.columns {
        let class = if c.number.is_some() {
            " class=\"num\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<th{class}>{}</th>",
            escape(&heading(&c.name, labels))
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in 0..table.rows.min(limit) {
        out.push_str("<tr>");
        for c in &table.columns {
            match &c.number {
                Some(n) => {
                    let v = n[row].map(cell_number).unwrap_or_default();
                    out.push_str(&format!("<td class=\"num\">{}</td>", escape(&v)));
                }
                None => {
                    let v = c.text[row].clone().unwrap_or_default();
                    out.push_str(&format!("<td>{}</td>", escape(&v)));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if table.rows > limit {
        out.push_str(&format!(
            "<p class=\"reading\">The first {limit} of {} rows.</p>\n",
            table.rows
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Table {
        use super::super::data::Column;
        let text = |name: &str, v: Vec<Option<&str>>| Column {
            name: name.into(),
            text: v.into_iter().map(|s| s.map(String::from)).collect(),
            number: None,
            boolean: None,
        };
        let number = |name: &str, v: Vec<Option<f64>>| Column {
            name: name.into(),
            text: v.iter().map(|x| x.map(|x| x.to_string())).collect(),
            number: Some(v),
            boolean: None,
        };
        let flag = Column {
            name: "significant".into(),
            text: vec![None; 3],
            number: None,
            boolean: Some(vec![Some(true), Some(false), None]),
        };
        Table {
            columns: vec![
                text("figure", vec![Some("NPS"), Some("Share <b>"), Some("CLV")]),
                number("value", vec![Some(30.0), Some(20.0), Some(350.5)]),
                text("unit", vec![Some("points"), Some("%"), Some("EUR")]),
                number("margin", vec![Some(7.0), Some(5.54), None]),
                number("change", vec![Some(-20.0), Some(1.0), None]),
                text("against", vec![Some("May 2025"), Some("May 2025"), None]),
                flag,
                text("note", vec![None, Some("40 of 200"), None]),
            ],
            rows: 3,
        }
    }

    #[test]
    fn tiles_say_the_change_against_what_and_the_verdict() {
        let html = tiles(&figures());
        assert!(
            html.contains("<div class=\"value\">30.0 pts</div>"),
            "{html}"
        );
        assert!(
            html.contains("<div class=\"margin\">± 7.0 pts (95%)</div>"),
            "{html}"
        );
        assert!(
            html.contains("<div class=\"change significant down\">-20.0 pts vs May 2025 · significant at 95%</div>"),
            "{html}"
        );
        assert!(html.contains("Share &lt;b&gt;"), "{html}");
        assert!(
            html.contains("<div class=\"margin\">± 5.5 pp (95%)</div>"),
            "{html}"
        );
        assert!(
            html.contains("<div class=\"change\">+1.0 pp vs May 2025 · within the noise</div>"),
            "{html}"
        );
        assert!(
            html.contains("<div class=\"value\">351 EUR</div>"),
            "{html}"
        );
        assert!(html.contains("no earlier figure to compare"), "{html}");
        assert_eq!(html.matches("class=\"tile\"").count(), 3);
    }

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-999.0), "-999");
        assert_eq!(with_unit(31.46, "%"), "31.5%");
        assert_eq!(with_unit(-4.04, "points"), "-4.0 pts");
        assert_eq!(with_unit(2_500_000.0, "USD"), "2,500,000 USD");
        assert_eq!(difference_with_unit(0.14, "%"), "0.1 pp");
        assert_eq!(difference_with_unit(-2.0, "points"), "-2.0 pts");
        assert_eq!(cell_number(12.0), "12");
        assert_eq!(cell_number(0.126), "0.13");
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
