//! `advocates`, `advocate_cohorts` and `detractor_followups` on customers
//! built to hit each scoring and persona rule; every expected value is
//! worked out by hand next to the assertion (default weights 25 promoter,
//! 20 reviews, 15 social, 15 community, 25 referrals; cap 3; advocate from 40).

use crate::common::{Project, assert_exit, lines};

fn project() -> Project {
    project_with("detractor_lookback_days: 120")
}

/// The fixture run at 2026-06-30 with these `vars` (YAML mapping entries).
fn project_with(vars: &str) -> Project {
    let p = Project::new();
    p.repo_config(&format!(
        r#"vars: {{ {vars} }}
sources:
  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns: {{ customer_id: id, signup_date: signup }}
  - name: ids
    entity: identities
    format: csv
    path: identities.csv
    columns: {{ customer_id: id, kind: kind, value: value }}
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: {{ response_id: id, customer_id: cid, responded_at: at, score: score, comment: comment }}
  - name: google
    entity: reviews
    format: csv
    path: reviews.csv
    columns: {{ review_id: id, site: {{ value: google }}, rating: stars, published_at: at, author_name: name }}
  - name: x
    entity: social_activity
    format: csv
    path: x.csv
    columns: {{ event_id: id, platform: {{ value: x }}, handle: user, event_type: type, occurred_at: at, followers: followers, sentiment: sentiment }}
  - name: forum
    entity: social_activity
    format: csv
    path: forum.csv
    columns: {{ event_id: id, platform: {{ value: community }}, handle: user, event_type: type, occurred_at: at }}
  - name: refer
    entity: referrals
    format: csv
    path: referrals.csv
    columns: {{ referral_id: id, referrer_customer_id: referrer, invited_at: invited, referee_customer_id: referee, converted_at: converted }}
"#
    ));
    p.land(
        "customers.csv",
        "id,signup\nA1,2025-01-01\nA2,2026-01-01\nA3,2024-01-01\nA4,2026-05-01\nN1,2025-06-01\n\
         N2,2025-06-01\nD1,2025-06-01\nD2,2025-06-01\nR1,2026-02-20\nR2,2026-05-24\n",
    );
    p.land(
        "identities.csv",
        "id,kind,value\nA1,community,ann\nA2,x,@bigvoice\nA3,review_name,Cara V.\nA4,x,dana\nA4,review_name,Dana\nN2,x,ned\n",
    );
    p.land(
        "nps.csv",
        "id,cid,at,score,comment\n\
         n1,A1,2026-03-01,10,\n\
         n2,A2,2026-04-05,9,\n\
         n3,A3,2026-02-01,10,\n\
         n4,A4,2026-05-10,9,Add dark mode\n\
         n5,A4,2026-05-20,10,Beta looks great\n\
         n6,N1,2026-03-01,10,\n\
         n7,N2,2026-01-05,10,\n\
         n8,N2,2026-04-01,3,Prices went up\n\
         n9,D1,2026-05-01,8,\n\
         n10,D1,2026-06-10,6,Slow delivery\n\
         n11,D2,2026-01-01,2,Too old to follow up\n",
    );
    p.land(
        "reviews.csv",
        "id,stars,at,name\ng1,5,2026-02-10,Cara V.\ng2,4,2026-02-20,Cara V.\ng3,5,2026-05-15,Dana\n",
    );
    p.land(
        "x.csv",
        "id,user,type,at,followers,sentiment\n\
         x1,bigvoice,mention,2026-04-01,5000,\nx2,bigvoice,mention,2026-04-02,5000,\nx3,bigvoice,repost,2026-04-03,5000,\n\
         x4,dana,mention,2026-05-12,10,positive\n\
         x5,ned,mention,2026-01-06,50,\nx6,ned,mention,2026-01-07,50,\nx7,ned,mention,2026-01-08,50,\n\
         x8,dana,mention,2026-06-01,10,Negative\nx9,dana,repost,2026-06-02,10,-0.4\n",
    );
    p.land(
        "forum.csv",
        "id,user,type,at\nc1,ann,answer,2026-03-05\nc2,ann,answer,2026-03-10\nc3,ann,accepted_answer,2026-03-15\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,invited,referee,converted\nf1,A3,2026-02-15,R1,2026-02-25\nf2,A4,2026-05-22,R2,2026-05-25\n",
    );
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-06-30"]),
        0,
    );
    p
}

#[test]
fn scores_personas_and_first_qualification() {
    let p = project();
    // A1: promoter (25) + 3 community answers (15) = 40 from Mar 15 (35 on
    //     Mar 10): educator (3 answers).
    // A2: 3 mentions/reposts (15) + promoter from Apr 5 (25) = 40: reach 5000,
    //     3 shares: status_seeker.
    // A3: promoter (25) + 2 positive reviews (20 * 2/3) + 1 converted
    //     referral (25/3) = 46.6667 from Feb 25: 130 weeks a customer and a
    //     promoter: validator.
    // A4: promoter (25) + 1 mention (5) + 1 review (6.6667) + 1 referral
    //     (8.3333) = 45 from May 25; 2 answers with feedback, 8 weeks a
    //     customer, 10 followers: collaborator. Dana's June mention scored
    //     "Negative" and repost scored -0.4 are complaints, not advocacy:
    //     still 1 social signal and 45 (counted, they would make 3 and 55).
    // N1: promoter only, 25: not an advocate.
    // N2: 40 on Jan 8 (promoter + 3 mentions), then a 3 on Apr 1: 15 now,
    //     not an advocate, but first qualified on Jan 8.
    let advocates = p.query(
        "reports/advocates",
        "SELECT customer_id, latest_nps, is_promoter, feedback_given, positive_reviews, mentions + shares AS social, \
         community_answers + accepted_answers AS community, referrals_made, referrals_converted, social_reach, \
         round(advocacy_score, 4) AS score, is_advocate, persona, CAST(first_qualified_date AS VARCHAR) AS first \
         FROM t WHERE customer_id IN ('A1', 'A2', 'A3', 'A4', 'N1', 'N2') ORDER BY customer_id",
    );
    assert_eq!(
        lines(&advocates)[1..],
        [
            "A1 | 10 | true | 0 | 0 | 0 | 3 | 0 | 0 | 0 | 40.0 | true | educator | 2026-03-15",
            "A2 | 9 | true | 0 | 0 | 3 | 0 | 0 | 0 | 5000 | 40.0 | true | status_seeker | 2026-04-05",
            "A3 | 10 | true | 0 | 2 | 0 | 0 | 1 | 1 | 0 | 46.6667 | true | validator | 2026-02-25",
            "A4 | 10 | true | 2 | 1 | 1 | 0 | 1 | 1 | 10 | 45.0 | true | collaborator | 2026-05-25",
            "N1 | 10 | true | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 25.0 | false |  |",
            "N2 | 3 | false | 1 | 0 | 3 | 0 | 0 | 0 | 50 | 15.0 | false |  | 2026-01-08",
        ]
    );
    // The best-customer flag is the top CLV decile, never the advocate flag.
    let flags = p.query(
        "reports/advocates",
        "SELECT count(*) AS n FROM t WHERE best_customer <> COALESCE(clv_decile = 10, false)",
    );
    assert_eq!(lines(&flags)[1..], ["0"]);
}

#[test]
fn cohorts_follow_first_qualification() {
    let p = project();
    // Cohorts by month of first qualification, months since up to June;
    // active = still an advocate as of the month's end (signals of the last
    // 365 days, all of them here):
    //   2026-01 N2: 40 from Jan 8 until the 3 on Apr 1 (score 15): active
    //           Jan, Feb, Mar; not Apr, May, Jun.
    //   2026-02 A3, 2026-03 A1, 2026-04 A2, 2026-05 A4: their scores never
    //           drop: active every month to June.
    let cohorts = p.query(
        "reports/advocate_cohorts",
        "SELECT CAST(cohort_month AS VARCHAR) AS cohort, months_since, cohort_size, active_advocates, retention_rate \
         FROM t ORDER BY cohort_month, months_since",
    );
    let expected: Vec<String> = [
        ("2026-01-01", [1, 1, 1, 0, 0, 0].as_slice()),
        ("2026-02-01", [1, 1, 1, 1, 1].as_slice()),
        ("2026-03-01", [1, 1, 1, 1].as_slice()),
        ("2026-04-01", [1, 1, 1].as_slice()),
        ("2026-05-01", [1, 1].as_slice()),
    ]
    .iter()
    .flat_map(|(cohort, active)| {
        active.iter().enumerate().map(move |(since, a)| {
            format!(
                "{cohort} | {since} | 1 | {a} | {}",
                if *a == 1 { "1.0" } else { "0.0" }
            )
        })
    })
    .collect();
    assert_eq!(lines(&cohorts)[1..], expected[..]);
}

fn cohort_rows(p: &Project) -> Vec<String> {
    let cohorts = p.query(
        "reports/advocate_cohorts",
        "SELECT CAST(cohort_month AS VARCHAR) AS cohort, months_since, active_advocates \
         FROM t ORDER BY cohort_month, months_since",
    );
    lines(&cohorts)[1..].to_vec()
}

fn active_by_month(p: &Project) -> Vec<String> {
    let months = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, active_advocates FROM t WHERE month >= DATE '2026-01-01' ORDER BY month",
    );
    lines(&months)[1..].to_vec()
}

/// "Active advocates" in a month are those who are advocates as of its
/// end, not whoever showed a signal in it: with the default 365-day window
/// January has N2; February N2 and A3; March N2, A3 and A1 (A3 said
/// nothing in March and still counts); April A3, A1, A2 (N2's 3 on Apr 1
/// made it 15); May and June A3, A1, A2, A4.
#[test]
fn active_advocates_are_advocates_as_of_the_month() {
    let p = project();
    assert_eq!(
        active_by_month(&p),
        [
            "2026-01-01 | 1",
            "2026-02-01 | 2",
            "2026-03-01 | 3",
            "2026-04-01 | 3",
            "2026-05-01 | 4",
            "2026-06-01 | 4",
        ]
    );
}

/// Advocacy expires: with advocate_window_days 30, a month end counts the
/// signals of the 30 days to it (day d counts at p when p - 30 < d <= p).
///   N2 (Jan 5..8, 40 on Jan 8): active at Jan 31; by Feb 28 all expired.
///   A3 (Feb 1..25, 46.67 on Feb 25): active at Feb 28; nothing by Mar 31.
///   A1 (NPS 10 on Mar 1, answers Mar 5, 10, 15: 40 on Mar 15): at Mar 31
///      the Mar 1 answer is 30 days old and out, 15 points: not active even
///      in its own month.
///   A2 (Apr 1..5): active at Apr 30, not at May 31.
///   A4 (May 10..25): active at May 31; at Jun 30 only the June complaints
///      are left, which are not advocacy.
/// Nobody is an advocate on Jun 30, yet every first qualification stays.
#[test]
fn advocacy_signals_expire_after_the_window() {
    let p = project_with("detractor_lookback_days: 120, advocate_window_days: 30");
    let rows = cohort_rows(&p);
    let expected: Vec<String> = [
        ("2026-01-01", [1, 0, 0, 0, 0, 0].as_slice()),
        ("2026-02-01", [1, 0, 0, 0, 0].as_slice()),
        ("2026-03-01", [0, 0, 0, 0].as_slice()),
        ("2026-04-01", [1, 0, 0].as_slice()),
        ("2026-05-01", [1, 0].as_slice()),
    ]
    .iter()
    .flat_map(|(cohort, active)| {
        active
            .iter()
            .enumerate()
            .map(move |(since, a)| format!("{cohort} | {since} | {a}"))
    })
    .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        active_by_month(&p),
        [
            "2026-01-01 | 1",
            "2026-02-01 | 1",
            "2026-03-01 | 0",
            "2026-04-01 | 1",
            "2026-05-01 | 1",
            "2026-06-01 | 0",
        ]
    );
    let today = p.query(
        "reports/advocates",
        "SELECT count(*) FILTER (WHERE is_advocate) AS advocates, \
         count(first_qualified_date) AS qualified FROM t",
    );
    assert_eq!(lines(&today)[1..], ["0 | 5"]);
}

#[test]
fn detractors_to_follow_up() {
    let p = project();
    // Latest answers below 7 within 120 days of June 30: D1 (6 on Jun 10,
    // history 8 6) and N2 (3 on Apr 1, history 10 3). D2's 2 is from
    // January, too old. No predicted CLV here: most recent first.
    let followups = p.query(
        "reports/detractor_followups",
        "SELECT customer_id, score, comment, score_history, responses FROM t",
    );
    assert_eq!(
        lines(&followups)[1..],
        [
            "D1 | 6 | Slow delivery | 8 6 | 2",
            "N2 | 3 | Prices went up | 10 3 | 2",
        ]
    );
}

/// Issue 28, point 3: the scorecard's advocates are a subset of its
/// customers. Seven customers, C7's CRM row quarantined (its signup date
/// is not a date): six customers. C1, C2 and C7 answer 10 on 2026-03-10;
/// with advocate_min_score 25 a promoter alone qualifies (weight 25).
/// March: 2 active advocates of 6 customers, share 1/3, as the advocates
/// report says (C1, C2); counting C7 read 3 of 6.
#[test]
fn the_scorecard_counts_only_advocates_who_are_customers() {
    let p = Project::new();
    p.repo_config(
        r#"vars: { advocate_min_score: 25 }
sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, customer_id: who, responded_at: at, score: score }
"#,
    );
    p.land(
        "customers.csv",
        "id,signup\nC1,2025-01-01\nC2,2025-01-01\nC3,2025-01-01\nC4,2025-01-01\n\
         C5,2025-01-01\nC6,2025-01-01\nC7,not a date\n",
    );
    p.land(
        "nps.csv",
        "id,who,at,score\nN1,C1,2026-03-10T12:00:00Z,10\nN2,C2,2026-03-10T12:00:00Z,10\n\
         N3,C7,2026-03-10T12:00:00Z,10\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-03-31"]);
    assert_exit(&out, 0);
    let march = p.query(
        "reports/advocacy_scorecard",
        "SELECT customers, active_advocates, round(advocate_share, 6) AS share FROM t \
         WHERE month = DATE '2026-03-01'",
    );
    assert_eq!(lines(&march)[1..], ["6 | 2 | 0.333333"]);
    let advocates = p.query(
        "reports/advocates",
        "SELECT customer_id FROM t WHERE is_advocate ORDER BY customer_id",
    );
    assert_eq!(lines(&advocates)[1..], ["C1", "C2"]);
}

/// Issue 28, point 6: a detractor's answer is dated in run.timezone, on the
/// report and on the page. An answer at 2026-05-19 23:00 UTC is 08:00 on
/// May 20 in Tokyo: the table says 2026-05-20, not the UTC day. The page's
/// tables are headed in words.
#[test]
fn a_detractor_answer_is_dated_in_the_run_time_zone() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, customer_id: who, responded_at: at, score: score }
"#,
    );
    let config = std::fs::read_to_string(p.path("config.yaml")).unwrap();
    p.write(
        "config.yaml",
        &config.replace("run: { ", "run: { timezone: Asia/Tokyo, "),
    );
    p.land("customers.csv", "id,signup\nC1,2025-01-01\n");
    p.land("nps.csv", "id,who,at,score\nN1,C1,2026-05-19T23:00:00Z,3\n");
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-05-31"]);
    assert_exit(&out, 0);
    let followups = p.query(
        "reports/detractor_followups",
        "SELECT customer_id, CAST(responded_date AS VARCHAR) AS day FROM t",
    );
    assert_eq!(lines(&followups)[1..], ["C1 | 2026-05-20"]);
    let page = std::fs::read_to_string(p.warehouse().join("reports/index.html")).unwrap();
    assert!(
        page.contains("2026-05-20"),
        "the page does not date the answer in Tokyo"
    );
    assert!(
        !page.contains("2026-05-19"),
        "the page dates the answer in UTC"
    );
    // Tables are headed by the columns' labels in models.yml, or their
    // names in words, never snake_case.
    for heading in [
        "<th>Customer</th>",
        "<th>Answered on</th>",
        "Predicted CLV</th>",
    ] {
        assert!(page.contains(heading), "no {heading} on the page");
    }
    assert!(!page.contains(">customer_id<"), "a snake_case heading");
    assert!(page.contains(">Rows read<"), "run_sources columns in words");
}

/// Issue 28, point 5: an export without a sentiment column has its posts'
/// texts scored offline (VADER, `sentiment_source` = 'lexicon'), and only
/// a positive mention is advocacy. C1 posts a praise, a complaint and a
/// plain statement: one mention counts (5 points with the default weights:
/// 15 x 1 / 3), where all three used to (15).
#[test]
fn a_complaint_without_a_sentiment_column_is_no_advocacy() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: { customer_id: cid, kind: { value: x }, value: handle }
  - name: posts
    entity: social_activity
    format: csv
    path: posts.csv
    columns: { event_id: id, platform: { value: x }, handle: user, event_type: { value: mention }, occurred_at: at, text: text }
"#,
    );
    p.land("customers.csv", "id,signup\nC1,2025-01-01\n");
    p.land("ids.csv", "cid,handle\nC1,@fan\n");
    p.land(
        "posts.csv",
        "id,user,at,text\n\
         p1,fan,2026-05-01,\"I love @shop, best purchase ever!\"\n\
         p2,fan,2026-05-02,\"Disappointed with @shop, item arrived damaged\"\n\
         p3,fan,2026-05-03,Ordered from @shop today\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-05-31"]);
    assert_exit(&out, 0);
    let scored = p.model_csv(
        "SELECT event_id, sentiment_source, sentiment_score >= 0.05 AS positive, \
         sentiment_score < 0 AS negative FROM int_social_authors ORDER BY event_id",
    );
    assert_eq!(
        scored[1..],
        [
            "p1,lexicon,true,false",
            "p2,lexicon,false,true",
            "p3,lexicon,false,false"
        ]
    );
    let advocate = p.query(
        "reports/advocates",
        "SELECT mentions, round(advocacy_score, 4) AS score FROM t WHERE customer_id = 'C1'",
    );
    assert_eq!(lines(&advocate)[1..], ["1 | 5.0"]);
}
