//! A source's column mapping resolved against its entity: which values a
//! reader supplies for each record, and how each canonical field is made
//! from them (a column, a lookup, a SQL expression or a constant).

use std::collections::BTreeMap;

use chrono_tz::Tz;
use datafusion::arrow::datatypes::DataType;

use super::expressions::Planned;
use super::values::DateBounds;
use crate::config::{ColumnSpec, LineAmount, Lookup, Pii, SourceConfig, Unpivot, text_schema};
use crate::schema::{Entity, FieldDef};

/// What every row of one load shares.
#[derive(Clone)]
pub struct LoadContext {
    pub source: String,
    pub entity: Entity,
    pub pii: Pii,
    pub salt: String,
    pub tz: Tz,
    pub bounds: DateBounds,
    /// Microseconds since the epoch: the run's start for a file loaded for
    /// the first time, the original load's for a file loaded again.
    pub loaded_at: i64,
    pub batch_rows: usize,
}

impl LoadContext {
    /// A landing file name or a column name as the warehouse and the
    /// output may show it: with any address in it redacted (case kept
    /// apart: two names differing in case are two files), unless
    /// `pii: keep`. The tag depends on the salt: after a salt rotation such
    /// a file is a new name, loaded anew.
    pub fn protect_name(&self, name: &str) -> String {
        match self.pii {
            Pii::Keep => name.to_string(),
            Pii::Hash | Pii::Drop => crate::pii::redact_emails_exact(name, &self.salt),
        }
    }
}

pub(super) enum Input {
    /// Index into a record's values (see [`Mapping`]).
    Value(usize),
    Constant(String),
}

pub(super) struct MappedField {
    pub(super) def: &'static FieldDef,
    pub(super) input: Input,
    pub(super) format: Option<String>,
    /// The column's own zone for values without an offset.
    pub(super) tz: Option<Tz>,
    pub(super) values: Option<BTreeMap<String, String>>,
    /// The field of an array's elements to add up (`{ from, sum }`).
    pub(super) sum: Option<String>,
}

/// A value a JSON reader picks from an array: another of the same
/// document, or the record's own.
pub struct LookupInput {
    pub key: LookupKey,
    pub spec: Lookup,
    /// The field it fills; a required one whose key is not found rejects
    /// the record, saying so.
    pub field: &'static FieldDef,
}

/// What the element a lookup picks must have as its `key`.
pub enum LookupKey {
    /// The value of this column (index into [`Mapping::columns`]): a
    /// document's array is keyed by values of the record (`author_id`).
    Column(usize),
    /// This text: a record's own array is keyed by field names (`Id`).
    Literal(String),
    /// Any key: the lookup picks by its `where` alone.
    Any,
}

/// A field whose value a SQL expression computes.
pub struct MappedExpression {
    pub field: &'static str,
    pub planned: Planned,
}

/// Where the order id and amount of a line-item export are in a record's
/// values, how lines' amounts combine, and which values feed the order's
/// other fields (each line must agree with the others on them).
#[derive(Clone)]
pub struct LineItemInputs {
    pub order_id: usize,
    pub amount: usize,
    pub mode: LineAmount,
    /// (index into the values, field name) of every field but a summed
    /// amount.
    pub fields: Vec<(usize, &'static str)>,
}

/// A source's column mapping, resolved against its entity. A record's
/// values are, in order: the source columns a reader supplies
/// ([`Mapping::columns`]), the values it looks up ([`Mapping::lookups`]),
/// then those of the SQL expressions ([`Mapping::expressions`]).
pub struct Mapping {
    pub(super) fields: Vec<Option<MappedField>>,
    /// The source columns (or JSON paths) a reader must supply, in order.
    pub columns: Vec<String>,
    pub lookups: Vec<LookupInput>,
    pub expressions: Vec<MappedExpression>,
    pub filter: Option<Planned>,
    pub line_items: Option<LineItemInputs>,
    /// A wide file's columns to turn into rows before mapping.
    pub unpivot: Option<Unpivot>,
    /// Per entry of `columns`: what reads it.
    pub uses: Vec<ColumnUse>,
}

/// What reads a source column: the mapped fields (`columns.<field>`, or
/// `filter`), and whether a required field takes it as its `from`. Paths
/// that only SQL or a filter read are not required: an expression may
/// read two spellings of which a file has one (`COALESCE("a", "b")`), and
/// an API may leave out a key the filter tests for NULL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnUse {
    pub required: bool,
    pub readers: Vec<String>,
}

impl Mapping {
    pub fn new(source: &SourceConfig) -> Mapping {
        let columns = source_columns(source);
        let column = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .expect("collected above")
        };
        // Lookups and expressions come after the columns, in mapping order.
        let n_lookups = source
            .columns
            .iter()
            .filter(|(_, spec)| spec.lookup.is_some())
            .count();
        let mut lookups = Vec::new();
        let mut expressions = Vec::new();
        let mut by_name: BTreeMap<&str, MappedField> = BTreeMap::new();
        for (name, spec) in &source.columns {
            let input = match (&spec.from, &spec.lookup, &spec.sql, &spec.value) {
                (from, Some(lookup), _, _) => {
                    let key = match from {
                        Some(from) if lookup.is_relative() => LookupKey::Literal(from.clone()),
                        Some(from) => LookupKey::Column(column(from)),
                        None => LookupKey::Any,
                    };
                    lookups.push(LookupInput {
                        key,
                        spec: lookup.clone(),
                        field: source
                            .entity
                            .field(name)
                            .expect("config checks field names"),
                    });
                    Input::Value(columns.len() + lookups.len() - 1)
                }
                (Some(from), None, _, _) => Input::Value(column(from)),
                (None, _, Some(sql), _) => {
                    expressions.push((name, sql));
                    Input::Value(columns.len() + n_lookups + expressions.len() - 1)
                }
                (None, _, None, Some(value)) => Input::Constant(value.clone()),
                (None, _, None, None) => unreachable!("config rejects a column without a source"),
            };
            let def = source
                .entity
                .field(name)
                .expect("config checks field names");
            let field = MappedField {
                def,
                input,
                format: spec.format.clone(),
                tz: spec.timezone,
                values: spec.values.clone(),
                sum: spec.sum.clone(),
            };
            by_name.insert(name.as_str(), field);
        }
        let schema = text_schema(&read_names(&columns, n_lookups));
        let line_items = source.line_items.map(|items| {
            let index = |field: &str| match by_name.get(field).map(|m| &m.input) {
                Some(Input::Value(i)) => *i,
                _ => unreachable!("config requires {field} from each row"),
            };
            let amount = index("amount");
            let fields = by_name
                .values()
                .filter_map(|m| match m.input {
                    Input::Value(i) => Some((i, m.def.name)),
                    Input::Constant(_) => None,
                })
                .filter(|(i, _)| !(items.amount == LineAmount::Sum && *i == amount))
                .collect();
            LineItemInputs {
                order_id: index("order_id"),
                amount,
                mode: items.amount,
                fields,
            }
        });
        let fields = source
            .entity
            .fields()
            .iter()
            .map(|def| by_name.remove(def.name))
            .collect();
        let uses = column_uses(source, &columns);
        Mapping {
            fields,
            columns,
            uses,
            lookups,
            expressions: expressions
                .into_iter()
                .map(|(name, sql)| MappedExpression {
                    field: source.entity.field(name).expect("checked").name,
                    planned: Planned::new(sql, &schema, DataType::Utf8),
                })
                .collect(),
            filter: source
                .filter
                .as_ref()
                .map(|f| Planned::new(f, &schema, DataType::Boolean)),
            line_items,
            unpivot: source.unpivot.clone(),
        }
    }

    /// Whether records pass through the line-item and SQL transform (`transform.rs`) before
    /// validation: SQL to evaluate, a filter, or lines to group.
    pub fn transforms(&self) -> bool {
        !self.expressions.is_empty() || self.filter.is_some() || self.line_items.is_some()
    }

    /// How many values a reader supplies per record: columns and lookups.
    pub fn read_width(&self) -> usize {
        self.columns.len() + self.lookups.len()
    }

    /// Names for the values a reader supplies, as SQL expressions see them.
    pub fn read_names(&self) -> Vec<String> {
        read_names(&self.columns, self.lookups.len())
    }
}

/// The columns by name; looked-up values get names no expression can
/// write (expressions read source fields only).
fn read_names(columns: &[String], lookups: usize) -> Vec<String> {
    let mut names = columns.to_vec();
    names.extend((0..lookups).map(|i| format!("\u{0}lookup {i}")));
    names
}

fn column_uses(source: &SourceConfig, columns: &[String]) -> Vec<ColumnUse> {
    let mut uses = vec![ColumnUse::default(); columns.len()];
    let mut mark = |column: &str, required: bool, reader: String| {
        if let Some(i) = columns.iter().position(|c| c == column) {
            uses[i].required |= required;
            if !uses[i].readers.contains(&reader) {
                uses[i].readers.push(reader);
            }
        }
    };
    for (name, spec) in &source.columns {
        let required = source.entity.field(name).is_some_and(|f| f.required);
        if let Some(column) = read_from(spec) {
            mark(column, required, format!("columns.{name}"));
        }
        for column in spec.sql.iter().flat_map(|s| &s.fields) {
            mark(column, false, format!("columns.{name}"));
        }
    }
    for column in source.filter.iter().flat_map(|f| &f.fields) {
        mark(column, false, "filter".to_string());
    }
    uses
}

/// Every source column a record must supply: mapped `from` columns, the
/// fields SQL expressions and the filter name, in order of first mention.
fn source_columns(source: &SourceConfig) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !columns.iter().any(|c| c == name) {
            columns.push(name.to_string());
        }
    };
    for (_, spec) in &source.columns {
        if let Some(from) = read_from(spec) {
            add(from);
        }
        for field in spec.sql.iter().flat_map(|s| &s.fields) {
            add(field);
        }
    }
    for field in source.filter.iter().flat_map(|f| &f.fields) {
        add(field);
    }
    columns
}

/// The source column a spec's `from` names: none for a lookup in the
/// record's own array, where `from` is the key to find.
fn read_from(spec: &ColumnSpec) -> Option<&String> {
    match &spec.lookup {
        Some(lookup) if lookup.is_relative() => None,
        _ => spec.from.as_ref(),
    }
}
