//! Two versions of a table compared in SQL: rows added, removed and
//! changed by the key models.yml declares (a full outer join on it), per
//! column the share of matched rows whose value changed and the largest
//! numeric changes, and the columns added, removed or retyped. Without a
//! key, rows are compared whole, as multisets (added and removed only).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Serialize;

use crate::engine::quote_identifier as quote;

/// How many of the largest numeric changes each column lists.
pub const LARGEST: usize = 3;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableDiff {
    /// The key rows were matched by; `None`: compared whole.
    pub key: Option<Vec<String>>,
    pub old_rows: u64,
    pub new_rows: u64,
    pub added: u64,
    pub removed: u64,
    /// Rows whose key is in both with some other value different; `None`
    /// without a key.
    pub changed: Option<u64>,
    pub schema: Vec<SchemaChange>,
    /// The columns compared (in both, same type, not the key) with at
    /// least one changed value.
    pub columns: Vec<ColumnDiff>,
    /// Why rows were compared whole although models.yml declares a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TableDiff {
    pub fn is_empty(&self) -> bool {
        self.added == 0
            && self.removed == 0
            && self.changed.unwrap_or(0) == 0
            && self.schema.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SchemaChange {
    pub column: String,
    /// `added`, `removed` or `retyped`.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnDiff {
    pub column: String,
    pub changed: u64,
    /// Of the rows matched by key.
    pub share: f64,
    /// Numeric columns: the largest changes by absolute size.
    pub largest: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// The row's key values, joined with ", ".
    pub key: String,
    pub old: f64,
    pub new: f64,
}

/// Compares the Parquet objects at `old_url` and `new_url`.
pub async fn compare(
    ctx: &SessionContext,
    old_url: &str,
    new_url: &str,
    key: Option<&[String]>,
) -> Result<TableDiff> {
    for (name, url) in [("diff_old", old_url), ("diff_new", new_url)] {
        ctx.deregister_table(name)?;
        ctx.register_parquet(name, url, ParquetReadOptions::default())
            .await?;
    }
    let old = ctx.table("diff_old").await?.schema().as_arrow().clone();
    let new = ctx.table("diff_new").await?.schema().as_arrow().clone();
    let schema = schema_changes(&old, &new);
    // Compared: in both with the same type, in the new table's order.
    let common: Vec<String> = new
        .fields()
        .iter()
        .filter(|f| {
            old.field_with_name(f.name())
                .is_ok_and(|o| o.data_type() == f.data_type())
        })
        .map(|f| f.name().clone())
        .collect();
    let old_rows = count(ctx, "diff_old").await?;
    let new_rows = count(ctx, "diff_new").await?;
    let (key, note) = usable_key(ctx, key, &common).await?;
    let mut diff = TableDiff {
        key: key.map(<[String]>::to_vec),
        old_rows,
        new_rows,
        added: 0,
        removed: 0,
        changed: None,
        schema,
        columns: Vec::new(),
        note,
    };
    match key {
        Some(key) => keyed(ctx, &common, key, &new, &mut diff).await?,
        None => whole_rows(ctx, &common, &mut diff).await?,
    }
    Ok(diff)
}

/// The declared key when rows can be matched by it: in both tables with
/// the same type, and unique in each (else rows would pair up many times).
/// Otherwise `None`, and why.
async fn usable_key<'a>(
    ctx: &SessionContext,
    key: Option<&'a [String]>,
    common: &[String],
) -> Result<(Option<&'a [String]>, Option<String>)> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok((None, None));
    };
    let names = key.join(", ");
    if !key.iter().all(|c| common.contains(c)) {
        return Ok((
            None,
            Some(format!("the key ({names}) is not in both with one type")),
        ));
    }
    let list: Vec<String> = key.iter().map(|k| quote(k)).collect();
    let list = list.join(", ");
    for (table, side) in [("diff_old", "old"), ("diff_new", "new")] {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT {list} FROM {table} GROUP BY {list} HAVING COUNT(*) > 1)"
        );
        let batch = one_row(ctx, &sql).await?;
        if batch.column(0).as_primitive::<Int64Type>().value(0) > 0 {
            return Ok((
                None,
                Some(format!(
                    "the key ({names}) is not unique in the {side} table"
                )),
            ));
        }
    }
    Ok((Some(key), None))
}

fn schema_changes(old: &Schema, new: &Schema) -> Vec<SchemaChange> {
    let mut changes = Vec::new();
    for field in old.fields() {
        match new.field_with_name(field.name()) {
            Err(_) => changes.push(SchemaChange {
                column: field.name().clone(),
                change: "removed",
                old_type: Some(field.data_type().to_string()),
                new_type: None,
            }),
            Ok(now) if now.data_type() != field.data_type() => changes.push(SchemaChange {
                column: field.name().clone(),
                change: "retyped",
                old_type: Some(field.data_type().to_string()),
                new_type: Some(now.data_type().to_string()),
            }),
            Ok(_) => {}
        }
    }
    for field in new.fields() {
        if old.field_with_name(field.name()).is_err() {
            changes.push(SchemaChange {
                column: field.name().clone(),
                change: "added",
                old_type: None,
                new_type: Some(field.data_type().to_string()),
            });
        }
    }
    changes
}

async fn count(ctx: &SessionContext, table: &str) -> Result<u64> {
    let batches = ctx
        .sql(&format!("SELECT COUNT(*) FROM {table}"))
        .await?
        .collect()
        .await?;
    Ok(batches[0].column(0).as_primitive::<Int64Type>().value(0) as u64)
}

async fn one_row(ctx: &SessionContext, sql: &str) -> Result<RecordBatch> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    Ok(datafusion::arrow::compute::concat_batches(
        &schema, &batches,
    )?)
}

/// An Int64 sum that is NULL over no rows, as 0.
fn sum_at(batch: &RecordBatch, i: usize) -> u64 {
    let column = batch.column(i).as_primitive::<Int64Type>();
    if column.is_null(0) {
        0
    } else {
        column.value(0) as u64
    }
}

/// The old and new tables joined on the key (`o_i`, `n_i` for the i-th
/// common column), registered as `diff_joined`.
async fn keyed(
    ctx: &SessionContext,
    common: &[String],
    key: &[String],
    new: &Schema,
    diff: &mut TableDiff,
) -> Result<()> {
    let index = |c: &String| common.iter().position(|x| x == c).expect("key in common");
    let columns: String = common
        .iter()
        .enumerate()
        .map(|(i, c)| format!("o.{q} AS o_{i}, n.{q} AS n_{i}, ", q = quote(c)))
        .collect();
    let on: Vec<String> = key
        .iter()
        .map(|k| format!("(o.{q} IS NOT DISTINCT FROM n.{q})", q = quote(k)))
        .collect();
    let joined = ctx
        .sql(&format!(
            "SELECT {columns}o.__in AS o_in, n.__in AS n_in \
             FROM (SELECT *, true AS __in FROM diff_old) AS o \
             FULL OUTER JOIN (SELECT *, true AS __in FROM diff_new) AS n ON {}",
            on.join(" AND ")
        ))
        .await?;
    ctx.deregister_table("diff_joined")?;
    ctx.register_table("diff_joined", joined.into_view())?;
    let values: Vec<usize> = (0..common.len())
        .filter(|i| !key.iter().any(|k| index(k) == *i))
        .collect();
    // In parentheses: sqlparser binds IS DISTINCT FROM looser than OR.
    let differs = |i: &usize| format!("(o_{i} IS DISTINCT FROM n_{i})");
    let any = match values.is_empty() {
        true => "false".to_string(),
        false => values.iter().map(differs).collect::<Vec<_>>().join(" OR "),
    };
    let per_column: String = values
        .iter()
        .map(|i| {
            format!(
                ", SUM(CASE WHEN o_in AND n_in AND {} THEN 1 ELSE 0 END) AS c_{i}",
                differs(i)
            )
        })
        .collect();
    let sums = one_row(
        ctx,
        &format!(
            "SELECT SUM(CASE WHEN o_in IS NULL THEN 1 ELSE 0 END) AS added, \
             SUM(CASE WHEN n_in IS NULL THEN 1 ELSE 0 END) AS removed, \
             SUM(CASE WHEN o_in AND n_in THEN 1 ELSE 0 END) AS matched, \
             SUM(CASE WHEN o_in AND n_in AND ({any}) THEN 1 ELSE 0 END) AS changed{per_column} \
             FROM diff_joined"
        ),
    )
    .await?;
    diff.added = sum_at(&sums, 0);
    diff.removed = sum_at(&sums, 1);
    let matched = sum_at(&sums, 2);
    diff.changed = Some(sum_at(&sums, 3));
    for (j, &i) in values.iter().enumerate() {
        let changed = sum_at(&sums, 4 + j);
        if changed == 0 {
            continue;
        }
        let column = &common[i];
        let numeric = new
            .field_with_name(column)
            .is_ok_and(|f| f.data_type().is_numeric());
        let largest = match numeric {
            true => {
                largest_changes(ctx, i, key, &key.iter().map(index).collect::<Vec<_>>()).await?
            }
            false => Vec::new(),
        };
        diff.columns.push(ColumnDiff {
            column: column.clone(),
            changed,
            share: changed as f64 / matched.max(1) as f64,
            largest,
        });
    }
    Ok(())
}

/// The [`LARGEST`] changes of common column `i` by absolute size, ties by
/// key.
async fn largest_changes(
    ctx: &SessionContext,
    i: usize,
    key: &[String],
    key_index: &[usize],
) -> Result<Vec<Change>> {
    let keys: Vec<String> = key_index.iter().map(|k| format!("n_{k}")).collect();
    let sql = format!(
        "SELECT CAST(o_{i} AS DOUBLE) AS old, CAST(n_{i} AS DOUBLE) AS new, {keys} \
         FROM diff_joined \
         WHERE o_in AND n_in AND o_{i} IS NOT NULL AND n_{i} IS NOT NULL AND o_{i} <> n_{i} \
         ORDER BY abs(CAST(n_{i} AS DOUBLE) - CAST(o_{i} AS DOUBLE)) DESC, {keys} \
         LIMIT {LARGEST}",
        keys = keys.join(", ")
    );
    let batch = one_row(ctx, &sql).await?;
    if batch.num_columns() == 0 {
        return Ok(Vec::new());
    }
    let old = batch.column(0).as_primitive::<Float64Type>();
    let new = batch.column(1).as_primitive::<Float64Type>();
    let formatters = (0..key.len())
        .map(|k| ArrayFormatter::try_new(batch.column(2 + k).as_ref(), &FormatOptions::default()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|r| Change {
            key: formatters
                .iter()
                .map(|f| f.value(r).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            old: old.value(r),
            new: new.value(r),
        })
        .collect())
}

/// Without a key: each distinct row counted on both sides; what one side
/// has more of is added or removed.
async fn whole_rows(ctx: &SessionContext, common: &[String], diff: &mut TableDiff) -> Result<()> {
    if common.is_empty() {
        diff.added = diff.new_rows;
        diff.removed = diff.old_rows;
        return Ok(());
    }
    let columns: Vec<String> = common.iter().map(|c| quote(c)).collect();
    let list = columns.join(", ");
    let on: Vec<String> = columns
        .iter()
        .map(|c| format!("(o.{c} IS NOT DISTINCT FROM n.{c})"))
        .collect();
    let sums = one_row(
        ctx,
        &format!(
            "WITH o AS (SELECT {list}, COUNT(*) AS __n FROM diff_old GROUP BY {list}), \
             n AS (SELECT {list}, COUNT(*) AS __n FROM diff_new GROUP BY {list}) \
             SELECT \
             SUM(CASE WHEN COALESCE(n.__n, 0) > COALESCE(o.__n, 0) THEN COALESCE(n.__n, 0) - COALESCE(o.__n, 0) ELSE 0 END) AS added, \
             SUM(CASE WHEN COALESCE(o.__n, 0) > COALESCE(n.__n, 0) THEN COALESCE(o.__n, 0) - COALESCE(n.__n, 0) ELSE 0 END) AS removed \
             FROM o FULL OUTER JOIN n ON {}",
            on.join(" AND ")
        ),
    )
    .await?;
    diff.added = sum_at(&sums, 0);
    diff.removed = sum_at(&sums, 1);
    Ok(())
}
