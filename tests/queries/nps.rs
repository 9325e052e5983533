//! `nps_trends` on a fixture whose numbers are worked out by hand below.

use crate::common::{Project, assert_exit, lines};

/// Responses (respondent, channel, date, score).
///
/// Variance of NPS (as a fraction) on n answers with P promoters and D
/// detractors: with p' = (P + 1) / (n + 3) and d' = (D + 1) / (n + 3),
/// var = (p' + d' - (p' - d')^2) / (n + 3); margin = 196 * sqrt(var).
///
/// email, January: C1 answers 0 and later 10 (only the 10 counts), and
/// nine others: 9, 8, 7, 6, 3, 10, 9, 0, 10. Counted: 10 responses,
/// promoters 10,9,10,9,10 = 5, passives 8,7 = 2, detractors 6,3,0 = 3.
///   NPS = 100 * (.5 - .3) = 20; p' = 6/13, d' = 4/13,
///   var = (10/13 - (2/13)^2) / 13 = .0573509, margin = 46.93819
/// email, February: 10,10,10,10,9,9,8,2: n = 8, P = 6, Pa = 1, D = 1.
///   NPS = 62.5; p' = 7/11, d' = 2/11, var = (9/11 - (5/11)^2) / 11
///   = .0555973, margin = 46.21499; change 42.5, not significant: fewer
///   than 30 answers (the z-test alone would not fire either: 65.87123).
///   rolling 3 = 100 * (11 - 4) / 18 = 38.88889
/// sms, January: 10 x 9, 10 x 7, 20 x 5: NPS -25; p' = 11/43, d' = 21/43,
///   var = .0160489, margin = 24.83011
/// sms, February: 30 x 9, 5 x 7, 5 x 5: NPS 62.5; p' = 31/43, d' = 6/43,
///   var = .0121499, margin = 21.60439
///   change = 87.5 > 196 * sqrt(.0160489 + .0121499) = 32.91328, 40 answers
///   on both sides: significant. Rolling 3 in February = 100 * (40 - 25) / 80
///   = 18.75.
/// overall, January: n = 50, P = 15, D = 23: NPS = -16, p' = 16/53,
///   d' = 24/53, margin = 23.03318; February: n = 48, P = 36, D = 6:
///   NPS = 62.5, p' = 37/51, d' = 7/51, margin = 19.72879; change 78.5 >
///   196 * sqrt(sum of variances) = 30.32742: significant.
fn responses() -> Vec<(String, &'static str, &'static str, u8)> {
    let mut rows = vec![("C1".to_string(), "email", "2026-01-05", 0)];
    let email_jan = [10, 9, 8, 7, 6, 3, 10, 9, 0, 10];
    for (i, score) in email_jan.into_iter().enumerate() {
        let who = if i == 0 {
            "C1".to_string()
        } else {
            format!("EJ{i}")
        };
        rows.push((who, "email", "2026-01-20", score));
    }
    for (i, score) in [10, 10, 10, 10, 9, 9, 8, 2].into_iter().enumerate() {
        rows.push((format!("EF{i}"), "email", "2026-02-10", score));
    }
    let sms_jan = [(9, 10), (7, 10), (5, 20)];
    let sms_feb = [(9, 30), (7, 5), (5, 5)];
    for (month, date, mix) in [("J", "2026-01-15", sms_jan), ("F", "2026-02-15", sms_feb)] {
        let mut n = 0;
        for (score, count) in mix {
            for _ in 0..count {
                rows.push((format!("S{month}{n}"), "sms", date, score));
                n += 1;
            }
        }
    }
    rows
}

fn project(latest_only: bool) -> Project {
    let p = Project::new();
    p.repo_config(&format!(
        r#"vars:
  promoter_min: 9
  passive_min: 7
  nps_dimensions: channel
  nps_min_responses: 30
  nps_latest_answer_only: {latest_only}
sources:
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: {{ response_id: id, customer_id: who, responded_at: at, score: score, channel: channel }}
"#
    ));
    let mut csv = String::from("id,who,at,score,channel\n");
    for (i, (who, channel, at, score)) in responses().into_iter().enumerate() {
        // The second answer of C1 comes later the same month.
        let at = if who == "C1" && score == 10 {
            "2026-01-25".to_string()
        } else {
            at.to_string()
        };
        csv.push_str(&format!("r{i},{who},{at},{score},{channel}\n"));
    }
    p.land("nps.csv", csv);
    p
}

const COLUMNS: &str = "dimension_value, CAST(period_start AS VARCHAR) AS start, responses, promoters, passives, \
    detractors, round(nps, 5) AS nps, round(nps_margin_of_error, 5) AS moe, round(nps_rolling_3, 5) AS rolling, \
    round(nps_change, 5) AS change, change_significant, low_sample";

#[test]
fn monthly_nps_with_error_bars_and_significance() {
    let p = project(true);
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-03-01"]);
    assert_exit(&out, 0);
    let monthly = p.query(
        "reports/nps_trends",
        &format!("SELECT {COLUMNS} FROM t WHERE period = 'month' ORDER BY dimension, dimension_value, period_start"),
    );
    assert_eq!(
        lines(&monthly)[1..],
        [
            "email | 2026-01-01 | 10 | 5 | 2 | 3 | 20.0 | 46.93819 | 20.0 |  | false | true",
            "email | 2026-02-01 | 8 | 6 | 1 | 1 | 62.5 | 46.21499 | 38.88889 | 42.5 | false | true",
            "sms | 2026-01-01 | 40 | 10 | 10 | 20 | -25.0 | 24.83011 | -25.0 |  | false | false",
            "sms | 2026-02-01 | 40 | 30 | 5 | 5 | 62.5 | 21.60439 | 18.75 | 87.5 | true | false",
            "all | 2026-01-01 | 50 | 15 | 12 | 23 | -16.0 | 23.03318 | -16.0 |  | false | false",
            "all | 2026-02-01 | 48 | 36 | 6 | 6 | 62.5 | 19.72879 | 22.44898 | 78.5 | true | false",
        ]
    );
    // Weeks and quarters are there too; every response is in one quarter.
    let quarters = p.query(
        "reports/nps_trends",
        "SELECT responses, round(nps, 5) AS nps FROM t WHERE period = 'quarter' AND dimension = 'overall'",
    );
    assert_eq!(lines(&quarters)[1..], ["98 | 22.44898"]);
    let weeks = p.query(
        "reports/nps_trends",
        "SELECT count(*) AS n, sum(responses) AS r FROM t WHERE period = 'week' AND dimension = 'overall'",
    );
    // Answers on Jan 5, 15, 20, 25 and Feb 10, 15 fall into the weeks of
    // Monday Jan 5, 12, 19 and Feb 9; C1's two answers (Jan 5 and 25) are
    // in different weeks, so both count weekly: 98 + 1.
    assert_eq!(lines(&weeks)[1..], ["4 | 99"]);
}

#[test]
fn every_answer_counts_when_configured() {
    let p = project(false);
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-03-01"]),
        0,
    );
    let jan = p.query(
        "reports/nps_trends",
        "SELECT responses, detractors, round(nps, 5) AS nps FROM t \
         WHERE period = 'month' AND dimension_value = 'email' AND period_start = DATE '2026-01-01'",
    );
    // C1's first answer (0) counts too: n = 11, D = 4, NPS = 100 * (5 - 4) / 11.
    assert_eq!(lines(&jan)[1..], ["11 | 4 | 9.09091"]);
}

/// Issue 9 point 5, by hand (touchpoint is the dimension reported):
/// X1 answers 3 at onboarding on Jan 5 and 10 to support on Jan 25 (a
/// Sunday, so in the week of Monday Jan 19). A1-A3 answer 10 on Monday
/// Mar 2, B1-B3 answer 8 on Monday Mar 9, all on the web.
///
/// Months, overall: January n = 1 (X1's latest answer, 10): NPS 100;
/// February has no answers; March n = 6, P = 3, passives 3: NPS 50, and its
/// change is NULL (the previous calendar month had no answers), not
/// 50 - 100. Rolling 3 in March pools January and March: 100 * 4 / 7 =
/// 57.14286. Margins: n = 1, P = 1: p' = 2/4, d' = 1/4,
/// var = (3/4 - 1/16) / 4 = .171875, 196 * sqrt(var) = 81.25731; n = 6,
/// P = 3: p' = 4/9, d' = 1/9, var = (5/9 - 1/9) / 9 = .0493827, margin
/// 43.55556.
/// Months, by touchpoint: X1 counts once in each row: onboarding January
/// n = 1, D = 1 (NPS -100); support January n = 1, P = 1 (NPS 100).
/// Weeks, overall: Mar 2 three 10s (NPS 100, p' = 4/6, d' = 1/6,
/// var = (5/6 - 1/4) / 6 = .0972222, margin 61.11374: not 0), Mar 9 three
/// 8s (NPS 0, var = (2/6) / 6, margin 46.19764). The week of Jan 19 pools
/// the week of Jan 5 two weeks before in its rolling NPS (100 * 0 / 2 = 0)
/// but has no change (the week between had no answers); the week of Mar 2
/// has none either. Mar 9's change of -100 exceeds
/// 196 * sqrt(.0972222 + .0555556) = 76.61012, but three answers a side is
/// below the 30 needed: not significant.
#[test]
fn calendar_periods_small_samples_and_latest_answer_per_dimension() {
    let p = Project::new();
    p.repo_config(
        r#"vars:
  nps_dimensions: touchpoint
sources:
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, customer_id: who, responded_at: at, score: score, touchpoint: tp }
"#,
    );
    let mut csv = String::from(
        "id,who,at,score,tp\nx1,X1,2026-01-05T10:00:00Z,3,onboarding\n\
         x2,X1,2026-01-25T10:00:00Z,10,support\n",
    );
    for i in 1..=3 {
        csv.push_str(&format!("a{i},A{i},2026-03-02T10:00:00Z,10,web\n"));
        csv.push_str(&format!("b{i},B{i},2026-03-09T10:00:00Z,8,web\n"));
    }
    p.land("nps.csv", csv);
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-03-31"]),
        0,
    );
    let monthly = p.query(
        "reports/nps_trends",
        &format!(
            "SELECT {COLUMNS} FROM t WHERE period = 'month' \
             ORDER BY dimension, dimension_value, period_start"
        ),
    );
    assert_eq!(
        lines(&monthly)[1..],
        [
            "all | 2026-01-01 | 1 | 1 | 0 | 0 | 100.0 | 81.25731 | 100.0 |  | false | true",
            "all | 2026-03-01 | 6 | 3 | 3 | 0 | 50.0 | 43.55556 | 57.14286 |  | false | true",
            "onboarding | 2026-01-01 | 1 | 0 | 0 | 1 | -100.0 | 81.25731 | -100.0 |  | false | true",
            "support | 2026-01-01 | 1 | 1 | 0 | 0 | 100.0 | 81.25731 | 100.0 |  | false | true",
            "web | 2026-03-01 | 6 | 3 | 3 | 0 | 50.0 | 43.55556 | 50.0 |  | false | true",
        ]
    );
    let weekly = p.query(
        "reports/nps_trends",
        &format!(
            "SELECT {COLUMNS} FROM t WHERE period = 'week' AND dimension = 'overall' \
             ORDER BY period_start"
        ),
    );
    assert_eq!(
        lines(&weekly)[1..],
        [
            "all | 2026-01-05 | 1 | 0 | 0 | 1 | -100.0 | 81.25731 | -100.0 |  | false | true",
            "all | 2026-01-19 | 1 | 1 | 0 | 0 | 100.0 | 81.25731 | 0.0 |  | false | true",
            "all | 2026-03-02 | 3 | 3 | 0 | 0 | 100.0 | 61.11374 | 100.0 |  | false | true",
            "all | 2026-03-09 | 3 | 0 | 3 | 0 | 0.0 | 46.19764 | 50.0 | -100.0 | false | true",
        ]
    );
}

/// An anonymous answer (neither customer id nor email: issue 10 point 7)
/// loads and counts. January: C1 and C2 answer 10 at checkout, and an
/// anonymous respondent answers 0 to support. Overall n = 3, P = 2, D = 1:
/// NPS = 100 * (2 - 1) / 3 = 33.33333; checkout 100; support -100. It is
/// nobody's answer, so no detractor follow-up and no advocate gets it.
#[test]
fn anonymous_answers_count_in_nps_trends() {
    let p = Project::new();
    p.repo_config(
        r#"vars:
  nps_dimensions: touchpoint,channel
sources:
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, customer_id: who, email: email, responded_at: at, score: score, touchpoint: tp, channel: ch }
"#,
    );
    p.land(
        "nps.csv",
        "id,who,email,at,score,tp,ch\n\
         a1,C1,,2026-01-05T10:00:00Z,10,checkout,email\n\
         a2,C2,c2@example.com,2026-01-06T10:00:00Z,10,checkout,web\n\
         a3,,,2026-01-07T10:00:00Z,0,support,web\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-01-31"]);
    assert_exit(&out, 0);
    let monthly = p.query(
        "reports/nps_trends",
        "SELECT dimension, dimension_value, responses, promoters, detractors, round(nps, 5) AS nps FROM t \
         WHERE period = 'month' ORDER BY dimension, dimension_value",
    );
    assert_eq!(
        lines(&monthly)[1..],
        [
            // The anonymous detractor a3 counts overall, at support and
            // on the web: (2 - 1) / 3 and (1 - 1) / 2.
            "channel | email | 1 | 1 | 0 | 100.0",
            "channel | web | 2 | 1 | 1 | 0.0",
            "overall | all | 3 | 2 | 1 | 33.33333",
            "touchpoint | checkout | 2 | 2 | 0 | 100.0",
            "touchpoint | support | 1 | 0 | 1 | -100.0"
        ]
    );
    let followups = p.query("reports/detractor_followups", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&followups)[1..], ["0"]);
    let quarantined = p
        .parquet_files()
        .iter()
        .any(|f| f.to_string_lossy().contains("quarantine"));
    assert!(!quarantined, "the anonymous answer was quarantined");
}
