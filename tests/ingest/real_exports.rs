//! Real exports as they come (issue 10), mapped with the config alone:
//! line-item orders, keys built by SQL, row filters, header and footer
//! rows, API pages with lookups, and keys that are email addresses. Each
//! fixture is written for these tests in the shape of a public export, and
//! every count and sum below is worked out by hand in the comments.

use crate::common;

use crate::common::counts::assert_counts;
use crate::common::{Project, assert_exit, lines};
use sha2::{Digest, Sha256};

/// An email's hash under `salt` (`repo_config` salts with "s").
fn hash(salt: &str, email: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}{email}")))
}

/// A UCI "Online Retail"-shaped export: one row per line item, amount =
/// quantity x unit price, cancellations are invoices starting with C.
///
/// Lines (file rows 2..11):
///   700001: rows 2, 3, 10: 6 x 2.50 + 4 x 3.25 + 2 x 7.75 = 15 + 13 + 15.5 = 43.5
///   700002: rows 4, 7:     8 x 1.25 + 3 x 0.50            = 10 + 1.5      = 11.5
///   C700003: rows 5, 9: a cancellation, filtered out: 2 skipped
///   700004: rows 6, 8: row 6's quantity is "six": the whole order (2 lines)
///           is quarantined, never loaded as row 8's 2 x 2.10 = 4.2 alone
///   700005: row 11:        5 x 4.00                       = 20
/// read 10 = loaded 6 (3 orders) + quarantined 2 + skipped 2.
#[test]
fn line_item_exports_load_one_order_per_invoice_with_the_summed_amount() {
    let p = Project::new();
    p.config(
        r#"  - name: retail
    entity: orders
    format: csv
    path: retail.csv
    filter: "\"InvoiceNo\" NOT LIKE 'C%'"
    line_items: { amount: sum }
    columns:
      order_id: InvoiceNo
      customer_id: CustomerID
      ordered_at: { from: InvoiceDate, format: "%m/%d/%y %H:%M" }
      amount: { sql: "CAST(\"Quantity\" AS DOUBLE) * CAST(\"UnitPrice\" AS DOUBLE)" }
"#,
    );
    p.land(
        "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
         700001,A100,PAPER LANTERN,6,3/7/25 9:15,2.50,40001,Norway\n\
         700001,A200,TEA TOWEL,4,3/7/25 9:15,3.25,40001,Norway\n\
         700002,B310,ENAMEL MUG,8,3/7/25 10:02,1.25,40002,Norway\n\
         C700003,A100,PAPER LANTERN,-2,3/7/25 11:40,2.50,40001,Norway\n\
         700004,D400,CANDLE SET,six,3/8/25 8:00,1.25,40003,Norway\n\
         700002,B320,MUG LID,3,3/7/25 10:02,0.50,40002,Norway\n\
         700004,D410,WICK TRIMMER,2,3/8/25 8:00,2.10,40003,Norway\n\
         C700003,A200,TEA TOWEL,-1,3/7/25 11:40,3.25,40001,Norway\n\
         700001,A300,WOODEN SPOON,2,3/7/25 9:15,7.75,40001,Norway\n\
         700005,E500,LINEN APRON,5,3/9/25 14:30,4.00,40002,Norway\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "retail.csv", ["loaded", "10", "6", "2", "2"]);
    let orders = p.query(
        "raw/orders",
        "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR) AS at, amount, _row \
         FROM t ORDER BY order_id",
    );
    assert_eq!(
        lines(&orders)[1..],
        [
            "700001 | 40001 | 2025-03-07T09:15:00Z | 43.5 | 2",
            "700002 | 40002 | 2025-03-07T10:02:00Z | 11.5 | 4",
            "700005 | 40002 | 2025-03-09T14:30:00Z | 20.0 | 11",
        ]
    );
    let quarantined = p.query(
        "quarantine/retail",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    let rows = lines(&quarantined);
    assert_eq!(rows.len(), 3, "{quarantined}");
    for (row, line) in ["6", "8"].iter().zip(&rows[1..]) {
        assert!(
            line.starts_with(&format!("{row} | amount | order 700004: row 6: sql: "))
                && line.contains("six"),
            "{line}"
        );
    }
}

/// A Shopify-shaped orders export: one row per line item; the total,
/// status, currency and email only on an order's first row; no customer
/// id, only the email. Keyed by email, the orders join customers by email
/// hash, and no address is stored.
///
/// Rows 2..8: #1001 (rows 2-3, paid, 54.00), #1002 (row 4, paid, 18.50),
/// #1003 (rows 5-6, refunded, 40.00), #1004 (rows 7-8, total "abc": both
/// lines quarantined). read 7 = loaded 5 (3 orders) + quarantined 2.
/// Counted (completed) orders: #1001 for Jane (customer C1, whose email
/// the export spells Jane.Doe@Example.com) 54.0, #1002 for Bob (C2) 18.5.
#[test]
fn shopify_line_items_take_the_first_rows_values_and_email_keys_are_hashed() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, email: email, signup_date: signup }
  - name: shopify
    entity: orders
    format: csv
    path: shopify/orders_export.csv
    line_items: { amount: first }
    columns:
      order_id: Name
      customer_id: Email
      ordered_at: { from: Created at, format: "%Y-%m-%d %H:%M:%S %z" }
      amount: Total
      currency: Currency
      status: { from: Financial Status, values: { paid: completed } }
"#,
    );
    p.land(
        "customers.csv",
        "id,email,signup\nC1,jane.doe@example.com,2025-01-01\nC2,Bob@Example.org,2025-02-01\n",
    );
    p.land(
        "shopify/orders_export.csv",
        "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem name,Lineitem price\n\
         #1001,Jane.Doe@Example.com,paid,USD,54.00,2025-03-02 10:15:00 -0500,2,Sea Salt Soap,12.00\n\
         #1001,,,,,2025-03-02 10:15:00 -0500,1,Cedar Candle,30.00\n\
         #1002,bob@example.org,paid,USD,18.50,2025-03-03 09:00:00 -0500,1,Lip Balm,18.50\n\
         #1003,jane.doe@example.com,refunded,USD,40.00,2025-03-05 16:20:00 -0500,2,Bath Salts,20.00\n\
         #1003,,,,,2025-03-05 16:20:00 -0500,1,Gift Wrap,0.00\n\
         #1004,carol@example.net,paid,USD,abc,2025-03-06 12:00:00 -0500,1,Loofah,9.00\n\
         #1004,,,,,2025-03-06 12:00:00 -0500,1,Soap Dish,7.00\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-03-31"]);
    assert_exit(&out, 0);
    assert_counts(
        &out,
        &p,
        "shopify/orders_export.csv",
        ["loaded", "7", "5", "2", "0"],
    );
    let (jane, bob) = (
        hash("s", "jane.doe@example.com"),
        hash("s", "bob@example.org"),
    );
    let orders = p.query(
        "raw/orders",
        "SELECT order_id, customer_id, amount, currency, status, _row FROM t ORDER BY order_id",
    );
    assert_eq!(
        lines(&orders)[1..],
        [
            format!("#1001 | {jane} | 54.0 | USD | completed | 2"),
            format!("#1002 | {bob} | 18.5 | USD | completed | 4"),
            format!("#1003 | {jane} | 40.0 | USD | refunded | 5"),
        ]
    );
    let quarantined = p.query(
        "quarantine/shopify",
        "SELECT row, field FROM t ORDER BY row",
    );
    assert_eq!(lines(&quarantined)[1..], ["7 | amount", "8 | amount"]);
    let counted = p.model_csv(
        "SELECT order_id, customer_id, amount FROM int_completed_orders ORDER BY order_id",
    );
    assert_eq!(
        counted,
        [
            "order_id,customer_id,amount",
            "#1001,C1,54.0",
            "#1002,C2,18.5"
        ]
    );
    let text = p.warehouse_text().to_lowercase();
    for email in [
        "jane.doe@example.com",
        "bob@example.org",
        "carol@example.net",
    ] {
        assert!(!text.contains(email), "{email} found in the warehouse");
    }
}

/// Amazon-shaped reviews (JSONL) have no review id: the key is reviewer +
/// product, built by SQL, so a reviewer's two reviews both stay. The
/// rating (5.0 as a float) is cast by SQL too; "five" cannot be cast, and
/// that one record is quarantined with the expression's error.
#[test]
fn composite_keys_built_by_sql_keep_every_review() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: amazon
    entity: reviews
    format: jsonl
    path: amazon.jsonl
    columns:
      review_id: { sql: "\"reviewerID\" || '-' || \"asin\"" }
      site: { value: amazon }
      rating: { sql: "CAST(CAST(\"overall\" AS DOUBLE) AS BIGINT)" }
      published_at: unixReviewTime
      author_name: reviewerName
"#,
    );
    p.land(
        "amazon.jsonl",
        "{\"reviewerID\": \"A1X\", \"asin\": \"B0001\", \"overall\": 5.0, \"unixReviewTime\": 1740000000, \"reviewerName\": \"Ann\"}\n\
         {\"reviewerID\": \"A1X\", \"asin\": \"B0002\", \"overall\": 4.0, \"unixReviewTime\": 1740100000, \"reviewerName\": \"Ann\"}\n\
         {\"reviewerID\": \"A2Y\", \"asin\": \"B0001\", \"overall\": 2.0, \"unixReviewTime\": 1740200000, \"reviewerName\": \"Bo\"}\n\
         {\"reviewerID\": \"A3Z\", \"asin\": \"B0003\", \"overall\": \"five\", \"unixReviewTime\": 1740300000}\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2025-03-31"]);
    assert_exit(&out, 0);
    assert_counts(&out, &p, "amazon.jsonl", ["loaded", "4", "3", "1", "0"]);
    let staged = p.model_csv("SELECT review_id, rating FROM stg_reviews ORDER BY review_id");
    assert_eq!(
        staged,
        [
            "review_id,rating",
            "A1X-B0001,5",
            "A1X-B0002,4",
            "A2Y-B0001,2"
        ]
    );
    let quarantined = p.query("quarantine/amazon", "SELECT row, field, reason FROM t");
    let rows = lines(&quarantined);
    assert!(
        rows[1].starts_with("4 | rating | sql: ") && rows[1].contains("five"),
        "{quarantined}"
    );
}

/// A Trustpilot-webhook-shaped document: `{"events": [...]}` where only
/// `service-review-created` events are reviews. The filter skips the
/// deletion; a created review rated 9 is still quarantined (1..5).
/// read 3 = loaded 1 + quarantined 1 + skipped 1.
#[test]
fn a_filter_skips_the_records_it_is_not_true_for() {
    let p = Project::new();
    p.config(
        r#"  - name: trustpilot
    entity: reviews
    format: json
    path: webhook.json
    records: /events
    filter: "\"eventName\" = 'service-review-created'"
    columns:
      review_id: eventData.id
      site: { value: trustpilot }
      rating: eventData.stars
      published_at: eventData.createdAt
      author_name: eventData.consumer.displayName
"#,
    );
    p.land(
        "webhook.json",
        r#"{"events": [
            {"eventName": "service-review-created", "version": "1.0",
             "eventData": {"id": "r1", "stars": 5, "createdAt": "2025-03-01T10:00:00Z", "consumer": {"displayName": "Ann"}}},
            {"eventName": "service-review-deleted", "version": "1.0",
             "eventData": {"id": "r0", "stars": 1, "createdAt": "2025-03-01T11:00:00Z"}},
            {"eventName": "service-review-created", "version": "1.0",
             "eventData": {"id": "r2", "stars": 9, "createdAt": "2025-03-02T10:00:00Z"}}
        ]}"#,
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "webhook.json", ["loaded", "3", "1", "1", "1"]);
    let reviews = p.query(
        "raw/reviews",
        "SELECT review_id, rating, author_name, _row FROM t",
    );
    assert_eq!(lines(&reviews)[1..], ["r1 | 5 | Ann | 1"]);
    let quarantined = p.query("quarantine/trustpilot", "SELECT row, field FROM t");
    assert_eq!(lines(&quarantined)[1..], ["3 | rating"]);
}

/// A filter that fails for a record quarantines that record with the
/// expression's error, and the others are filtered as usual; a `sql:`
/// column reads a dotted JSON path. r1 (3 stars) passes, r2 (1 star) is
/// skipped, r3's stars "many" cannot be cast: read 3 = loaded 1 +
/// quarantined 1 + skipped 1.
#[test]
fn a_filter_that_fails_for_a_record_quarantines_it() {
    let p = Project::new();
    p.config(
        r#"  - name: trustpilot
    entity: reviews
    format: json
    path: webhook.json
    records: /events
    filter: "CAST(\"eventData.stars\" AS INT) >= 2"
    columns:
      review_id: { sql: "'tp-' || \"eventData.id\"" }
      site: { value: trustpilot }
      rating: eventData.stars
      published_at: eventData.createdAt
"#,
    );
    p.land(
        "webhook.json",
        r#"{"events": [
            {"eventData": {"id": "r1", "stars": 3, "createdAt": "2025-03-01T10:00:00Z"}},
            {"eventData": {"id": "r2", "stars": 1, "createdAt": "2025-03-01T11:00:00Z"}},
            {"eventData": {"id": "r3", "stars": "many", "createdAt": "2025-03-02T10:00:00Z"}}
        ]}"#,
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "webhook.json", ["loaded", "3", "1", "1", "1"]);
    let reviews = p.query("raw/reviews", "SELECT review_id, rating, _row FROM t");
    assert_eq!(lines(&reviews)[1..], ["tp-r1 | 3 | 1"]);
    let quarantined = p.query("quarantine/trustpilot", "SELECT row, reason FROM t");
    let rows = lines(&quarantined);
    assert_eq!(rows.len(), 2, "{quarantined}");
    assert!(
        rows[1].starts_with("3 | ") && rows[1].contains("filter") && rows[1].contains("many"),
        "{quarantined}"
    );
}

/// A Qualtrics-shaped response export: the header row of ids, then a row
/// of question labels and a row of ImportId JSON, which are skipped; an
/// anonymous answer (no email) loads; a score of 11 is quarantined.
/// read 5 = loaded 2 + quarantined 1 + skipped 2.
#[test]
fn rows_after_the_header_are_skipped_and_counted() {
    let p = Project::new();
    p.config(
        r#"  - name: qualtrics
    entity: nps_responses
    format: csv
    path: qualtrics.csv
    csv: { skip_after_header: 2 }
    columns:
      response_id: ResponseId
      email: RecipientEmail
      responded_at: EndDate
      score: Q1
      comment: Q2
"#,
    );
    p.land(
        "qualtrics.csv",
        "StartDate,EndDate,ResponseId,RecipientEmail,Q1_NPS_GROUP,Q1,Q2\n\
         Start Date,End Date,Response ID,Recipient Email,How likely - Group,\"How likely are you to recommend us to a friend, 0 to 10?\",Why?\n\
         \"{\"\"ImportId\"\":\"\"startDate\"\"}\",\"{\"\"ImportId\"\":\"\"endDate\"\"}\",\"{\"\"ImportId\"\":\"\"_recordId\"\"}\",\"{\"\"ImportId\"\":\"\"recipientEmail\"\"}\",\"{\"\"ImportId\"\":\"\"QID1_NPS_GROUP\"\"}\",\"{\"\"ImportId\"\":\"\"QID1\"\"}\",\"{\"\"ImportId\"\":\"\"QID2\"\"}\"\n\
         2025-03-01 10:00:00,2025-03-01 10:02:00,R_1abc,ann@example.com,Promoter,10,Great\n\
         2025-03-01 11:00:00,2025-03-01 11:05:00,R_2def,,Detractor,3,Slow\n\
         2025-03-02 09:00:00,2025-03-02 09:01:00,R_3ghi,,Passive,11,\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "qualtrics.csv", ["loaded", "5", "2", "1", "2"]);
    let answers = p.query(
        "raw/nps_responses",
        "SELECT response_id, score, _row FROM t ORDER BY _row",
    );
    assert_eq!(lines(&answers)[1..], ["R_1abc | 10 | 4", "R_2def | 3 | 5"]);
    let quarantined = p.query("quarantine/qualtrics", "SELECT row, field FROM t");
    assert_eq!(lines(&quarantined)[1..], ["6 | score"]);
}

/// A Salesforce-report-shaped CSV ends with a totals line, a blank line,
/// a confidentiality notice and a copyright line (whose comma is inside
/// quotes): all matched by `skip_matching` and counted as skipped, not
/// quarantined. read 5 = loaded 2 + skipped 3 (the blank line is no row).
#[test]
fn footer_lines_matching_a_pattern_are_skipped_and_counted() {
    let p = Project::new();
    p.config(
        r#"  - name: salesforce
    entity: customers
    format: csv
    path: accounts.csv
    csv: { skip_matching: "^(Grand Totals|Confidential Information|Copyright)" }
    columns:
      customer_id: Account ID
      email: Email
      signup_date: { from: Created Date, format: "%m/%d/%Y" }
"#,
    );
    p.land(
        "accounts.csv",
        "\"Account ID\",\"Account Name\",\"Email\",\"Created Date\"\n\
         \"001A\",\"Acme\",\"a@acme.io\",\"3/1/2025\"\n\
         \"001B\",\"Globex\",\"b@globex.io\",\"3/2/2025\"\n\
         \"Grand Totals (2 records)\"\n\
         \n\
         \"Confidential Information - Do Not Distribute\"\n\
         \"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved.\"\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "accounts.csv", ["loaded", "5", "2", "0", "3"]);
    let customers = p.query(
        "raw/customers",
        "SELECT customer_id, CAST(signup_date AS VARCHAR) FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&customers)[1..],
        ["001A | 2025-03-01", "001B | 2025-03-02"]
    );
}

/// X API v2 pages as twarc writes them: each JSONL line is a page whose
/// `data` holds tweets and whose `includes.users` holds their authors.
/// Rows count the file's records: t1, t2 (page 1), t3 (page 2), an empty
/// last page (row 4, skipped), t4 (page 4, row 5) whose author u9 is not
/// in its page: loaded without an author (`handle` is optional; a lookup
/// that finds nothing quarantines only a required field), so read 5 =
/// loaded 4 + skipped 1. t3's author has 1250 followers on its own page.
#[test]
fn api_pages_yield_one_row_per_tweet_with_the_authors_username() {
    let p = Project::new();
    p.config(
        r#"  - name: x
    entity: social_activity
    format: jsonl
    path: x/pages.jsonl
    records: /data
    columns:
      event_id: id
      platform: { value: x }
      handle: { from: author_id, lookup: { records: /includes/users, key: id, value: username } }
      followers: { from: author_id, lookup: { records: /includes/users, key: id, value: public_metrics.followers_count } }
      event_type: { value: post }
      occurred_at: created_at
      likes: public_metrics.like_count
      text: text
"#,
    );
    p.land(
        "x/pages.jsonl",
        concat!(
            r#"{"data":[{"id":"t1","text":"love it","author_id":"u1","created_at":"2025-03-01T10:00:00.000Z","public_metrics":{"like_count":3}},{"id":"t2","text":"meh","author_id":"u2","created_at":"2025-03-01T11:00:00.000Z"}],"includes":{"users":[{"id":"u1","username":"ann_x","public_metrics":{"followers_count":1200}},{"id":"u2","username":"bob_x","public_metrics":{"followers_count":45}}]},"meta":{"result_count":2}}"#,
            "\n",
            r#"{"data":[{"id":"t3","text":"again","author_id":"u1","created_at":"2025-03-02T09:00:00.000Z"}],"includes":{"users":[{"id":"u1","username":"ann_x","public_metrics":{"followers_count":1250}}]},"meta":{"result_count":1}}"#,
            "\n",
            r#"{"meta":{"result_count":0}}"#,
            "\n",
            r#"{"data":[{"id":"t4","text":"who?","author_id":"u9","created_at":"2025-03-02T10:00:00.000Z"}],"includes":{"users":[]}}"#,
            "\n"
        ),
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "x/pages.jsonl", ["loaded", "5", "4", "0", "1"]);
    let posts = p.query(
        "raw/social_activity",
        "SELECT event_id, handle, followers, likes, text, _row FROM t ORDER BY event_id",
    );
    assert_eq!(
        lines(&posts)[1..],
        [
            "t1 | ann_x | 1200 | 3 | love it | 1",
            "t2 | bob_x | 45 |  | meh | 2",
            "t3 | ann_x | 1250 |  | again | 3",
            "t4 |  |  |  | who? | 5",
        ]
    );
}

/// An expression that does not parse is a config error with the line and
/// column of the config and of the expression, shown by `validate`.
#[test]
fn an_expression_that_does_not_parse_is_a_config_error_with_line_and_column() {
    let p = Project::new();
    p.config(
        r#"  - name: retail
    entity: orders
    format: csv
    path: retail.csv
    columns:
      order_id: InvoiceNo
      customer_id: CustomerID
      ordered_at: InvoiceDate
      amount: { sql: "CAST(\"Quantity\" AS DOUBLE) *" }
"#,
    );
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    let err = common::stderr(&out);
    assert!(
        err.contains("sources[0].columns.amount") && err.contains("at line 13 column"),
        "{err}"
    );
    assert!(err.contains("Line: 1, Column: "), "{err}");
}

/// An order is loaded only when all its lines agree: in `sum` mode every
/// line needs an amount, and no line may give another value for a field
/// than an earlier line did (an empty one takes the earlier value).
///   A1: row 3 has no amount: rows 2-3 quarantined (never loaded as 10)
///   A2: row 5 names customer C3, row 4 C2: rows 4-5 quarantined
///   A3: row 7 has no customer (C1 from row 6): loaded, 7 + 8 = 15
/// read 6 = loaded 2 + quarantined 4.
#[test]
fn a_line_that_disagrees_or_lacks_its_amount_quarantines_its_order() {
    let p = Project::new();
    p.config(
        r#"  - name: lines
    entity: orders
    format: csv
    path: lines.csv
    line_items: { amount: sum }
    columns: { order_id: order, customer_id: customer, ordered_at: at, amount: amount }
"#,
    );
    p.land(
        "lines.csv",
        "order,customer,at,amount\n\
         A1,C1,2025-03-01T10:00:00Z,10\n\
         A1,C1,2025-03-01T10:00:00Z,\n\
         A2,C2,2025-03-01T11:00:00Z,5\n\
         A2,C3,2025-03-01T11:00:00Z,6\n\
         A3,C1,2025-03-02T09:00:00Z,7\n\
         A3,,2025-03-02T09:00:00Z,8\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "lines.csv", ["loaded", "6", "2", "4", "0"]);
    let orders = p.query(
        "raw/orders",
        "SELECT order_id, customer_id, amount, _row FROM t",
    );
    assert_eq!(lines(&orders)[1..], ["A3 | C1 | 15.0 | 6"]);
    let quarantined = p.query(
        "quarantine/lines",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    let a1 = "amount | order A1: row 3: no amount: every line of an order summed by `line_items` needs one";
    let a2 = "customer_id | order A2: row 5: \"C3\" differs from \"C2\" on an earlier line";
    assert_eq!(
        lines(&quarantined)[1..],
        [
            format!("2 | {a1}"),
            format!("3 | {a1}"),
            format!("4 | {a2}"),
            format!("5 | {a2}"),
        ]
    );
}

/// A lookup's array without the leading `/` is each record's own (issue
/// 29), so a pointer that lost its slash finds nothing there; the
/// warning says where the document's array would be.
#[test]
fn a_lookup_path_without_its_slash_is_read_in_each_record_and_the_warning_says_so() {
    let p = Project::new();
    p.config(
        r#"  - name: x
    entity: social_activity
    format: jsonl
    path: x.jsonl
    records: /data
    columns:
      event_id: id
      platform: { value: x }
      handle: { from: author_id, lookup: { records: includes/users, key: id, value: username } }
      event_type: { value: post }
      occurred_at: created_at
"#,
    );
    p.land(
        "x.jsonl",
        r#"{"data": [{"id": "1", "author_id": "9", "created_at": "2026-11-01T10:00:00Z"}], "includes": {"users": [{"id": "9", "username": "ana"}]}}
"#,
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "lookup records \"includes/users\" occurs in no record (a path without a leading '/' \
             is the record's own array; the document's is \"/includes/users\")"
        ),
        "{err}"
    );
}

/// Options that do not fit the source are config errors that `validate`
/// names, not surprises at 3 a.m.: `line_items` on reviews, a
/// `skip_matching` that is not a regular expression, `records` on CSV.
#[test]
fn options_that_do_not_fit_the_source_are_config_errors() {
    let cases = [
        (
            r#"  - name: shop
    entity: reviews
    format: csv
    path: r.csv
    line_items: { amount: sum }
    columns: { review_id: id, site: { value: g }, rating: stars, published_at: at }
"#,
            "source shop: `line_items` applies to orders, not reviews",
        ),
        (
            r#"  - name: sf
    entity: customers
    format: csv
    path: c.csv
    csv: { skip_matching: "^(Grand Totals" }
    columns: { customer_id: id }
"#,
            "source sf: csv.skip_matching is not a regular expression",
        ),
        (
            r#"  - name: flat
    entity: customers
    format: csv
    path: c.csv
    records: /data
    columns: { customer_id: id }
"#,
            "source flat: `records` needs `format: json` or `jsonl`",
        ),
    ];
    for (source, message) in cases {
        let p = Project::new();
        p.config(source);
        let out = p.advocacy(&["validate", "--config", "config.yaml"]);
        assert_exit(&out, 2);
        let err = common::stderr(&out);
        assert!(err.contains(message), "expected {message:?} in:\n{err}");
    }
}

/// Issue 29, point 4: a Facebook Graph comments page, where a comment may
/// name no author (`from` is absent) and the brand answers under its own
/// name. The config lists that name in `brand_handles`; the identities
/// export even links it to a customer account (C9, the company's own).
///
/// Comments in May 2026: c1 anonymous "Love these mugs!" (3 likes); c2 the
/// brand "Thanks for your order!"; c3 Ann "Great shop, fast delivery" (1
/// like). read 3 = loaded 3 (no author is no error).
/// social_engagement, May, facebook: the brand's reply left out (1 brand
/// event), mentions 2 (c1, c3), engagements 3 + 1 = 4, 1 anonymous event,
/// 1 matched author (Ann), no unmatched one; the anonymous comment is no
/// author. Advocacy: Ann's positive mention counts for C1; the brand's
/// reply is no advocacy for C9.
#[test]
fn comments_without_an_author_load_and_the_brands_own_replies_are_no_advocacy() {
    let p = Project::new();
    p.repo_config(
        r#"brand_handles: { facebook: ["Fernhill Goods"] }
sources:
  - name: customers
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: { customer_id: cid, kind: { value: facebook }, value: name }
  - name: comments
    entity: social_activity
    format: json
    path: facebook/comments.json
    records: /data
    columns:
      event_id: id
      platform: { value: facebook }
      handle: from.name
      event_type: { value: mention }
      occurred_at: created_time
      text: message
      likes: like_count
"#,
    );
    p.land("customers.csv", "id,signup\nC1,2025-01-01\nC9,2020-01-01\n");
    p.land("ids.csv", "cid,name\nC1,Ann\nC9,Fernhill Goods\n");
    p.land(
        "facebook/comments.json",
        r#"{"data": [
  {"id": "c1", "message": "Love these mugs!", "created_time": "2026-05-02T10:00:00+0000", "like_count": 3},
  {"id": "c2", "message": "Thanks for your order!", "created_time": "2026-05-02T11:00:00+0000",
   "from": {"name": "Fernhill Goods", "id": "999"}, "like_count": 0},
  {"id": "c3", "message": "Great shop, fast delivery", "created_time": "2026-05-03T09:00:00+0000",
   "from": {"name": "Ann", "id": "123"}, "like_count": 1}
], "paging": {}}"#,
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-05-31"]);
    assert_exit(&out, 0);
    assert_counts(
        &out,
        &p,
        "facebook/comments.json",
        ["loaded", "3", "3", "0", "0"],
    );
    let month = p.query(
        "reports/social_engagement",
        "SELECT mentions, engagements, anonymous_events, brand_events, matched_authors, \
         unmatched_authors FROM t WHERE platform = 'facebook' AND period_start = DATE '2026-05-01'",
    );
    assert_eq!(lines(&month)[1..], ["2 | 4 | 1 | 1 | 1 | 0"]);
    let advocates = p.query(
        "reports/advocates",
        "SELECT customer_id, mentions FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&advocates)[1..], ["C1 | 1", "C9 | 0"]);
}
