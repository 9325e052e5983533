//! The last step of a column's lineage: the export columns that fill a raw
//! field, from each source's mapping in the config.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{ColumnSpec, Config, Pii};
use crate::schema::Entity;

/// One raw column as one source fills it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceField {
    pub source: String,
    pub entity: String,
    pub raw_table: String,
    pub raw_column: String,
    /// Where the value comes from: `column "Total"`, `constant "EUR"`,
    /// `sql ...`, or what the load itself sets.
    pub from: String,
}

/// Every source mapping of the raw columns in `raw`, in source order.
pub fn fields(config: &Config, raw: &BTreeMap<String, BTreeSet<String>>) -> Vec<SourceField> {
    let keep_email = config.run.pii == Pii::Keep;
    let mut out = Vec::new();
    for source in &config.sources {
        let table = source.entity.table_name();
        let Some(columns) = raw.get(&table) else {
            continue;
        };
        for raw_column in columns {
            let from = match field_of(source.entity, raw_column, keep_email) {
                None => "set by the load (the file, row and time it was loaded)".to_string(),
                Some(field) => match source.columns.iter().find(|(name, _)| name == field) {
                    Some((_, spec)) => describe(spec, field, raw_column),
                    None => "not mapped (NULL)".to_string(),
                },
            };
            out.push(SourceField {
                source: source.name.clone(),
                entity: source.entity.name().to_string(),
                raw_table: table.clone(),
                raw_column: raw_column.clone(),
                from,
            });
        }
    }
    out
}

/// The canonical field a raw column holds (an email's hash included).
fn field_of(entity: Entity, raw_column: &str, keep_email: bool) -> Option<&'static str> {
    entity.fields().iter().find_map(|def| {
        def.output_columns(keep_email)
            .iter()
            .any(|(name, _)| name == raw_column)
            .then_some(def.name)
    })
}

fn describe(spec: &ColumnSpec, field: &str, raw_column: &str) -> String {
    let hashed = match raw_column != field {
        true => " (hashed)",
        false => "",
    };
    let what = if let Some(sql) = &spec.sql {
        format!("sql {}", sql.text)
    } else if let Some(value) = &spec.value {
        format!("constant {value:?}")
    } else if let Some(lookup) = &spec.lookup {
        format!(
            "lookup of {} in {} by {}",
            lookup.value,
            lookup.records,
            spec.from.as_deref().unwrap_or("?")
        )
    } else if let (Some(from), Some(sum)) = (&spec.from, &spec.sum) {
        format!("sum of {from}[].{sum}")
    } else if let Some(from) = &spec.from {
        format!("column {from:?}")
    } else {
        "not mapped (NULL)".to_string()
    };
    let mapped = match &spec.values {
        Some(values) if !values.is_empty() => " (values mapped)",
        _ => "",
    };
    format!("{what}{mapped}{hashed}")
}
