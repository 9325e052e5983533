//! Issue 29: exports whose records are not a plain array, mapped with the
//! config alone. One test per shape, each with a small file written for
//! these tests in the shape of a public export or API response: one post
//! object (Bluesky `getPostThread`), an object keyed by id (an Instagram
//! multi-id read), name/value pairs inside each record (Salesforce list
//! view results), answers picked by their content (Typeform responses),
//! wide files (the ECB's daily and historical rates, and a JSON Lines
//! one), and refunds summed over an array (WooCommerce orders). Every
//! count is worked out by hand in the comments, and read = loaded +
//! quarantined + skipped in each.

use crate::common;

use crate::common::counts::{assert_counts, assert_source_counts};
use crate::common::{Project, assert_exit, lines, stderr};

/// A Bluesky `app.bsky.feed.getPostThread` response: the post is one
/// object at `/thread/post` (`records` pointing at an object: that object
/// is the record), its replies an array of `{ post, replies }` at
/// `/thread/replies`.
/// read 1 = loaded 1 (the post); read 2 = loaded 2 (the replies).
#[test]
fn one_object_is_one_record() {
    let p = Project::new();
    let columns = |event_type: &str, prefix: &str| {
        format!(
            r#"    columns:
      event_id: {prefix}uri
      platform: {{ value: bluesky }}
      handle: {prefix}author.handle
      event_type: {{ value: {event_type} }}
      occurred_at: {prefix}record.createdAt
      text: {prefix}record.text
      likes: {prefix}likeCount
      shares: {prefix}repostCount
"#
        )
    };
    p.config(&format!(
        "  - name: post\n    entity: social_activity\n    format: json\n    path: bsky/thread.json\n    records: /thread/post\n{}  - name: replies\n    entity: social_activity\n    format: json\n    path: bsky/thread.json\n    records: /thread/replies\n{}",
        columns("mention", ""),
        columns("reply", "post.")
    ));
    let post = |rkey: &str, handle: &str, text: &str, at: &str, likes: u32| {
        format!(
            r#"{{"uri": "at://did:plc:{handle}/app.bsky.feed.post/{rkey}", "cid": "bafy{rkey}",
  "author": {{"did": "did:plc:{handle}", "handle": "{handle}.bsky.social", "displayName": "{handle}"}},
  "record": {{"$type": "app.bsky.feed.post", "text": "{text}", "createdAt": "{at}"}},
  "replyCount": 0, "repostCount": 1, "likeCount": {likes}, "indexedAt": "{at}"}}"#
        )
    };
    p.land(
        "bsky/thread.json",
        format!(
            r#"{{"thread": {{"$type": "app.bsky.feed.defs#threadViewPost",
  "post": {},
  "replies": [
    {{"$type": "app.bsky.feed.defs#threadViewPost", "post": {}, "replies": []}},
    {{"$type": "app.bsky.feed.defs#threadViewPost", "post": {}, "replies": []}}
  ]}}}}"#,
            post(
                "3kaa",
                "ana",
                "Fernhill mugs are the best",
                "2026-11-02T10:00:00.000Z",
                5
            ),
            post("3kab", "ben", "Agreed!", "2026-11-02T11:30:00.000Z", 1),
            post("3kac", "cy", "Mine chipped", "2026-11-03T08:00:00.000Z", 0),
        ),
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    let file = "bsky/thread.json";
    assert_source_counts(&out, &p, Some("post"), file, ["loaded", "1", "1", "0", "0"]);
    assert_source_counts(
        &out,
        &p,
        Some("replies"),
        file,
        ["loaded", "2", "2", "0", "0"],
    );
    let rows = p.query(
        "raw/social_activity",
        "SELECT _source, event_type, handle, CAST(occurred_at AS VARCHAR) AS at, likes, shares, text \
         FROM t ORDER BY occurred_at",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "post | mention | ana.bsky.social | 2026-11-02T10:00:00Z | 5 | 1 | Fernhill mugs are the best",
            "replies | reply | ben.bsky.social | 2026-11-02T11:30:00Z | 1 | 1 | Agreed!",
            "replies | reply | cy.bsky.social | 2026-11-03T08:00:00Z | 0 | 1 | Mine chipped",
        ]
    );
}

/// An Instagram Graph multi-id read (`?ids=a,b,c&fields=...`): one object
/// keyed by comment id, each value a comment. `records: "/*"`: every value
/// is a record, in the order written. The third has no timestamp (a
/// deleted comment answers with its id alone): quarantined, naming the
/// field. read 3 = loaded 2 + quarantined 1.
#[test]
fn every_value_of_an_object_keyed_by_id_is_a_record() {
    let p = Project::new();
    p.config(
        r#"  - name: instagram
    entity: social_activity
    format: json
    path: ig/comments.json
    records: "/*"
    columns:
      event_id: id
      platform: { value: instagram }
      handle: username
      event_type: { value: mention }
      occurred_at: timestamp
      text: text
      likes: like_count
"#,
    );
    p.land(
        "ig/comments.json",
        r#"{
  "17900000000000002": {"id": "17900000000000002", "text": "Love the new glaze", "username": "ana.k",
                        "timestamp": "2026-11-03T08:00:00+0000", "like_count": 3},
  "17900000000000001": {"id": "17900000000000001", "text": "Where do you ship?", "username": "ben_b",
                        "timestamp": "2026-11-01T12:30:00+0000", "like_count": 0},
  "17900000000000003": {"id": "17900000000000003"}
}"#,
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "ig/comments.json", ["loaded", "3", "2", "1", "0"]);
    let rows = p.query(
        "raw/social_activity",
        "SELECT _row, event_id, handle, CAST(occurred_at AS VARCHAR), likes FROM t ORDER BY _row",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "1 | 17900000000000002 | ana.k | 2026-11-03T08:00:00Z | 3",
            "2 | 17900000000000001 | ben_b | 2026-11-01T12:30:00Z | 0",
        ]
    );
    let quarantined = p.query("quarantine/instagram", "SELECT row, field, reason FROM t");
    assert_eq!(
        lines(&quarantined)[1..],
        ["3 | occurred_at | required value is missing"]
    );
}

/// Salesforce list view results (`/sobjects/Contact/listviews/{id}/results`):
/// each record is `{ columns: [{ fieldNameOrPath, value }, ...] }`, and
/// the order of the pairs follows the view's columns, which an admin may
/// move: page 2 lists them in another order. A lookup in the record's own
/// array (`records: columns`, no leading `/`) finds each by name, where a
/// positional path (`columns.2.value`) would read the wrong field on page
/// 2. The last record of page 2 has no `Id` pair: quarantined, saying so.
/// page 1: read 2 = loaded 2; page 2: read 2 = loaded 1 + quarantined 1.
#[test]
fn a_lookup_reads_a_records_own_name_value_pairs() {
    let p = Project::new();
    let pair = |field: &str| {
        format!(
            "{{ from: {field}, lookup: {{ records: columns, key: fieldNameOrPath, value: value }} }}"
        )
    };
    p.config(&format!(
        r#"  - name: contacts
    entity: customers
    format: json
    path: sf/contacts-*.json
    records: /records
    columns:
      customer_id: {}
      name: {}
      email: {}
      signup_date: {}
      country: {}
"#,
        pair("Id"),
        pair("Name"),
        pair("Email"),
        pair("CreatedDate"),
        pair("MailingCountry"),
    ));
    let record = |pairs: &[(&str, Option<&str>)]| {
        let pairs: Vec<String> = pairs
            .iter()
            .map(|(field, value)| {
                let value = value.map_or("null".to_string(), |v| format!("{v:?}"));
                format!(r#"{{"fieldNameOrPath": "{field}", "value": {value}}}"#)
            })
            .collect();
        format!(r#"{{"columns": [{}]}}"#, pairs.join(", "))
    };
    let page = |records: &[String]| {
        format!(
            r#"{{"developerName": "AllContacts", "done": true, "id": "00B000000000001", "label": "All Contacts",
  "records": [{}], "size": {}}}"#,
            records.join(",\n  "),
            records.len()
        )
    };
    p.land(
        "sf/contacts-1.json",
        page(&[
            record(&[
                ("Name", Some("Ana Kerr")),
                ("Email", Some("Ana@Example.com")),
                ("Id", Some("0035g00000AAA1")),
                ("CreatedDate", Some("2026-03-01T09:00:00.000+0000")),
                ("MailingCountry", Some("NO")),
            ]),
            record(&[
                ("Name", Some("Ben Moe")),
                ("Email", None),
                ("Id", Some("0035g00000AAA2")),
                ("CreatedDate", Some("2026-04-15T16:20:00.000+0000")),
                ("MailingCountry", None),
            ]),
        ]),
    );
    p.land(
        "sf/contacts-2.json",
        page(&[
            record(&[
                ("Id", Some("0035g00000AAA3")),
                ("MailingCountry", Some("SE")),
                ("CreatedDate", Some("2026-05-20T07:00:00.000+0000")),
                ("Name", Some("Cy Lund")),
                ("Email", Some("cy@example.org")),
            ]),
            record(&[
                ("Name", Some("No Id")),
                ("CreatedDate", Some("2026-05-21T07:00:00.000+0000")),
            ]),
        ]),
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(
        &out,
        &p,
        "sf/contacts-1.json",
        ["loaded", "2", "2", "0", "0"],
    );
    assert_counts(
        &out,
        &p,
        "sf/contacts-2.json",
        ["loaded", "2", "1", "1", "0"],
    );
    let rows = p.query(
        "raw/customers",
        "SELECT customer_id, name, email_hash IS NOT NULL, CAST(signup_date AS VARCHAR), country \
         FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "0035g00000AAA1 | Ana Kerr | true | 2026-03-01 | NO",
            "0035g00000AAA2 | Ben Moe | false | 2026-04-15 |",
            "0035g00000AAA3 | Cy Lund | true | 2026-05-20 | SE",
        ]
    );
    let quarantined = p.query("quarantine/contacts", "SELECT row, field, reason FROM t");
    assert_eq!(
        lines(&quarantined)[1..],
        ["2 | customer_id | no element of columns has fieldNameOrPath \"Id\""]
    );
}

/// Typeform responses (`/forms/{id}/responses`): `items[].answers[]` holds
/// one answer per question answered, each naming its field's type; the
/// score is the `opinion_scale` answer's `number`, the comment the
/// `long_text` answer's `text`, wherever they are in the array. The lookup
/// has no key, only `where`. r3 skipped the score question: quarantined,
/// naming the condition; r2 left no comment: loaded without one.
/// read 3 = loaded 2 + quarantined 1.
#[test]
fn a_lookup_picks_an_element_by_its_content() {
    let p = Project::new();
    p.config(
        r#"  - name: typeform
    entity: nps_responses
    format: json
    path: typeform/responses.json
    records: /items
    columns:
      response_id: response_id
      email: hidden.email
      responded_at: submitted_at
      score: { lookup: { records: answers, where: "field.type = 'opinion_scale'", value: number } }
      comment: { lookup: { records: answers, where: "field.type = 'long_text' AND type = 'text'", value: text } }
"#,
    );
    let score = |n: u8| {
        format!(
            r#"{{"field": {{"id": "Fq1", "type": "opinion_scale", "ref": "nps"}}, "type": "number", "number": {n}}}"#
        )
    };
    let why = |text: &str| {
        format!(
            r#"{{"field": {{"id": "Fq2", "type": "long_text", "ref": "why"}}, "type": "text", "text": "{text}"}}"#
        )
    };
    let choice = r#"{"field": {"id": "Fq3", "type": "multiple_choice", "ref": "found"}, "type": "choice", "choice": {"label": "A friend"}}"#;
    let item = |id: &str, at: &str, answers: &[String]| {
        format!(
            r#"{{"landing_id": "{id}", "token": "{id}", "response_id": "{id}", "submitted_at": "{at}",
  "hidden": {{"email": "{id}@example.com"}}, "answers": [{}]}}"#,
            answers.join(", ")
        )
    };
    p.land(
        "typeform/responses.json",
        format!(
            r#"{{"total_items": 3, "page_count": 1, "items": [{}, {}, {}]}}"#,
            item(
                "r1",
                "2026-11-04T10:00:00Z",
                &[choice.to_string(), why("Great mugs"), score(9)]
            ),
            item(
                "r2",
                "2026-11-05T10:00:00Z",
                &[score(4), choice.to_string()]
            ),
            item("r3", "2026-11-06T10:00:00Z", &[why("No score given")]),
        ),
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(
        &out,
        &p,
        "typeform/responses.json",
        ["loaded", "3", "2", "1", "0"],
    );
    let rows = p.query(
        "raw/nps_responses",
        "SELECT response_id, score, comment FROM t ORDER BY response_id",
    );
    assert_eq!(lines(&rows)[1..], ["r1 | 9 | Great mugs", "r2 | 4 |"]);
    let quarantined = p.query("quarantine/typeform", "SELECT row, field, reason FROM t");
    assert_eq!(
        lines(&quarantined)[1..],
        ["3 | score | no element of answers matches field.type = 'opinion_scale'"]
    );
}

/// The ECB's rates as published: the daily file (`eurofxref.csv`) with a
/// space after each comma, dates like "04 December 2026" and a trailing
/// comma (a column without a name), and the historical file
/// (`eurofxref-hist.csv`) where a currency that did not yet or no longer
/// exists is `N/A`. One source each, every currency a row.
///
/// Daily: 4 currencies + the nameless column: read 5 = loaded 4 +
/// skipped 1.
/// Historical, 3 days x (4 currencies + the nameless column) = read 15:
///   2026-12-04: USD, JPY, GBP loaded; CYP N/A and "" skipped (3 + 2)
///   2026-12-03: USD "1.04x" quarantined, JPY, GBP loaded; 2 skipped (2 + 1 + 2)
///   2007-12-28: USD, JPY, CYP, GBP loaded; "" skipped (4 + 1)
///   = loaded 9 + quarantined 1 + skipped 5.
#[test]
fn wide_files_load_every_column_as_a_row() {
    let p = Project::new();
    p.config(
        r#"  - name: ecb_daily
    entity: exchange_rates
    format: csv
    path: ecb/eurofxref.csv
    unpivot: { keep: [Date], name: currency, value: rate, skip_values: ["N/A", ""] }
    columns:
      date: { from: Date, format: "%d %B %Y" }
      currency: currency
      rate: rate
      quote_currency: { value: EUR }
  - name: ecb_history
    entity: exchange_rates
    format: csv
    path: ecb/eurofxref-hist.csv
    unpivot: { keep: [Date], name: currency, value: rate, skip_values: ["N/A", ""] }
    columns:
      date: Date
      currency: currency
      rate: rate
      quote_currency: { value: EUR }
"#,
    );
    p.land(
        "ecb/eurofxref.csv",
        "Date, USD, JPY, CZK, GBP, \n05 December 2026, 1.0533, 158.42, 25.108, 0.83120, \n",
    );
    p.land(
        "ecb/eurofxref-hist.csv",
        "Date,USD,JPY,CYP,GBP,\n\
         2026-12-04,1.0512,158.10,N/A,0.8290,\n\
         2026-12-03,1.04x,157.90,N/A,0.8301,\n\
         2007-12-28,1.4721,166.87,0.5853,0.7334,\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(
        &out,
        &p,
        "ecb/eurofxref.csv",
        ["loaded", "5", "4", "0", "1"],
    );
    assert_counts(
        &out,
        &p,
        "ecb/eurofxref-hist.csv",
        ["loaded", "15", "9", "1", "5"],
    );
    let summary = common::stdout(&out);
    assert!(!summary.contains("not mapped"), "{summary}");
    let rows = p.query(
        "raw/exchange_rates",
        "SELECT _source, CAST(date AS VARCHAR) AS day, currency, rate, quote_currency FROM t \
         ORDER BY _source, date, currency",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "ecb_daily | 2026-12-05 | CZK | 25.108 | EUR",
            "ecb_daily | 2026-12-05 | GBP | 0.8312 | EUR",
            "ecb_daily | 2026-12-05 | JPY | 158.42 | EUR",
            "ecb_daily | 2026-12-05 | USD | 1.0533 | EUR",
            "ecb_history | 2007-12-28 | CYP | 0.5853 | EUR",
            "ecb_history | 2007-12-28 | GBP | 0.7334 | EUR",
            "ecb_history | 2007-12-28 | JPY | 166.87 | EUR",
            "ecb_history | 2007-12-28 | USD | 1.4721 | EUR",
            "ecb_history | 2026-12-03 | GBP | 0.8301 | EUR",
            "ecb_history | 2026-12-03 | JPY | 157.9 | EUR",
            "ecb_history | 2026-12-04 | GBP | 0.829 | EUR",
            "ecb_history | 2026-12-04 | JPY | 158.1 | EUR",
            "ecb_history | 2026-12-04 | USD | 1.0512 | EUR",
        ]
    );
    let quarantined = p.query(
        "quarantine/ecb_history",
        "SELECT row, field, reason, raw_record FROM t",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [r#"3 | rate | "1.04x" is not a number | {"Date":"2026-12-03","USD":"1.04x"}"#]
    );
}

/// A wide JSON Lines file (pandas' `to_json(orient="records", lines=True)`
/// of a rates table): every key but `date` is a currency. A null and an
/// "N/A" are skipped. read 6 = loaded 4 + skipped 2.
#[test]
fn wide_json_records_unpivot_too() {
    let p = Project::new();
    p.config(
        r#"  - name: rates
    entity: exchange_rates
    format: jsonl
    path: rates.jsonl
    unpivot: { keep: [date], name: currency, value: rate, skip_values: ["N/A", ""] }
    columns: { date: date, currency: currency, rate: rate, quote_currency: { value: USD } }
"#,
    );
    p.land(
        "rates.jsonl",
        "{\"date\": \"2026-12-04\", \"EUR\": 0.951, \"GBP\": 0.788, \"SEK\": null}\n\
         {\"GBP\": 0.79, \"date\": \"2026-12-05\", \"EUR\": 0.95, \"SEK\": \"N/A\"}\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "rates.jsonl", ["loaded", "6", "4", "0", "2"]);
    let rows = p.query(
        "raw/exchange_rates",
        "SELECT _row, CAST(date AS VARCHAR) AS day, currency, rate FROM t ORDER BY date, currency",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "1 | 2026-12-04 | EUR | 0.951",
            "1 | 2026-12-04 | GBP | 0.788",
            "2 | 2026-12-05 | EUR | 0.95",
            "2 | 2026-12-05 | GBP | 0.79",
        ]
    );
}

/// WooCommerce REST orders (`/wp-json/wc/v3/orders`): `refunds[]` lists
/// each refund with its `total` written negative ("-10.00"). `{ from:
/// refunds, sum: total }` adds them up, and refunded_amount reads the sum
/// by its size (a refund is money back, whatever its sign).
///   1001: 80.00, refunds -10.00 and -5.50: refunded 15.5
///   1002: 40.00, no refund (an empty array): refunded 0
///   1003: 25.00, a refund whose total is "ten": quarantined, naming it
///   1004: 12.00, no `refunds` key at all: no refunded amount
/// read 4 = loaded 3 + quarantined 1.
#[test]
fn refunds_are_summed_over_an_array_in_the_record() {
    let p = Project::new();
    p.config(
        r#"  - name: woo
    entity: orders
    format: json
    path: woo/orders.json
    columns:
      order_id: id
      customer_id: customer_id
      ordered_at: { from: date_created_gmt, timezone: UTC }
      amount: total
      currency: currency
      status: { from: status, values: { processing: open, on-hold: open, pending: open } }
      refunded_amount: { from: refunds, sum: total }
"#,
    );
    let order = |id: u32, total: &str, status: &str, refunds: Option<&str>| {
        let refunds = refunds.map_or(String::new(), |r| format!(r#", "refunds": {r}"#));
        format!(
            r#"{{"id": {id}, "status": "{status}", "currency": "EUR", "date_created": "2026-11-0{}T10:00:00",
  "date_created_gmt": "2026-11-0{}T09:00:00", "total": "{total}", "customer_id": 7{refunds}}}"#,
            id - 1000,
            id - 1000
        )
    };
    p.land(
        "woo/orders.json",
        format!(
            "[{},\n{},\n{},\n{}]",
            order(
                1001,
                "80.00",
                "completed",
                Some(r#"[{"id": 71, "reason": "", "total": "-10.00"}, {"id": 72, "reason": "chipped", "total": "-5.50"}]"#)
            ),
            order(1002, "40.00", "processing", Some("[]")),
            order(
                1003,
                "25.00",
                "completed",
                Some(r#"[{"id": 73, "total": "ten"}]"#)
            ),
            order(1004, "12.00", "completed", None),
        ),
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_counts(&out, &p, "woo/orders.json", ["loaded", "4", "3", "1", "0"]);
    let rows = p.query(
        "raw/orders",
        "SELECT order_id, CAST(ordered_at AS VARCHAR), amount, status, refunded_amount \
         FROM t ORDER BY order_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            "1001 | 2026-11-01T09:00:00Z | 80.0 | completed | 15.5",
            "1002 | 2026-11-02T09:00:00Z | 40.0 | open | 0.0",
            "1004 | 2026-11-04T09:00:00Z | 12.0 | completed |",
        ]
    );
    let quarantined = p.query("quarantine/woo", "SELECT row, field, reason FROM t");
    assert_eq!(
        lines(&quarantined)[1..],
        ["3 | refunded_amount | element 0 of the array: total: \"ten\" is not a number"]
    );
}

/// Shapes the config refuses, each naming the fix.
#[test]
fn record_shape_mistakes_are_config_errors() {
    let cases = [
        (
            "    records: /data/*/items\n    columns: { event_id: id, platform: { value: x }, event_type: { value: post }, occurred_at: t }\n",
            "has `*` before its end",
        ),
        (
            "    columns:\n      event_id: id\n      platform: { value: x }\n      event_type: { value: post }\n      occurred_at: t\n      handle: { lookup: { records: /users, key: id, value: name } }\n",
            "`lookup.key` needs `from`",
        ),
        (
            "    columns:\n      event_id: id\n      platform: { value: x }\n      event_type: { value: post }\n      occurred_at: t\n      handle: { lookup: { records: users, where: \"upper(name)\", value: name } }\n",
            "is not a condition",
        ),
        (
            "    unpivot: { keep: [date], name: platform, value: v }\n    columns: { event_id: id, platform: platform, event_type: { value: post }, occurred_at: date }\n",
            "with `unpivot` a row has only the kept columns",
        ),
        (
            "    columns:\n      event_id: id\n      platform: { value: x }\n      event_type: { value: post }\n      occurred_at: t\n      handle: { from: users, sum: n }\n",
            "`sum` adds numbers up, and handle is not a number",
        ),
        (
            "    columns:\n      event_id: id\n      platform: { value: x }\n      event_type: { value: post }\n      occurred_at: t\n      handle: { from: Id, lookup: { records: \"\", key: k, value: v } }\n",
            "lookup records is empty",
        ),
        (
            "    columns:\n      event_id: id\n      platform: { value: x }\n      event_type: { value: post }\n      occurred_at: t\n      handle: { lookup: { records: users, where: \"1 = 1\", value: v } }\n",
            "names no field of the elements",
        ),
        (
            "    unpivot: { keep: [date, v], name: platform, value: v }\n    columns: { event_id: id, platform: platform, event_type: { value: post }, occurred_at: date }\n",
            "must be different, non-empty columns",
        ),
    ];
    for (rest, message) in cases {
        let p = Project::new();
        p.config(&format!(
            "  - name: s\n    entity: social_activity\n    format: json\n    path: s.json\n{rest}"
        ));
        let out = p.advocacy(&["validate", "--config", "config.yaml"]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(message), "expected {message:?} in:\n{err}");
    }
}

/// With `line_items: { amount: sum }` a line's amount is a number, so a
/// `sum` over an array cannot make it.
#[test]
fn a_summed_amount_does_not_combine_with_summed_line_items() {
    let p = Project::new();
    p.config(
        "  - name: o\n    entity: orders\n    format: json\n    path: o.json\n    line_items: { amount: sum }\n    columns: { order_id: id, customer_id: c, ordered_at: t, amount: { from: lines, sum: total } }\n",
    );
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("`values` or `sum` cannot make it"),
        "{}",
        stderr(&out)
    );
}

/// A wide file whose header names a column twice cannot be unpivoted
/// (two rows of one currency and day, or a kept column that is also a
/// row): the file fails, naming the column, and nothing of it loads.
#[test]
fn a_wide_file_with_a_column_named_twice_fails() {
    let p = Project::new();
    p.config(
        r#"  - name: ecb
    entity: exchange_rates
    format: csv
    path: ecb.csv
    unpivot: { keep: [Date], name: currency, value: rate }
    columns: { date: Date, currency: currency, rate: rate }
"#,
    );
    p.land("ecb.csv", "Date,USD, USD,JPY\n2026-12-04,1.05,1.06,158.1\n");
    let out = p.ingest();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the header names \"USD\" twice, so `unpivot` cannot tell its columns apart"),
        "{err}"
    );
}

/// A JSON file that is one object with the records in an array of it,
/// read without `records`: the object is one record (it could be one, as
/// a Bluesky post is), and the message names the array to point at.
#[test]
fn a_forgotten_records_pointer_names_the_array() {
    let p = Project::new();
    p.config(
        r#"  - name: tp
    entity: reviews
    format: json
    path: tp.json
    columns: { review_id: id, site: { value: trustpilot }, rating: stars, published_at: createdAt }
"#,
    );
    p.land(
        "tp.json",
        r#"{"reviews": [{"id": "r1", "stars": 5, "createdAt": "2026-11-01T10:00:00Z"}], "links": []}"#,
    );
    let out = p.ingest();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "JSON path \"id\" (columns.review_id) occurs in no record of the file; the items of \
             \"reviews\" have it: are they the records (`records: /reviews`)?"
        ),
        "{err}"
    );
}

/// The README's example of every record shape is a config `validate`
/// accepts, so the documentation cannot drift from the code.
#[test]
fn the_readmes_record_shapes_validate() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("### Record shapes").expect("the section")..];
    let start = section.find("```yaml\n").expect("a YAML block") + "```yaml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let p = Project::new();
    let sources = block.strip_prefix("sources:\n").expect("a sources list");
    p.config(sources);
    let out = p.advocacy(&["validate", "--config", "config.yaml"]);
    assert_exit(&out, 0);
}
