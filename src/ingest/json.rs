//! JSON readers: an array of records found by a JSON pointer (review-site
//! API dumps), and JSON Lines (social and community exports), which stream.
//! Either way each record is parsed once for the mapped paths only
//! ([`PathTree`]).

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::json_paths::{Found, PathTree};
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
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| FileError::new(format!("not valid JSON: not UTF-8 ({e})")))?;
    let pointer = pointer.unwrap_or("");
    let tokens = pointer_tokens(pointer)
        .ok_or_else(|| FileError::new(format!("no value at JSON pointer {pointer:?}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let target = PointerSeed { tokens: &tokens }
        .deserialize(&mut de)
        .and_then(|target| de.end().map(|()| target))
        .map_err(|e| FileError::new(format!("not valid JSON: {e}")))?;
    let records = match target {
        Target::Records(records) => records,
        Target::Missing => {
            return Err(FileError::new(format!(
                "no value at JSON pointer {pointer:?}"
            )));
        }
        Target::NotArray => {
            return Err(FileError::new(format!(
                "the value at {pointer:?} is not an array"
            )));
        }
    };
    let tree = PathTree::new(&mapping.columns);
    for (index, record) in records.iter().enumerate() {
        let row = index as i64 + 1;
        let raw = || compact(record.get());
        match tree.extract(record.get()) {
            Ok(Some(found)) => emit(row, &found, sink, raw)?,
            Ok(None) => sink.reject(
                row,
                Rejection::new(None, "record is not a JSON object"),
                raw(),
            )?,
            // The document parsed as a whole, so a record cannot fail alone.
            Err(e) => sink.reject(
                row,
                Rejection::new(None, format!("not valid JSON: {e}")),
                raw(),
            )?,
        }
    }
    Ok(())
}

/// A record as compact JSON, as quarantine stores it.
fn compact(record: &str) -> String {
    serde_json::from_str::<Value>(record).map_or_else(|_| record.to_string(), |v| v.to_string())
}

/// One JSON object per line; a line that does not parse is quarantined and
/// the rest of the file still loads. Rows are physical line numbers.
pub fn read_json_lines(
    input: impl Read,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    let tree = PathTree::new(&mapping.columns);
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
        match tree.extract(text) {
            Ok(Some(found)) => emit(number, &found, sink, || text.to_string())?,
            Ok(None) => sink.reject(
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
    found: &Found<'_>,
    sink: &mut dyn RecordSink,
    raw: impl Fn() -> String,
) -> Result<(), FileError> {
    let values: Vec<Option<&str>> = found
        .iter()
        .map(|f| f.as_ref().and_then(|(_, text)| text.as_deref()))
        .collect();
    sink.accept(row, &values, &raw)
}

/// A JSON pointer's reference tokens (RFC 6901); `None` if it is not one.
fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// What a JSON pointer leads to.
enum Target<'de> {
    Records(Vec<&'de RawValue>),
    NotArray,
    Missing,
}

/// Walks a document down a JSON pointer, skipping everything else, and
/// takes the array it points at as raw records (each parsed afterwards).
struct PointerSeed<'t> {
    tokens: &'t [String],
}

impl<'de> DeserializeSeed<'de> for PointerSeed<'_> {
    type Value = Target<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Target<'de>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PointerSeed<'_> {
    type Value = Target<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target<'de>, A::Error> {
        let mut target = if self.tokens.is_empty() {
            Target::NotArray
        } else {
            Target::Missing
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.tokens.split_first() {
                Some((first, rest)) if *first == key => {
                    target = map.next_value_seed(PointerSeed { tokens: rest })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(target)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Target<'de>, A::Error> {
        let Some((first, rest)) = self.tokens.split_first() else {
            let mut records = Vec::new();
            while let Some(record) = seq.next_element::<&'de RawValue>()? {
                records.push(record);
            }
            return Ok(Target::Records(records));
        };
        // RFC 6901 array indices: digits, no leading zero.
        let wanted = first
            .parse::<usize>()
            .ok()
            .filter(|_| !first.starts_with('+') && (first == "0" || !first.starts_with('0')));
        let mut target = Target::Missing;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(PointerSeed { tokens: rest })? {
                    Some(t) => target = t,
                    None => return Ok(target),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(target);
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_str<E>(self, _: &str) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
    fn visit_unit<E>(self) -> Result<Target<'de>, E> {
        Ok(self.scalar())
    }
}

impl PointerSeed<'_> {
    /// A scalar is the target itself (not an array) or has nothing below.
    fn scalar<'de>(&self) -> Target<'de> {
        if self.tokens.is_empty() {
            Target::NotArray
        } else {
            Target::Missing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(document: &str, pointer: &str) -> Result<Vec<String>, String> {
        let tokens = pointer_tokens(pointer).ok_or("not a pointer")?;
        let mut de = serde_json::Deserializer::from_str(document);
        let target = PointerSeed { tokens: &tokens }
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        match target {
            Target::Records(r) => Ok(r.iter().map(|r| r.get().to_string()).collect()),
            Target::NotArray => Err("not an array".into()),
            Target::Missing => Err("missing".into()),
        }
    }

    /// The pointer walk agrees with `Value::pointer`.
    #[test]
    fn pointers_find_the_records_array() {
        let doc = r#"{"a": {"reviews": [{"id": 1}, 2]}, "x/y": [[], [3]], "s": "t", "e": {}}"#;
        let value: Value = serde_json::from_str(doc).unwrap();
        for pointer in [
            "/a/reviews",
            "/x~1y/1",
            "/x~1y/0",
            "/a",
            "/s",
            "/e",
            "/nope",
            "/a/reviews/01",
            "",
            "/x~1y/2",
        ] {
            let expected = match value.pointer(pointer) {
                Some(Value::Array(items)) => Ok(items.iter().map(|v| v.to_string()).collect()),
                Some(_) => Err("not an array".to_string()),
                None => Err("missing".to_string()),
            };
            let got =
                records(doc, pointer).map(|r| r.iter().map(|t| compact(t)).collect::<Vec<_>>());
            assert_eq!(got, expected, "pointer {pointer:?}");
        }
        assert_eq!(
            records("[{\"a\": 1}]", ""),
            Ok(vec!["{\"a\": 1}".to_string()])
        );
    }
}
