//! Lookups: a value a JSON record picks from an element of an array, of
//! its document (`/includes/users`, an X API page's authors) or of its own
//! (`columns`, a Salesforce record's name/value pairs), by key, by a SQL
//! condition over the element's fields (`where`), or both.
//!
//! A document's arrays become tables once per document. A record's own
//! arrays are read once per record whatever the number of lookups in them
//! ([`OwnArrays`]): with a walk and a table per lookup, 100,000 Salesforce
//! contacts mapped by five pairs took 1.10 s to load; grouped, 0.33 s,
//! against 0.21 s by position (`bench/record_shapes.sh`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::expressions::Planned;
use super::json_paths::{Found, PathTree};
use super::json_pointer::{RecordsPath, Target};
use super::mapping::{LookupInput, LookupKey};
use super::sink::FileError;
use crate::config::text_schema;

/// Key text -> the first matching element's value text (`None` for JSON
/// null). A lookup without a key keeps its first matching element under
/// the empty key.
pub(super) type Table = HashMap<String, Option<String>>;

/// Whether some document (or record) had the lookup's array, a key in an
/// element of it, a value, and an element its `where` held for.
pub(super) type Seen = [bool; 4];

/// What one lookup reads of each element, as indices into what its tree
/// finds, and how it picks one.
struct Pick {
    /// Where the key is, for a keyed lookup.
    key_at: Option<usize>,
    value_at: usize,
    condition: Option<Condition>,
}

struct Condition {
    planned: Planned,
    schema: SchemaRef,
    /// Index of its first field in what the tree finds.
    first: usize,
}

impl Pick {
    /// Appends the paths the lookup reads to `paths`.
    fn new(input: &LookupInput, paths: &mut Vec<String>) -> Pick {
        let spec = &input.spec;
        let key_at = match input.key {
            LookupKey::Any => None,
            LookupKey::Column(_) | LookupKey::Literal(_) => {
                paths.push(spec.key.clone().unwrap_or_default());
                Some(paths.len() - 1)
            }
        };
        paths.push(spec.value.clone());
        let value_at = paths.len() - 1;
        let condition = spec.condition.as_ref().map(|c| {
            let fields = &c.expression.fields;
            let schema = text_schema(fields);
            let condition = Condition {
                planned: Planned::new(&c.expression, &schema, DataType::Boolean),
                schema,
                first: paths.len(),
            };
            paths.extend(fields.iter().cloned());
            condition
        });
        Pick {
            key_at,
            value_at,
            condition,
        }
    }

    /// Per element, whether the condition holds (NULL, or an error such as
    /// a failed CAST, counts as not holding); all true without one.
    fn matching(&self, elements: &[Found]) -> Vec<bool> {
        let Some(condition) = &self.condition else {
            return vec![true; elements.len()];
        };
        if elements.is_empty() {
            return Vec::new();
        }
        let fields = condition.schema.fields().len();
        let columns: Vec<ArrayRef> = (condition.first..condition.first + fields)
            .map(|i| {
                let values: StringArray = elements.iter().map(|e| text(e, i)).collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        // The config refuses a condition without fields, so there is a
        // column to give the batch its rows.
        let batch = match RecordBatch::try_new(condition.schema.clone(), columns) {
            Ok(batch) => batch,
            Err(_) => return vec![false; elements.len()],
        };
        let evaluated = condition.planned.evaluate(&batch);
        (0..elements.len())
            .map(|i| evaluated.is_true(i).unwrap_or(false))
            .collect()
    }

    /// Notes which of its parts the elements had.
    fn saw(&self, elements: &[Found], matches: &[bool], seen: &mut Seen) {
        for (element, matches) in elements.iter().zip(matches) {
            seen[1] |= self.key_at.is_none_or(|k| element[k].is_some());
            seen[2] |= element[self.value_at].is_some();
            seen[3] |= *matches;
        }
    }
}

/// A found value's text (`None` for a missing value or JSON null).
fn text<'f>(element: &'f Found, i: usize) -> Option<&'f str> {
    element[i].as_ref().and_then(|(_, t)| t.as_deref())
}

/// Splits the array at `path` of `text` into its elements, each parsed for
/// `tree`'s paths; elements that are not objects are left out. `None` if
/// there is no such array (or the text does not parse).
fn elements<'t>(path: &RecordsPath, tree: &PathTree, text: &'t str) -> Option<Vec<Found<'t>>> {
    let Ok(Target::Records(items)) = path.find(text) else {
        return None;
    };
    Some(
        items
            .iter()
            .filter_map(|item| tree.extract(item.get()).ok().flatten())
            .collect(),
    )
}

/// A lookup in an array of the document, ready to build its table from
/// each document.
pub(super) struct DocumentLookup {
    path: RecordsPath,
    tree: PathTree,
    pick: Pick,
}

impl DocumentLookup {
    pub(super) fn new(input: &LookupInput) -> Result<DocumentLookup, FileError> {
        let mut paths = Vec::new();
        let pick = Pick::new(input, &mut paths);
        Ok(DocumentLookup {
            path: records_path(input)?,
            tree: PathTree::new(&paths),
            pick,
        })
    }

    /// The table of one document. An array that is missing (or a
    /// document that does not parse) gives an empty table: the looked-up
    /// values are then empty, and a required one says so.
    pub(super) fn table(&self, document: &str, seen: &mut Seen) -> Table {
        let mut table = Table::new();
        let Some(elements) = elements(&self.path, &self.tree, document) else {
            return table;
        };
        seen[0] = true;
        let matches = self.pick.matching(&elements);
        self.pick.saw(&elements, &matches, seen);
        for (element, _) in elements.iter().zip(&matches).filter(|(_, m)| **m) {
            let key = match self.pick.key_at {
                Some(k) => text(element, k),
                None => Some(""),
            };
            if let Some(key) = key {
                let value = text(element, self.pick.value_at).map(str::to_string);
                table.entry(key.to_string()).or_insert(value);
            }
        }
        table
    }
}

/// The lookups in each record's own arrays, grouped by array: a record's
/// array is split and each element parsed once for all of them.
pub(super) struct OwnArrays {
    groups: Vec<Group>,
}

struct Group {
    path: RecordsPath,
    tree: PathTree,
    members: Vec<Member>,
}

/// A lookup in a group: its index in the mapping, its literal key, its pick.
type Member = (usize, Option<String>, Pick);

/// Per lookup of the mapping: for one in the record's own array, what it
/// picked (`Some(None)` for JSON null) or `None` if no element matched;
/// `None` for the others.
pub(super) type Picked = Vec<Option<Option<String>>>;

impl OwnArrays {
    /// Groups the lookups whose `records` is relative.
    pub(super) fn new(lookups: &[LookupInput]) -> Result<OwnArrays, FileError> {
        // Per array: its path, the paths its lookups read, and the lookups.
        let mut paths: Vec<(RecordsPath, Vec<String>)> = Vec::new();
        let mut members: Vec<Vec<Member>> = Vec::new();
        for (index, input) in lookups.iter().enumerate() {
            if !input.spec.is_relative() {
                continue;
            }
            let path = records_path(input)?;
            let at = match paths.iter().position(|(p, _)| *p == path) {
                Some(at) => at,
                None => {
                    paths.push((path, Vec::new()));
                    members.push(Vec::new());
                    paths.len() - 1
                }
            };
            let literal = match &input.key {
                LookupKey::Literal(key) => Some(key.clone()),
                _ => None,
            };
            let pick = Pick::new(input, &mut paths[at].1);
            members[at].push((index, literal, pick));
        }
        let groups = paths
            .into_iter()
            .zip(members)
            .map(|((path, read), members)| Group {
                path,
                tree: PathTree::new(&read),
                members,
            })
            .collect();
        Ok(OwnArrays { groups })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// What each lookup in `record`'s own arrays picks: the first element
    /// whose key is the literal one and for which `where` holds.
    pub(super) fn pick(&self, record: &str, lookups: usize, seen: &mut [Seen]) -> Picked {
        let mut picked = vec![None; lookups];
        for group in &self.groups {
            let Some(elements) = elements(&group.path, &group.tree, record) else {
                continue;
            };
            for (index, literal, pick) in &group.members {
                seen[*index][0] = true;
                let matches = pick.matching(&elements);
                pick.saw(&elements, &matches, &mut seen[*index]);
                picked[*index] = elements
                    .iter()
                    .zip(&matches)
                    .find(|(element, matches)| {
                        **matches
                            && pick
                                .key_at
                                .is_none_or(|k| text(element, k) == literal.as_deref())
                    })
                    .map(|(element, _)| text(element, pick.value_at).map(str::to_string));
            }
        }
        picked
    }
}

fn records_path(input: &LookupInput) -> Result<RecordsPath, FileError> {
    let records = &input.spec.records;
    RecordsPath::parse(records)
        .ok_or_else(|| FileError::new(format!("lookup records {records:?} is not a JSON pointer")))
}

/// Why a required lookup found nothing: "no record at /includes/users has
/// id \"42\"", "no element of answers matches field.type = 'nps'".
pub(super) fn not_found(input: &LookupInput, key: Option<&str>) -> String {
    let spec = &input.spec;
    let mut reason = match &input.key {
        LookupKey::Column(_) => format!("no record at {}", spec.records),
        LookupKey::Literal(_) | LookupKey::Any => format!("no element of {}", spec.records),
    };
    if let (Some(field), Some(key)) = (&spec.key, key) {
        reason.push_str(&format!(" has {field} {key:?}"));
    }
    if let Some(condition) = &spec.condition {
        let joint = if spec.key.is_some() { " and" } else { "" };
        reason.push_str(&format!("{joint} matches {}", condition.written));
    }
    reason
}
