//! Column lineage of one logical plan: for each output column, the columns
//! of the tables it scans that its values are computed from. Filters and
//! join conditions decide which rows there are, not what a value is, and
//! are left out; a window function's value depends on its partition and
//! order as well as its arguments, and counts them. A plan node this does
//! not know maps each output column to the input column of the same name,
//! else to every input column (never too few).

use std::collections::BTreeSet;

use datafusion::common::JoinType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan};

/// A column of a scanned table: (table, column).
pub type Source = (String, String);

/// Per output column of `plan`, the scanned columns it comes from.
pub fn lineage(plan: &LogicalPlan) -> Result<Vec<BTreeSet<Source>>> {
    let columns = node(plan)?;
    // One entry per output column, or the rule for that node is wrong:
    // fall back to the names rather than pair columns up wrongly.
    if columns.len() == plan.schema().fields().len() {
        Ok(columns)
    } else {
        by_name(plan)
    }
}

fn node(plan: &LogicalPlan) -> Result<Vec<BTreeSet<Source>>> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = scan.table_name.table().to_string();
            Ok(scan
                .projected_schema
                .fields()
                .iter()
                .map(|f| BTreeSet::from([(table.clone(), f.name().clone())]))
                .collect())
        }
        LogicalPlan::Projection(p) => {
            let input = lineage(&p.input)?;
            p.expr
                .iter()
                .map(|e| expr_sources(e, p.input.schema(), &input))
                .collect()
        }
        LogicalPlan::Aggregate(a) => {
            let input = lineage(&a.input)?;
            // GROUPING SETS, ROLLUP and CUBE are one expression that outputs
            // each distinct grouping column, then `__grouping_id`.
            let mut group: Vec<&Expr> = Vec::new();
            let mut grouping_id = false;
            for e in &a.group_expr {
                match e {
                    Expr::GroupingSet(set) => {
                        group.extend(set.distinct_expr());
                        grouping_id = true;
                    }
                    e => group.push(e),
                }
            }
            let mut out = group
                .into_iter()
                .map(|e| expr_sources(e, a.input.schema(), &input))
                .collect::<Result<Vec<_>>>()?;
            if grouping_id {
                out.push(BTreeSet::new());
            }
            for e in &a.aggr_expr {
                out.push(expr_sources(e, a.input.schema(), &input)?);
            }
            Ok(out)
        }
        LogicalPlan::Window(w) => {
            let input = lineage(&w.input)?;
            let mut out = input.clone();
            for e in &w.window_expr {
                out.push(expr_sources(e, w.input.schema(), &input)?);
            }
            Ok(out)
        }
        LogicalPlan::Join(j) => {
            let left = lineage(&j.left)?;
            let right = lineage(&j.right)?;
            Ok(match j.join_type {
                // Semi and anti joins return one side only.
                JoinType::LeftSemi | JoinType::LeftAnti => left,
                JoinType::RightSemi | JoinType::RightAnti => right,
                // The mark says whether a right row matched: which rows.
                JoinType::LeftMark => left.into_iter().chain([BTreeSet::new()]).collect(),
                _ => left.into_iter().chain(right).collect(),
            })
        }
        LogicalPlan::Distinct(Distinct::On(on)) => {
            let input = lineage(&on.input)?;
            on.select_expr
                .iter()
                .map(|e| expr_sources(e, on.input.schema(), &input))
                .collect()
        }
        LogicalPlan::Union(u) => {
            let mut out: Vec<BTreeSet<Source>> = vec![BTreeSet::new(); u.schema.fields().len()];
            for input in &u.inputs {
                for (i, sources) in lineage(input)?.into_iter().enumerate() {
                    if let Some(slot) = out.get_mut(i) {
                        slot.extend(sources);
                    }
                }
            }
            Ok(out)
        }
        LogicalPlan::Unnest(u) => {
            let input = lineage(&u.input)?;
            Ok(u.dependency_indices
                .iter()
                .map(|&i| input.get(i).cloned().unwrap_or_default())
                .collect())
        }
        LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Repartition(_)
        | LogicalPlan::Distinct(Distinct::All(_)) => {
            let inputs = plan.inputs();
            lineage(inputs[0])
        }
        LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {
            Ok(vec![BTreeSet::new(); plan.schema().fields().len()])
        }
        other => by_name(other),
    }
}

/// The fallback: same-named input column, else all of them.
fn by_name(plan: &LogicalPlan) -> Result<Vec<BTreeSet<Source>>> {
    let mut all = BTreeSet::new();
    let mut named: Vec<(String, BTreeSet<Source>)> = Vec::new();
    for input in plan.inputs() {
        for (field, sources) in input.schema().fields().iter().zip(lineage(input)?) {
            all.extend(sources.iter().cloned());
            named.push((field.name().clone(), sources));
        }
    }
    Ok(plan
        .schema()
        .fields()
        .iter()
        .map(|f| {
            named
                .iter()
                .find(|(n, _)| n == f.name())
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| all.clone())
        })
        .collect())
}

/// The scanned columns behind the input columns `expr` reads (and the
/// columns of any subquery in it).
fn expr_sources(
    expr: &Expr,
    schema: &DFSchema,
    input: &[BTreeSet<Source>],
) -> Result<BTreeSet<Source>> {
    let mut out = BTreeSet::new();
    let mut add = |column: &Column| {
        if let Ok(i) = schema.index_of_column(column)
            && let Some(sources) = input.get(i)
        {
            out.extend(sources.iter().cloned());
        }
    };
    let mut subqueries = Vec::new();
    expr.apply(|e| {
        match e {
            Expr::Column(c) => add(c),
            Expr::OuterReferenceColumn(_, c) => add(c),
            Expr::ScalarSubquery(s) => subqueries.push(s.subquery.clone()),
            Expr::InSubquery(s) => subqueries.push(s.subquery.subquery.clone()),
            Expr::Exists(s) => subqueries.push(s.subquery.subquery.clone()),
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    for plan in subqueries {
        for sources in lineage(&plan)? {
            out.extend(sources);
        }
    }
    Ok(out)
}
