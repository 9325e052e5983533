//! The pipeline's side of the report page: after the reports are
//! published (and `_SUCCESS` is settled, which speaks of the report tables
//! only), a full build draws `reports/index.html` from what is published
//! now: a report whose tests failed shows its previous version, one never
//! published fails its charts. The page is never why a run fails: a chart
//! that fails, a report.yml with errors, or a page that cannot be written
//! is a warning of the run, in its summary and run record.

use std::time::Instant;

use super::data_tests::TestResult;
use super::{BuildOptions, BuildReport, Project, parameters};
use crate::config::Config;
use crate::page::data::RunTest;
use crate::page::{PageFile, PageRun};
use crate::storage::Location;
use crate::timing::PhaseTiming;

pub async fn publish_page(
    config: &Config,
    warehouse: &Location,
    project: &Project,
    report: &mut BuildReport,
    options: &BuildOptions,
) {
    if !project.page_errors.is_empty() {
        report.warnings.push(format!(
            "report page not made, report.yml has errors (advocacy validate shows them): {}",
            project.page_errors.join("; ")
        ));
        return;
    }
    let Some(page) = &project.page else {
        return;
    };
    let started = Instant::now();
    match make_and_publish(config, warehouse, project, page, report, options).await {
        Ok(bytes) => {
            crate::kill_point::reached("page-published");
            tracing::info!(
                bytes,
                seconds = started.elapsed().as_secs_f64(),
                "report page published"
            );
            report.phases.push(PhaseTiming::since(
                "page",
                started,
                page.spec.charts.len() as u64,
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "report page not published");
            report
                .warnings
                .push(format!("report page not published: {e}"));
        }
    }
}

fn run_test(t: &TestResult) -> RunTest {
    RunTest {
        model: t.model.clone(),
        column: t.column.clone(),
        test: t.test.clone(),
        severity: t.severity.name().to_string(),
        passed: t.passed,
        failures: t.failures,
        error: t.error.clone(),
    }
}

/// Returns the page's size; chart failures go into the report's warnings.
async fn make_and_publish(
    config: &Config,
    warehouse: &Location,
    project: &Project,
    page: &PageFile,
    report: &mut BuildReport,
    options: &BuildOptions,
) -> Result<u64, String> {
    let mut published = Vec::new();
    for name in project.published() {
        let path = warehouse.path(&crate::storage::report_object(&name));
        if warehouse.exists(&path).await.map_err(|e| e.to_string())? {
            published.push(name);
        }
    }
    let params = parameters(config, &project.spec, options.run_date);
    let tests: Vec<RunTest> = report.tests.iter().map(run_test).collect();
    let run = PageRun {
        run_id: &options.run_id,
        run_date: options.run_date,
        status: report.status(options.inputs_complete),
        params: &params,
        ingest: &options.ingest,
        tests: &tests,
    };
    let base = crate::engine::local_session(config)
        .map_err(|e| format!("cannot set up the query engine: {e}"))?;
    let ctx = crate::page::session(base, warehouse, &published, &run).await?;
    let rendered = crate::page::render(&ctx, warehouse, &published, page, &run).await;
    for problem in &rendered.problems {
        tracing::warn!(problem = %problem, "report page");
    }
    report.warnings.extend(rendered.problems);
    crate::page::publish(warehouse, rendered.html, options.run_date).await
}
