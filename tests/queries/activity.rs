//! Referral, review, social and identity reports on one small fixture whose
//! expected values are worked out by hand next to each assertion.

use crate::common::{Project, assert_exit, lines};

fn project() -> Project {
    let p = Project::new();
    p.repo_config(
        r#"vars:
  promoter_min: 9
  passive_min: 7
  nps_dimensions: channel
  nps_min_responses: 30
  nps_latest_answer_only: true
  counted_order_statuses: completed
sources:
  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: ids
    entity: identities
    format: csv
    path: identities.csv
    columns: { customer_id: id, kind: kind, value: value }
  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount, status: status }
  - name: refer
    entity: referrals
    format: csv
    path: referrals.csv
    columns:
      referral_id: id
      referrer_customer_id: referrer
      invited_at: invited
      channel: channel
      clicked_at: clicked
      signed_up_at: signed
      referee_customer_id: referee
      converted_at: converted
  - name: trustpilot
    entity: reviews
    format: json
    path: trustpilot.json
    records: /reviews
    columns: { review_id: id, site: { value: trustpilot }, rating: stars, published_at: at, author_name: name }
  - name: google
    entity: reviews
    format: csv
    path: google.csv
    columns: { review_id: id, site: { value: google }, rating: stars, published_at: at, author_name: name }
  - name: x
    entity: social_activity
    format: jsonl
    path: x.jsonl
    columns:
      event_id: id
      platform: { value: x }
      handle: user
      event_type: type
      occurred_at: at
      followers: followers
      likes: likes
      shares: shares
      competitor: competitor
  - name: forum
    entity: social_activity
    format: jsonl
    path: forum.jsonl
    columns: { event_id: id, platform: { value: community }, handle: user, event_type: kind, occurred_at: at, likes: likes }
"#,
    );
    p.land(
        "customers.csv",
        "id,signup\nC1,2025-12-01\nC2,2025-12-15\nC3,2026-01-10\nC4,2026-01-20\nC5,2026-02-05\n",
    );
    p.land(
        "identities.csv",
        "id,kind,value\nC1,x,@Ann_X\nC1,review_name,Ann B.\nC2,community,bob_c\nC2,email,bob@example.com\n\
         C4,x,zed\nC5,x,@Zed\nC4,review_name,Stranger\nC5,review_name,stranger\nC3,x,eve\n",
    );
    p.land(
        "orders.csv",
        "id,cid,at,amount,status\n\
         o1,C3,2026-01-12,100,completed\n\
         o2,C3,2026-02-01,50,completed\n\
         o3,C3,2026-02-03,30,refunded\n\
         o4,C4,2026-02-10,70,completed\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,invited,channel,clicked,signed,referee,converted\n\
         f1,C1,2026-01-01,email,2026-01-02,2026-01-10,C3,2026-01-12\n\
         f2,C1,2026-01-05,email,2026-01-06,2026-01-20,C4,2026-02-10\n\
         f3,C2,2026-01-07,whatsapp,2026-01-08,,,\n\
         f4,C2,2026-01-09,email,,,,\n\
         f5,C1,2026-02-02,email,,,,\n",
    );
    p.land(
        "trustpilot.json",
        r#"{"reviews": [
            {"id": "t1", "stars": 5, "at": "2026-01-10T10:00:00Z", "name": "Ann B."},
            {"id": "t2", "stars": 2, "at": "2026-01-20T10:00:00Z", "name": "Stranger"}
        ]}"#,
    );
    p.land(
        "google.csv",
        "id,stars,at,name\ng1,4,2026-01-15T10:00:00Z,Somebody\ng2,1,2026-02-01T10:00:00Z,ann b.\n",
    );
    p.land(
        "x.jsonl",
        r#"{"id":"s1","user":"ann_x","type":"mention","at":"2026-01-03T10:00:00Z","followers":100,"likes":5,"shares":1,"competitor":false}
{"id":"s2","user":"ann_x","type":"repost","at":"2026-01-04T10:00:00Z","followers":120,"likes":0,"shares":0,"competitor":false}
{"id":"s3","user":"zed","type":"mention","at":"2026-01-05T10:00:00Z","followers":1000,"likes":10,"shares":2,"competitor":false}
{"id":"s4","user":"zed","type":"mention","at":"2026-01-06T10:00:00Z","followers":1000,"likes":3,"shares":0,"competitor":true}
{"id":"s5","user":"ann_x","type":"reply","at":"2026-01-07T10:00:00Z","followers":120,"likes":1,"shares":0,"competitor":false}
"#,
    );
    p.land(
        "forum.jsonl",
        r#"{"id":"c1","user":"bob_c","kind":"answer","at":"2026-01-08T10:00:00Z","likes":4}
{"id":"c2","user":"bob_c","kind":"accepted_answer","at":"2026-01-09T10:00:00Z","likes":6}
{"id":"c3","user":"eve","kind":"post","at":"2026-01-10T10:00:00Z","likes":0}
{"id":"c4","user":"eve","kind":"mention","at":"2026-01-11T10:00:00Z","likes":3}
"#,
    );
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-03-01"]),
        0,
    );
    p
}

#[test]
fn reports_on_the_activity_fixture() {
    let p = project();

    // January invites f1..f4: clicks f1 f2 f3, signups f1 f2, purchases f1 f2
    // after 11 and 36 days: median 23.5, p90 = 11 + 0.9 * 25 = 33.5.
    // Revenue of C3 (100 + 50; the refund does not count) and C4 (70) = 220.
    // Active customers (a counted order in the twelve months to the
    // month's end): January C3 = 1, February C3 and C4 = 2. k-factor =
    // (invites / active) x (first purchases / invites): January
    // (4 / 1) x (2 / 4) = 2.0, email (3 / 1) x (2 / 3) = 2.0, whatsapp 0.
    // email: f1 f2 f4; whatsapp: f3. February: f5 only, k = 0.
    let referrals = p.query(
        "reports/referral_conversion",
        "SELECT channel, CAST(period_start AS VARCHAR) AS month, invites, clicks, signups, first_purchases, \
         round(click_rate, 5), round(signup_rate, 5), round(purchase_rate, 5), round(invite_conversion_rate, 5), \
         median_days_to_convert, p90_days_to_convert, referred_revenue, active_customers, round(viral_coefficient, 5) \
         FROM t ORDER BY channel, period_start",
    );
    assert_eq!(
        lines(&referrals)[1..],
        [
            "all | 2026-01-01 | 4 | 3 | 2 | 2 | 0.75 | 0.66667 | 1.0 | 0.5 | 23.5 | 33.5 | 220.0 | 1 | 2.0",
            "all | 2026-02-01 | 1 | 0 | 0 | 0 | 0.0 |  |  | 0.0 |  |  | 0.0 | 2 | 0.0",
            "email | 2026-01-01 | 3 | 2 | 2 | 2 | 0.66667 | 1.0 | 1.0 | 0.66667 | 23.5 | 33.5 | 220.0 | 1 | 2.0",
            "email | 2026-02-01 | 1 | 0 | 0 | 0 | 0.0 |  |  | 0.0 |  |  | 0.0 | 2 | 0.0",
            "whatsapp | 2026-01-01 | 1 | 1 | 0 | 0 | 1.0 | 0.0 |  | 0.0 |  |  | 0.0 | 1 | 0.0",
        ]
    );

    // January: trustpilot 5 and 2, google 4; February: google 1.
    let reviews = p.query(
        "reports/review_trends",
        "SELECT site, CAST(period_start AS VARCHAR) AS month, reviews, round(average_rating, 5), \
         round(positive_share, 5), round(negative_share, 5) FROM t ORDER BY site, period_start",
    );
    assert_eq!(
        lines(&reviews)[1..],
        [
            "all | 2026-01-01 | 3 | 3.66667 | 0.66667 | 0.33333",
            "all | 2026-02-01 | 1 | 1.0 | 0.0 | 1.0",
            "google | 2026-01-01 | 1 | 4.0 | 1.0 | 0.0",
            "google | 2026-02-01 | 1 | 1.0 | 0.0 | 1.0",
            "trustpilot | 2026-01-01 | 2 | 3.5 | 0.5 | 0.5",
        ]
    );

    // Reviews by "Ann B." and "ann b." match C1 through review_name; the x
    // handle ann_x matches C1's "@Ann_X"; bob_c matches C2 on community.
    // Ambiguous: "Stranger" (t2) is the review name of both C4 and C5, and
    // zed (s3, s4) their x handle: those three stay unmatched, given to
    // neither. eve is C3's x handle, not a community one: c3 stays unmatched
    // and is not ambiguous.
    let matched = p.query(
        "reports/identity_match",
        "SELECT source, entity, records, matched, unmatched, ambiguous, round(match_rate, 5) \
         FROM t ORDER BY source",
    );
    assert_eq!(
        lines(&matched)[1..],
        [
            "forum | social_activity | 4 | 2 | 2 | 0 | 0.5",
            "google | reviews | 2 | 1 | 1 | 0 | 0.5",
            "trustpilot | reviews | 2 | 1 | 1 | 1 | 0.5",
            "x | social_activity | 5 | 3 | 2 | 2 | 0.6",
        ]
    );

    // x, January: mentions s1 s3 (s4 is a competitor's), repost s2, reply s5.
    // Reach: ann_x at most 120 followers + zed 1000 = 1120. Engagements of
    // the same mentions and reposts: s1 6 + s2 0 + s3 12 = 18 (the reply's
    // like is not over the reach line), rate 18 / 1120 = 0.01607. Share of
    // voice 2 / 3. Authors: ann_x matched, zed not. community: answers c1 c2,
    // eve's post c3 and mention c4 (3 likes; no followers, so no reach);
    // bob_c matched, eve not; the forum tags no competitors, so no share of
    // voice, and its mention stays out of the 'all' share of voice too
    // (2 / 3, not 3 / 4). all: engagements 18 + 3 = 21, rate 21 / 1120 =
    // 0.01875.
    let social = p.query(
        "reports/social_engagement",
        "SELECT platform, mentions, shares_reposts, replies, answers, competitor_mentions, reach, engagements, \
         round(engagement_rate, 5), round(share_of_voice, 5), matched_authors, unmatched_authors \
         FROM t ORDER BY platform",
    );
    assert_eq!(
        lines(&social)[1..],
        [
            "all | 3 | 1 | 1 | 2 | 1 | 1120 | 21 | 0.01875 | 0.66667 | 2 | 2",
            "community | 1 | 0 | 0 | 2 | 0 | 0 | 3 |  |  | 1 | 1",
            "x | 2 | 1 | 1 | 0 | 1 | 1120 | 18 | 0.01607 | 0.66667 | 1 | 1",
        ]
    );
}
