//! One entry of a source's `columns:`: where a canonical field's value
//! comes from (a column or path, a lookup, a sum over an array, SQL or a
//! constant) and how it is read.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::expression::{SqlExpression, parse_element_condition};
use super::text::Text;

/// Where a canonical field's value comes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnSpec {
    /// Source column name or dotted JSON path; `None` for a constant. With
    /// a lookup in the record's own array, the key to find.
    pub from: Option<String>,
    /// A constant value for every row.
    pub value: Option<String>,
    /// chrono format for dates and timestamps.
    pub format: Option<String>,
    /// The zone timestamps without an offset are read in, instead of
    /// `run.timezone` (`timezone: UTC` for a "Created date (UTC)" column).
    pub timezone: Option<chrono_tz::Tz>,
    /// Source value -> canonical value (e.g. `paid: completed`).
    pub values: Option<BTreeMap<String, String>>,
    /// A SQL expression over the record's source fields.
    pub sql: Option<SqlExpression>,
    /// The value is picked from an array: another of the same JSON
    /// document (X API pages keep authors in `includes.users`), or the
    /// record's own (Salesforce's `columns`, Typeform's `answers`).
    pub lookup: Option<Lookup>,
    /// With `from` naming an array in the record: the field of its
    /// elements to add up (WooCommerce's `refunds[].total`).
    pub sum: Option<String>,
}

/// `lookup: { records, key, value, where }`: the first element of an
/// array whose `key` equals the key (and for which `where` holds) gives
/// its `value`.
#[derive(Clone, Debug, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// The array: a JSON pointer from the document's root
    /// (`/includes/users`), or a path without the leading `/` from the
    /// record itself (`columns`).
    pub records: String,
    /// The field of the elements that must equal the key: `from`'s value
    /// for a document's array, `from` itself for the record's own.
    #[serde(default)]
    pub key: Option<String>,
    /// The field or dotted path whose value is taken.
    pub value: String,
    /// A SQL condition over an element's fields (paths as written).
    #[serde(default, rename = "where")]
    pub condition: Option<ElementCondition>,
}

impl Lookup {
    /// Whether the array is the record's own (a path without a leading `/`).
    pub fn is_relative(&self) -> bool {
        !self.records.starts_with('/')
    }
}

/// A lookup's `where:`, parsed with its names read as element paths.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementCondition {
    /// As the config writes it, for messages.
    pub written: String,
    /// With every name quoted: what is planned.
    pub expression: SqlExpression,
}

impl schemars::JsonSchema for ElementCondition {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ElementCondition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A SQL condition over an element's fields, named by their paths as written",
        })
    }
}

impl<'de> Deserialize<'de> for ElementCondition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let expression = parse_element_condition(&text).map_err(de::Error::custom)?;
        Ok(ElementCondition {
            written: text,
            expression,
        })
    }
}

/// A source column's name (or dotted JSON path), or a map saying where the
/// value comes from; the map's keys are [`KEYS`], as the deserializer
/// reads them.
impl schemars::JsonSchema for ColumnSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ColumnSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let text = generator.subschema_for::<Text>();
        let lookup = generator.subschema_for::<Lookup>();
        schemars::json_schema!({
            "description": "Where a canonical field's value comes from",
            "anyOf": [
                { "type": "string", "description": "a source column or dotted JSON path" },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "from": text,
                        "value": text,
                        "sql": { "type": "string", "description": "a SQL expression over the record's source fields" },
                        "lookup": lookup,
                        "sum": { "type": "string", "description": "with `from` naming an array: the field of its elements to add up" },
                        "format": { "type": "string", "description": "chrono format for dates and timestamps" },
                        "timezone": { "type": "string", "description": "the IANA zone a timestamp without an offset is read in" },
                        "values": { "type": "object", "additionalProperties": text, "description": "source value -> canonical value" },
                    },
                },
            ],
        })
    }
}

const KEYS: &[&str] = &[
    "from", "value", "sql", "lookup", "sum", "format", "timezone", "values",
];

impl<'de> Deserialize<'de> for ColumnSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = ColumnSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a source column name or a map with `from`, `sql`, `value`, `lookup`, `sum`, `format`, `timezone` or `values`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnSpec, E> {
                Ok(ColumnSpec {
                    from: Some(v.to_string()),
                    ..ColumnSpec::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ColumnSpec, A::Error> {
                let mut spec = ColumnSpec::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "from" => spec.from = Some(map.next_value::<Text>()?.0),
                        "value" => spec.value = Some(map.next_value::<Text>()?.0),
                        "format" => spec.format = Some(map.next_value::<String>()?),
                        "timezone" => {
                            let name = map.next_value::<String>()?;
                            spec.timezone = Some(
                                crate::clock::parse_timezone(&name).map_err(de::Error::custom)?,
                            );
                        }
                        "values" => {
                            let values: BTreeMap<Text, Text> = map.next_value()?;
                            spec.values =
                                Some(values.into_iter().map(|(k, v)| (k.0, v.0)).collect());
                        }
                        "sql" => spec.sql = Some(map.next_value::<SqlExpression>()?),
                        "lookup" => spec.lookup = Some(map.next_value::<Lookup>()?),
                        "sum" => spec.sum = Some(map.next_value::<Text>()?.0),
                        other => return Err(de::Error::unknown_field(other, KEYS)),
                    }
                }
                check(&spec).map_err(de::Error::custom)?;
                Ok(spec)
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// One source per column, and what a lookup or a sum needs with it.
fn check(spec: &ColumnSpec) -> Result<(), &'static str> {
    if let Some(lookup) = &spec.lookup {
        if spec.value.is_some() || spec.sql.is_some() || spec.sum.is_some() {
            return Err("a column with `lookup` takes no `value`, `sql` or `sum`");
        }
        return match (&spec.from, &lookup.key, &lookup.condition) {
            (Some(_), Some(_), _) | (None, None, Some(_)) => Ok(()),
            (None, Some(_), _) => Err("`lookup.key` needs `from`: the key to find"),
            (Some(_), None, _) => Err(
                "with `lookup`, `from` is the key to find: name the elements' field it must equal with `lookup.key`",
            ),
            (None, None, None) => {
                Err("`lookup` needs `key` (the elements' field `from` must equal) or `where`")
            }
        };
    }
    if spec.sum.is_some() && spec.from.is_none() {
        return Err("`sum` needs `from`: the array whose elements are added up");
    }
    if spec.sum.is_some() && spec.values.is_some() {
        return Err("`sum` adds numbers up; `values` cannot map its array");
    }
    let sources = [
        spec.from.is_some(),
        spec.value.is_some(),
        spec.sql.is_some(),
    ];
    match sources.iter().filter(|s| **s).count() {
        0 => Err(
            "a column needs `from` (a source column), `sql` (an expression) or `value` (a constant)",
        ),
        1 => Ok(()),
        _ => Err(
            "a column takes one of `from` (a source column), `sql` (an expression) or `value` (a constant)",
        ),
    }
}
