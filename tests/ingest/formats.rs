//! Ingest of every source format and mapping option, run through the real
//! binary against real files; each test asserts the exact rows loaded and
//! quarantined.

use crate::common;

use std::sync::Arc;

use crate::common::{Project, SALT, assert_exit, lines, stderr, stdout};
use datafusion::arrow::array::{
    Date32Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use sha2::{Digest, Sha256};

fn hash(email: &str) -> String {
    hex::encode(Sha256::digest(format!("{SALT}{email}")))
}

const CUSTOMERS_SOURCE: &str = r#"  - name: crm
    entity: customers
    format: csv
    path: crm/customers*.csv
    csv: { delimiter: ";", quote: "'" }
    columns:
      customer_id: Id
      email: Email
      name: Name
      signup_date: { from: Created, format: "%m/%d/%Y" }
      country: Country
      segment: { value: smb }
"#;

/// BOM, CRLF, `;` delimiter, `'` quotes with an embedded delimiter and an
/// embedded newline, a date format, a constant, and one bad row of each kind.
const CUSTOMERS_CSV: &str = "\u{feff}Id;Email;Name;Created;Country\r\n\
C1;  Jane.Doe@Example.com ;'Doe; Jane';03/15/2024;US\r\n\
C2;;'Multi\r\nline';03/16/2024;FR\r\n\
;x@y.com;NoId;03/17/2024;DE\r\n\
C4;not-an-email;Al;03/18/2024;DE\r\n\
C5;;Bo;2024-03-19;DE\r\n\
C6;;Cy;03/20/2024\r\n\
C7;;Di;03/21/2024;IT\r\n";

#[test]
fn csv_with_bom_crlf_custom_delimiter_and_quote() {
    let p = Project::new();
    p.config(CUSTOMERS_SOURCE);
    p.land("crm/customers.csv", CUSTOMERS_CSV);
    let out = p.ingest();
    assert_exit(&out, 0);

    let loaded = p.query(
        "raw/customers",
        "SELECT customer_id, email_hash, replace(name, chr(13) || chr(10), '<CRLF>') AS name, \
         CAST(signup_date AS VARCHAR) AS d, country, segment, _row, _file, _source \
         FROM t ORDER BY customer_id",
    );
    let jane = hash("jane.doe@example.com");
    assert_eq!(
        lines(&loaded)[1..],
        [
            format!(
                "C1 | {jane} | Doe; Jane | 2024-03-15 | US | smb | 2 | crm/customers.csv | crm"
            ),
            "C2 |  | Multi<CRLF>line | 2024-03-16 | FR | smb | 3 | crm/customers.csv | crm".into(),
            "C7 |  | Di | 2024-03-21 | IT | smb | 9 | crm/customers.csv | crm".into(),
        ],
        "{loaded}"
    );

    let quarantined = p.query(
        "quarantine/crm",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "5 | customer_id | required value is missing",
            "6 | email | not an email address",
            "7 | signup_date | \"2024-03-19\" does not match format \"%m/%d/%Y\"",
            "8 |  | expected 5 fields, found 4",
        ]
    );
    let summary = stdout(&out);
    assert!(
        summary
            .lines()
            .any(|l| l.split_whitespace().take(6).collect::<Vec<_>>()
                == ["crm", "crm/customers.csv", "loaded", "7", "3", "4"]),
        "{summary}"
    );
}

#[test]
fn csv_without_header_uses_column_names() {
    let p = Project::new();
    p.config(
        r#"  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    csv: { header: false, column_names: [cid, type, val] }
    columns: { customer_id: cid, kind: type, value: val }
"#,
    );
    p.land(
        "ids.csv",
        "C1,X,@jane\nC1,Email,Jane@Example.com\nC2,email,nope\nC3,E-mail,Zed@Example.com\n",
    );
    assert_exit(&p.ingest(), 0);
    let loaded = p.query(
        "raw/identities",
        "SELECT customer_id, kind, value, _row FROM t ORDER BY _row",
    );
    assert_eq!(
        lines(&loaded)[1..],
        [
            "C1 | x | @jane | 1".to_string(),
            format!("C1 | email | {} | 2", hash("jane@example.com")),
            // Any spelling of the kind is an email, hashed.
            format!("C3 | email | {} | 4", hash("zed@example.com")),
        ]
    );
    let quarantined = p.query("quarantine/ids", "SELECT row, field, reason FROM t");
    assert_eq!(
        lines(&quarantined)[1..],
        ["3 | value | not an email address"]
    );
}

#[test]
fn json_array_by_pointer_with_nested_paths_and_constants() {
    let p = Project::new();
    p.config(
        r#"  - name: trustpilot
    entity: reviews
    format: json
    path: reviews/*.json
    records: /data/reviews
    columns:
      review_id: id
      site: { value: trustpilot }
      rating: stars
      published_at: createdAt
      author_name: consumer.displayName
      verified: isVerified
      body: text
"#,
    );
    p.land(
        "reviews/page1.json",
        r#"{"data": {"reviews": [
            {"id": "r1", "stars": 5, "createdAt": "2025-05-01T12:00:00Z", "consumer": {"displayName": "Jo B."}, "isVerified": true, "text": "mail me at Jo@Example.com."},
            {"id": "r2", "stars": 6, "createdAt": "2025-05-02T12:00:00Z", "consumer": {"displayName": "Al"}},
            {"stars": 4, "createdAt": "2025-05-03T12:00:00Z"},
            {"id": "r4", "stars": "2", "createdAt": 1746360000, "consumer": {}, "isVerified": false}
        ]}, "links": []}"#,
    );
    assert_exit(&p.ingest(), 0);
    let loaded = p.query(
        "raw/reviews",
        "SELECT review_id, site, rating, CAST(published_at AS VARCHAR) AS at, author_name, verified, body, _row FROM t ORDER BY review_id",
    );
    let redacted = &hash("jo@example.com")[..12];
    assert_eq!(
        lines(&loaded)[1..],
        [
            format!(
                "r1 | trustpilot | 5 | 2025-05-01T12:00:00Z | Jo B. | true | mail me at <email:{redacted}>. | 1"
            ),
            "r4 | trustpilot | 2 | 2025-05-04T12:00:00Z |  | false |  | 4".to_string(),
        ]
    );
    let quarantined = p.query(
        "quarantine/trustpilot",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "2 | rating | 6 is outside 1..5",
            "3 | review_id | required value is missing"
        ]
    );
}

#[test]
fn json_lines_quarantine_bad_lines_and_keep_the_rest() {
    let p = Project::new();
    p.config(
        r#"  - name: x
    entity: social_activity
    format: jsonl
    path: social/*.jsonl
    columns:
      event_id: id
      platform: { value: x }
      handle: author.username
      event_type: kind
      occurred_at: ts
      followers: author.followers
"#,
    );
    p.land(
        "social/x.jsonl",
        "{\"id\":\"1\",\"author\":{\"username\":\"jane\",\"followers\":120},\"kind\":\"Mention\",\"ts\":1746360000000}\n\
         \n\
         {\"id\":\"2\",\"author\":{\"username\":\"bob\"},\"kind\":\"repost\",\"ts\":\"2025-05-04 12:00:00\"}\n\
         {not json}\n\
         {\"id\":\"4\",\"author\":{\"username\":\"cy\"},\"kind\":\"wave\",\"ts\":\"2025-05-04\"}\n\
         [1,2]\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    let loaded = p.query(
        "raw/social_activity",
        "SELECT event_id, platform, handle, event_type, CAST(occurred_at AS VARCHAR) AS at, followers, _row FROM t ORDER BY event_id",
    );
    assert_eq!(
        lines(&loaded)[1..],
        [
            "1 | x | jane | mention | 2025-05-04T12:00:00Z | 120 | 1",
            "2 | x | bob | repost | 2025-05-04T12:00:00Z |  | 3",
        ]
    );
    let quarantined = p.query(
        "quarantine/x",
        "SELECT row, field, substr(reason, 1, 14) AS r FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "4 |  | not valid JSON",
            "5 | event_type | \"wave\" is not",
            "6 |  | line is not a"
        ]
    );
    assert!(stdout(&out).contains("social/x.jsonl"), "{}", stdout(&out));
}

fn orders_parquet() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("total", DataType::Float64, true),
        Field::new("day", DataType::Date32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["o1", "o2", "o3"])),
            Arc::new(StringArray::from(vec![Some("C1"), Some("C2"), None])),
            Arc::new(TimestampMillisecondArray::from(vec![
                1_746_360_000_000,
                1_746_363_600_000,
                1_746_367_200_000,
            ])),
            Arc::new(Float64Array::from(vec![10.5, -3.0, 7.0])),
            Arc::new(Date32Array::from(vec![20_000, 20_001, 20_002])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

#[test]
fn parquet_exports_are_validated_like_any_other() {
    let p = Project::new();
    p.config(
        r#"  - name: shop
    entity: orders
    format: parquet
    path: orders/*.parquet
    columns: { order_id: id, customer_id: customer, ordered_at: at, amount: total, status: { value: completed } }
"#,
    );
    p.land("orders/part-0.parquet", orders_parquet());
    assert_exit(&p.ingest(), 0);
    let loaded = p.query(
        "raw/orders",
        "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR) AS at, amount, status, _row FROM t",
    );
    assert_eq!(
        lines(&loaded)[1..],
        ["o1 | C1 | 2025-05-04T12:00:00Z | 10.5 | completed | 1"]
    );
    let quarantined = p.query(
        "quarantine/shop",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "2 | amount | -3 is negative",
            "3 | customer_id | required value is missing"
        ]
    );
}

#[test]
fn an_unusable_file_fails_its_source_and_the_others_still_load() {
    let p = Project::new();
    p.config(&format!(
        "{CUSTOMERS_SOURCE}{}",
        r#"  - name: broken_json
    entity: reviews
    format: json
    path: reviews/*.json
    columns: { review_id: id, site: { value: g2 }, rating: stars, published_at: at }
  - name: renamed_columns
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: Id, customer_id: Customer, ordered_at: Created, amount: Total }
"#
    ));
    p.land("crm/customers.csv", CUSTOMERS_CSV);
    p.land("reviews/bad.json", "{\"reviews\": [ {\"id\": 1,, ]}");
    p.land(
        "orders.csv",
        "Id,Customer,Created At,Total\no1,C1,2025-01-01,3\n",
    );
    let out = p.ingest();
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("reviews/bad.json: not valid JSON"), "{text}");
    assert!(
        text.contains(
            "orders.csv: mapped column \"Created\" is not in the header \
             (did you mean \"Created At\"? columns: Id, Customer, Created At, Total)"
        ),
        "{text}"
    );
    let loaded = p.query("raw/customers", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&loaded)[1..], ["3"]);
    assert!(!p.warehouse().join("raw/orders").exists());
}

/// Issue 9 point 10: a bare 8-digit number is a YYYYMMDD date, not epoch
/// seconds (20240501 s would be 1970-08-23); 9 to 13 digits are epochs and
/// other digit counts are quarantined, naming the field and the reason.
#[test]
fn bare_numbers_are_yyyymmdd_dates_or_epochs() {
    let p = Project::new();
    p.config(
        r#"  - name: nps
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, customer_id: cid, responded_at: at, score: score }
"#,
    );
    p.land(
        "nps.csv",
        "id,cid,at,score\n\
         R1,C1,20240501,9\n\
         R2,C2,1714600800,7\n\
         R3,C3,20241332,8\n\
         R4,C4,1714564,3\n",
    );
    assert_exit(&p.ingest(), 0);
    // 20240501 is local midnight (the config's zone is UTC); 1714600800 s
    // is 2024-05-01T22:00:00Z.
    let loaded = p.query(
        "raw/nps_responses",
        "SELECT response_id, CAST(responded_at AS VARCHAR) AS at FROM t ORDER BY _row",
    );
    assert_eq!(
        lines(&loaded)[1..],
        ["R1 | 2024-05-01T00:00:00Z", "R2 | 2024-05-01T22:00:00Z"],
        "{loaded}"
    );
    let quarantined = p.query(
        "quarantine/nps",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "4 | responded_at | \"20241332\" is not a date (eight digits are read as YYYYMMDD)",
            "5 | responded_at | \"1714564\" is neither a YYYYMMDD date (8 digits) nor epoch seconds or milliseconds (9 to 13 digits, maybe with a fraction)",
        ],
        "{quarantined}"
    );
}

/// Reddit's comment listings write `created_utc` as a JSON number with a
/// fraction (issue 10 point 6): 1615154286.0 s is 2021-03-07T21:58:06Z,
/// 1615154300.5 s half a second past 21:58:20. A string with a fraction
/// loads the same way.
#[test]
fn epoch_seconds_with_a_fraction_load() {
    let p = Project::new();
    p.config(
        r#"  - name: reddit
    entity: social_activity
    format: jsonl
    path: reddit.jsonl
    columns: { event_id: id, platform: { value: reddit }, handle: author, event_type: { value: reply }, occurred_at: created_utc }
"#,
    );
    p.land(
        "reddit.jsonl",
        "{\"id\": \"c1\", \"author\": \"ana\", \"created_utc\": 1615154286.0}\n\
         {\"id\": \"c2\", \"author\": \"bo\", \"created_utc\": 1615154300.5}\n\
         {\"id\": \"c3\", \"author\": \"cy\", \"created_utc\": \"1615154400.25\"}\n",
    );
    assert_exit(&p.ingest(), 0);
    let loaded = p.query(
        "raw/social_activity",
        "SELECT event_id, CAST(occurred_at AS VARCHAR) AS at FROM t ORDER BY _row",
    );
    assert_eq!(
        lines(&loaded)[1..],
        [
            "c1 | 2021-03-07T21:58:06Z",
            "c2 | 2021-03-07T21:58:20.500Z",
            "c3 | 2021-03-07T22:00:00.250Z",
        ],
        "{loaded}"
    );
}

const NAMES_SOURCE: &str = r#"  - name: names
    entity: customers
    format: csv
    path: names.csv
    columns: { customer_id: id, name: name, signup_date: signup }
"#;

fn names(p: &Project) -> Vec<String> {
    let loaded = p.query(
        "raw/customers",
        "SELECT customer_id, name FROM t ORDER BY customer_id",
    );
    lines(&loaded)[1..].to_vec()
}

/// Excel saves CSV in Windows-1252: é is the byte 0xE9, ë 0xEB. Read as
/// UTF-8 both rows are quarantined; with `csv.encoding` they load.
#[test]
fn csv_encoding_decodes_windows_1252() {
    let data: &[u8] = b"id,name,signup\nC1,Andr\xe9,2025-01-01\nC2,Zo\xeb,2025-01-02\n";
    let p = Project::new();
    p.config(NAMES_SOURCE);
    p.land("names.csv", data);
    let out = p.ingest();
    assert_exit(&out, 0);
    let quarantined = p.query("quarantine/names", "SELECT row, reason FROM t ORDER BY row");
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "2 | column \"name\" is not valid UTF-8",
            "3 | column \"name\" is not valid UTF-8"
        ]
    );

    let p = Project::new();
    p.config(&NAMES_SOURCE.replace(
        "    columns:",
        "    csv: { encoding: windows-1252 }\n    columns:",
    ));
    p.land("names.csv", data);
    assert_exit(&p.ingest(), 0);
    assert_eq!(names(&p), ["C1 | André", "C2 | Zoë"]);
}

/// A byte-order mark says the encoding without any config: UTF-16 (as
/// "Unicode text" exports are) and UTF-8 (whose mark would otherwise stick
/// to the first column's name, "\u{feff}id").
#[test]
fn a_byte_order_mark_is_honoured() {
    let text = "id,name,signup\r\nC1,Łucja,2025-01-01\r\n";
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let with_bom = |bom: &[u8], body: &[u8]| [bom, body].concat();
    let utf16 = with_bom(&[0xFF, 0xFE], &utf16le);
    let utf8 = with_bom(&[0xEF, 0xBB, 0xBF], text.as_bytes());
    let encoding = |label: &str| {
        NAMES_SOURCE.replace(
            "    columns:",
            &format!("    csv: {{ encoding: {label} }}\n    columns:"),
        )
    };
    // A byte-order mark says what the file is, even against a configured
    // encoding (an export re-saved as UTF-8 keeps its old config); UTF-16
    // without one needs the encoding named.
    for (source, data) in [
        (NAMES_SOURCE.to_string(), utf16.clone()),
        (NAMES_SOURCE.to_string(), utf8.clone()),
        (encoding("windows-1252"), utf8),
        (encoding("latin1"), utf16),
        (encoding("utf-16le"), utf16le),
    ] {
        let p = Project::new();
        p.config(&source);
        p.land("names.csv", &data);
        let out = p.ingest();
        assert_exit(&out, 0);
        assert_eq!(names(&p), ["C1 | Łucja"], "{source}");
    }
}

/// Issue 27, point 8: JSON and JSON Lines honour a byte-order mark (UTF-8
/// or UTF-16) and a source's `encoding`, as CSV does: each of these loads
/// the same customer, where a BOM used to fail the whole source.
#[test]
fn json_honours_a_byte_order_mark_and_an_encoding() {
    let document = r#"{"customers": [{"id": "C1", "name": "Łucja", "signup": "2025-01-01"}]}"#;
    let line = r#"{"id": "C1", "name": "Zoë", "signup": "2025-01-01"}"#;
    let utf16 = |text: &str| -> Vec<u8> {
        [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    };
    let utf8_bom = |text: &str| [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
    // Windows-1252: ë is the byte 0xEB.
    let cp1252: Vec<u8> = line
        .chars()
        .map(|c| if c == 'ë' { 0xEB } else { c as u8 })
        .collect();
    let source = |format: &str, extra: &str| {
        format!(
            "  - name: names\n    entity: customers\n    format: {format}\n    path: names.json\n{extra}    \
             columns: {{ customer_id: id, name: name, signup_date: signup }}\n"
        )
    };
    let pointer = "    records: /customers\n";
    for (config, data, expected) in [
        (source("json", pointer), utf8_bom(document), "C1 | Łucja"),
        (source("json", pointer), utf16(document), "C1 | Łucja"),
        (source("jsonl", ""), utf8_bom(line), "C1 | Zoë"),
        (source("jsonl", ""), utf16(line), "C1 | Zoë"),
        (
            source("jsonl", "    encoding: windows-1252\n"),
            cp1252.clone(),
            "C1 | Zoë",
        ),
    ] {
        let p = Project::new();
        p.config(&config);
        p.land("names.json", &data);
        let out = p.ingest();
        assert_exit(&out, 0);
        assert_eq!(names(&p), [expected], "{config}");
    }
}

/// An empty delivery ("nothing today") loads 0 rows with a warning; the
/// run succeeds.
#[test]
fn an_empty_file_loads_nothing_with_a_warning() {
    let p = Project::new();
    p.config(&format!(
        "{NAMES_SOURCE}  - name: pages\n    entity: reviews\n    format: json\n    path: reviews.json\n    records: /reviews\n    columns: {{ review_id: id, site: site, rating: stars, published_at: at }}\n"
    ));
    p.land("names.csv", "");
    p.land("reviews.json", "");
    let out = p.ingest();
    assert_exit(&out, 0);
    for file in ["names.csv", "reviews.json"] {
        let line = stdout(&out)
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(file))
            .map(|l| {
                l.split_whitespace()
                    .skip(2)
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        assert_eq!(line.as_deref(), Some("loaded 0 0 0 0"), "{}", stdout(&out));
    }
    let err = common::stderr(&out);
    assert_eq!(err.matches("the file is empty").count(), 2, "{err}");
}

/// Schema drift: a column the mapping does not read is loaded around and
/// reported once, on the first file of the source that has it; later files
/// with it say nothing.
#[test]
fn new_columns_are_reported_once_as_ignored() {
    let p = Project::new();
    p.config(
        r#"  - name: crm
    entity: customers
    format: csv
    path: crm/customers-*.csv
    columns: { customer_id: id, signup_date: signup }
"#,
    );
    let reported = |out: &std::process::Output| -> Vec<String> {
        stdout(out)
            .lines()
            .filter_map(|l| l.split_once("new columns, not mapped (ignored): "))
            .map(|(_, columns)| columns.to_string())
            .collect()
    };
    p.land(
        "crm/customers-1.csv",
        "id,signup,segment_hint\nC1,2025-01-01,smb\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_eq!(reported(&out), ["segment_hint"]);
    p.land(
        "crm/customers-2.csv",
        "id,signup,segment_hint,loyalty_tier\nC2,2025-01-02,smb,gold\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert_eq!(reported(&out), ["loyalty_tier"]);
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.warehouse().join("_runs/latest.json")).unwrap(),
    )
    .unwrap();
    let files = record["ingest"]["sources"][0]["files"].as_array().unwrap();
    let second = files
        .iter()
        .find(|f| f["path"] == "crm/customers-2.csv")
        .unwrap();
    assert_eq!(
        second["ignored_columns"],
        serde_json::json!(["loyalty_tier"])
    );
    p.land(
        "crm/customers-3.csv",
        "id,signup,segment_hint,loyalty_tier\nC3,2025-01-03,ent,silver\n",
    );
    let out = p.ingest();
    assert_exit(&out, 0);
    assert!(reported(&out).is_empty(), "{}", stdout(&out));
    let loaded = p.query(
        "raw/customers",
        "SELECT customer_id FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&loaded)[1..], ["C1", "C2", "C3"]);
}

/// Issue 27, point 6: a number too large for the type it is summed as is
/// quarantined with the reason at ingest, not left to fail the night's
/// models (an amount of 1e35 does not fit DECIMAL(38, 6)) or to wrap a
/// sum (three follower counts of 7e18 overflow a BIGINT). The rest load.
#[test]
fn numbers_too_large_to_sum_are_quarantined() {
    let p = Project::new();
    p.config(
        r#"  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: Id, customer_id: Customer, ordered_at: At, amount: Total }
  - name: x
    entity: social_activity
    format: csv
    path: social.csv
    columns: { event_id: Id, platform: { value: x }, handle: Handle, event_type: { value: mention }, occurred_at: At, followers: Followers }
"#,
    );
    p.land(
        "orders.csv",
        "Id,Customer,At,Total\no1,C1,2026-10-01,211.8\no2,C1,2026-10-02,1e35\n\
         o3,C2,2026-10-03,1000000000000000\no4,C2,2026-10-04,1000000000000001\n",
    );
    p.land(
        "social.csv",
        "Id,Handle,At,Followers\ne1,@a,2026-10-01,7000000000000000000\n\
         e2,@b,2026-10-01,1000000000000\ne3,@c,2026-10-01,1000000000001\n",
    );
    assert_exit(&p.ingest(), 0);
    let orders = p.query("raw/orders", "SELECT order_id FROM t ORDER BY order_id");
    assert_eq!(lines(&orders)[1..], ["o1", "o3"]);
    let quarantined = p.query(
        "quarantine/shop",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "3 | amount | 100000000000000000000000000000000000 is larger than 1e15, the most a \
             number may be here (amounts are summed as DECIMAL(38, 6))",
            "5 | amount | 1000000000000001 is larger than 1e15, the most a number may be here \
             (amounts are summed as DECIMAL(38, 6))"
        ]
    );
    let social = p.query("raw/social_activity", "SELECT event_id, followers FROM t");
    assert_eq!(lines(&social)[1..], ["e2 | 1000000000000"]);
    let quarantined = p.query(
        "quarantine/x",
        "SELECT row, field, reason FROM t ORDER BY row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "2 | followers | 7000000000000000000 is larger than 1000000000000, the most a count \
             may be (sums of counts must fit a BIGINT)",
            "4 | followers | 1000000000001 is larger than 1000000000000, the most a count may \
             be (sums of counts must fit a BIGINT)"
        ]
    );
}

/// Issue 27, point 5: landing symlinks are not followed unless the source
/// says so, and never out of the landing folder; a file whose name is not
/// UTF-8 or holds a newline is that file's failure, and a link loop is
/// not followed. The good file of the same source still loads, and nothing of
/// a refused file (not even its first line) is read or echoed.
#[test]
fn landing_symlinks_and_bad_names_fail_only_their_file() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    let source = |follow: bool| {
        format!(
            "  - name: crm\n    entity: customers\n    format: csv\n    path: crm/customers*.csv\n    \
             columns: {{ customer_id: Id, signup_date: Created }}\n    follow_symlinks: {follow}\n"
        )
    };
    let p = Project::new();
    p.config(&source(false));
    p.land("crm/customers.csv", "Id,Created\nC1,2024-01-01\n");
    p.land("inside/more.csv", "Id,Created\nC2,2024-01-02\n");
    p.write("outside.csv", "Id,Created\nC3,2024-01-03\n");
    let crm = p.landing().join("crm");
    symlink("/etc/passwd", crm.join("customers-passwd.csv")).unwrap();
    symlink(p.path("outside.csv"), crm.join("customers-outside.csv")).unwrap();
    symlink(
        p.landing().join("inside/more.csv"),
        crm.join("customers-inside.csv"),
    )
    .unwrap();
    symlink(&crm, crm.join("loop")).unwrap();
    let bad_name = std::ffi::OsStr::from_bytes(b"customers-\xff.csv");
    std::fs::write(crm.join(bad_name), "Id,Created\nC4,2024-01-04\n").unwrap();
    p.land("crm/customers-a\nb.csv", "Id,Created\nC5,2024-01-05\n");

    let out = p.ingest();
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("root:"), "/etc/passwd was read:\n{text}");
    for (file, why) in [
        (
            "crm/customers-passwd.csv",
            "is reached through a symbolic link, which is not followed",
        ),
        (
            "crm/customers-outside.csv",
            "is reached through a symbolic link",
        ),
        (
            "crm/customers-inside.csv",
            "is reached through a symbolic link",
        ),
    ] {
        assert!(text.contains(&format!("{file}: {why}")), "{file}:\n{text}");
    }
    assert!(
        text.contains("crm/customers-\u{fffd}.csv: has a name that is not UTF-8"),
        "{text}"
    );
    assert!(
        text.contains("crm/customers-a\\nb.csv: has a control character (a newline, a tab)"),
        "{text}"
    );
    let loaded = p.query(
        "raw/customers",
        "SELECT customer_id FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&loaded)[1..], ["C1"]);

    // With follow_symlinks, a link inside the landing loads; one out of it
    // never does.
    p.config(&source(true));
    let out = p.ingest();
    assert_exit(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("root:"), "/etc/passwd was read:\n{text}");
    assert!(
        text.contains("crm/customers-outside.csv: is a symbolic link out of the landing folder"),
        "{text}"
    );
    let loaded = p.query(
        "raw/customers",
        "SELECT customer_id FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&loaded)[1..], ["C1", "C2"]);
}

/// Issue 27, point 8: quarantine line numbers are the file's physical
/// lines whatever mix of CRLF and LF ends them (an export appended to by
/// two tools), blank lines included, starting with CRLF or with LF.
#[test]
fn line_numbers_are_right_for_any_mix_of_line_ends() {
    let p = Project::new();
    p.config(
        r#"  - name: crm
    entity: customers
    format: csv
    path: "*.csv"
    columns: { customer_id: Id, signup_date: Created }
"#,
    );
    // Lines: 1 header, 2 C1 (good), 3 C2, 4 C3, 5 C4, 6 blank, 7 C5.
    p.land(
        "a.csv",
        "Id,Created\r\nC1,2024-01-01\nC2,bad\r\nC3,bad\nC4,bad\r\n\r\nC5,bad\n",
    );
    p.land(
        "b.csv",
        "Id,Created\nC1,2024-01-01\r\nC2,bad\nC3,bad\r\nC4,bad\n\nC5,bad\r\n",
    );
    assert_exit(&p.ingest(), 0);
    let quarantined = p.query(
        "quarantine/crm",
        "SELECT file, row, raw_record FROM t ORDER BY file, row",
    );
    assert_eq!(
        lines(&quarantined)[1..],
        [
            "a.csv | 3 | C2,bad",
            "a.csv | 4 | C3,bad",
            "a.csv | 5 | C4,bad",
            "a.csv | 7 | C5,bad",
            "b.csv | 3 | C2,bad",
            "b.csv | 4 | C3,bad",
            "b.csv | 5 | C4,bad",
            "b.csv | 7 | C5,bad"
        ]
    );
}
