//! PII: with the default `pii: hash` no raw email reaches any file of the
//! warehouse (raw zone, quarantine, reports, state, run records); `keep`
//! and `drop` do what they say.

use crate::common;

use crate::common::{Project, SALT, assert_exit, lines};
use sha2::{Digest, Sha256};

const EMAILS: [&str; 5] = [
    "ann@example.com",
    "bob.smith@example.org",
    "cy@example.net",
    "dee@example.io",
    "eve@example.co.uk",
];

fn project(pii: &str) -> Project {
    let p = Project::new();
    p.write(
        "config.yaml",
        &format!(
            r#"landing: landing
warehouse: warehouse
run: {{ pii: {pii}, pii_salt: {SALT}, pii_salt_public: true }}
sources:
  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns: {{ customer_id: Id, email: Email, name: Name, signup_date: Created }}
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: {{ response_id: id, email: email, responded_at: at, score: score, comment: comment }}
  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: {{ customer_id: cid, kind: kind, value: value }}
"#
        ),
    );
    p.land(
        "customers.csv",
        "Id,Email,Name,Created\n\
         C1, Ann@Example.com ,Ann,2024-01-01\n\
         C2,BOB.SMITH@example.org,Bob (bob.smith@example.org),2024-01-02\n\
         C3,cy@example.net,Cy,not-a-date\n",
    );
    p.land(
        "nps.csv",
        "id,email,at,score,comment\n\
         r1,dee@example.io,2025-01-01,9,\"reach me: dee@example.io\"\n\
         r2,eve@example.co.uk,2025-01-02,12,too high\n",
    );
    p.land(
        "ids.csv",
        "cid,kind,value\nC1,email,ANN@example.com\nC1,x,@ann\n",
    );
    p.write(
        "queries/reports/customer_emails.sql",
        "SELECT customer_id, email_hash, name FROM raw_customers ORDER BY customer_id",
    );
    p
}

fn hash(email: &str) -> String {
    hex::encode(Sha256::digest(format!("{SALT}{email}")))
}

#[test]
fn with_the_default_no_raw_email_is_written_anywhere() {
    let p = project("hash");
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-11-01"]);
    assert_exit(&out, 0);
    let files = p.parquet_files();
    // raw x3, quarantine x2, materialised model, report + history, manifest
    assert_eq!(files.len(), 9, "{files:#?}");
    let text = p.warehouse_text().to_lowercase();
    for email in EMAILS {
        assert!(!text.contains(email), "{email} found in the warehouse");
    }
    assert!(text.contains(&hash("ann@example.com")));
    // Emails in free text and quarantined records are replaced by a tag.
    let names = p.query("raw/customers", "SELECT name FROM t ORDER BY customer_id");
    let bob = &hash("bob.smith@example.org")[..12];
    assert_eq!(
        lines(&names)[1..],
        ["Ann".to_string(), format!("Bob (<email:{bob}>)")]
    );
    let quarantined = p.query("quarantine/surveys", "SELECT raw_record FROM t");
    let eve = &hash("eve@example.co.uk")[..12];
    assert_eq!(
        lines(&quarantined)[1..],
        [format!("r2,<email:{eve}>,2025-01-02,12,too high")]
    );
    // Email identities are hashed so they join with customers' email_hash.
    let ids = p.query("raw/identities", "SELECT kind, value FROM t ORDER BY kind");
    assert_eq!(
        lines(&ids)[1..],
        [
            format!("email | {}", hash("ann@example.com")),
            "x | @ann".into()
        ]
    );
}

#[test]
fn keep_stores_the_normalised_email_next_to_its_hash() {
    let p = project("keep");
    assert_exit(&p.ingest(), 0);
    let rows = p.query(
        "raw/customers",
        "SELECT email, email_hash FROM t ORDER BY customer_id",
    );
    assert_eq!(
        lines(&rows)[1..],
        [
            format!("ann@example.com | {}", hash("ann@example.com")),
            format!("bob.smith@example.org | {}", hash("bob.smith@example.org")),
        ]
    );
}

#[test]
fn drop_stores_no_email_at_all_but_keeps_the_rows() {
    let p = project("drop");
    assert_exit(&p.ingest(), 0);
    let rows = p.query(
        "raw/customers",
        "SELECT customer_id, email_hash IS NULL AS dropped FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&rows)[1..], ["C1 | true", "C2 | true"]);
    // A survey answered only by email still loads under `drop`.
    let nps = p.query("raw/nps_responses", "SELECT response_id, email_hash FROM t");
    assert_eq!(lines(&nps)[1..], ["r1 |"]);
}

/// Whatever the kind is called, an address is hashed: kinds that name an
/// email (`work_email`, `E-mail 2`) become `email`, and an address under
/// another kind is hashed by its shape. Internationalised addresses in free
/// text are redacted whole.
#[test]
fn addresses_are_hashed_whatever_the_kind_and_wherever_they_are() {
    let p = Project::new();
    p.config(
        r#"  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: { customer_id: cid, kind: kind, value: value }
  - name: surveys
    entity: nps_responses
    format: csv
    path: nps.csv
    columns: { response_id: id, responded_at: at, score: score, comment: comment }
"#,
    );
    p.land(
        "ids.csv",
        "cid,kind,value\nC1,work_email,Ann.Work@Example.com\nC1,E-mail 2,ann2@example.com\nC2,x,fan@example.de\n",
    );
    p.land(
        "nps.csv",
        "id,at,score,comment\nr1,2025-01-01,9,\"écrivez à andré@example.fr ou josé.m@x.com\"\n",
    );
    assert_exit(&p.ingest(), 0);
    let ids = p.query(
        "raw/identities",
        "SELECT customer_id, kind, value FROM t ORDER BY value",
    );
    let mut expected = vec![
        format!("C1 | email | {}", hash("ann.work@example.com")),
        format!("C1 | email | {}", hash("ann2@example.com")),
        format!("C2 | x | {}", hash("fan@example.de")),
    ];
    expected.sort_by_key(|l| l.rsplit(" | ").next().unwrap().to_string());
    assert_eq!(lines(&ids)[1..], expected);
    let text = p.warehouse_text().to_lowercase();
    for email in [
        "ann.work@example.com",
        "ann2@example.com",
        "fan@example.de",
        "andré@example.fr",
        "josé.m@x.com",
    ] {
        assert!(!text.contains(email), "{email} found in the warehouse");
    }
    assert!(!text.contains("josé<email"), "a partial redaction: {text}");
}

/// A social handle that is an address is hashed like the identities row
/// that names it, so the event still finds its customer: `Fan@Example.DE `
/// on x and `fan@example.de` under kind x for C2 are one key.
#[test]
fn a_handle_that_is_an_address_joins_its_identity() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: { customer_id: cid, kind: kind, value: value }
  - name: x
    entity: social_activity
    format: csv
    path: x.csv
    columns: { event_id: id, platform: { value: x }, handle: handle, event_type: type, occurred_at: at }
"#,
    );
    p.land("ids.csv", "cid,kind,value\nC2,x,fan@example.de\n");
    p.land(
        "x.csv",
        "id,handle,type,at\ne1,Fan@Example.DE ,mention,2025-01-01T10:00:00Z\ne2,@other,mention,2025-01-01T11:00:00Z\n",
    );
    assert_exit(&p.ingest(), 0);
    assert_exit(&p.build("2026-11-01", &["+int_social_authors"]), 0);
    let authors = p.model_csv(
        "SELECT event_id, handle, customer_id FROM int_social_authors ORDER BY event_id",
    );
    // `repo_config` salts with "s".
    let fan = hex::encode(Sha256::digest("sfan@example.de"));
    assert_eq!(
        authors[1..],
        [format!("e1,{fan},C2"), "e2,@other,".to_string()]
    );
    let text = p.warehouse_text().to_lowercase();
    assert!(
        !text.contains("fan@example.de"),
        "a raw handle in the warehouse"
    );
}

/// Anything shaped like an address: letters (any script), digits and
/// `._%+'-` before an `@`, a dotted domain after it.
fn email_shaped(text: &str) -> Vec<String> {
    let pattern = regex::Regex::new(r"[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(\.[\p{L}\p{N}-]+)+")
        .expect("valid regex");
    pattern
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// Every file the run left in the warehouse: Parquet decoded value by
/// value and its raw bytes (the footer's key-value metadata is plain
/// text), anything else (run records, markers) as text.
fn every_object(p: &Project) -> String {
    let mut text = p.warehouse_text();
    let mut stack = vec![p.warehouse()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
                text.push('\n');
            }
        }
    }
    text
}

/// Addresses in every field a mapping can hold them in (email, names,
/// segments, labels, referral codes, identity kinds spelled any way, free
/// text in any script, a rejected status): after a run, debug logs in
/// both formats included, nothing the run wrote or printed is shaped like
/// an address.
#[test]
fn nothing_shaped_like_an_email_leaves_the_run() {
    let p = Project::new();
    p.config(
        r#"  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns:
      customer_id: Id
      email: Email
      name: Name
      signup_date: Created
      country: Country
      segment: Segment
      acquisition_channel: Channel
      referral_code: Code
  - name: ids
    entity: identities
    format: csv
    path: ids.csv
    columns: { customer_id: cid, kind: kind, value: value }
  - name: shop
    entity: orders
    format: csv
    path: orders*.csv
    columns: { order_id: id, customer_id: customer, ordered_at: at, amount: amount, status: status }
  - name: surveys
    entity: nps_responses
    format: jsonl
    path: nps.jsonl
    columns: { response_id: id, customer_id: customer, responded_at: at, score: score, comment: comment }
"#,
    );
    p.land(
        "customers.csv",
        "Id,Email,Name,Created,Country,Segment,Channel,Code\n\
         ann@example.com,Ann@Example.com,Ann <ann@example.com>,2024-01-01,US,vip@example.com,Partner@Example.com,REF-bo@example.org\n\
         C2,bo@example.org,Bo,2024-01-02,bo.country@example.org,smb,email,B2\n\
         C3,cy@example.net,Cy,not a date cy@example.net,DE,smb,email,C3\n\
         Jane Doe <jane2@example.com>,jane2@example.com,Jane,2024-01-03,US,smb,email,J1\n\
         key of kim@example.com,kim@example.com,Kim,2024-01-04,US,smb,email,K1\n",
    );
    p.land(
        "ids.csv",
        "cid,kind,value\nC1,work_email,Ann.Work@Example.com\nC1,E-mail 2,ann2@example.com\nC2,handle,fan@example.de\n\
         C2,x,Jane D <jane.d@example.com>\nC3,review_name,see lee@example.com\n",
    );
    p.land(
        "orders.csv",
        "id,customer,at,amount,status\n\
         O1,ann@example.com,2024-02-01 10:00:00,10,completed\n\
         O2,C2,2024-02-02 10:00:00,20,refund to bo@example.org\n",
    );
    // A file named after the person who sent it, with a header naming an
    // address (a column the mapping does not read) and a bad row.
    p.land(
        "orders-from-sam@example.com.csv",
        "id,customer,at,amount,status,notes for sam@example.com\n\
         O3,Jane Doe <jane2@example.com>,2024-02-03 10:00:00,30,completed,x\n\
         O4,C3,2024-02-04 10:00:00,-1,completed,y\n",
    );
    p.land(
        "nps.jsonl",
        "{\"id\": \"r1\", \"customer\": \"C1\", \"at\": \"2025-01-01T10:00:00Z\", \"score\": 9, \"comment\": \"écrivez à andré@example.fr ou josé.m@x.com\"}\n\
         {\"id\": \"r2\", \"customer\": \"łucja@poczta.pl\", \"at\": \"2025-01-02T10:00:00Z\", \"score\": 11, \"comment\": \"ok\"}\n\
         {\"id\": \"r3\", \"customer\": \"C2\", \"at\": \"not a time dee@example.io\", \"score\": 5}\n",
    );
    p.write(
        "queries/reports/customer_names.sql",
        "SELECT customer_id, name, segment, acquisition_channel, referral_code, country, _file FROM raw_customers",
    );
    let mut printed = String::new();
    for format in ["text", "json"] {
        let out = p.advocacy(&[
            "run",
            "--config",
            "config.yaml",
            "--date",
            "2026-11-01",
            "-vv",
            "--log-format",
            format,
            "--full-refresh",
        ]);
        assert_exit(&out, 0);
        printed.push_str(&common::stdout(&out));
        printed.push_str(&common::stderr(&out));
    }
    let found = email_shaped(&every_object(&p));
    assert!(found.is_empty(), "in the warehouse: {found:?}");
    let found = email_shaped(&printed);
    assert!(found.is_empty(), "in the output: {found:?}\n{printed}");
    // The rows are there, redacted, not dropped.
    let customers = p.query("raw/customers", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&customers)[1..], ["4"]);
    for (source, bad) in [("crm", "1"), ("shop", "2"), ("surveys", "2")] {
        let quarantined = p.query(
            &format!("quarantine/{source}"),
            "SELECT count(*) AS n FROM t",
        );
        assert_eq!(lines(&quarantined)[1..], [bad], "{source}");
    }
    // A segment that was an address is its tag; the key too is hashed.
    let segment = p.query(
        "raw/customers",
        &format!(
            "SELECT segment FROM t WHERE customer_id = '{}'",
            hash("ann@example.com")
        ),
    );
    let vip = &hash("vip@example.com")[..12];
    assert_eq!(lines(&segment)[1..], [format!("<email:{vip}>")]);
    // Issue 27, point 4: a key written as `Name <address>` is that
    // address's hash (it joins Jane's email_hash and her orders); any other
    // key holding an address keeps its shape, the address redacted.
    let keys = p.query(
        "raw/customers",
        "SELECT customer_id, email_hash FROM t WHERE name IN ('Jane', 'Kim') ORDER BY name",
    );
    let kim = &hash("kim@example.com")[..12];
    assert_eq!(
        lines(&keys)[1..],
        [
            format!("{0} | {0}", hash("jane2@example.com")),
            format!("key of <email:{kim}> | {}", hash("kim@example.com"))
        ]
    );
    let jane = p.query(
        "raw/orders",
        "SELECT customer_id, _file FROM t WHERE order_id = 'O3'",
    );
    // The file name is redacted as free text is: all of it is shaped like
    // an address (`orders-from-sam` before the `@`, `example.com.csv` after).
    let file = &hash("orders-from-sam@example.com.csv")[..12];
    assert_eq!(
        lines(&jane)[1..],
        [format!("{} | <email:{file}>", hash("jane2@example.com"))]
    );
}

/// Issue 27, point 4: the salt that hashes addresses is secret. Written in
/// the config, or left to a `${VAR:-default}` whose variable is unset
/// (the bundled config used to fall back to its public demo salt this
/// way), it stops every command with exit 2; from the environment or a
/// secret file it works; `pii_salt_public: true` allows a written one,
/// with a warning on every run.
#[test]
fn the_salt_comes_from_the_environment_or_a_secret_file() {
    let p = Project::new();
    p.land("customers.csv", "Id,Created\nC1,2024-01-01\n");
    let config = |run: &str| {
        p.write(
            "config.yaml",
            &format!(
                "landing: landing\nwarehouse: warehouse\nrun: {run}\nsources:\n  - name: crm\n    \
                 entity: customers\n    format: csv\n    path: customers.csv\n    \
                 columns: {{ customer_id: Id, signup_date: Created }}\n"
            ),
        );
    };
    let validate =
        |env: &[(&str, &str)]| p.advocacy_env(&["validate", "--config", "config.yaml"], env);
    config("{ pii_salt: written-salt-1 }");
    let out = validate(&[]);
    assert_exit(&out, 2);
    assert!(
        common::stderr(&out).contains("run.pii_salt is written in the config file"),
        "{}",
        common::stderr(&out)
    );
    config("{ pii_salt: \"${ADVOCACY_TEST_SALT_UNSET:-demo-salt}\" }");
    let out = validate(&[]);
    assert_exit(&out, 2);
    assert!(
        common::stderr(&out).contains("run.pii_salt: ADVOCACY_TEST_SALT_UNSET is not set"),
        "{}",
        common::stderr(&out)
    );
    assert_exit(&validate(&[("ADVOCACY_TEST_SALT_UNSET", "from-env-1")]), 0);
    p.write("secret/salt", "from-a-secret-file\n");
    config("{ pii_salt_file: secret/salt }");
    assert_exit(&validate(&[]), 0);
    let ingest = p.ingest();
    assert_exit(&ingest, 0);
    config("{ pii_salt: written-salt-1, pii_salt_public: true }");
    let out = p.ingest();
    assert_exit(&out, 0);
    assert!(
        common::stderr(&out).contains("run.pii_salt_public"),
        "{}",
        common::stderr(&out)
    );
}
