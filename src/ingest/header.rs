//! The columns an export has against those its mapping reads: a mapped
//! column that is missing fails the file, naming the closest one there.

use super::sink::FileError;

/// The error for a mapped column the file does not have. `place` is where
/// columns were looked for ("header", "file").
pub fn missing_column(name: &str, available: &[&str], place: &str) -> FileError {
    let hint = closest(name, available)
        .map(|c| format!("did you mean {c:?}? "))
        .unwrap_or_default();
    FileError::new(format!(
        "mapped column {name:?} is not in the {place} ({hint}columns: {})",
        available.join(", ")
    ))
}

/// The available column most like `name`, if any is close: the same but
/// for case or spacing, or at least 0.8 alike by normalised
/// Damerau-Levenshtein (strsim), which catches a renamed "Customer Id" ->
/// "Customer ID" or "Created" -> "Created At" without suggesting unrelated
/// columns.
pub(super) fn closest<'a>(name: &str, available: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(name);
    if let Some(same) = available.iter().find(|c| squash(c) == wanted) {
        return Some(same);
    }
    available
        .iter()
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&wanted, &squash(c)),
                *c,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_column_only_when_close() {
        let header = ["Record ID", "Email", "Create Date", "Segment"];
        assert_eq!(closest("Record Id", &header), Some("Record ID"));
        assert_eq!(closest("Created Date", &header), Some("Create Date"));
        assert_eq!(closest("E-mail", &header), Some("Email"));
        assert_eq!(closest("Country", &header), None);
        let message = missing_column("Id", &header, "header").message;
        assert_eq!(
            message,
            "mapped column \"Id\" is not in the header (columns: Record ID, Email, Create Date, Segment)"
        );
        let message = missing_column("Created Date", &header, "header").message;
        assert!(
            message.contains("(did you mean \"Create Date\"? columns: "),
            "{message}"
        );
    }
}
