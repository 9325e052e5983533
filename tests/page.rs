//! reports/index.html: the bundled run's page opened in Debian's headless
//! Chromium (no console errors, no request, every chart drawn, no sideways
//! scroll on a phone, prints on A4; screenshots saved as artifacts), the
//! headline figures' significance worked out by hand on a fixture, and
//! report.yml's errors at their line and column.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Project, assert_exit, bundled_config, stdout};
use advocacy::page::PageFile;
use advocacy::page::data::{self, Table};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn bundled_page() -> PageFile {
    PageFile::load(&Path::new(REPO).join("queries"))
        .unwrap()
        .expect("queries/report.yml")
}

/// Where the screenshots go: beside the build, kept after the test.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(serde::Deserialize)]
struct BrowserCheck {
    console_errors: Vec<String>,
    requests: Vec<String>,
    charts: Vec<BrowserChart>,
    phone_overflow: bool,
    a4_pages: usize,
}

#[derive(serde::Deserialize)]
struct BrowserChart {
    id: String,
    kind: String,
    svg: usize,
    svg_width: f64,
    marks: usize,
    title: String,
    reading: String,
    failed: usize,
    empty: usize,
}

/// tests/browser/check_page.cjs over `page`, in Debian's Chromium.
fn open_in_chromium(page: &Path, name: &str) -> BrowserCheck {
    let modules = std::env::var("ADVOCACY_BROWSER_MODULES").unwrap_or_else(|_| {
        panic!("ADVOCACY_BROWSER_MODULES is not set; run the suite with scripts/test.sh, which installs Chromium and playwright-core")
    });
    let desktop = artifacts().join(format!("{name}-desktop.png"));
    let phone = artifacts().join(format!("{name}-phone.png"));
    let out = Command::new("node")
        .arg(Path::new(REPO).join("tests/browser/check_page.cjs"))
        .arg(page)
        .arg(&desktop)
        .arg(&phone)
        .env("NODE_PATH", modules)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("screenshots: {} and {}", desktop.display(), phone.display());
    assert!(std::fs::metadata(&desktop).unwrap().len() > 10_000);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_bundled_run_publishes_a_page_that_chromium_renders_without_the_network() {
    if !common::slow_suite() {
        return;
    }
    let p = Project::new();
    bundled_config(&p, &Path::new(REPO).join("testdata"), "warehouse", "2GiB");
    // Backfills inside the data's range, as nightly runs would be: the end
    // of May, then of June, whose page compares the CLV with May's run.
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-05-31"]);
    assert_exit(&out, 0);
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-06-30"]);
    assert_exit(&out, 0);
    assert!(
        !stdout(&out).contains("report.yml"),
        "a chart failed:\n{}",
        stdout(&out)
    );

    let index = p.warehouse().join("reports/index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    // Share of voice (issue 28, point 6): the platform as people know it,
    // our mentions against the competitors', with our share written on.
    let voice = &html[html.find("id=\"share_of_voice\"").expect("the chart")..];
    let voice = &voice[..voice.find("</figure>").unwrap_or(voice.len())];
    for text in ["X (Twitter)", ">Us<", ">Competitors<", "% of mentions"] {
        assert!(
            voice.contains(text),
            "no {text} in the share-of-voice chart"
        );
    }
    // Tables are headed in words (issue 28, point 6), never snake_case.
    assert!(html.contains("<th>Customer</th>"), "no labelled heading");
    assert!(
        !html.contains("_id</th>") && !html.contains("_clv</th>"),
        "a snake_case table heading"
    );
    let dated = p
        .warehouse()
        .join("history/_page/run_date=2025-06-30/index.html");
    assert_eq!(std::fs::read_to_string(dated).unwrap(), html);
    assert!(html.len() < 2 * 1024 * 1024, "{} bytes", html.len());
    assert!(!html.contains("<script"), "no script at all");
    for attribute in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(attribute), "{attribute} in the page");
    }
    // The run's own numbers are on the page: its row accounting.
    assert!(html.contains("crm_customers"), "the data-quality table");
    assert!(
        html.contains(" vs the run of 2025-05-31 · not tested"),
        "the CLV tile"
    );

    let spec = bundled_page();
    let drawn_kinds = ["line", "bar", "heatmap"];
    let check = open_in_chromium(&index, "bundled-2025-06-30");
    assert_eq!(check.console_errors, Vec::<String>::new());
    assert_eq!(check.requests, Vec::<String>::new());
    assert!(
        !check.phone_overflow,
        "the page scrolls sideways on a phone"
    );
    assert!(check.a4_pages >= 3, "{} A4 pages", check.a4_pages);
    assert_eq!(
        check
            .charts
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        spec.spec
            .charts
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
    );
    for chart in &check.charts {
        assert_eq!(chart.failed, 0, "chart {} failed", chart.id);
        assert!(
            !chart.title.is_empty() && !chart.reading.is_empty(),
            "{}",
            chart.id
        );
        if drawn_kinds.contains(&chart.kind.as_str()) {
            assert_eq!(
                (chart.svg, chart.empty),
                (1, 0),
                "chart {} is not drawn",
                chart.id
            );
            assert!(
                chart.svg_width > 600.0,
                "chart {} is {} px wide",
                chart.id,
                chart.svg_width
            );
            assert!(chart.marks > 0, "chart {} has axes but no data", chart.id);
        }
    }
    let drawn = check.charts.iter().filter(|c| c.svg == 1).count();
    assert_eq!(drawn, 12, "12 charts are drawn as SVG");
    // Only the detractors and data-quality tables may be without rows,
    // and on this run neither is.
    assert_eq!(check.charts.iter().filter(|c| c.empty > 0).count(), 0);
}

/// The parameters the headline's SQL uses.
fn params() -> HashMap<String, ScalarValue> {
    HashMap::from([
        (
            "run_date".to_string(),
            ScalarValue::Date32(Some(20269)), // 2025-06-30
        ),
        ("currency".to_string(), ScalarValue::from("EUR")),
        (
            "clv_horizon_weeks".to_string(),
            ScalarValue::Int64(Some(52)),
        ),
    ])
}

async fn headline(fixture: &str) -> Table {
    let ctx = SessionContext::new();
    for statement in fixture.split(';').filter(|s| !s.trim().is_empty()) {
        ctx.sql(statement).await.unwrap().collect().await.unwrap();
    }
    let page = bundled_page();
    let chart = page
        .spec
        .charts
        .iter()
        .find(|c| c.id == "headline")
        .unwrap();
    data::query(&ctx, &chart.sql, &params()).await.unwrap()
}

/// June against May (July is incomplete): advocates of customers and
/// referred of new customers, per month; `months` leaves May out with 1.
fn scorecard(
    june_referred: u32,
    june_new: u32,
    may_referred: u32,
    may_new: u32,
    months: usize,
) -> String {
    let rows = [
        format!("(DATE '2025-06-01', true, 40, 200, {june_referred}, {june_new}, 0.25)"),
        format!("(DATE '2025-05-01', true, 36, 200, {may_referred}, {may_new}, 0.30)"),
    ];
    format!(
        "CREATE TABLE advocacy_scorecard AS SELECT * FROM (VALUES
            {}, (DATE '2025-07-01', false, 99, 100, 1, 1, 0.9)
        ) AS t(month, period_complete, active_advocates, customers, referred_new_customers,
               new_customers, referred_revenue_share);
        CREATE TABLE customer_clv AS SELECT * FROM (VALUES (100.0), (250.5), (CAST(NULL AS DOUBLE)))
            AS t(predicted_clv);
        CREATE TABLE customer_clv_history AS SELECT * FROM (VALUES
            (DATE '2025-04-30', 999.0), (DATE '2025-05-31', 200.0), (DATE '2025-05-31', 100.0),
            (DATE '2025-06-15', 777.0), (DATE '2025-06-30', 350.5)
        ) AS t(run_date, predicted_clv);",
        rows[..months].join(", ")
    )
}

fn nps_trends(may_low_sample: bool) -> String {
    format!(
        "CREATE TABLE nps_trends AS SELECT * FROM (VALUES
            ('month', 'overall', DATE '2025-05-01', 10.0, 8.0, 150, {may_low_sample}, CAST(NULL AS DOUBLE), false, true),
            ('month', 'overall', DATE '2025-06-01', 30.0, 7.0, 160, false, 20.0, true, true),
            ('month', 'channel', DATE '2025-06-01', -50.0, 9.0, 80, false, 5.0, false, true)
        ) AS t(period, dimension, period_start, nps, nps_margin_of_error, responses,
               low_sample, nps_change, change_significant, period_complete);"
    )
}

fn row(table: &Table, figure: &str) -> usize {
    table
        .column("figure")
        .unwrap()
        .text
        .iter()
        .position(|f| f.as_deref() == Some(figure))
        .unwrap_or_else(|| panic!("no figure {figure}"))
}

fn number(table: &Table, column: &str, row: usize) -> Option<f64> {
    table.column(column).unwrap().number.as_ref().unwrap()[row]
}

fn significant(table: &Table, row: usize) -> Option<bool> {
    table
        .column("significant")
        .unwrap()
        .boolean
        .as_ref()
        .unwrap()[row]
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn headline_changes_are_tested_as_worked_out_by_hand() {
    let table = headline(&format!(
        "{};{}",
        scorecard(30, 100, 60, 300, 2),
        nps_trends(false)
    ))
    .await;
    let figures: Vec<&str> = table
        .column("figure")
        .unwrap()
        .text
        .iter()
        .map(|f| f.as_deref().unwrap())
        .collect();
    assert_eq!(
        figures,
        [
            "NPS",
            "Advocate share of customers",
            "Referral rate of new customers",
            "Referred share of revenue",
            "Predicted CLV of the customer base"
        ]
    );

    // NPS: June, the last complete month (July is not), as nps_trends has it.
    let nps = row(&table, "NPS");
    assert!(close(number(&table, "value", nps), 30.0));
    assert!(close(number(&table, "margin", nps), 7.0));
    assert!(close(number(&table, "change", nps), 20.0));
    assert_eq!(significant(&table, nps), Some(true));

    // Advocate share: 40 of 200 in June against 36 of 200 in May.
    // p1 = 0.2, p2 = 0.18, pooled 76/400 = 0.19; the standard error of the
    // difference is sqrt(0.19 * 0.81 * (1/200 + 1/200)) = 0.0392301, and
    // 0.02 < 1.96 * 0.0392301 = 0.0768910: within the noise. The margin of
    // June's share is 1.96 * sqrt(0.2 * 0.8 / 200) = 0.0554372, 5.54372 pp.
    let share = row(&table, "Advocate share of customers");
    assert!(close(number(&table, "value", share), 20.0));
    assert!(close(number(&table, "change", share), 2.0));
    assert!((number(&table, "margin", share).unwrap() - 5.54372).abs() < 1e-5);
    assert_eq!(significant(&table, share), Some(false));
    assert_eq!(text(&table, "against", share).as_deref(), Some("May 2025"));

    // Referral rate: 30 of 100 against 60 of 300. Pooled, 90/400 = 0.225
    // and the standard error is sqrt(0.225 * 0.775 * (1/100 + 1/300)) =
    // 0.0482183: 0.1 > 1.96 * 0.0482183 = 0.0945078, significant. (Unpooled
    // it would be sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 300) = 0.0513160, and
    // 1.96 times that, 0.100579, is above 0.1: not significant.) Margin:
    // 1.96 * sqrt(0.3 * 0.7 / 100) = 0.0898185.
    let referral = row(&table, "Referral rate of new customers");
    assert!(close(number(&table, "value", referral), 30.0));
    assert!(close(number(&table, "change", referral), 10.0));
    assert!((number(&table, "margin", referral).unwrap() - 8.98185).abs() < 1e-5);
    assert_eq!(significant(&table, referral), Some(true));
    assert_eq!(text(&table, "note", referral).as_deref(), Some("30 of 100"));

    // A share of money has no count to test.
    let revenue = row(&table, "Referred share of revenue");
    assert!(close(number(&table, "value", revenue), 25.0));
    assert!(close(number(&table, "change", revenue), -5.0));
    assert_eq!(significant(&table, revenue), None);

    // The base's CLV: 100 + 250.5, the customer without a prediction left
    // out; against the last run of an earlier month (2025-05-31: 200 +
    // 100), not the one of 2025-06-15 in the run date's own month.
    let clv = row(&table, "Predicted CLV of the customer base");
    assert!(close(number(&table, "value", clv), 350.5));
    assert!(close(number(&table, "change", clv), 50.5));
    assert_eq!(significant(&table, clv), None);
    assert_eq!(
        table.column("unit").unwrap().text[clv].as_deref(),
        Some("EUR")
    );
    assert_eq!(
        text(&table, "against", clv).as_deref(),
        Some("the run of 2025-05-31")
    );
    assert_eq!(
        text(&table, "note", clv).as_deref(),
        Some("2 customers; the next 52 weeks, discounted")
    );
}

fn text(table: &Table, column: &str, row: usize) -> Option<String> {
    table.column(column).unwrap().text[row].clone()
}

#[tokio::test]
async fn five_on_each_side_is_enough_to_test_and_four_is_not() {
    // 5 of 50 against 10 of 50: p1 = 0.1, p2 = 0.2, pooled 0.15, standard
    // error sqrt(0.15 * 0.85 * (1/50 + 1/50)) = 0.0714143, and 0.1 <
    // 1.96 * 0.0714143 = 0.139972: tested, within the noise. Margin:
    // 1.96 * sqrt(0.1 * 0.9 / 50) = 0.0831558.
    let table = headline(&format!(
        "{};{}",
        scorecard(5, 50, 10, 50, 2),
        nps_trends(false)
    ))
    .await;
    let referral = row(&table, "Referral rate of new customers");
    assert_eq!(significant(&table, referral), Some(false));
    assert!((number(&table, "margin", referral).unwrap() - 8.31558).abs() < 1e-5);
    assert_eq!(text(&table, "note", referral).as_deref(), Some("5 of 50"));

    // 4 referred customers: neither a margin nor a verdict, the change shown.
    let table = headline(&format!(
        "{};{}",
        scorecard(4, 50, 10, 50, 2),
        nps_trends(false)
    ))
    .await;
    let referral = row(&table, "Referral rate of new customers");
    assert!(close(number(&table, "change", referral), -12.0));
    assert_eq!(number(&table, "margin", referral), None);
    assert_eq!(significant(&table, referral), None);
    assert_eq!(
        text(&table, "note", referral).as_deref(),
        Some("4 of 50; too few to test the change")
    );
}

#[tokio::test]
async fn the_first_month_of_data_has_every_tile_and_no_change() {
    let table = headline(&format!(
        "{};{}",
        scorecard(30, 100, 60, 300, 1),
        nps_trends(false)
    ))
    .await;
    assert_eq!(table.rows, 5);
    for figure in [
        "Advocate share of customers",
        "Referral rate of new customers",
        "Referred share of revenue",
    ] {
        let r = row(&table, figure);
        assert!(number(&table, "value", r).is_some(), "{figure}");
        assert_eq!(number(&table, "change", r), None, "{figure}");
        assert_eq!(significant(&table, r), None, "{figure}");
    }
    let referral = row(&table, "Referral rate of new customers");
    assert_eq!(text(&table, "note", referral).as_deref(), Some("30 of 100"));
    assert!((number(&table, "margin", referral).unwrap() - 8.98185).abs() < 1e-5);
}

#[tokio::test]
async fn an_nps_change_from_a_month_with_too_few_answers_is_not_tested() {
    let table = headline(&format!(
        "{};{}",
        scorecard(30, 100, 60, 300, 2),
        nps_trends(true)
    ))
    .await;
    let nps = row(&table, "NPS");
    assert!(close(number(&table, "change", nps), 20.0));
    assert_eq!(significant(&table, nps), None);
}

/// A copy of the repository's queries with report.yml edited.
fn project_with_report(edit: impl Fn(&str) -> String) -> (Project, String) {
    let p = Project::new();
    copy_dir(&Path::new(REPO).join("queries"), &p.path("queries"));
    let text = edit(&std::fs::read_to_string(p.path("queries/report.yml")).unwrap());
    p.write("queries/report.yml", &text);
    bundled_config(&p, &Path::new(REPO).join("testdata"), "warehouse", "2GiB");
    let config = std::fs::read_to_string(p.path("config.yaml"))
        .unwrap()
        .replace(&format!("queries: {REPO}/queries"), "queries: queries");
    p.write("config.yaml", &config);
    (p, text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let line = text[..offset].matches('\n').count() + 1;
    let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[test]
fn validate_points_at_the_line_and_column_of_a_charts_error() {
    let (p, text) = project_with_report(|t| {
        t.replacen(
            "nps_margin_of_error AS margin",
            "nps_margin_of_eror AS margin",
            1,
        )
        .replacen(
            "y: { column: average_rating, label",
            "y: { column: mean_rating, label",
            1,
        )
    });
    let out = p.advocacy(&[
        "validate",
        "--config",
        "config.yaml",
        "--date",
        "2025-06-30",
    ]);
    assert_exit(&out, 2);
    let text_out = format!("{}{}", stdout(&out), common::stderr(&out));
    let (line, column) = position(&text, "nps_margin_of_eror AS margin");
    let report = "queries/report.yml";
    assert!(
        text_out.contains(&format!("{report}:{line}:{column}: ")),
        "expected {report}:{line}:{column} in:\n{text_out}"
    );
    assert!(
        text_out.contains("column 'nps_margin_of_eror' not found (possible column nps_now.nps_margin_of_error) (chart headline)\n"),
        "{text_out}"
    );
    let (chart_line, _) = position(&text, "id: review_ratings");
    assert!(
        text_out.contains(&format!(
            "{report}:{chart_line}: chart review_ratings: column mean_rating (y) is not in its result (columns: month, site, average_rating)"
        )),
        "{text_out}"
    );
}

#[test]
fn a_chart_that_fails_at_run_time_is_shown_failed_and_the_others_drawn() {
    let (p, _) = project_with_report(|t| {
        t.replacen(
            "SELECT persona, COUNT(*) AS advocates",
            "SELECT persona, COUNT(*) + CAST(persona || 'x' AS INT) AS advocates",
            1,
        )
    });
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-06-30"]);
    assert_exit(&out, 0);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap(),
    )
    .unwrap();
    let warnings: Vec<&str> = record["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("report.yml:"), "{warnings:?}");
    assert!(warnings[0].contains("chart persona_mix: "), "{warnings:?}");
    let html = std::fs::read_to_string(p.warehouse().join("reports/index.html")).unwrap();
    assert_eq!(html.matches("class=\"failed\"").count(), 1);
    assert_eq!(html.matches("<svg ").count(), 11);
}

#[test]
fn a_report_yml_that_does_not_load_stops_the_page_not_the_reports() {
    let (p, _) = project_with_report(|t| t.replacen("kind: heatmap", "kind: pie", 1));
    let validate = p.advocacy(&[
        "validate",
        "--config",
        "config.yaml",
        "--date",
        "2025-06-30",
    ]);
    assert_exit(&validate, 2);
    assert!(
        common::stderr(&validate).contains("unknown variant `pie`"),
        "{}",
        common::stderr(&validate)
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-06-30"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("warning: report page not made, report.yml has errors"),
        "{}",
        stdout(&out)
    );
    assert!(p.warehouse().join("reports/_SUCCESS").exists());
    assert!(!p.warehouse().join("reports/index.html").exists());
}
