//! Lookups: a value a JSON record picks from an element of an array, of
//! its document (`/includes/users`, an X API page's authors) or of its own
//! (`columns`, a Salesforce record's name/value pairs), by key, by a SQL
//! condition over the element's fields (`where`), or both.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::DataType;

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

/// One lookup, ready to build tables from documents or records.
pub(super) struct LookupReader {
    path: RecordsPath,
    /// Paths read from each element: its key (when keyed), its value, then
    /// the condition's fields.
    tree: PathTree,
    keyed: bool,
    condition: Option<Condition>,
}

struct Condition {
    planned: Planned,
    schema: datafusion::arrow::datatypes::SchemaRef,
    /// Index of its first field in what the tree finds.
    first: usize,
}

impl LookupReader {
    pub(super) fn new(input: &LookupInput) -> Result<LookupReader, FileError> {
        let spec = &input.spec;
        let path = RecordsPath::parse(&spec.records).ok_or_else(|| {
            FileError::new(format!(
                "lookup records {:?} is not a JSON pointer",
                spec.records
            ))
        })?;
        let keyed = !matches!(input.key, LookupKey::Any);
        let mut paths: Vec<String> = spec.key.iter().cloned().collect();
        paths.push(spec.value.clone());
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
        Ok(LookupReader {
            path,
            tree: PathTree::new(&paths),
            keyed,
            condition,
        })
    }

    /// Whether the array is looked for in each record rather than once per
    /// document.
    pub(super) fn is_relative(&self) -> bool {
        self.path.is_relative()
    }

    /// The table of one document, or of one record for a relative lookup.
    /// An array that is missing (or a text that does not parse) gives an
    /// empty table: the looked-up values are then empty, and a required
    /// one says so.
    pub(super) fn table(&self, text: &str, seen: &mut Seen) -> Table {
        let mut table = Table::new();
        let Ok(Target::Records(items)) = self.path.find(text) else {
            return table;
        };
        seen[0] = true;
        let elements: Vec<Found> = items
            .iter()
            .filter_map(|item| self.tree.extract(item.get()).ok().flatten())
            .collect();
        let matches = self.matching(&elements);
        let value_at = usize::from(self.keyed);
        for (element, matches) in elements.iter().zip(matches) {
            let text = |i: usize| {
                element[i]
                    .as_ref()
                    .and_then(|(_, t)| t.as_deref().map(str::to_string))
            };
            seen[1] |= !self.keyed || element[0].is_some();
            seen[2] |= element[value_at].is_some();
            if !matches {
                continue;
            }
            seen[3] = true;
            let key = if self.keyed {
                text(0)
            } else {
                Some(String::new())
            };
            if let Some(key) = key {
                table.entry(key).or_insert_with(|| text(value_at));
            }
        }
        table
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
                let values: StringArray = elements
                    .iter()
                    .map(|e| e[i].as_ref().and_then(|(_, t)| t.as_deref()))
                    .collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        let batch = match RecordBatch::try_new(condition.schema.clone(), columns) {
            Ok(batch) => batch,
            Err(_) => return vec![false; elements.len()],
        };
        let evaluated = condition.planned.evaluate(&batch);
        (0..elements.len())
            .map(|i| evaluated.is_true(i).unwrap_or(false))
            .collect()
    }
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
