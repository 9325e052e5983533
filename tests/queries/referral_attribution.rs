//! Referral attribution (issue 9 point 6) on a fixture worked out by hand.
//!
//! Customers: A (the referrer, signed up 2025-12-01), B (2026-01-05),
//! C (2025-11-01, already a customer when invited), D (2026-01-20).
//! A's invites, all by email, in January 2026 (UTC):
//!   R1 -> B  sent Jan 5 10:00, first purchase Jan 12 10:00
//!   R2 -> B  sent Jan 8, first purchase Jan 12 (the same purchase again)
//!   R3 -> C  sent Jan 6, "first purchase" Jan 15: C was a customer already
//!   R4 -> D  sent Jan 9, signed up Jan 20, no purchase
//!   R5 -> an email address only, sent Jan 31, nothing yet
//! B counts once, under R1 (the earliest invite that converted); R3 brought
//! nobody in. January: 5 invites; clicks 4 (R1-R4: a later step implies
//! the click); signups 2 (R1, R4); first purchases 1 (R1), 7 days after
//! the invite.
//!
//! Orders: B Jan 5 08:00 100 (before R1 was sent: not referred revenue),
//! B Jan 12 40, B Feb 10 60, B Mar 5 500 (after the run date, 2026-02-28),
//! C Jan 15 70. Referred revenue of R1: 40 + 60 = 100.
//!
//! Active customers in January (a counted order in Feb 2025 .. Jan 2026):
//! B and C = 2. k-factor = (5 invites / 2) x (1 / 5) = 0.5.
//! With referral_window_days 30, invites after Jan 29 are immature: R5;
//! January's last day is not 30 days before Feb 28: not mature yet.
//!
//! Scorecard, January: new customers B, D, both referred (rate 1.0);
//! revenue 100 + 40 + 70 = 210, of it referred (B since R1) 40:
//! share 40 / 210 = 0.190476. February: 60 of 60.

use crate::common::{Project, assert_exit, lines};

fn project() -> Project {
    let p = Project::new();
    p.repo_config(
        r#"vars: { referral_window_days: 30 }
sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: orders
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: who, ordered_at: at, amount: amount }
  - name: invites
    entity: referrals
    format: csv
    path: referrals.csv
    columns:
      referral_id: id
      referrer_customer_id: referrer
      channel: channel
      invited_at: invited
      signed_up_at: signed_up
      referee_customer_id: referee
      referee_email: email
      converted_at: converted
"#,
    );
    p.land(
        "customers.csv",
        "id,signup\nA,2025-12-01\nB,2026-01-05\nC,2025-11-01\nD,2026-01-20\n",
    );
    p.land(
        "orders.csv",
        "id,who,at,amount\n\
         O1,B,2026-01-05T08:00:00Z,100\n\
         O2,B,2026-01-12T12:00:00Z,40\n\
         O3,B,2026-02-10T12:00:00Z,60\n\
         O4,B,2026-03-05T12:00:00Z,500\n\
         O5,C,2026-01-15T12:00:00Z,70\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,channel,invited,signed_up,referee,email,converted\n\
         R1,A,email,2026-01-05T10:00:00Z,,B,,2026-01-12T10:00:00Z\n\
         R2,A,email,2026-01-08T10:00:00Z,,B,,2026-01-12T10:00:00Z\n\
         R3,A,email,2026-01-06T10:00:00Z,,C,,2026-01-15T10:00:00Z\n\
         R4,A,email,2026-01-09T10:00:00Z,2026-01-20T10:00:00Z,D,,\n\
         R5,A,email,2026-01-31T10:00:00Z,,,friend@example.com,\n",
    );
    p
}

#[test]
fn each_referee_counts_once_and_only_for_what_the_invite_brought() {
    let p = project();
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-02-28"]),
        0,
    );
    let funnel = p.query(
        "reports/referral_conversion",
        "SELECT CAST(period_start AS VARCHAR) AS start, invites, clicks, signups, first_purchases, \
         median_days_to_convert, p90_days_to_convert, referred_revenue, active_customers, \
         invites_per_active_customer, viral_coefficient, immature_invites, conversion_mature, \
         period_complete FROM t WHERE channel = 'all'",
    );
    assert_eq!(
        lines(&funnel)[1..],
        ["2026-01-01 | 5 | 4 | 2 | 1 | 7.0 | 7.0 | 100.0 | 2 | 2.5 | 0.5 | 1 | false | true"]
    );
    let referred = p.query(
        "reports/customer_clv",
        "SELECT customer_id, referred FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&referred)[1..],
        ["A | false", "B | true", "C | false", "D | true"]
    );
    let months = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, new_customers, referred_new_customers, referral_rate, \
         revenue, referred_revenue, round(referred_revenue_share, 6) AS share FROM t \
         WHERE month >= DATE '2026-01-01' ORDER BY month",
    );
    assert_eq!(
        lines(&months)[1..],
        [
            "2026-01-01 | 2 | 2 | 1.0 | 210.0 | 40.0 | 0.190476",
            "2026-02-01 | 0 | 0 |  | 60.0 | 60.0 | 1.0",
        ]
    );
    // The referrer is credited with one converted referral, not three.
    let advocate = p.query(
        "reports/advocates",
        "SELECT referrals_made, referrals_converted FROM t WHERE customer_id = 'A'",
    );
    assert_eq!(lines(&advocate)[1..], ["5 | 1"]);
}

/// Issue 28, points 1 and 2, worked out by hand. Run date 2026-04-30.
///
/// Customers (CRM, with e-mail): A (the referrer, since 2025-12-01), E
/// (since 2026-01-10, e@example.com), F (2026-03-15), G (2026-03-20,
/// g@example.com), H (2026-04-15), P1-P3 (2025). Orders: A Feb 1, E Jan 15
/// and Mar 10, F Mar 16, G Mar 21, P1-P3 Feb 2: in March, A, E, F, G and
/// P1-P3 are the 7 active customers.
///
/// March invites, all from A:
///   R1 -> F by id: clicked, signed up Mar 15, first purchase Mar 16
///   R2 -> e@example.com only: clicked, "purchase" Mar 10; E has been a
///         customer since January: no win, whichever way E is known
///   R3 -> g@example.com only: clicked, nothing more
///   R4 -> G by id: clicked, signed up Mar 20, first purchase Mar 21; G is
///         R3's referee too (the CRM knows g@example.com as G): one
///         referee, attributed to R4, the invite that led somewhere
///   R5 -> x@example.com: clicked;  R6 -> y@example.com: nothing
/// March: 6 invites, 5 clicks, 2 signups (R1, R4), 2 first purchases;
/// conversion 2/6 = 1/3; k-factor (6/7) x (2/6) = 2/7. Counting E as a win
/// and G twice gave 3 and 3, 1/2 and 3/7.
///
/// April: R7 -> H by id Apr 2, nothing; R8 -> H by id Apr 9, signed up
/// Apr 15, no purchase. H is attributed to R8 (the earliest invite with a
/// signup), so April shows 2 invites, 1 click, 1 signup, 0 purchases, and
/// the scorecard's one referred new customer in April is that signup.
fn won_and_lost_referrals() -> Project {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, email: email, signup_date: signup }
  - name: orders
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: who, ordered_at: at, amount: amount }
  - name: invites
    entity: referrals
    format: csv
    path: referrals.csv
    columns:
      referral_id: id
      referrer_customer_id: referrer
      channel: channel
      invited_at: invited
      clicked_at: clicked
      signed_up_at: signed_up
      referee_customer_id: referee
      referee_email: email
      converted_at: converted
"#,
    );
    p.land(
        "customers.csv",
        "id,email,signup\nA,a@example.com,2025-12-01\nE,e@example.com,2026-01-10\n\
         F,f@example.com,2026-03-15\nG,g@example.com,2026-03-20\nH,h@example.com,2026-04-15\n\
         P1,,2025-06-01\nP2,,2025-06-01\nP3,,2025-06-01\n",
    );
    p.land(
        "orders.csv",
        "id,who,at,amount\n\
         O1,A,2026-02-01T12:00:00Z,10\nO2,E,2026-01-15T12:00:00Z,10\n\
         O3,E,2026-03-10T12:00:00Z,10\nO4,F,2026-03-16T12:00:00Z,10\n\
         O5,G,2026-03-21T12:00:00Z,10\nO6,P1,2026-02-02T12:00:00Z,10\n\
         O7,P2,2026-02-02T12:00:00Z,10\nO8,P3,2026-02-02T12:00:00Z,10\n",
    );
    p.land(
        "referrals.csv",
        "id,referrer,channel,invited,clicked,signed_up,referee,email,converted\n\
         R1,A,email,2026-03-02T10:00:00Z,2026-03-03T10:00:00Z,2026-03-15T10:00:00Z,F,,2026-03-16T12:00:00Z\n\
         R2,A,email,2026-03-03T10:00:00Z,2026-03-04T10:00:00Z,,,e@example.com,2026-03-10T12:00:00Z\n\
         R3,A,email,2026-03-05T10:00:00Z,2026-03-06T10:00:00Z,,,g@example.com,\n\
         R4,A,email,2026-03-12T10:00:00Z,2026-03-13T10:00:00Z,2026-03-20T10:00:00Z,G,,2026-03-21T12:00:00Z\n\
         R5,A,email,2026-03-14T10:00:00Z,2026-03-15T10:00:00Z,,,x@example.com,\n\
         R6,A,email,2026-03-20T10:00:00Z,,,,y@example.com,\n\
         R7,A,email,2026-04-02T10:00:00Z,,,H,,\n\
         R8,A,email,2026-04-09T10:00:00Z,,2026-04-15T10:00:00Z,H,,\n",
    );
    p
}

#[test]
fn existing_customers_known_by_email_are_no_win_and_the_invite_that_led_somewhere_counts() {
    let p = won_and_lost_referrals();
    assert_exit(
        &p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-04-30"]),
        0,
    );
    let funnel = p.query(
        "reports/referral_conversion",
        "SELECT CAST(period_start AS VARCHAR) AS start, invites, clicks, signups, first_purchases, \
         round(invite_conversion_rate, 6) AS conversion, active_customers, \
         round(viral_coefficient, 6) AS k FROM t WHERE channel = 'all' ORDER BY period_start",
    );
    assert_eq!(
        lines(&funnel)[1..],
        [
            "2026-03-01 | 6 | 5 | 2 | 2 | 0.333333 | 7 | 0.285714",
            "2026-04-01 | 2 | 1 | 1 | 0 | 0.0 | 7 | 0.0"
        ]
    );
    let months = p.query(
        "reports/advocacy_scorecard",
        "SELECT CAST(month AS VARCHAR) AS m, new_customers, referred_new_customers FROM t \
         WHERE month >= DATE '2026-03-01' ORDER BY month",
    );
    assert_eq!(
        lines(&months)[1..],
        ["2026-03-01 | 2 | 2", "2026-04-01 | 1 | 1"]
    );
    // A is credited with two converted referrals, not three.
    let advocate = p.query(
        "reports/advocates",
        "SELECT referrals_made, referrals_converted FROM t WHERE customer_id = 'A'",
    );
    assert_eq!(lines(&advocate)[1..], ["8 | 2"]);
}
