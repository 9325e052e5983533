//! Model dependencies, read from each query's table references with
//! DataFusion's SQL parser (CTE names are not dependencies), and the order
//! models are built in.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::execution::SessionState;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;

use super::models::Model;

/// Parses a model file: exactly one SELECT / WITH query.
pub fn parse_query(model: &Model) -> Result<DFStatement, String> {
    let file = model.file.display();
    let mut statements = DFParserBuilder::new(model.sql.as_str())
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("{file}: {e}"))?;
    if statements.len() != 1 {
        return Err(format!(
            "{file}: holds {} statements; a model is exactly one SELECT",
            statements.len()
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    match &statement {
        DFStatement::Statement(s) if matches!(**s, Statement::Query(_)) => Ok(statement),
        _ => Err(format!(
            "{file}: only SELECT or WITH ... SELECT is allowed in a model (DDL, DML, COPY and SET are refused)"
        )),
    }
}

/// The tables each model reads, by model name.
pub fn dependencies(
    state: &SessionState,
    models: &[Model],
) -> Result<BTreeMap<String, BTreeSet<String>>, Vec<String>> {
    let mut deps = BTreeMap::new();
    let mut errors = Vec::new();
    for model in models {
        let refs = parse_query(model).and_then(|statement| {
            state
                .resolve_table_references(&statement)
                .map_err(|e| format!("{}: {e}", model.file.display()))
        });
        match refs {
            Ok(refs) => {
                let tables = refs.iter().map(|r| r.table().to_string()).collect();
                deps.insert(model.name.clone(), tables);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(deps)
    } else {
        Err(errors)
    }
}

/// Kahn's algorithm over model-to-model edges, ties broken by name so the
/// order is stable. A cycle is reported with its members.
pub fn build_order(deps: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, String> {
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = deps
        .iter()
        .map(|(name, tables)| {
            let upstream = tables
                .iter()
                .filter(|t| deps.contains_key(*t) && *t != name)
                .map(String::as_str)
                .collect();
            (name.as_str(), upstream)
        })
        .collect();
    let mut order = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, up)| up.is_empty())
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            let members: Vec<_> = remaining.keys().copied().collect();
            return Err(format!("models form a cycle: {}", members.join(" -> ")));
        }
        for name in ready {
            remaining.remove(name);
            for up in remaining.values_mut() {
                up.remove(name);
            }
            order.push(name.to_string());
        }
    }
    Ok(order)
}
