//! What each source owes a run, checked on the raw zone after ingest:
//! `required` sources must have rows, and `freshness: { warn_after,
//! error_after }` bounds the age of a source's newest record (its
//! entity's event time, as of the run date) at the end of the run date,
//! as dbt's source freshness does. A failed check is a source-level test:
//! the reports that read the source's entity are held back, the others
//! publish, and the run exits 3. It also tells how old the data is, which
//! `run.date: latest_complete` dates the run by.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::{Config, SourceConfig};
use crate::ingest::IngestReport;
use crate::pipeline::data_tests::TestResult;
use crate::pipeline::spec::Severity;
use crate::schema::{Entity, FieldType};

/// A source's rows in the raw zone, and its newest record as of a date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceData {
    pub rows: u64,
    /// The newest record's event time on or before the cut-off date, as
    /// local time in `run.timezone` (a date at its midnight).
    pub newest: Option<NaiveDateTime>,
    /// The event time is a date, which speaks for the whole of its day.
    pub dated: bool,
}

impl SourceData {
    /// When the newest record's data ends: a date at the end of its day.
    fn data_until(&self) -> Option<NaiveDateTime> {
        let days = if self.dated { 1 } else { 0 };
        self.newest.map(|n| n + Duration::days(days))
    }

    /// The newest record as the summary and the run record show it.
    fn newest_text(&self) -> Option<String> {
        let format = if self.dated {
            "%Y-%m-%d"
        } else {
            "%Y-%m-%dT%H:%M:%S"
        };
        self.newest.map(|n| n.format(format).to_string())
    }
}

/// Counts each configured source's rows and finds its newest record on or
/// before `as_of` (days cut in `run.timezone`, as the models cut them).
pub async fn measure(
    ctx: &SessionContext,
    config: &Config,
    as_of: NaiveDate,
) -> Result<BTreeMap<String, SourceData>, DataFusionError> {
    let mut found = BTreeMap::new();
    let entities: BTreeSet<Entity> = config.sources.iter().map(|s| s.entity).collect();
    for entity in entities {
        for (source, data) in measure_entity(ctx, config, entity, as_of).await? {
            found.insert(source, data);
        }
    }
    Ok(found)
}

async fn measure_entity(
    ctx: &SessionContext,
    config: &Config,
    entity: Entity,
    as_of: NaiveDate,
) -> Result<Vec<(String, SourceData)>, DataFusionError> {
    let tz = crate::clock::parse_timezone(&config.run.timezone).expect("checked at load");
    let table = entity.table_name();
    let dated = entity.event_time().is_some_and(|f| is_date(entity, f));
    // Days for dates; for timestamps, UTC micros before the end of `as_of`
    // in the run's zone (one comparison a row, no conversion).
    let newest = match entity.event_time() {
        Some(field) if dated => {
            format!("CAST(MAX(CASE WHEN \"{field}\" <= $as_of THEN \"{field}\" END) AS BIGINT)")
        }
        Some(field) => {
            format!("CAST(MAX(CASE WHEN \"{field}\" < $end THEN \"{field}\" END) AS BIGINT)")
        }
        None => "CAST(NULL AS BIGINT)".to_string(),
    };
    let sql = format!(
        "SELECT _source, CAST(COUNT(*) AS BIGINT) AS n, {newest} AS newest \
         FROM {table} GROUP BY _source"
    );
    let end = crate::clock::local_midnight(as_of + Duration::days(1), tz);
    let params: std::collections::HashMap<String, ScalarValue> = [
        ("as_of".to_string(), ScalarValue::Date32(Some(days(as_of)))),
        (
            "end".to_string(),
            ScalarValue::TimestampMicrosecond(Some(end.timestamp_micros()), Some("UTC".into())),
        ),
    ]
    .into_iter()
    .collect();
    let batches = ctx
        .sql_with_options(&sql, crate::engine::sql_options())
        .await?
        .with_param_values(params)?
        .collect()
        .await?;
    let mut out = Vec::new();
    for batch in batches {
        let sources = cast(batch.column(0), &DataType::Utf8)?;
        let sources = sources.as_string::<i32>();
        let rows = batch.column(1).as_primitive::<Int64Type>();
        let newest = batch.column(2).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let newest = newest.is_valid(i).then(|| {
                let value = newest.value(i);
                if dated {
                    // Days since 1970-01-01, `NaiveDate::default()`.
                    midnight(NaiveDate::default() + Duration::days(value))
                } else {
                    chrono::DateTime::from_timestamp_micros(value)
                        .unwrap_or_default()
                        .with_timezone(&tz)
                        .naive_local()
                }
            });
            out.push((
                sources.value(i).to_string(),
                SourceData {
                    rows: rows.value(i) as u64,
                    newest,
                    dated,
                },
            ));
        }
    }
    Ok(out)
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).expect("midnight exists")
}

fn is_date(entity: Entity, field: &str) -> bool {
    entity
        .field(field)
        .is_some_and(|f| matches!(f.ty, FieldType::Date))
}

fn days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

/// The newest record of all the sources: what `run.date: latest_complete`
/// dates a run by (the day after it, never after `today`).
pub fn latest_complete_date(data: &BTreeMap<String, SourceData>, today: NaiveDate) -> NaiveDate {
    data.values()
        .filter_map(|d| d.newest)
        .max()
        .map(|newest| (newest.date() + Duration::days(1)).min(today))
        .unwrap_or(today)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warn,
    Error,
}

/// One source's check, as the summary, the run record and the page give it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    pub source: String,
    pub entity: String,
    pub required: bool,
    /// Rows of the source in the raw zone, whatever their date.
    pub rows: u64,
    /// The newest record on or before the run date, local time
    /// (`2026-10-31T20:00:00`, or a date).
    pub newest: Option<String>,
    /// Its age at the end of the run date, in hours.
    pub age_hours: Option<f64>,
    pub warn_after_hours: Option<f64>,
    pub error_after_hours: Option<f64>,
    pub status: CheckStatus,
    /// Why the check warned or failed.
    pub message: Option<String>,
    /// Which check: `required` or `freshness`.
    #[serde(skip)]
    test: &'static str,
}

/// Every source's check for a run dated `run_date`.
pub fn check(
    config: &Config,
    data: &BTreeMap<String, SourceData>,
    ingest: &IngestReport,
    run_date: NaiveDate,
) -> Vec<SourceCheck> {
    let end_of_run_date = midnight(run_date + Duration::days(1));
    config
        .sources
        .iter()
        .map(|source| {
            let found = data.get(&source.name).cloned().unwrap_or_default();
            let files = ingest
                .sources
                .iter()
                .find(|s| s.source == source.name)
                .map(|s| s.files.len());
            check_source(source, &found, files, end_of_run_date)
        })
        .collect()
}

/// Every source failed, when the raw zone could not be read to check them
/// (the store went away): nothing built on them is published.
pub fn unchecked(config: &Config, error: &str) -> Vec<SourceCheck> {
    config
        .sources
        .iter()
        .map(|source| SourceCheck {
            status: CheckStatus::Error,
            message: Some(format!(
                "source {} could not be checked: {error}",
                source.name
            )),
            test: "checked",
            ..SourceCheck::unjudged(source, &SourceData::default(), None)
        })
        .collect()
}

fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// A duration as the config writes it, for messages.
fn written(d: Duration) -> String {
    let s = d.num_seconds();
    match s {
        _ if s % 86_400 == 0 => format!("{}d", s / 86_400),
        _ if s % 3_600 == 0 => format!("{}h", s / 3_600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// An age in days and hours, for messages.
fn age_text(d: Duration) -> String {
    let h = d.num_hours();
    if h >= 48 {
        format!("{} days", h / 24)
    } else {
        format!("{h} hours")
    }
}

fn check_source(
    source: &SourceConfig,
    found: &SourceData,
    files_listed: Option<usize>,
    end_of_run_date: NaiveDateTime,
) -> SourceCheck {
    let name = &source.name;
    let bounds = source.freshness;
    let mut check = SourceCheck::unjudged(source, found, Some(end_of_run_date));
    let as_of = (end_of_run_date - Duration::days(1)).date();
    // Not required: what would fail it only warns.
    let failed = if source.required {
        CheckStatus::Error
    } else {
        CheckStatus::Warn
    };
    if found.rows == 0 {
        if source.required {
            let files = match files_listed {
                Some(0) => format!("no file matched {:?}", source.path),
                Some(n) => format!("its {n} file(s) this run loaded no row"),
                None => "nothing was ingested by this command".to_string(),
            };
            check.status = CheckStatus::Error;
            check.test = "required";
            check.message = Some(format!(
                "required source {name} has no rows in the raw zone: {files}; fix its path or \
                 mapping, or set `required: false` if the reports can do without it"
            ));
        }
        return check;
    }
    let Some(until) = found.data_until() else {
        if bounds.error_after.is_some() || bounds.warn_after.is_some() {
            check.status = if bounds.error_after.is_some() {
                failed
            } else {
                CheckStatus::Warn
            };
            check.message = Some(format!(
                "source {name} has no record on or before the run date {as_of} ({} rows, all later)",
                found.rows
            ));
        }
        return check;
    };
    let age = end_of_run_date - until;
    let (status, bound, key) = match (bounds.error_after, bounds.warn_after) {
        (Some(error), _) if age > error => (failed, error, "error_after"),
        (_, Some(warn)) if age > warn => (CheckStatus::Warn, warn, "warn_after"),
        _ => return check,
    };
    check.status = status;
    check.message = Some(format!(
        "source {name} is stale: its newest record, {}, is {} old at the end of {as_of}, past \
         freshness.{key} {}",
        check.newest_shown().expect("a newest record"),
        age_text(age),
        written(bound)
    ));
    check
}

impl SourceCheck {
    /// What was found, before any bound is applied (status ok).
    fn unjudged(
        source: &SourceConfig,
        found: &SourceData,
        end_of_run_date: Option<NaiveDateTime>,
    ) -> SourceCheck {
        let age = |end: NaiveDateTime| found.data_until().map(|n| hours(end - n));
        SourceCheck {
            source: source.name.clone(),
            entity: source.entity.name().to_string(),
            required: source.required,
            rows: found.rows,
            newest: found.newest_text(),
            age_hours: end_of_run_date.and_then(age),
            warn_after_hours: source.freshness.warn_after.map(hours),
            error_after_hours: source.freshness.error_after.map(hours),
            status: CheckStatus::Ok,
            message: None,
            test: "freshness",
        }
    }

    /// The newest record to the minute (`2026-10-31 20:00`), or its date.
    fn newest_shown(&self) -> Option<String> {
        self.newest
            .as_deref()
            .map(|n| n.replace('T', " ").chars().take(16).collect())
    }

    /// As a data test of the run, for the summary, the record and the page.
    pub fn test_result(&self) -> Option<TestResult> {
        let message = self.message.clone()?;
        Some(TestResult {
            model: format!("source:{}", self.source),
            column: None,
            test: self.test.to_string(),
            severity: match self.status {
                CheckStatus::Error => Severity::Error,
                _ => Severity::Warn,
            },
            passed: false,
            failures: 0,
            sample: Vec::new(),
            error: None,
            message: Some(message),
            sql: String::new(),
            fingerprint: None,
            reused: false,
        })
    }
}

/// The raw tables whose reports a run holds back: the entities of the
/// sources whose checks failed.
pub fn held_back(checks: &[SourceCheck]) -> BTreeSet<String> {
    checks
        .iter()
        .filter(|c| c.status == CheckStatus::Error)
        .filter_map(|c| Entity::ALL.iter().find(|e| e.name() == c.entity))
        .map(|e| e.table_name())
        .collect()
}

/// A warning per entity that reports read but no source maps (a config
/// that maps only customers publishes every report on zero orders): said,
/// not failed, since a company may have no reviews or no surveys at all.
pub fn unmapped_entities(config: &Config, project: &crate::pipeline::Project) -> Vec<String> {
    let reports = project.published();
    Entity::ALL
        .iter()
        .filter(|e| !config.sources.iter().any(|s| s.entity == **e))
        .filter_map(|entity| {
            let readers: Vec<String> =
                crate::pipeline::dag::descendants(&project.deps, &entity.table_name())
                    .into_iter()
                    .filter(|m| reports.contains(m))
                    .collect();
            (!readers.is_empty()).then(|| {
                format!(
                    "no source maps {entity}: {} read it and have none",
                    readers.join(", ")
                )
            })
        })
        .collect()
}

/// The summary's table of sources: rows, newest record, age and bounds.
pub fn summary_table(checks: &[SourceCheck]) -> String {
    let w = checks
        .iter()
        .map(|c| c.source.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:<w$} {:>10} {:<17} {:>9} {:>11} {:>12} {:<6}\n",
        "source", "rows", "newest record", "age (h)", "warn after", "error after", "status"
    );
    let bound = |h: Option<f64>| h.map_or("-".to_string(), |h| format!("{h:.0}h"));
    for c in checks {
        out.push_str(&format!(
            "{:<w$} {:>10} {:<17} {:>9} {:>11} {:>12} {:<6}\n",
            c.source,
            c.rows,
            c.newest_shown().unwrap_or_else(|| "-".to_string()),
            c.age_hours.map_or("-".to_string(), |h| format!("{h:.0}")),
            bound(c.warn_after_hours),
            bound(c.error_after_hours),
            match c.status {
                CheckStatus::Ok => "ok",
                CheckStatus::Warn => "WARN",
                CheckStatus::Error => "ERROR",
            }
        ));
    }
    out
}

/// How old the data is, for the summary and the top of the page: the
/// newest record of all sources against the end of the run date and, when
/// the run date is not today, against today.
pub fn data_age(checks: &[SourceCheck], run_date: NaiveDate, today: NaiveDate) -> Option<String> {
    // ISO text sorts in time order, and a bare date before the records
    // of its own day: the newest timestamped record is the one shown.
    let newest = checks
        .iter()
        .filter(|c| c.newest.is_some())
        .max_by_key(|c| c.newest.clone())?;
    let age = Duration::seconds((newest.age_hours? * 3600.0).round() as i64);
    let mut line = format!(
        "newest data: {} ({}), {} old at the end of the run date {run_date}",
        newest.newest_shown()?,
        newest.source,
        age_text(age)
    );
    if run_date < today {
        line.push_str(&format!(
            "; the run date is {} day(s) before today ({today})",
            (today - run_date).num_days()
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn data(newest: &[&str]) -> BTreeMap<String, SourceData> {
        newest
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    format!("s{i}"),
                    SourceData {
                        rows: 1,
                        newest: Some(at(n)),
                        dated: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn latest_complete_is_the_day_after_the_newest_record_and_never_after_today() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // Newest at 23:10 on Oct 31: the run is dated Nov 1.
        let found = data(&["2026-10-31 23:10", "2026-10-02 08:00"]);
        assert_eq!(latest_complete_date(&found, today), d(2026, 11, 1));
        // A date column's newest, Oct 31 (at its midnight): Nov 1 too.
        let mut found = data(&["2026-10-31 00:00"]);
        found.get_mut("s0").unwrap().dated = true;
        assert_eq!(latest_complete_date(&found, today), d(2026, 11, 1));
        // Data up to today: today.
        let found = data(&["2026-12-07 01:00"]);
        assert_eq!(latest_complete_date(&found, today), today);
        assert_eq!(latest_complete_date(&BTreeMap::new(), today), today);
    }

    fn source(yaml: &str) -> SourceConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_date_speaks_for_its_whole_day_and_bounds_decide_the_status() {
        let customers = source(
            "{ name: crm, entity: customers, format: csv, path: c.csv, \
             freshness: { warn_after: 1d, error_after: 2d }, \
             columns: { customer_id: id, signup_date: d } }",
        );
        let found = SourceData {
            rows: 3,
            newest: Some(at("2026-10-31 00:00")),
            dated: true,
        };
        let end = |day: u32| midnight(NaiveDate::from_ymd_opt(2026, 11, day).unwrap());
        // Run date Oct 31: the end of Oct 31 is when the date's data ends.
        let check = check_source(&customers, &found, Some(1), end(1));
        assert_eq!(
            (check.status, check.age_hours),
            (CheckStatus::Ok, Some(0.0))
        );
        assert_eq!(check.newest.as_deref(), Some("2026-10-31"));
        // Run date Nov 1: 24 hours, not past warn_after 1d.
        let check = check_source(&customers, &found, Some(1), end(2));
        assert_eq!(
            (check.status, check.age_hours),
            (CheckStatus::Ok, Some(24.0))
        );
        // Nov 2: 48 h, past warn_after 1d, not past error_after 2d.
        let check = check_source(&customers, &found, Some(1), end(3));
        assert_eq!(check.status, CheckStatus::Warn);
        // Nov 4: 96 h.
        let check = check_source(&customers, &found, Some(1), end(5));
        assert_eq!(check.status, CheckStatus::Error);
        assert_eq!(
            check.message.as_deref(),
            Some(
                "source crm is stale: its newest record, 2026-10-31, is 4 days old at the end \
                 of 2026-11-04, past freshness.error_after 2d"
            )
        );
        // Not required: the same age only warns.
        let optional = source(
            "{ name: crm, entity: customers, format: csv, path: c.csv, required: false, \
             freshness: { error_after: 2d }, columns: { customer_id: id, signup_date: d } }",
        );
        let check = check_source(&optional, &found, Some(1), end(5));
        assert_eq!(check.status, CheckStatus::Warn);
        assert_eq!(check.test_result().unwrap().severity, Severity::Warn);
        // No rows at all: required fails naming the glob, optional is fine.
        let none = SourceData::default();
        let check = check_source(&customers, &none, Some(0), end(5));
        assert_eq!(check.status, CheckStatus::Error);
        assert!(check.message.unwrap().contains("no file matched \"c.csv\""));
        let check = check_source(&optional, &none, Some(0), end(5));
        assert_eq!((check.status, check.message), (CheckStatus::Ok, None));
    }
}
