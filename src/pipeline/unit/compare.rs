//! A unit test's expected rows against what the model returned: only the
//! expected columns, as a multiset (or in order), floats within a
//! tolerance; and the difference drawn side by side.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// One value as compared: floats as numbers, everything else as the text
/// Arrow displays it with (both sides have the model's column types, so
/// equal values display alike).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Text(s) => f.write_str(s),
        }
    }
}

/// Every value of `array`, top to bottom.
pub fn cells(array: &ArrayRef) -> Result<Vec<Cell>, String> {
    let float = |i: usize| -> Option<f64> {
        use datafusion::arrow::array::{Float16Array, Float32Array, Float64Array};
        let any = array.as_any();
        match array.data_type() {
            DataType::Float64 => any.downcast_ref::<Float64Array>().map(|a| a.value(i)),
            DataType::Float32 => any
                .downcast_ref::<Float32Array>()
                .map(|a| a.value(i) as f64),
            DataType::Float16 => any
                .downcast_ref::<Float16Array>()
                .map(|a| a.value(i).to_f64()),
            _ => None,
        }
    };
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
        .map_err(|e| e.to_string())?;
    Ok((0..array.len())
        .map(|i| {
            if array.is_null(i) {
                Cell::Null
            } else if let Some(x) = float(i) {
                Cell::Float(x)
            } else {
                Cell::Text(formatter.value(i).to_string())
            }
        })
        .collect())
}

/// Rows from columns (each the same length).
pub fn rows(columns: &[Vec<Cell>], len: usize) -> Vec<Vec<Cell>> {
    (0..len)
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect()
}

fn cell_matches(expected: &Cell, actual: &Cell, tolerance: f64) -> bool {
    match (expected, actual) {
        (Cell::Float(e), Cell::Float(a)) => {
            (e.is_nan() && a.is_nan()) || e == a || (a - e).abs() <= tolerance * e.abs().max(1.0)
        }
        (e, a) => e == a,
    }
}

fn row_matches(expected: &[Cell], actual: &[Cell], tolerance: f64) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| cell_matches(e, a, tolerance))
}

/// Rows on one side only: the expected ones with their position in the
/// test (1-based), the returned ones with theirs in the result when the
/// order is compared (else the result's order means nothing, and they are
/// listed sorted, without one).
#[derive(Debug, Default, PartialEq)]
pub struct Difference {
    /// Expected and not returned.
    pub missing: Vec<(usize, Vec<Cell>)>,
    /// Returned and not expected.
    pub unexpected: Vec<(Option<usize>, Vec<Cell>)>,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// As a multiset, each expected row takes the first returned row it
/// matches that no earlier one took; in order, row i against row i.
pub fn compare(
    expected: &[Vec<Cell>],
    actual: &[Vec<Cell>],
    ordered: bool,
    tolerance: f64,
) -> Difference {
    let mut diff = Difference::default();
    if ordered {
        for i in 0..expected.len().max(actual.len()) {
            match (expected.get(i), actual.get(i)) {
                (Some(e), Some(a)) if row_matches(e, a, tolerance) => {}
                (e, a) => {
                    if let Some(e) = e {
                        diff.missing.push((i + 1, e.clone()));
                    }
                    if let Some(a) = a {
                        diff.unexpected.push((Some(i + 1), a.clone()));
                    }
                }
            }
        }
        return diff;
    }
    // Sorted, so the same rows always pair and list alike.
    let mut actual = actual.to_vec();
    actual.sort_by(|a, b| compare_rows(a, b));
    let mut taken = vec![false; actual.len()];
    for (i, e) in expected.iter().enumerate() {
        let found = (0..actual.len()).find(|&j| !taken[j] && row_matches(e, &actual[j], tolerance));
        match found {
            Some(j) => taken[j] = true,
            None => diff.missing.push((i + 1, e.clone())),
        }
    }
    for (j, a) in actual.into_iter().enumerate() {
        if !taken[j] {
            diff.unexpected.push((None, a));
        }
    }
    diff
}

/// NULL first, then numbers, then text; rows column by column.
fn compare_rows(a: &[Cell], b: &[Cell]) -> std::cmp::Ordering {
    let rank = |c: &Cell| match c {
        Cell::Null => 0,
        Cell::Float(_) => 1,
        Cell::Text(_) => 2,
    };
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x, y) {
            (Cell::Float(x), Cell::Float(y)) => x.total_cmp(y),
            (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
            (x, y) => rank(x).cmp(&rank(y)),
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The two sides as tables next to each other: on the left the rows
/// expected and missing, on the right the rows returned and not expected,
/// each under the compared columns and with its row number.
pub fn render(columns: &[String], diff: &Difference) -> String {
    let missing: Vec<(Option<usize>, Vec<Cell>)> = diff
        .missing
        .iter()
        .map(|(n, cells)| (Some(*n), cells.clone()))
        .collect();
    let left = side("missing (expected, not returned)", columns, &missing);
    let right = side(
        "unexpected (returned, not expected)",
        columns,
        &diff.unexpected,
    );
    let width = left.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for i in 0..left.len().max(right.len()) {
        let l = left.get(i).map(String::as_str).unwrap_or("");
        let r = right.get(i).map(String::as_str).unwrap_or("");
        let pad = width - l.chars().count();
        out.push_str(format!("    {l}{:pad$} | {r}", "").trim_end());
        out.push('\n');
    }
    out
}

fn side(title: &str, columns: &[String], rows: &[(Option<usize>, Vec<Cell>)]) -> Vec<String> {
    let numbered = rows.iter().any(|(n, _)| n.is_some());
    let number = numbered.then(|| "row".to_string());
    let header: Vec<String> = number.into_iter().chain(columns.iter().cloned()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(n, cells)| {
            n.map(|n| n.to_string())
                .into_iter()
                .chain(cells.iter().map(Cell::to_string))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|j| {
            body.iter()
                .map(|r| r[j].chars().count())
                .chain([header[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut lines = vec![title.to_string(), line(&header)];
    if body.is_empty() {
        lines.push("(none)".to_string());
    }
    lines.extend(body.iter().map(|r| line(r)));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Vec<Cell> {
        values
            .iter()
            .map(|v| match v.parse::<f64>() {
                _ if *v == "NULL" => Cell::Null,
                Ok(x) if v.contains('.') => Cell::Float(x),
                _ => Cell::Text(v.to_string()),
            })
            .collect()
    }

    #[test]
    fn rows_match_as_a_multiset_whatever_their_order() {
        let expected = [row(&["a", "1.0"]), row(&["b", "2.0"]), row(&["b", "2.0"])];
        let actual = [row(&["b", "2.0"]), row(&["a", "1.0"]), row(&["b", "2.0"])];
        assert!(compare(&expected, &actual, false, 0.0).is_empty());
        // A duplicate counts: two expected, one returned.
        let diff = compare(&expected, &actual[..2], false, 0.0);
        assert_eq!(diff.missing, [(3, row(&["b", "2.0"]))]);
        assert!(diff.unexpected.is_empty());
    }

    #[test]
    fn floats_match_within_the_tolerance_relative_above_one() {
        let close =
            |e: &str, a: &str, t: f64| compare(&[row(&[e])], &[row(&[a])], false, t).is_empty();
        assert!(close("33.333333", "33.33333333333333", 1e-6));
        assert!(!close("33.3333", "33.33333333333333", 1e-6));
        // Below 1 in magnitude the tolerance is absolute.
        assert!(close("0.0", "0.0000005", 1e-6));
        assert!(!close("0.0", "0.000002", 1e-6));
        assert!(close("NaN", "NaN", 0.0));
    }

    #[test]
    fn null_matches_only_null() {
        assert!(compare(&[row(&["NULL"])], &[row(&["NULL"])], false, 0.0).is_empty());
        assert!(!compare(&[row(&["NULL"])], &[row(&["0.0"])], false, 1.0).is_empty());
        assert!(!compare(&[row(&["NULL"])], &[row(&[""])], false, 0.0).is_empty());
    }

    #[test]
    fn in_order_a_swapped_pair_is_two_rows_each_side() {
        let expected = [row(&["a"]), row(&["b"]), row(&["c"])];
        let actual = [row(&["b"]), row(&["a"]), row(&["c"])];
        assert!(compare(&expected, &actual, false, 0.0).is_empty());
        let diff = compare(&expected, &actual, true, 0.0);
        assert_eq!(diff.missing, [(1, row(&["a"])), (2, row(&["b"]))]);
        assert_eq!(
            diff.unexpected,
            [(Some(1), row(&["b"])), (Some(2), row(&["a"]))]
        );
    }

    #[test]
    fn the_difference_is_drawn_side_by_side() {
        // Each side padded to its widest line, the title's here (32).
        let lines = |pairs: &[(&str, &str)]| -> String {
            pairs
                .iter()
                .map(|(l, r)| format!("    {l:32} | {r}\n"))
                .collect()
        };
        let columns = ["customer".to_string(), "nps".to_string()];
        let diff = compare(
            &[row(&["c1", "100.0"]), row(&["c2", "NULL"])],
            &[
                row(&["c3", "0.0"]),
                row(&["c2", "NULL"]),
                row(&["c1", "-100.0"]),
            ],
            false,
            0.0,
        );
        // Returned rows have no position in a multiset: listed sorted.
        assert_eq!(
            render(&columns, &diff),
            lines(&[
                (
                    "missing (expected, not returned)",
                    "unexpected (returned, not expected)"
                ),
                ("row  customer  nps", "customer  nps"),
                ("1    c1        100", "c1        -100"),
                ("", "c3        0"),
            ])
        );
        let none = compare(&[], &[row(&["c3", "0.0"])], true, 0.0);
        assert_eq!(
            render(&columns, &none),
            lines(&[
                (
                    "missing (expected, not returned)",
                    "unexpected (returned, not expected)"
                ),
                ("customer  nps", "row  customer  nps"),
                ("(none)", "1    c3        0"),
            ])
        );
    }
}
