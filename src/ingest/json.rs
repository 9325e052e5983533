//! JSON readers: an array of records found by a JSON pointer (review-site
//! API dumps), and JSON Lines (social and community exports), which stream.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::load::{FileError, RecordSink};
use super::rows::{Mapping, Rejection};

/// Reads a whole JSON document: exports of this shape are API pages, small
/// enough to hold, and cannot be parsed incrementally record by record.
pub fn read_json_array(
    mut input: impl Read,
    pointer: Option<&str>,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    // Read into memory first: serde_json reads an unbuffered reader a byte
    // at a time (18 s for a 38 MB Trustpilot page, 0.3 s from a slice).
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
    let document: Value = serde_json::from_slice(&bytes)
        .map_err(|e| FileError::new(format!("not valid JSON: {e}")))?;
    drop(bytes);
    let pointer = pointer.unwrap_or("");
    let records = document
        .pointer(pointer)
        .ok_or_else(|| FileError::new(format!("no value at JSON pointer {pointer:?}")))?
        .as_array()
        .ok_or_else(|| FileError::new(format!("the value at {pointer:?} is not an array")))?;
    for (index, record) in records.iter().enumerate() {
        emit(index as i64 + 1, record, mapping, sink, || {
            record.to_string()
        })?;
    }
    Ok(())
}

/// One JSON object per line; a line that does not parse is quarantined and
/// the rest of the file still loads. Rows are physical line numbers.
pub fn read_json_lines(
    input: impl Read,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::new();
    let mut number = 0i64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| FileError::new(format!("cannot read line {}: {e}", number + 1)))?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim_start_matches('\u{feff}').trim(),
            Err(_) => {
                let raw = String::from_utf8_lossy(&line).trim().to_string();
                sink.reject(number, Rejection::new(None, "line is not valid UTF-8"), raw)?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(record @ Value::Object(_)) => {
                emit(number, &record, mapping, sink, || text.to_string())?
            }
            Ok(_) => sink.reject(
                number,
                Rejection::new(None, "line is not a JSON object"),
                text.to_string(),
            )?,
            Err(e) => sink.reject(
                number,
                Rejection::new(None, format!("not valid JSON: {e}")),
                text.to_string(),
            )?,
        }
    }
    Ok(())
}

fn emit(
    row: i64,
    record: &Value,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
    raw: impl Fn() -> String,
) -> Result<(), FileError> {
    if !record.is_object() {
        return sink.reject(
            row,
            Rejection::new(None, "record is not a JSON object"),
            raw(),
        );
    }
    let owned: Vec<Option<String>> = mapping
        .columns
        .iter()
        .map(|path| lookup(record, path).and_then(scalar_text))
        .collect();
    let values: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
    sink.accept(row, &values, &raw)
}

/// Follows a dotted path (`consumer.displayName`, `tweets.0.id`); a key
/// that itself contains dots is matched whole first.
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = record.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(record, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_reach_nested_values() {
        let v: Value = serde_json::from_str(
            r#"{"a": {"b": [{"c": 1}]}, "x.y": 2, "consumer": {"displayName": "Jo"}}"#,
        )
        .unwrap();
        assert_eq!(lookup(&v, "a.b.0.c"), Some(&Value::from(1)));
        assert_eq!(lookup(&v, "x.y"), Some(&Value::from(2)));
        assert_eq!(lookup(&v, "consumer.displayName"), Some(&Value::from("Jo")));
        assert_eq!(lookup(&v, "a.missing"), None);
    }
}
