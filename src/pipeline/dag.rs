//! Model dependencies, read from each query's table references with
//! DataFusion's SQL parser (CTE names are not dependencies), and the order
//! models are built in.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::execution::SessionState;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;

use super::diagnostics::describe;
use super::models::Model;

/// Parses a model file: exactly one SELECT / WITH query.
pub fn parse_query(model: &Model) -> Result<DFStatement, String> {
    let file = model.file.display().to_string();
    let mut statements = DFParserBuilder::new(model.sql.as_str())
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| describe(&file, &model.sql, &e, &[]))?;
    if statements.len() != 1 {
        return Err(format!(
            "{file}: holds {} statements; a model is exactly one SELECT",
            statements.len()
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    match &statement {
        DFStatement::Statement(s) if matches!(**s, Statement::Query(_)) => Ok(statement),
        other => Err(format!(
            "{file}: only SELECT or WITH ... SELECT is allowed in a model; {} is refused \
             (DDL, DML, COPY, SET and CREATE EXTERNAL TABLE are never run from model files)",
            statement_kind(other)
        )),
    }
}

fn statement_kind(statement: &DFStatement) -> String {
    match statement {
        DFStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".into(),
        DFStatement::CopyTo(_) => "COPY".into(),
        DFStatement::Explain(_) => "EXPLAIN".into(),
        DFStatement::Statement(s) => s
            .to_string()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        other => other
            .to_string()
            .split_whitespace()
            .next()
            .unwrap_or("statement")
            .to_string(),
    }
}

/// The tables each model reads, by model name, and the problems of the
/// models that could not be parsed.
pub fn dependencies(
    state: &SessionState,
    models: &[Model],
) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
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
    (deps, errors)
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
            return Err(format!(
                "models form a cycle: {} (each reads the next)",
                find_cycle(&remaining).join(" -> ")
            ));
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

/// Walks upstream edges from the first blocked model until a model
/// repeats: the names from its first visit on are the cycle.
fn find_cycle(remaining: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<String> {
    let mut path: Vec<&str> = Vec::new();
    let mut current = *remaining.keys().next().expect("a blocked model");
    loop {
        if let Some(start) = path.iter().position(|n| *n == current) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| n.to_string()).collect();
            cycle.push(current.to_string());
            return cycle;
        }
        path.push(current);
        current = *remaining[current]
            .iter()
            .next()
            .expect("blocked models have upstream");
    }
}

/// Models that read `name`, directly or not.
pub fn descendants(deps: &BTreeMap<String, BTreeSet<String>>, name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        for (model, tables) in deps {
            if tables.contains(&current) && found.insert(model.clone()) {
                frontier.push(model.clone());
            }
        }
    }
    found
}

/// Models `name` reads, directly or not.
pub fn ancestors(deps: &BTreeMap<String, BTreeSet<String>>, name: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![name.to_string()];
    while let Some(current) = frontier.pop() {
        for table in deps.get(&current).into_iter().flatten() {
            if deps.contains_key(table) && found.insert(table.clone()) {
                frontier.push(table.clone());
            }
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
    /// The models, what each reads, and each column with the columns it is
    /// computed from (`crate::pipeline::lineage`).
    Json,
}

/// The model graph, including the raw tables models read.
pub fn render(
    deps: &BTreeMap<String, BTreeSet<String>>,
    order: &[String],
    published: &BTreeSet<String>,
    format: GraphFormat,
) -> String {
    let mut out = String::new();
    match format {
        GraphFormat::Text => {
            for (i, name) in order.iter().enumerate() {
                let kind = if published.contains(name) {
                    "report"
                } else {
                    "model"
                };
                let reads: Vec<&str> = deps[name].iter().map(String::as_str).collect();
                out.push_str(&format!(
                    "{:>3}. {name} ({kind}) <- {}\n",
                    i + 1,
                    reads.join(", ")
                ));
            }
        }
        GraphFormat::Dot => {
            out.push_str("digraph advocacy {\n  rankdir=LR;\n");
            for name in order {
                let shape = if published.contains(name) {
                    "box"
                } else {
                    "ellipse"
                };
                out.push_str(&format!("  \"{name}\" [shape={shape}];\n"));
            }
            for name in order {
                for table in &deps[name] {
                    out.push_str(&format!("  \"{table}\" -> \"{name}\";\n"));
                }
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            for name in order {
                for table in &deps[name] {
                    out.push_str(&format!("  {table} --> {name}\n"));
                }
            }
            for name in order.iter().filter(|n| published.contains(*n)) {
                out.push_str(&format!("  {name}[[{name}]]\n"));
            }
        }
        // Needs every model planned: `crate::inspect::dag` renders it.
        GraphFormat::Json => unreachable!("the JSON graph is rendered with its column lineage"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    #[test]
    fn order_follows_dependencies_and_names() {
        let deps = graph(&[
            ("c", &["b", "raw_x"]),
            ("b", &["a"]),
            ("a", &["raw_x"]),
            ("d", &["raw_y"]),
        ]);
        assert_eq!(build_order(&deps).unwrap(), ["a", "d", "b", "c"]);
        assert_eq!(descendants(&deps, "a"), ["b", "c"].map(String::from).into());
        assert_eq!(ancestors(&deps, "c"), ["a", "b"].map(String::from).into());
    }

    #[test]
    fn a_cycle_is_named() {
        let deps = graph(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["raw_x"]),
        ]);
        assert_eq!(
            build_order(&deps).unwrap_err(),
            "models form a cycle: a -> c -> b -> a (each reads the next)"
        );
    }
}
