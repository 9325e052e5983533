//! `reports/index.html`: the run's report page, one self-contained file
//! drawn from the published report tables through the SQL of
//! `queries/report.yml` ([`spec`]), queried in [`data`], drawn as SVG in
//! [`chart`] and laid out in [`html`]. A full run publishes it after the
//! report tables ([`stage`]), with a dated copy under `history/_page/`;
//! `validate` plans its charts ([`check`]).

pub mod chart;
pub mod check;
pub mod data;
pub mod html;
pub mod spec;
pub mod stage;

use std::collections::HashMap;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use crate::ingest::IngestReport;
use crate::storage::Location;
use html::{Body, Header, Section};
pub use spec::PageFile;

/// What the page shows besides the report tables.
pub struct PageRun<'a> {
    pub run_id: &'a str,
    pub run_date: NaiveDate,
    /// "succeeded", "tests failed", ...: how the run stands when the page
    /// is made (after its reports are published).
    pub status: &'a str,
    pub params: &'a HashMap<String, ScalarValue>,
    pub ingest: &'a IngestReport,
    pub tests: &'a [data::RunTest],
    /// What a reader must know before trusting the page (a backfill, a
    /// report older than the run, stale sources), shown at its top.
    pub notices: &'a [String],
    /// Table headings by column name (`label:` in models.yml); other
    /// columns are headed by their name in words.
    pub labels: &'a HashMap<String, String>,
}

/// The made page, and a message per chart that could not be made.
pub struct Rendered {
    pub html: String,
    pub problems: Vec<String>,
}

/// Runs every chart's SQL over `ctx` (the published `reports` and the run
/// tables registered; the dated copies a chart names are registered as it
/// needs them) and lays the page out. A chart that fails is shown failed,
/// named in `problems`; the others are still drawn.
pub async fn render(
    ctx: &SessionContext,
    warehouse: &Location,
    reports: &[String],
    page: &PageFile,
    run: &PageRun<'_>,
) -> Rendered {
    let mut sections: Vec<Section> = Vec::new();
    let mut problems = Vec::new();
    let charts: Vec<spec::ChartSpec> = page
        .spec
        .charts
        .iter()
        .map(|c| c.with_params(run.params).0)
        .collect();
    for chart in &charts {
        let result = match data::register_histories(ctx, warehouse, reports, &chart.sql).await {
            Ok(()) => data::query(ctx, &chart.sql, run.params).await,
            Err(e) => Err(e),
        };
        let body = match result {
            Err(e) => Err(e.strip_backtrace()),
            Ok(table) if table.rows == 0 => Ok(Body::Empty),
            Ok(table) => body(chart, &table, run.labels),
        };
        let body = body.unwrap_or_else(|e| {
            problems.push(format!("{}: chart {}: {e}", chart.at(&page.path), chart.id));
            Body::Failed(e)
        });
        match sections.iter_mut().find(|s| s.title == chart.section) {
            Some(section) => section.charts.push((chart, body)),
            None => sections.push(Section {
                title: &chart.section,
                charts: vec![(chart, body)],
            }),
        }
    }
    let header = Header {
        title: &page.spec.title,
        run_id: run.run_id,
        run_date: run.run_date.to_string(),
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
        status: run.status,
        notices: run.notices,
    };
    Rendered {
        html: html::page(&header, &sections),
        problems,
    }
}

fn body(
    chart: &spec::ChartSpec,
    table: &data::Table,
    labels: &HashMap<String, String>,
) -> Result<Body, String> {
    use spec::Kind;
    match chart.kind {
        Kind::Figures => Ok(Body::Html(html::tiles(table))),
        Kind::Table => Ok(Body::Html(html::table(
            table,
            chart.limit.unwrap_or(50),
            labels,
        ))),
        Kind::Line | Kind::Bar | Kind::Heatmap => chart::draw(chart, table)
            .map(Body::Svg)
            .map_err(|e| e.to_string()),
    }
}

/// A session over the reports (each name with the object it is read
/// from, relative to the warehouse) and this run's tables.
pub async fn session(
    base: SessionContext,
    warehouse: &Location,
    reports: &[(String, String)],
    run: &PageRun<'_>,
) -> Result<SessionContext, String> {
    data::register_reports(&base, warehouse, reports)
        .await
        .map_err(|e| format!("cannot read the published reports: {}", e.strip_backtrace()))?;
    data::register_run_tables(&base, run.ingest, run.tests)
        .map_err(|e| format!("cannot make the run tables: {}", e.strip_backtrace()))?;
    Ok(base)
}

/// Where the page's dated copies go: beside the reports' (a folder name no
/// model can have, as model names are SQL identifiers).
pub fn history_object(run_date: NaiveDate) -> String {
    format!("history/_page/run_date={run_date}/index.html")
}

/// Publishes the page: its dated copy ([`history_object`]) and, unless
/// the run is a backfill, `reports/index.html` (one put: readers see the
/// old page or the new one), as `text/html` where the store keeps a
/// content type. Returns the size.
pub async fn publish(
    warehouse: &Location,
    html: String,
    run_date: NaiveDate,
    latest: bool,
) -> Result<u64, String> {
    let size = html.len() as u64;
    let mut objects = vec![history_object(run_date)];
    if latest {
        objects.insert(0, "reports/index.html".to_string());
    }
    for relative in objects {
        warehouse
            .put_typed(
                &warehouse.path(&relative),
                html.clone().into_bytes(),
                "text/html; charset=utf-8",
            )
            .await
            .map_err(|e| format!("cannot publish {relative}: {e}"))?;
    }
    Ok(size)
}
