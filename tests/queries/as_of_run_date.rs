//! Reports as of the run date, with days cut in `run.timezone` (issue 9
//! points 2 and 3), on a fixture worked out by hand below.
//!
//! run.timezone is America/Los_Angeles: UTC-8 in winter, UTC-7 from
//! 2026-03-08 02:00 (daylight saving time).
//!
//! Orders (all counted, no currency: the base currency):
//!   O1 C1 2025-12-31T23:30-08:00 (2026-01-01 07:30 UTC)  10  -> Dec 31
//!   O2 C1 2026-01-31T08:00-08:00 (16:00 UTC)              20  -> Jan 31
//!   O3 C1 2026-01-31T23:30-08:00 (2026-02-01 07:30 UTC)  30  -> Jan 31
//!   O4 C2 2026-03-09T00:30-07:00 (07:30 UTC)              40  -> Mar 9
//! Cut in UTC, O1 would be January's and O3 February's; in Los Angeles,
//! December has 10, January 50, February (a quiet month, still listed)
//! nothing and March 40. C1 bought on two local days
//! (Dec 31, Jan 31: frequency 1, recency 31 / 7 = 4.428571 weeks; in UTC
//! three days: Jan 1, Jan 31, Feb 1). At 2026-03-10 C1's age is 69 days,
//! 9.857143 weeks.
//!
//! Survey answers:
//!   N1 C1 2025-12-31T23:30-08:00  10  -> Wed Dec 31: week of Mon Dec 29,
//!      December, Q4 2025 (UTC: January, Q1 2026)
//!   N3 C2 2026-03-08T23:30-07:00   8  -> Sun Mar 8: week of Mon Mar 2 (UTC:
//!      Mar 9, the next week)
//!   N2 C1 2026-03-09T00:30-07:00   0  -> Mon Mar 9: week of Mar 9 (a fixed
//!      UTC-8 offset, ignoring the DST change, would give Sun Mar 8 23:30)
//!
//! Customers C1, C2 signed up 2025-12-01; C3 on 2026-03-09, through C1's
//! invite R1: sent 2026-02-01, clicked 2026-02-02, signed up and first
//! purchase on 2026-03-09 (local times). R2, C2's invite, is sent on
//! 2026-03-09. A review and a mention are published on 2026-03-09.
//!
//! A backfill at 2026-03-08 knows none of what happened on March 9: no C3,
//! no O4, no N2, no R2, R1 only clicked, no review or mention in March.

use crate::common::{Project, assert_exit, lines};

fn project() -> Project {
    let p = Project::new();
    let repo = env!("CARGO_MANIFEST_DIR");
    p.write(
        "config.yaml",
        &format!(
            r#"landing: landing
warehouse: warehouse
queries: {repo}/queries
run: {{ pii_salt: s, pii_salt_public: true, timezone: America/Los_Angeles }}
sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: {{ customer_id: id, signup_date: signup }}
  - name: orders
    entity: orders
    format: csv
    path: orders.csv
    columns: {{ order_id: id, customer_id: who, ordered_at: at, amount: amount }}
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: {{ response_id: id, customer_id: who, responded_at: at, score: score }}
  - name: invites
    entity: referrals
    format: csv
    path: referrals.csv
    columns:
      referral_id: id
      referrer_customer_id: referrer
      invited_at: invited
      clicked_at: clicked
      signed_up_at: signed_up
      referee_customer_id: referee
      converted_at: converted
  - name: reviews
    entity: reviews
    format: csv
    path: reviews.csv
    columns: {{ review_id: id, site: {{ value: google }}, rating: rating, published_at: at }}
  - name: social
    entity: social_activity
    format: csv
    path: social.csv
    columns: {{ event_id: id, platform: {{ value: x }}, handle: handle, event_type: kind, occurred_at: at }}
"#
        ),
    );
    p.land(
        "customers.csv",
        "id,signup\nC1,2025-12-01\nC2,2025-12-01\nC3,2026-03-09\n",
    );
    p.land(
        "orders.csv",
        "id,who,at,amount\n\
         O1,C1,2025-12-31T23:30:00-08:00,10\n\
         O2,C1,2026-01-31T08:00:00-08:00,20\n\
         O3,C1,2026-01-31T23:30:00-08:00,30\n\
         O4,C2,2026-03-09T00:30:00-07:00,40\n",
    );
    p.land(
        "nps.csv",
        "id,who,at,score\n\
         N1,C1,2025-12-31T23:30:00-08:00,10\n\
         N3,C2,2026-03-08T23:30:00-07:00,8\n\
         N2,C1,2026-03-09T00:30:00-07:00,0\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,invited,clicked,signed_up,referee,converted\n\
         R1,C1,2026-02-01 10:00:00,2026-02-02 10:00:00,2026-03-09 09:00:00,C3,2026-03-09 12:00:00\n\
         R2,C2,2026-03-09 10:00:00,,,,\n",
    );
    p.land(
        "reviews.csv",
        "id,rating,at\nV1,5,2026-01-15T12:00:00Z\nV2,1,2026-03-09T12:00:00-07:00\n",
    );
    p.land(
        "social.csv",
        "id,handle,kind,at\nS1,ana,mention,2026-01-15T12:00:00Z\nS2,ana,mention,2026-03-09T12:00:00-07:00\n",
    );
    p
}

fn run(p: &Project, date: &str) {
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", date]),
        0,
    );
}

#[test]
fn days_are_cut_in_the_configured_time_zone() {
    let p = project();
    run(&p, "2026-03-10");
    let months = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, customers, revenue, period_complete FROM t ORDER BY month",
    );
    assert_eq!(
        lines(&months)[1..],
        [
            "2025-12-01 | 2 | 10.0 | true",
            "2026-01-01 | 2 | 50.0 | true",
            "2026-02-01 | 2 | 0.0 | true",
            "2026-03-01 | 3 | 40.0 | false",
        ]
    );
    let clv = p.query(
        "reports/customer_clv",
        "SELECT customer_id, orders, revenue, CAST(first_order_date AS VARCHAR) AS first, \
         frequency, round(recency_weeks, 6) AS recency, round(age_weeks, 6) AS age, referred \
         FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&clv)[1..],
        [
            "C1 | 3 | 60.0 | 2025-12-31 | 1.0 | 4.428571 | 9.857143 | false",
            "C2 | 1 | 40.0 | 2026-03-09 | 0.0 | 0.0 | 0.142857 | false",
            "C3 | 0 | 0.0 |  |  |  |  | true",
        ]
    );
    let nps = p.query(
        "reports/nps_trends",
        "SELECT period, CAST(period_start AS VARCHAR) AS start, responses, round(nps, 1) AS nps, \
         period_complete FROM t WHERE dimension = 'overall' ORDER BY period, period_start",
    );
    assert_eq!(
        lines(&nps)[1..],
        [
            "month | 2025-12-01 | 1 | 100.0 | true",
            "month | 2026-03-01 | 2 | -50.0 | false",
            "quarter | 2025-10-01 | 1 | 100.0 | true",
            "quarter | 2026-01-01 | 2 | -50.0 | false",
            "week | 2025-12-29 | 1 | 100.0 | true",
            "week | 2026-03-02 | 1 | 0.0 | true",
            "week | 2026-03-09 | 1 | -100.0 | false",
        ]
    );
}

#[test]
fn a_backfill_knows_nothing_after_its_date() {
    let p = project();
    // The later run first: the backfill must not keep anything of it. It
    // publishes its dated copies only (reports/ stays the later run's).
    run(&p, "2026-03-10");
    run(&p, "2026-03-08");
    let customers = p.query(
        "history/advocates/run_date=2026-03-08",
        "SELECT customer_id, round(tenure_weeks, 6) AS tenure FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&customers)[1..], ["C1 | 13.857143", "C2 | 13.857143"]);
    let months = p.query(
        "history/advocacy_scorecard/run_date=2026-03-08",
        "SELECT CAST(month AS VARCHAR) AS m, customers, new_customers, revenue, nps_responses, \
         period_complete FROM t ORDER BY month",
    );
    assert_eq!(
        lines(&months)[1..],
        [
            "2025-12-01 | 2 | 2 | 10.0 | 1 | true",
            "2026-01-01 | 2 | 0 | 50.0 | 0 | true",
            "2026-02-01 | 2 | 0 | 0.0 | 0 | true",
            "2026-03-01 | 2 | 0 | 0.0 | 1 | false",
        ]
    );
    // The week of Mar 2 ends on the run date: complete. N2 is not known.
    let weeks = p.query(
        "history/nps_trends/run_date=2026-03-08",
        "SELECT CAST(period_start AS VARCHAR) AS start, responses, period_complete FROM t \
         WHERE dimension = 'overall' AND period = 'week' ORDER BY period_start",
    );
    assert_eq!(
        lines(&weeks)[1..],
        ["2025-12-29 | 1 | true", "2026-03-02 | 1 | true"]
    );
    // R1 was clicked; its signup and first purchase happen on March 9. R2
    // is not sent yet.
    let funnel = p.query(
        "history/referral_conversion/run_date=2026-03-08",
        "SELECT CAST(period_start AS VARCHAR) AS start, invites, clicks, signups, first_purchases, \
         period_complete FROM t WHERE channel = 'all' ORDER BY period_start",
    );
    assert_eq!(lines(&funnel)[1..], ["2026-02-01 | 1 | 1 | 0 | 0 | true"]);
    let reviews = p.query(
        "history/review_trends/run_date=2026-03-08",
        "SELECT CAST(period_start AS VARCHAR) AS start, reviews FROM t WHERE site = 'all'",
    );
    assert_eq!(lines(&reviews)[1..], ["2026-01-01 | 1"]);
    let social = p.query(
        "history/social_engagement/run_date=2026-03-08",
        "SELECT CAST(period_start AS VARCHAR) AS start, mentions FROM t WHERE platform = 'all'",
    );
    assert_eq!(lines(&social)[1..], ["2026-01-01 | 1"]);
    // The dated copy of the backfill holds the same rows as the report.
    let history = p.query(
        "history/advocates/run_date=2026-03-08",
        "SELECT count(*) AS n FROM t",
    );
    assert_eq!(lines(&history)[1..], ["2"]);
}
