//! Drawing a chart's query result as inline SVG with plotters' SVG
//! backend: lines (with 95% error bars), grouped bars and heatmaps over
//! ordered categories. Titles, readings and legends are HTML around the
//! SVG, so they wrap on a phone and are read by screen readers.
//!
//! Colours are Okabe and Ito's palette, which readers with any common
//! colour-vision deficiency can tell apart; heatmaps use one hue from
//! white to blue, so lightness alone carries the value, and every cell is
//! also labelled with its number (up to 30 columns; wider ones are too
//! narrow for a number).

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::data::{Column, Table};
use super::spec::{ChartSpec, Kind};

/// Okabe-Ito, without its yellow (too light on white for lines).
pub const PALETTE: [(u8, u8, u8); 7] = [
    (0x00, 0x72, 0xB2),
    (0xE6, 0x9F, 0x00),
    (0x00, 0x9E, 0x73),
    (0xD5, 0x5E, 0x00),
    (0xCC, 0x79, 0xA7),
    (0x56, 0xB4, 0xE9),
    (0x00, 0x00, 0x00),
];

const WIDTH: u32 = 760;
const HEIGHT: u32 = 340;
const FONT: &str = "sans-serif";

pub fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// A drawn chart: the SVG and its legend entries (series name, colour).
pub struct Drawn {
    pub svg: String,
    pub legend: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("column {column} ({role}) is not in the result")]
    MissingColumn { role: &'static str, column: String },
    #[error("column {column} ({role}) is not numeric")]
    NotNumeric { role: &'static str, column: String },
    #[error("drawing failed: {0}")]
    Draw(String),
}

fn draw_error<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

fn column<'t>(table: &'t Table, role: &'static str, name: &str) -> Result<&'t Column, ChartError> {
    table.column(name).ok_or_else(|| ChartError::MissingColumn {
        role,
        column: name.into(),
    })
}

fn numbers<'t>(
    table: &'t Table,
    role: &'static str,
    name: &str,
) -> Result<&'t [Option<f64>], ChartError> {
    column(table, role, name)?
        .number
        .as_deref()
        .ok_or_else(|| ChartError::NotNumeric {
            role,
            column: name.into(),
        })
}

/// Distinct values of a text column in the order they first appear (the
/// chart's SQL orders its rows), and each row's index among them.
fn categories(values: &[Option<String>]) -> (Vec<String>, Vec<usize>) {
    let mut distinct: Vec<String> = Vec::new();
    let index = values
        .iter()
        .map(|v| {
            let v = v.clone().unwrap_or_default();
            match distinct.iter().position(|d| *d == v) {
                Some(i) => i,
                None => {
                    distinct.push(v);
                    distinct.len() - 1
                }
            }
        })
        .collect();
    (distinct, index)
}

/// A number as a reader wants it on an axis or a label.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let trimmed = |text: String| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    if a >= 999_500.0 {
        format!("{}M", trimmed(format!("{:.1}", v / 1e6)))
    } else if a >= 1e5 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e4 {
        format!("{}k", trimmed(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 || (v.fract() == 0.0) {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        // 2.50 reads as 2.5 next to 3 on an axis.
        let text = format!("{v:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The y range that holds every value, padded; bars start from zero.
fn y_range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    if !(from_zero && lo == 0.0) {
        lo -= pad;
    }
    hi += pad;
    if hi - lo < 1e-6 {
        hi = lo + 1.0;
    }
    (lo, hi)
}

/// Every n-th category labelled, so that about a dozen fit.
fn label_step(n: usize) -> usize {
    n.div_ceil(12).max(1)
}

pub fn draw(chart: &ChartSpec, table: &Table) -> Result<Drawn, ChartError> {
    match chart.kind {
        Kind::Line => draw_line(chart, table),
        Kind::Bar => draw_bars(chart, table),
        Kind::Heatmap => draw_heatmap(chart, table),
        Kind::Figures | Kind::Table => unreachable!("drawn as HTML"),
    }
}

/// Rows split by the series column (one series when there is none).
fn series_of(chart: &ChartSpec, table: &Table) -> Result<(Vec<String>, Vec<usize>), ChartError> {
    match &chart.series {
        Some(name) => Ok(categories(&column(table, "series", name)?.text)),
        None => {
            let label = chart
                .y
                .as_ref()
                .map(|y| y.label.clone())
                .unwrap_or_default();
            Ok((vec![label], vec![0; table.rows]))
        }
    }
}

type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What line and bar charts share: a white background, x as the ordered
/// categories `xs` (about a dozen labelled), y from `lo` to `hi` with
/// light horizontal grid lines, and both axes described.
fn category_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    xs: &[String],
    (lo, hi): (f64, f64),
    x_desc: &str,
    y_desc: &str,
) -> Result<Plot<'a, 'b>, ChartError> {
    root.fill(&WHITE).map_err(draw_error)?;
    let n = xs.len().max(1) as f64;
    let mut plot = ChartBuilder::on(root)
        .margin(12)
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
        .map_err(draw_error)?;
    let step = label_step(xs.len());
    let x_label = |v: &f64| category_label(xs, *v, step);
    let y_label = |v: &f64| compact(*v);
    plot.configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(215, 215, 215))
        .y_labels(8)
        .x_labels(xs.len().min(60))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(draw_error)?;
    Ok(plot)
}

fn draw_line(chart: &ChartSpec, table: &Table) -> Result<Drawn, ChartError> {
    let (x_axis, y_axis) = (chart.x.as_ref().unwrap(), chart.y.as_ref().unwrap());
    let (xs, x_index) = categories(&column(table, "x", &x_axis.column)?.text);
    let ys = numbers(table, "y", &y_axis.column)?;
    let bars = match (&y_axis.low, &y_axis.high) {
        (Some(low), Some(high)) => Some((
            numbers(table, "y.low", low)?,
            numbers(table, "y.high", high)?,
        )),
        _ => None,
    };
    let (series, series_index) = series_of(chart, table)?;
    let all = ys.iter().flatten().copied().chain(
        bars.iter()
            .flat_map(|(l, h)| l.iter().chain(h.iter()).flatten().copied()),
    );
    let (lo, hi) = y_range(all, false);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut plot = category_axes(&root, &xs, (lo, hi), &x_axis.label, &y_axis.label)?;
        if lo < 0.0 && hi > 0.0 {
            let n = xs.len().max(1) as f64;
            let zero = LineSeries::new([(-0.5, 0.0), (n - 0.5, 0.0)], RGBColor(150, 150, 150));
            plot.draw_series(zero).map_err(draw_error)?;
        }
        let count = series.len();
        for (s, _) in series.iter().enumerate() {
            let c = colour(s);
            // Series side by side at each x, so their error bars do not
            // hide one another.
            let dodge = if count > 1 {
                (s as f64 - (count as f64 - 1.0) / 2.0) * (0.5 / count as f64)
            } else {
                0.0
            };
            let rows: Vec<usize> = (0..table.rows).filter(|&r| series_index[r] == s).collect();
            for segment in segments(&rows, ys) {
                let points = segment
                    .iter()
                    .map(|&r| (x_index[r] as f64 + dodge, ys[r].unwrap()));
                plot.draw_series(LineSeries::new(points, c.stroke_width(2)))
                    .map_err(draw_error)?;
            }
            let points = rows
                .iter()
                .filter_map(|&r| ys[r].map(|y| (x_index[r] as f64 + dodge, y)));
            plot.draw_series(points.map(|p| Circle::new(p, 3, c.filled())))
                .map_err(draw_error)?;
            if let Some((low, high)) = bars {
                let whiskers = rows.iter().filter_map(|&r| match (low[r], ys[r], high[r]) {
                    (Some(l), Some(y), Some(h)) => Some(ErrorBar::new_vertical(
                        x_index[r] as f64 + dodge,
                        l,
                        y,
                        h,
                        c.stroke_width(1),
                        6,
                    )),
                    _ => None,
                });
                plot.draw_series(whiskers).map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
    }
    Ok(Drawn {
        svg,
        legend: legend(chart, &series),
    })
}

/// Runs of consecutive rows with a value: a missing value breaks the line.
fn segments(rows: &[usize], ys: &[Option<f64>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for &r in rows {
        if ys[r].is_some() {
            out.last_mut().unwrap().push(r);
        } else if !out.last().unwrap().is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn category_label(xs: &[String], v: f64, step: usize) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    let i = i as usize;
    if !i.is_multiple_of(step) {
        return String::new();
    }
    xs.get(i).cloned().unwrap_or_default()
}

fn legend(chart: &ChartSpec, series: &[String]) -> Vec<(String, String)> {
    if chart.series.is_none() {
        return Vec::new();
    }
    series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), hex(colour(i))))
        .collect()
}

fn draw_bars(chart: &ChartSpec, table: &Table) -> Result<Drawn, ChartError> {
    let (x_axis, y_axis) = (chart.x.as_ref().unwrap(), chart.y.as_ref().unwrap());
    let (xs, x_index) = categories(&column(table, "x", &x_axis.column)?.text);
    let ys = numbers(table, "y", &y_axis.column)?;
    let labels = match &chart.label {
        Some(name) => Some(&column(table, "label", name)?.text),
        None => None,
    };
    let (series, series_index) = series_of(chart, table)?;
    let (lo, hi) = y_range(ys.iter().flatten().copied(), true);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut plot = category_axes(&root, &xs, (lo, hi), &x_axis.label, &y_axis.label)?;
        let count = series.len().max(1) as f64;
        let width = 0.8 / count;
        for r in 0..table.rows {
            let Some(y) = ys[r] else { continue };
            let s = series_index[r];
            let left = x_index[r] as f64 - 0.4 + width * s as f64;
            let c = colour(s);
            plot.draw_series([Rectangle::new(
                [(left, 0.0), (left + width * 0.92, y)],
                c.filled(),
            )])
            .map_err(draw_error)?;
            if let Some(text) = labels.and_then(|l| l[r].clone()) {
                let at = (left + width * 0.46, y);
                let style = (FONT, 13).into_font().color(&BLACK).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                );
                plot.draw_series([Text::new(text, at, style)])
                    .map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
    }
    Ok(Drawn {
        svg,
        legend: legend(chart, &series),
    })
}

/// White to Okabe-Ito blue by `t` in 0..=1.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let (r, g, b) = PALETTE[0];
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * t).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

fn draw_heatmap(chart: &ChartSpec, table: &Table) -> Result<Drawn, ChartError> {
    let (x_axis, y_axis) = (chart.x.as_ref().unwrap(), chart.y.as_ref().unwrap());
    let value_axis = chart.value.as_ref().unwrap();
    let (xs, x_index) = categories(&column(table, "x", &x_axis.column)?.text);
    let (ys, y_index) = categories(&column(table, "y", &y_axis.column)?.text);
    let values = numbers(table, "value", &value_axis.column)?;
    let (lo, hi) = values
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    // The scale starts at zero for values that cannot be negative (rates,
    // counts), so that a uniform 100% reads dark, not blank.
    let lo = if lo >= 0.0 { 0.0 } else { lo };
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Taller for many rows: each cohort keeps a readable band.
    let height = (HEIGHT).max(90 + 18 * ys.len() as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (nx, ny) = (xs.len().max(1) as f64, ys.len().max(1) as f64);
        let mut plot = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(40)
            .x_label_area_size(44)
            .y_label_area_size(84)
            .build_cartesian_2d(-0.5..nx - 0.5, -0.5..ny - 0.5)
            .map_err(draw_error)?;
        let x_step = label_step(xs.len());
        let y_step = if ys.len() > 40 { 2 } else { 1 };
        let x_label = |v: &f64| category_label(&xs, *v, x_step);
        // The first category at the top, as a cohort table reads.
        let y_label = |v: &f64| category_label(&ys, ny - 1.0 - *v, y_step);
        plot.configure_mesh()
            .disable_mesh()
            .x_labels(xs.len().min(60))
            .y_labels(ys.len().min(80))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(x_axis.label.as_str())
            .y_desc(y_axis.label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(draw_error)?;
        let show_numbers = xs.len() <= 30;
        for r in 0..table.rows {
            let Some(v) = values[r] else { continue };
            let t = (v - lo) / span;
            let (x, y) = (x_index[r] as f64, ny - 1.0 - y_index[r] as f64);
            plot.draw_series([Rectangle::new(
                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                shade(t).filled(),
            )])
            .map_err(draw_error)?;
            if show_numbers {
                let ink = if t > 0.55 { WHITE } else { BLACK };
                let style =
                    (FONT, 10)
                        .into_font()
                        .color(&ink)
                        .pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ));
                plot.draw_series([Text::new(compact(v), (x, y), style)])
                    .map_err(draw_error)?;
            }
        }
        root.present().map_err(draw_error)?;
    }
    let legend = if hi.is_finite() {
        vec![
            (
                format!("{} {}", value_axis.label, compact(lo)),
                hex(shade(0.0)),
            ),
            (
                format!("{} {}", value_axis.label, compact(hi)),
                hex(shade(1.0)),
            ),
        ]
    } else {
        Vec::new()
    };
    Ok(Drawn { svg, legend })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact_and_categories_keep_their_order() {
        assert_eq!(compact(1_234_567.0), "1.2M");
        assert_eq!(compact(1_000_000.0), "1M");
        assert_eq!(compact(999_600.0), "1M");
        assert_eq!(compact(450_300.0), "450k");
        assert_eq!(compact(12_500.0), "12.5k");
        assert_eq!(compact(45_000.0), "45k");
        assert_eq!(compact(250.4), "250");
        assert_eq!(compact(12.0), "12");
        assert_eq!(compact(12.34), "12.3");
        assert_eq!(compact(-3.456), "-3.46");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(0.001), "0");
        let values: Vec<Option<String>> = ["b", "a", "b", "c"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        assert_eq!(
            categories(&values),
            (vec!["b".into(), "a".into(), "c".into()], vec![0, 1, 0, 2])
        );
    }

    #[test]
    fn ranges_pad_and_bars_start_at_zero() {
        let (lo, hi) = y_range([10.0, 20.0].into_iter(), true);
        assert_eq!(lo, 0.0);
        assert!((hi - 21.6).abs() < 1e-9);
        let (lo, hi) = y_range([-10.0, 10.0].into_iter(), false);
        assert!((lo + 11.6).abs() < 1e-9 && (hi - 11.6).abs() < 1e-9);
        assert_eq!(y_range(std::iter::empty(), false), (0.0, 1.0));
    }

    #[test]
    fn a_missing_value_breaks_the_line() {
        let ys = [Some(1.0), None, Some(2.0), Some(3.0)];
        assert_eq!(segments(&[0, 1, 2, 3], &ys), vec![vec![0], vec![2, 3]]);
    }

    #[test]
    fn the_heatmap_runs_from_white_to_blue() {
        assert_eq!(hex(shade(0.0)), "#FFFFFF");
        assert_eq!(hex(shade(1.0)), "#0072B2");
    }
}
