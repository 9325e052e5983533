//! `nps_trends` on a fixture whose numbers are worked out by hand below.

mod common;

use common::{Project, assert_exit, lines};

/// Responses (respondent, channel, date, score).
///
/// email, January: C1 answers 0 and later 10 (only the 10 counts), and
/// nine others: 9, 8, 7, 6, 3, 10, 9, 0, 10. Counted: 10 responses,
/// promoters 10,9,10,9,10 = 5, passives 8,7 = 2, detractors 6,3,0 = 3.
///   p = .5, d = .3, NPS = 20, var = (.8 - .2^2)/10 = .076,
///   margin = 196 * sqrt(.076) = 54.03347...
/// email, February: 10,10,10,10,9,9,8,2: n = 8, P = 6, Pa = 1, D = 1.
///   NPS = 62.5, var = (.875 - .625^2)/8 = .060546875, margin = 48.22830...
///   change = 42.5 < 196 * sqrt(.076 + .060546875) = 72.42641: not significant.
///   rolling 3 = 100 * (11 - 4) / 18 = 38.88889
/// sms, January: 10 x 9, 10 x 7, 20 x 5: NPS -25, var = (.75 - .0625)/40 = .0171875
/// sms, February: 30 x 9, 5 x 7, 5 x 5: NPS 62.5, var = .012109375
///   change = 87.5 > 196 * sqrt(.029296875) = 33.54801: significant.
/// sms margins: 196 * sqrt(.0171875) = 25.69582, 196 * sqrt(.012109375) = 21.56835;
///   rolling 3 in February = 100 * (40 - 25) / 80 = 18.75.
/// overall, January: n = 50, P = 15, D = 23: NPS = -16, var = (.76 - .0256)/50,
///   margin = 23.75404; February: n = 48, P = 36, D = 6: NPS = 62.5,
///   margin = 19.68912; change 78.5 > 196 * sqrt(sum of variances) = 30.85313.
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
            "email | 2026-01-01 | 10 | 5 | 2 | 3 | 20.0 | 54.03347 | 20.0 |  | false | true",
            "email | 2026-02-01 | 8 | 6 | 1 | 1 | 62.5 | 48.2283 | 38.88889 | 42.5 | false | true",
            "sms | 2026-01-01 | 40 | 10 | 10 | 20 | -25.0 | 25.69582 | -25.0 |  | false | false",
            "sms | 2026-02-01 | 40 | 30 | 5 | 5 | 62.5 | 21.56835 | 18.75 | 87.5 | true | false",
            "all | 2026-01-01 | 50 | 15 | 12 | 23 | -16.0 | 23.75404 | -16.0 |  | false | false",
            "all | 2026-02-01 | 48 | 36 | 6 | 6 | 62.5 | 19.68912 | 22.44898 | 78.5 | true | false",
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
