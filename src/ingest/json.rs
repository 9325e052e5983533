//! JSON readers: an array of records found by a JSON pointer (review-site
//! API dumps), and JSON Lines (social and community exports), which stream.
//! Either way each record is parsed once for the mapped paths only
//! ([`PathTree`]).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::decode::Decoded;
use super::json_lookup::{DocumentLookup, OwnArrays, Seen, Table, not_found};
use super::json_paths::{PathTree, scalar_text};
use super::json_pointer::{RecordsPath, Target, object_entries, pointer_hint};
use super::mapping::{LookupKey, Mapping};
use super::rows::Rejection;
use super::sink::{FileError, RecordSink};
use super::unpivot::{Wide, duplicate};

/// Reads a whole JSON document: exports of this shape are API pages, small
/// enough to hold, and cannot be parsed incrementally record by record.
/// Returns warnings: mapped paths of optional fields that no record has.
pub fn read_json_array(
    input: impl Read,
    encoding: Option<&str>,
    pointer: Option<&str>,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<Vec<String>, FileError> {
    // Read into memory first: serde_json reads an unbuffered reader a byte
    // at a time (18 s for a 38 MB Trustpilot page, 0.3 s from a slice).
    let mut bytes = Vec::new();
    Decoded::new(BufReader::new(input), encoding)?
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| FileError::new(format!("not valid JSON: not UTF-8 ({e})")))?;
    if text.trim().is_empty() {
        // An empty delivery: 0 records (the ingest warns), not bad JSON.
        return Ok(Vec::new());
    }
    let reader = DocumentReader::new(pointer, mapping, "record")?;
    let records = match reader.records(text) {
        Ok(Target::Records(records)) => records,
        Ok(Target::Missing) => {
            let hint = pointer_hint(&reader.pointer, text);
            return Err(FileError::new(format!(
                "no value at JSON pointer {:?}{hint}",
                reader.pointer
            )));
        }
        Ok(Target::Scalar) => {
            return Err(FileError::new(format!(
                "the value at {:?} is neither an array nor an object, so it holds no records",
                reader.pointer
            )));
        }
        Err(e) => return Err(FileError::new(format!("not valid JSON: {e}"))),
    };
    let lookups = reader.lookups(text);
    for (index, record) in records.iter().enumerate() {
        reader.emit(index as i64 + 1, record.get(), &lookups, sink)?;
    }
    reader.missing_paths()
}

/// A record as compact JSON, as quarantine stores it.
fn compact(record: &str) -> String {
    serde_json::from_str::<Value>(record).map_or_else(|_| record.to_string(), |v| v.to_string())
}

/// One JSON document per line; a line that does not parse is quarantined
/// and the rest of the file still loads. Without `records` each line is a
/// record and rows are physical line numbers; with `records` (API pages,
/// one per line) rows count the records of the file, and a line without
/// the array (an empty last page) is counted as skipped. Returns warnings,
/// as [`read_json_array`] does.
pub fn read_json_lines(
    input: impl Read,
    encoding: Option<&str>,
    pointer: Option<&str>,
    mapping: &Mapping,
    sink: &mut dyn RecordSink,
) -> Result<Vec<String>, FileError> {
    let paged = pointer.is_some();
    let noun = if paged { "record" } else { "line" };
    let reader = DocumentReader::new(pointer, mapping, noun)?;
    let decoded = Decoded::new(BufReader::new(input), encoding)?;
    let mut input = BufReader::with_capacity(1 << 20, decoded);
    let mut line = Vec::new();
    let mut number = 0i64;
    let mut records = 0i64;
    // Pages (non-blank lines), those without the records array, and the
    // first one's text.
    let mut pages = 0i64;
    let mut pages_without = 0i64;
    let mut first_page: Option<String> = None;
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
        pages += 1;
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
                pages_without += 1;
                first_page.get_or_insert_with(|| text.to_string());
                sink.skip(records)?;
            }
            Ok(Target::Scalar) => {
                records += 1;
                let why = format!("has no array or object at {:?}", reader.pointer);
                sink.reject(records, line_rejection(number, &why), text.to_string())?;
            }
            Err(e) => {
                records += 1;
                let why = format!("is not valid JSON: {e}");
                sink.reject(records, line_rejection(number, &why), text.to_string())?;
            }
        }
    }
    let mut warnings = reader.missing_paths()?;
    // Every page without the array: an empty delivery, or a wrong pointer.
    if paged && pages_without > 0 && pages_without == pages {
        let hint = first_page.map_or(String::new(), |p| pointer_hint(&reader.pointer, &p));
        warnings.push(format!(
            "records {:?} occurs in no line of the file, so every line was skipped{hint}",
            reader.pointer
        ));
    }
    Ok(warnings)
}

fn line_rejection(number: i64, what: &str) -> Rejection {
    Rejection::new(None, format!("line {number} {what}"))
}

/// Finds records in a document and maps each, with the values it looks up
/// in other arrays of the same document.
struct DocumentReader<'m> {
    pointer: String,
    path: RecordsPath,
    tree: PathTree,
    mapping: &'m Mapping,
    /// Per lookup in an array of the document: how to build its table
    /// (`None` for a lookup in each record's own array).
    documents: Vec<Option<DocumentLookup>>,
    /// The lookups in each record's own arrays.
    own: OwnArrays,
    /// An unpivoted source's layout: each record's keys but the kept ones
    /// become rows.
    wide: Option<Wide<'m>>,
    /// What one record is, for messages: a `line` of JSON Lines, or a
    /// `record` of an array.
    noun: &'static str,
    /// Which mapped paths some record had, for [`DocumentReader::missing_paths`].
    seen: RefCell<PathsSeen>,
}

/// Which mapped paths occurred in some record of the file (a JSON null
/// counts: the key is there), and the first records, to suggest a path
/// from when one never occurred.
#[derive(Default)]
struct PathsSeen {
    records: u64,
    columns: Vec<bool>,
    /// Per lookup: its array in some document, its key and its value in
    /// some item of it.
    lookups: Vec<Seen>,
    samples: Vec<String>,
}

/// Records kept to suggest paths from.
const SAMPLE_RECORDS: usize = 20;

/// Per lookup, its table in the document (empty for a lookup in each
/// record's own array).
type LookupTables = Vec<Table>;

impl<'m> DocumentReader<'m> {
    fn new(
        pointer: Option<&str>,
        mapping: &'m Mapping,
        noun: &'static str,
    ) -> Result<DocumentReader<'m>, FileError> {
        let pointer = pointer.unwrap_or("").to_string();
        let path = RecordsPath::parse(&pointer)
            .ok_or_else(|| FileError::new(format!("no value at JSON pointer {pointer:?}")))?;
        let documents = mapping
            .lookups
            .iter()
            .map(|l| match l.spec.is_relative() {
                true => Ok(None),
                false => DocumentLookup::new(l).map(Some),
            })
            .collect::<Result<Vec<_>, FileError>>()?;
        Ok(DocumentReader {
            pointer,
            path,
            tree: PathTree::new(&mapping.columns),
            seen: RefCell::new(PathsSeen {
                columns: vec![false; mapping.columns.len()],
                lookups: vec![[false; 4]; documents.len()],
                ..PathsSeen::default()
            }),
            mapping,
            own: OwnArrays::new(&mapping.lookups)?,
            wide: mapping
                .unpivot
                .as_ref()
                .map(|u| Wide::new(u, &mapping.columns)),
            documents,
            noun,
        })
    }

    fn records<'de>(&self, document: &'de str) -> Result<Target<'de>, serde_json::Error> {
        self.path.find(document)
    }

    /// The tables of one document's arrays (see [`DocumentLookup::table`]);
    /// empty for the lookups in each record's own.
    fn lookups(&self, document: &str) -> LookupTables {
        let mut seen = self.seen.borrow_mut();
        self.documents
            .iter()
            .zip(seen.lookups.iter_mut())
            .map(|(lookup, seen)| match lookup {
                Some(lookup) => lookup.table(document, seen),
                None => Table::new(),
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
        if let Some(wide) = &self.wide {
            return self.emit_wide(wide, row, record, sink);
        }
        match self.tree.extract(record) {
            Ok(Some(found)) => {
                self.saw(record, &found);
                let mut values: Vec<Option<&str>> = found
                    .iter()
                    .map(|f| f.as_ref().and_then(|(_, text)| text.as_deref()))
                    .collect();
                let picked = match self.own.is_empty() {
                    true => Vec::new(),
                    false => {
                        let n = self.mapping.lookups.len();
                        self.own
                            .pick(record, n, &mut self.seen.borrow_mut().lookups)
                    }
                };
                for (i, lookup) in self.mapping.lookups.iter().enumerate() {
                    let key = match &lookup.key {
                        LookupKey::Column(column) => values[*column],
                        LookupKey::Literal(key) => Some(key.as_str()),
                        LookupKey::Any => Some(""),
                    };
                    let found = match self.documents[i] {
                        Some(_) => key.and_then(|key| lookups[i].get(key)),
                        None => picked[i].as_ref(),
                    };
                    if let (Some(key), None, true) = (key, found, lookup.field.required) {
                        let reason = not_found(lookup, Some(key));
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

impl DocumentReader<'_> {
    /// An unpivoted record: one row per key not kept.
    fn emit_wide(
        &self,
        wide: &Wide,
        row: i64,
        record: &str,
        sink: &mut dyn RecordSink,
    ) -> Result<(), FileError> {
        let entries = match object_entries(record) {
            Ok(entries) => entries,
            Err(e) => {
                let why = match serde_json::from_str::<serde::de::IgnoredAny>(record) {
                    Ok(_) => format!("{} is not a JSON object", self.noun),
                    Err(_) => format!("not valid JSON: {e}"),
                };
                return sink.reject(row, Rejection::new(None, why), compact(record));
            }
        };
        if let Some(key) = duplicate(entries.iter().map(|(key, _)| key.as_str())) {
            let why =
                format!("the key {key:?} occurs twice, so `unpivot` cannot tell its cells apart");
            return sink.reject(row, Rejection::new(None, why), compact(record));
        }
        let texts: Vec<(&str, Option<String>)> = entries
            .iter()
            .map(|(key, value)| {
                let value = serde_json::from_str::<Value>(value.get()).unwrap_or(Value::Null);
                (key.as_str(), scalar_text(&value))
            })
            .collect();
        let kept: Vec<Option<&str>> = wide
            .keep()
            .iter()
            .map(|k| {
                texts
                    .iter()
                    .find(|(key, _)| key.trim() == k)
                    .and_then(|(_, t)| t.as_deref())
            })
            .collect();
        let cells = texts
            .iter()
            .filter(|(key, _)| !wide.keep().iter().any(|k| k == key.trim()))
            .map(|(key, text)| (*key, text.as_deref()));
        wide.emit(row, &kept, cells, sink)
    }

    fn saw(&self, record: &str, found: &super::json_paths::Found<'_>) {
        let mut seen = self.seen.borrow_mut();
        seen.records += 1;
        for (column, value) in seen.columns.iter_mut().zip(found) {
            *column |= value.is_some();
        }
        if seen.samples.len() < SAMPLE_RECORDS {
            seen.samples.push(record.to_string());
        }
    }

    /// After the last record: a mapped path (or lookup) that occurred in
    /// no record fails the file when a required field (or the filter)
    /// reads it, and is a warning otherwise, with the closest path the
    /// records have. A file without records says nothing.
    fn missing_paths(&self) -> Result<Vec<String>, FileError> {
        let seen = self.seen.borrow();
        if seen.records == 0 {
            return Ok(Vec::new());
        }
        let paths = record_paths(&seen.samples);
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut warnings = Vec::new();
        let mut report = |required: bool, message: String| {
            if required {
                Err(FileError::new(message))
            } else {
                warnings.push(format!("{message}; the field is empty in every row"));
                Ok(())
            }
        };
        for (i, column) in self.mapping.columns.iter().enumerate() {
            if seen.columns[i] {
                continue;
            }
            let usage = &self.mapping.uses[i];
            let hint = match items_holding(column, &paths) {
                Some(array) => format!(
                    "; the items of {array:?} have it: are they the records (`records: /{}`)?",
                    array.replace('.', "/")
                ),
                None => super::header::closest(column, &paths)
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default(),
            };
            report(
                usage.required,
                format!(
                    "JSON path {column:?} ({}) occurs in no {} of the file{hint}",
                    usage.readers.join(", "),
                    self.noun
                ),
            )?;
        }
        for (lookup, [array, key, value, held]) in self.mapping.lookups.iter().zip(&seen.lookups) {
            let spec = &lookup.spec;
            let what = match (array, key, value) {
                (false, _, _) if spec.is_relative() => format!(
                    "lookup records {:?} occurs in no record (a path without a leading '/' is \
                     the record's own array; the document's is \"/{}\")",
                    spec.records, spec.records
                ),
                (false, _, _) => format!("lookup records {:?} occurs in no document", spec.records),
                (true, false, _) => {
                    format!(
                        "lookup key {:?} occurs in no record at {}",
                        spec.key.as_deref().unwrap_or_default(),
                        spec.records
                    )
                }
                (true, true, false) => format!(
                    "lookup value {:?} occurs in no record at {}",
                    spec.value, spec.records
                ),
                // A required field's records say so one by one.
                _ => match (&spec.condition, held, lookup.field.required) {
                    (Some(condition), false, false) => format!(
                        "lookup where {:?} holds for no element of {}",
                        condition.written, spec.records
                    ),
                    _ => continue,
                },
            };
            report(
                lookup.field.required,
                format!("{what} of the file (columns.{})", lookup.field.name),
            )?;
        }
        Ok(warnings)
    }
}

/// The array whose items have `column` (`data` for `data.0.id`): a file
/// read as one record whose records are in fact in an array of it.
fn items_holding<'p>(column: &str, paths: &[&'p str]) -> Option<&'p str> {
    paths.iter().find_map(|p| {
        p.strip_suffix(column)?
            .strip_suffix(".0.")
            .filter(|array| !array.is_empty())
    })
}

/// Every dotted path of the sampled records (an array by its first item,
/// `tweets.0.id`), to suggest one from.
fn record_paths(samples: &[String]) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, depth: usize, out: &mut BTreeSet<String>) {
        let mut visit = |key: &str, child: &Value| {
            let path = if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            };
            if depth < 8 {
                walk(&path, child, depth + 1, out);
            }
            out.insert(path);
        };
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| visit(k, v)),
            Value::Array(items) => items.iter().take(1).for_each(|v| visit("0", v)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for sample in samples {
        if let Ok(value) = serde_json::from_str::<Value>(sample) {
            walk("", &value, 0, &mut out);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(document: &str, pointer: &str) -> Result<Vec<String>, String> {
        let path = RecordsPath::parse(pointer).ok_or("not a pointer")?;
        match path.find(document).map_err(|e| e.to_string())? {
            Target::Records(r) => Ok(r.iter().map(|r| r.get().to_string()).collect()),
            Target::Scalar => Err("a scalar".into()),
            Target::Missing => Err("missing".into()),
        }
    }

    /// The pointer walk agrees with `Value::pointer`: an array gives its
    /// items, an object itself, and with `/*` every value of either.
    #[test]
    fn pointers_find_the_records() {
        let doc = r#"{"a": {"reviews": [{"id": 1}, 2]}, "x/y": [[], [3]], "s": "t", "e": {},
            "byid": {"9": {"id": 9}, "1": {"id": 1}}}"#;
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
            "/byid/*",
            "/a/reviews/*",
            "/s/*",
            "/e/*",
            "/*",
        ] {
            let (at, every) = match pointer.strip_suffix("/*") {
                Some(at) => (at, true),
                None => (pointer, false),
            };
            let expected = match value.pointer(at) {
                Some(Value::Array(items)) => Ok(items.iter().map(|v| v.to_string()).collect()),
                // Written order: the test's objects list their keys unsorted.
                Some(Value::Object(map)) if every => Ok(match at {
                    "/byid" => vec![r#"{"id":9}"#.to_string(), r#"{"id":1}"#.to_string()],
                    _ => map.values().map(|v| v.to_string()).collect(),
                }),
                Some(v @ Value::Object(_)) => Ok(vec![v.to_string()]),
                Some(_) => Err("a scalar".to_string()),
                None => Err("missing".to_string()),
            };
            let got =
                records(doc, pointer).map(|r| r.iter().map(|t| compact(t)).collect::<Vec<_>>());
            if pointer == "/*" {
                assert_eq!(got.map(|r| r.len()), Ok(5), "pointer {pointer:?}");
                continue;
            }
            assert_eq!(got, expected, "pointer {pointer:?}");
        }
        assert_eq!(records(doc, "a/reviews"), records(doc, "/a/reviews"));
        assert!(RecordsPath::parse("/a/*/b").is_none());
        assert_eq!(
            records("[{\"a\": 1}]", ""),
            Ok(vec!["{\"a\": 1}".to_string()])
        );
    }
}
