//! JSON readers: an array of records found by a JSON pointer (review-site
//! API dumps), and JSON Lines (social and community exports), which stream.
//! Either way each record is parsed once for the mapped paths only
//! ([`PathTree`]).

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::json_paths::PathTree;
use super::mapping::Mapping;
use super::rows::Rejection;
use super::sink::{FileError, RecordSink};

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
    if text.trim().is_empty() {
        // An empty delivery: 0 records (the ingest warns), not bad JSON.
        return Ok(());
    }
    let reader = DocumentReader::new(pointer, mapping, "record")?;
    let records = match reader.records(text) {
        Ok(Target::Records(records)) => records,
        Ok(Target::Missing) => {
            return Err(FileError::new(format!(
                "no value at JSON pointer {:?}",
                reader.pointer
            )));
        }
        Ok(Target::NotArray) => {
            return Err(FileError::new(format!(
                "the value at {:?} is not an array",
                reader.pointer
            )));
        }
        Err(e) => return Err(FileError::new(format!("not valid JSON: {e}"))),
    };
    let lookups = reader.lookups(text);
    for (index, record) in records.iter().enumerate() {
        reader.emit(index as i64 + 1, record.get(), &lookups, sink)?;
    }
    Ok(())
}

/// A record as compact JSON, as quarantine stores it.
fn compact(record: &str) -> String {
    serde_json::from_str::<Value>(record).map_or_else(|_| record.to_string(), |v| v.to_string())
}

/// One JSON document per line; a line that does not parse is quarantined
/// and the rest of the file still loads. Without `records` each line is a
/// record and rows are physical line numbers; with `records` (API pages,
/// one per line) rows count the records of the file, and a line without
/// the array (an empty last page) is counted as skipped.
pub fn read_json_lines(
    input: impl Read,
    pointer: Option<&str>,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<(), FileError> {
    let paged = pointer.is_some();
    let noun = if paged { "record" } else { "line" };
    let reader = DocumentReader::new(pointer, mapping, noun)?;
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::new();
    let mut number = 0i64;
    let mut records = 0i64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| FileError::new(format!("cannot read line {}: {e}", number + 1)))?;
        if n == 0 {
            break;
        }
        number += 1;
        // A page's own problems are reported at the next record's row.
        let row = if paged { records + 1 } else { number };
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim_start_matches('\u{feff}').trim(),
            Err(_) => {
                let raw = String::from_utf8_lossy(&line).trim().to_string();
                let why = match paged {
                    true => line_rejection(number, "is not valid UTF-8"),
                    false => Rejection::new(None, "line is not valid UTF-8"),
                };
                sink.reject(row, why, raw)?;
                records += i64::from(paged);
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        if !paged {
            reader.emit(number, text, &reader.lookups(text), sink)?;
            continue;
        }
        match reader.records(text) {
            Ok(Target::Records(page)) => {
                let lookups = reader.lookups(text);
                for record in page {
                    records += 1;
                    reader.emit(records, record.get(), &lookups, sink)?;
                }
            }
            Ok(Target::Missing) => {
                records += 1;
                sink.skip(records)?;
            }
            Ok(Target::NotArray) => {
                records += 1;
                let why = format!("has no array at {:?}", reader.pointer);
                sink.reject(records, line_rejection(number, &why), text.to_string())?;
            }
            Err(e) => {
                records += 1;
                let why = format!("is not valid JSON: {e}");
                sink.reject(records, line_rejection(number, &why), text.to_string())?;
            }
        }
    }
    Ok(())
}

fn line_rejection(number: i64, what: &str) -> Rejection {
    Rejection::new(None, format!("line {number} {what}"))
}

/// Finds records in a document and maps each, with the values it looks up
/// in other arrays of the same document.
struct DocumentReader<'m> {
    pointer: String,
    tokens: Vec<String>,
    tree: PathTree,
    mapping: &'m Mapping,
    /// Per lookup: its array's tokens, and a tree of its key and value.
    lookups: Vec<(Vec<String>, PathTree)>,
    /// What one record is, for messages: a `line` of JSON Lines, or a
    /// `record` of an array.
    noun: &'static str,
}

/// Per lookup, key text -> value text (`None` for JSON null).
type LookupTables = Vec<HashMap<String, Option<String>>>;

impl<'m> DocumentReader<'m> {
    fn new(
        pointer: Option<&str>,
        mapping: &'m Mapping,
        noun: &'static str,
    ) -> Result<DocumentReader<'m>, FileError> {
        let pointer = pointer.unwrap_or("").to_string();
        let tokens = pointer_tokens(&pointer)
            .ok_or_else(|| FileError::new(format!("no value at JSON pointer {pointer:?}")))?;
        let lookups = mapping
            .lookups
            .iter()
            .map(|l| {
                let tokens = pointer_tokens(&l.spec.records).ok_or_else(|| {
                    FileError::new(format!(
                        "lookup records {:?} is not a JSON pointer",
                        l.spec.records
                    ))
                })?;
                let tree = PathTree::new(&[l.spec.key.clone(), l.spec.value.clone()]);
                Ok((tokens, tree))
            })
            .collect::<Result<_, FileError>>()?;
        Ok(DocumentReader {
            pointer,
            tokens,
            tree: PathTree::new(&mapping.columns),
            mapping,
            lookups,
            noun,
        })
    }

    fn records<'de>(&self, document: &'de str) -> Result<Target<'de>, serde_json::Error> {
        pointer_target(document, &self.tokens)
    }

    /// The lookup tables of one document. An array that is missing (or a
    /// document that does not parse) gives an empty table: the records'
    /// looked-up values are then empty, and a required one says so.
    fn lookups(&self, document: &str) -> LookupTables {
        self.lookups
            .iter()
            .map(|(tokens, tree)| {
                let mut table = HashMap::new();
                if let Ok(Target::Records(items)) = pointer_target(document, tokens) {
                    for item in items {
                        if let Ok(Some(found)) = tree.extract(item.get()) {
                            let text = |i: usize| {
                                found[i]
                                    .as_ref()
                                    .and_then(|(_, t)| t.as_deref().map(str::to_string))
                            };
                            if let Some(key) = text(0) {
                                table.entry(key).or_insert_with(|| text(1));
                            }
                        }
                    }
                }
                table
            })
            .collect()
    }

    fn emit(
        &self,
        row: i64,
        record: &str,
        lookups: &LookupTables,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let raw = || compact(record);
        match self.tree.extract(record) {
            Ok(Some(found)) => {
                let mut values: Vec<Option<&str>> = found
                    .iter()
                    .map(|f| f.as_ref().and_then(|(_, text)| text.as_deref()))
                    .collect();
                for (lookup, table) in self.mapping.lookups.iter().zip(lookups) {
                    let key = values[lookup.column];
                    let found = key.and_then(|key| table.get(key));
                    if let (Some(key), None, true) = (key, found, lookup.field.required) {
                        let spec = &lookup.spec;
                        let reason =
                            format!("no record at {} has {} {key:?}", spec.records, spec.key);
                        let why = Rejection::new(Some(lookup.field.name), reason);
                        return sink.reject_mapped(row, why, raw(), &values);
                    }
                    values.push(found.and_then(|v| v.as_deref()));
                }
                sink.accept(row, &values, &raw)
            }
            Ok(None) => sink.reject(
                row,
                Rejection::new(None, format!("{} is not a JSON object", self.noun)),
                raw(),
            ),
            Err(e) => sink.reject(
                row,
                Rejection::new(None, format!("not valid JSON: {e}")),
                raw(),
            ),
        }
    }
}

/// What the pointer leads to in one document.
fn pointer_target<'de>(
    document: &'de str,
    tokens: &[String],
) -> Result<Target<'de>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(document);
    let target = PointerSeed { tokens }.deserialize(&mut de)?;
    de.end()?;
    Ok(target)
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
