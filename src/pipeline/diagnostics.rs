//! Turning DataFusion errors into messages that point at the model file,
//! line and column, with the offending line and a caret under it.

use datafusion::error::DataFusionError;

/// A position in a model file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

/// `file:line:col: message`, the source line and a caret; known tables
/// are offered as "did you mean" when a table is not found.
pub fn describe(file: &str, sql: &str, error: &DataFusionError, known_tables: &[String]) -> String {
    let diagnostic = error.iter().find_map(|e| e.diagnostic());
    let message = diagnostic
        .map(|d| d.message.clone())
        .unwrap_or_else(|| first_line(&error.strip_backtrace()));
    let position = diagnostic
        .and_then(|d| d.span)
        .filter(|s| s.start.line > 0)
        .map(|s| Position {
            line: s.start.line,
            column: s.start.column,
        })
        .or_else(|| parser_position(&error.to_string()))
        .or_else(|| {
            error
                .to_string()
                .contains("found: EOF")
                .then(|| end_of(sql))
        });
    let mut out = match position {
        Some(p) => format!("{file}:{}:{}: {message}", p.line, p.column),
        None => format!("{file}: {message}"),
    };
    if let Some(d) = diagnostic {
        for note in &d.notes {
            out.push_str(&format!(" ({})", note.message));
        }
        for help in &d.helps {
            out.push_str(&format!("; help: {}", help.message));
        }
    }
    if let Some(missing) = missing_table(&message)
        && let Some(suggestion) = closest(&missing, known_tables)
    {
        if suggestion == missing {
            out.push_str(&format!(
                "; model {missing} has not been built yet (advocacy build --select +{missing})"
            ));
        } else {
            out.push_str(&format!("; did you mean {suggestion}?"));
        }
    }
    if let Some(p) = position {
        out.push_str(&caret(sql, p));
    }
    out
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// sqlparser puts positions in the text: "... at Line: 3, Column: 14".
fn parser_position(text: &str) -> Option<Position> {
    let after = &text[text.find("Line: ")? + 6..];
    let line_end = after.find(|c: char| !c.is_ascii_digit())?;
    let line: u64 = after[..line_end].parse().ok()?;
    let rest = &after[after.find("Column: ")? + 8..];
    let column_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let column: u64 = rest[..column_end].parse().ok()?;
    Some(Position { line, column })
}

/// Just past the last character: where "unexpected end of input" is.
fn end_of(sql: &str) -> Position {
    let trimmed = sql.trim_end();
    let line = trimmed.lines().count().max(1) as u64;
    let column = trimmed.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
    Position { line, column }
}

fn caret(sql: &str, p: Position) -> String {
    let Some(line) = sql.lines().nth(p.line.saturating_sub(1) as usize) else {
        return String::new();
    };
    let pad: String = line
        .chars()
        .take(p.column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("\n    {line}\n    {pad}^")
}

/// The table name in DataFusion's "table 'x' not found".
fn missing_table(message: &str) -> Option<String> {
    let start = message.find("table '")? + 7;
    let end = start + message[start..].find('\'')?;
    message[end..].starts_with("' not found").then(|| {
        message[start..end]
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// The known name closest by edit distance, if it is close enough to be a
/// plausible typo.
pub fn closest(name: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_and_positions() {
        let known = vec!["stg_orders".to_string(), "stg_customers".to_string()];
        assert_eq!(closest("stg_order", &known).as_deref(), Some("stg_orders"));
        assert_eq!(closest("revenue", &known), None);
        assert_eq!(
            parser_position(
                "sql parser error: Expected: end of statement, found: x at Line: 3, Column: 14"
            ),
            Some(Position {
                line: 3,
                column: 14
            })
        );
        assert_eq!(
            missing_table("table 'datafusion.public.stg_order' not found"),
            Some("stg_order".into())
        );
        assert_eq!(
            caret("a\n  bad", Position { line: 2, column: 3 }),
            "\n      bad\n      ^"
        );
    }
}
