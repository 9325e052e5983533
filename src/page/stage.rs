//! The run's last stage: after the pipeline published the reports (and
//! settled `_SUCCESS`, which speaks of the report tables only), a full
//! build draws `reports/index.html` from what is published now: a report
//! whose tests failed shows its previous version, one never published
//! fails its charts. The page is never why a run fails: a chart that
//! fails, a report.yml with errors, or a page that cannot be written is a
//! warning of the run, in its summary and run record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::data::RunTest;
use super::{PageFile, PageRun};
use crate::config::Config;
use crate::ingest::IngestReport;
use crate::pipeline::data_tests::TestResult;
use crate::pipeline::stamp::{self, Stamped};
use crate::pipeline::{BuildOptions, BuildReport, Project, parameters};
use crate::storage::Location;
use crate::timing::PhaseTiming;

/// `queries/report.yml` as a run found it when it started.
pub enum PageSource {
    /// No report.yml: the run publishes no page.
    Absent,
    Page(PageFile),
    /// What is wrong with it: a warning of the run, which then publishes
    /// its reports without a page (`validate` shows them as errors).
    Invalid(Vec<String>),
}

impl PageSource {
    pub fn load(config: &Config) -> PageSource {
        match PageFile::load(&config.queries_dir()) {
            Ok(Some(page)) => PageSource::Page(page),
            Ok(None) => PageSource::Absent,
            Err(errors) => PageSource::Invalid(errors),
        }
    }
}

/// What the page shows of the run besides its build.
pub struct RunFacts<'a> {
    /// The row accounting, for the page's data-quality section.
    pub ingest: &'a IngestReport,
    /// Lines for the top of the page (how old the data is, sources that
    /// failed their checks).
    pub notices: &'a [String],
}

/// Makes and publishes the page of a build that built every model (a
/// `--select` build makes none); what goes wrong is a warning in `report`.
pub async fn publish_page(
    config: &Config,
    warehouse: &Location,
    project: &Project,
    source: &PageSource,
    report: &mut BuildReport,
    options: &BuildOptions,
    facts: &RunFacts<'_>,
) {
    let page = match source {
        PageSource::Absent => return,
        PageSource::Invalid(errors) => {
            report.warnings.push(format!(
                "report page not made, report.yml has errors (advocacy validate shows them): {}",
                errors.join("; ")
            ));
            return;
        }
        PageSource::Page(page) => page,
    };
    let started = Instant::now();
    match make_and_publish(config, warehouse, project, page, report, options, facts).await {
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
    facts: &RunFacts<'_>,
) -> Result<u64, String> {
    let latest = !report.publication.as_ref().is_some_and(|p| p.backfill());
    let published: BTreeSet<String> = report
        .models
        .iter()
        .filter(|m| m.published)
        .map(|m| m.model.clone())
        .collect();
    let (reports, older) =
        page_reports(warehouse, project, options.run_date, &published, latest).await?;
    let mut notices: Vec<String> = report
        .publication
        .as_ref()
        .and_then(|p| p.describe(options.run_date))
        .into_iter()
        .collect();
    notices.extend(facts.notices.iter().cloned());
    notices.extend(older);
    let params = parameters(config, &project.spec, options.run_date);
    let tests: Vec<RunTest> = report.tests.iter().map(run_test).collect();
    let labels = project.spec.column_labels();
    let run = PageRun {
        run_id: &options.run_id,
        run_date: options.run_date,
        status: report.status(options.inputs_complete),
        params: &params,
        ingest: facts.ingest,
        tests: &tests,
        notices: &notices,
        labels: &labels,
    };
    let base = crate::engine::local_session(config)
        .map_err(|e| format!("cannot set up the query engine: {e}"))?;
    let names: Vec<String> = reports.iter().map(|(name, _)| name.clone()).collect();
    let ctx = super::session(base, warehouse, &reports, &run).await?;
    let rendered = super::render(&ctx, warehouse, &names, page, &run).await;
    for problem in &rendered.problems {
        tracing::warn!(problem = %problem, "report page");
    }
    report.warnings.extend(rendered.problems);
    super::publish(warehouse, rendered.html, options.run_date, latest).await
}

/// The reports the page reads, each with its object: `reports/` for the
/// newest run date, this run's dated copies for a backfill. Also a line for
/// each report this run did not publish (its tests failed, or its inputs
/// were held back), so the page says which tables are not this run's. A
/// report this run published from a reused result is this run's, though
/// its stamp names the run that computed it.
async fn page_reports(
    warehouse: &Location,
    project: &Project,
    run_date: chrono::NaiveDate,
    published: &BTreeSet<String>,
    latest: bool,
) -> Result<(Vec<(String, String)>, Vec<String>), String> {
    let mut reports = Vec::new();
    // Reports another run made, grouped by that run.
    let mut older: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Charts read a report by its model's name, from the version that
    // model publishes (`super::super::pipeline::contract`).
    for model in project.models.iter().filter(|m| m.publish) {
        let name = model.name.clone();
        let object = if latest {
            crate::storage::report_object(&model.report)
        } else {
            stamp::history_object(&model.report, run_date)
        };
        let made_by = match stamp::read_stamp(warehouse, &object).await? {
            Stamped::Missing => continue,
            _ if published.contains(&name) => None,
            Stamped::By(stamp) => Some(format!(
                "run date {} (run {})",
                stamp.run_date, stamp.run_id
            )),
            Stamped::Unstamped => Some("a run before reports carried their run".to_string()),
        };
        if let Some(made_by) = made_by {
            older.entry(made_by).or_default().push(name.clone());
        }
        reports.push((name, object));
    }
    let older = older
        .into_iter()
        .map(|(made_by, names)| {
            format!(
                "Kept from {made_by}, as this run did not publish them: {}",
                names.join(", ")
            )
        })
        .collect();
    Ok((reports, older))
}
