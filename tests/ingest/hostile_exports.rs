//! Hostile exports (issue 11, point 4): property tests over the CSV and
//! JSON readers, run through the library's real ingest into a warehouse on
//! disk. For every input: no panic, no hang, and every record read is
//! either loaded, quarantined or skipped, with the Parquet written holding
//! exactly the rows the report counts.
//!
//! The suite runs `PROPTEST_CASES` cases per property (256 unless set);
//! the longer run is `bash scripts/fuzz.sh` (README, "Reliability").

use std::path::Path;
use std::sync::OnceLock;

use advocacy::config::Config;
use advocacy::ingest::{FileStatus, IngestOptions, ingest};
use advocacy::storage::Location;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use proptest::prelude::*;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().expect("runtime"))
}

/// What one ingest of one landing file did.
#[derive(Debug)]
struct Outcome {
    /// `Err` when the file was refused as a whole (the report's error).
    status: Result<(), String>,
    read: u64,
    loaded: u64,
    quarantined: u64,
    skipped: u64,
    /// Rows in the Parquet files of the raw zone and of quarantine.
    raw_rows: u64,
    quarantine_rows: u64,
}

impl Outcome {
    /// The accounting every input must satisfy.
    fn assert_adds_up(&self) {
        assert_eq!(
            self.read,
            self.loaded + self.quarantined + self.skipped,
            "{self:?}"
        );
        assert_eq!(self.raw_rows, self.loaded, "{self:?}");
        assert_eq!(self.quarantine_rows, self.quarantined, "{self:?}");
        if self.status.is_err() {
            assert_eq!(self.read, 0, "a refused file loads nothing: {self:?}");
        }
    }
}

const ORDERS_COLUMNS: &str = "    columns:
      order_id: id
      customer_id: customer
      ordered_at: at
      amount: amount
      status: status";

/// Ingests `contents` as the one file of an orders source of `format`
/// (`csv_options` is the source's `csv:` value, or empty).
fn ingest_file(format: &str, csv_options: &str, contents: &[u8]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    let name = format!("orders.{format}");
    std::fs::write(landing.join(&name), contents).unwrap();
    let csv = match csv_options {
        "" => String::new(),
        options => format!("    csv: {options}\n"),
    };
    let text = format!(
        "landing: landing\nwarehouse: warehouse\nrun: {{ pii: hash, pii_salt: s, pii_salt_public: true }}\nsources:\n  \
         - name: shop\n    entity: orders\n    format: {format}\n    path: {name}\n{csv}{ORDERS_COLUMNS}\n"
    );
    let config = Config::parse(&text, dir.path().to_path_buf()).expect("config");
    let outcome = runtime().block_on(async {
        let landing =
            Location::open(&config.resolve_location("landing"), &config.storage, false).unwrap();
        let warehouse =
            Location::open(&config.resolve_location("warehouse"), &config.storage, true).unwrap();
        let options = IngestOptions {
            run_id: "20261201T000000Z-prop".into(),
            run_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            loaded_at: chrono::Utc::now(),
            show_progress: false,
            full_refresh: false,
        };
        ingest(&config, &landing, &warehouse, &options)
            .await
            .expect("ingest")
    });
    let source = &outcome.sources[0];
    assert!(source.error.is_none(), "{:?}", source.error);
    assert_eq!(source.files.len(), 1, "{:?}", source.files);
    let file = &source.files[0];
    let warehouse = dir.path().join("warehouse");
    Outcome {
        status: match &file.status {
            FileStatus::Failed { error } => Err(error.clone()),
            _ => Ok(()),
        },
        read: file.rows_read,
        loaded: file.rows_loaded,
        quarantined: file.rows_quarantined,
        skipped: file.rows_skipped,
        raw_rows: parquet_rows(&warehouse.join("raw")),
        quarantine_rows: parquet_rows(&warehouse.join("quarantine")),
    }
}

fn parquet_rows(dir: &Path) -> u64 {
    let mut files = Vec::new();
    if dir.exists() {
        walk(dir, &mut files);
    }
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            let reader = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
            reader.metadata().file_metadata().num_rows() as u64
        })
        .sum()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

const HEADER: &str = "id,customer,at,amount,status";

/// One CSV field as a well-formed export writes it: plain, or quoted with
/// delimiters, escaped quotes and line breaks inside. A quoted field
/// begins with a letter: a field that begins with a line break or a
/// delimiter after an earlier stray quote is valid RFC 4180 either way,
/// so no reader could tell what was meant.
fn sound_field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9 .:@-]{0,10}",
        1 => Just("2024-03-01 10:00:00".to_string()),
        1 => Just("12.50".to_string()),
        2 => "[a-z][a-z ,\n]{0,8}(\"\")?[a-z\n]{0,3}".prop_map(|v| format!("\"{v}\"")),
    ]
}

/// A record: five sound fields, or (`broken`) one whose quote never
/// closes on its line (the rest of the line has no quote). The broken
/// field has text after its quote: a bare `"` before a delimiter, then a
/// line that begins `"` and a delimiter, is a sound quoted field over two
/// lines to any reader.
fn record() -> impl Strategy<Value = (String, bool)> {
    (
        proptest::collection::vec(sound_field(), 5),
        proptest::option::weighted(0.15, (0usize..5, "[a-z][a-z ]{0,7}")),
    )
        .prop_map(|(mut fields, broken)| match broken {
            None => (fields.join(","), false),
            Some((at, text)) => {
                fields[at] = format!("\"{text}");
                for later in fields.iter_mut().skip(at + 1) {
                    *later = later.replace('"', "").replace('\n', " ");
                }
                (fields.join(","), true)
            }
        })
}

proptest! {
    /// CSV files of sound and broken records (an unterminated quote on
    /// some), CRLF or LF, with or without a BOM and a final newline: the
    /// reader counts exactly one record per record written, whatever the
    /// broken ones swallowed, and each broken one is quarantined.
    #[test]
    fn every_csv_record_is_counted_once(
        records in proptest::collection::vec(record(), 0..30),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        text.push_str(HEADER);
        for (record, _) in &records {
            text.push_str(eol);
            text.push_str(&record.replace('\n', eol));
        }
        if final_newline {
            text.push_str(eol);
        }
        let outcome = ingest_file("csv", "", text.as_bytes());
        outcome.assert_adds_up();
        prop_assert!(outcome.status.is_ok(), "{outcome:?}");
        prop_assert_eq!(outcome.read, records.len() as u64, "{:?}\n{}", outcome, text);
        let broken = records.iter().filter(|(_, broken)| *broken).count() as u64;
        prop_assert!(outcome.quarantined >= broken, "{outcome:?}\n{text}");
    }

    /// Arbitrary bytes after a header: quotes, delimiters, CR, LF, NUL,
    /// invalid UTF-8, a BOM anywhere, read as UTF-8 or as Windows-1252.
    /// Never a panic; the counts add up; no more records than lines.
    #[test]
    fn arbitrary_csv_bytes_never_lose_a_row(
        body in proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(b"abc019.:- ".to_vec()),
                3 => Just(b','),
                2 => Just(b'"'),
                2 => Just(b'\n'),
                1 => Just(b'\r'),
                1 => Just(0u8),
                1 => proptest::sample::select(vec![0xFF, 0xC3, 0xA9, 0xEF, 0xBB, 0xBF, 0xE9]),
            ],
            0..600,
        ),
        encoding in proptest::sample::select(vec!["", "{ encoding: windows-1252 }", "{ encoding: latin1 }"]),
    ) {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend_from_slice(&body);
        let outcome = ingest_file("csv", encoding, &bytes);
        outcome.assert_adds_up();
        let lines = 1 + body.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
        prop_assert!(outcome.read <= lines, "{outcome:?}");
    }

    /// JSON Lines of valid, truncated and hostile records (numbers out of
    /// range, dates in year 0 and 99999, deep nesting, NUL, invalid
    /// UTF-8): one record per non-blank line, every one counted.
    #[test]
    fn every_json_line_is_counted_once(
        lines in proptest::collection::vec(json_line(), 0..25),
    ) {
        let mut bytes = Vec::new();
        for line in &lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        let outcome = ingest_file("jsonl", "", &bytes);
        outcome.assert_adds_up();
        prop_assert!(outcome.status.is_ok(), "{outcome:?}");
        let records = lines
            .iter()
            .filter(|l| std::str::from_utf8(l).map_or(true, |t| !t.trim_start_matches('\u{feff}').trim().is_empty()))
            .count() as u64;
        prop_assert_eq!(outcome.read, records, "{:?}", outcome);
    }
}

/// One line of a JSON Lines export.
fn json_line() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("\"A1\"".to_string()),
        Just("12.5".to_string()),
        Just("1e999".to_string()),
        Just("-99999999999999999999999".to_string()),
        Just("\"0000-01-01T00:00:00Z\"".to_string()),
        Just("\"99999-12-31T00:00:00Z\"".to_string()),
        Just("\"2024-03-01T10:00:00Z\"".to_string()),
        Just("null".to_string()),
        Just("\"a\\u0000b\"".to_string()),
        (1usize..200).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        Just("{\"nested\": {\"x\": [1, 2, {\"y\": null}]}}".to_string()),
    ];
    let record = proptest::collection::vec(value, 5).prop_map(|v| {
        format!(
            "{{\"id\": {}, \"customer\": {}, \"at\": {}, \"amount\": {}, \"status\": {}}}",
            v[0], v[1], v[2], v[3], v[4]
        )
        .into_bytes()
    });
    prop_oneof![
        6 => record.clone(),
        // Cut short, as a truncated delivery ends.
        2 => (record, 0usize..60).prop_map(|(mut r, cut)| {
            r.truncate(cut.min(r.len()));
            r
        }),
        1 => Just(b"   ".to_vec()),
        1 => Just(b"{\"id\": \"\xFF\xFE\"}".to_vec()),
        1 => Just(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()),
        1 => Just(b"\x00\x00{}".to_vec()),
    ]
}

#[test]
fn the_issues_unterminated_quote_loses_no_customer() {
    let text = "id,customer,at,amount,status\n\
                O1,C1,2024-03-01 10:00:00,10,\"Ana\n\
                O2,C2,2024-03-02 10:00:00,20,completed\n\
                O3,C3,2024-03-03 10:00:00,30,completed\n";
    let outcome = ingest_file("csv", "", text.as_bytes());
    outcome.assert_adds_up();
    assert_eq!(
        (outcome.read, outcome.loaded, outcome.quarantined),
        (3, 2, 1)
    );
}

#[test]
fn empty_header_only_and_giant_files_are_read_whole() {
    // A 0-byte delivery and a header alone: 0 rows, not an error.
    for contents in ["", HEADER, &format!("{HEADER}\r\n")] {
        let outcome = ingest_file("csv", "", contents.as_bytes());
        outcome.assert_adds_up();
        assert_eq!(
            (outcome.read, outcome.status.clone()),
            (0, Ok(())),
            "{contents:?}"
        );
    }
    // A 10 MB field is read as one record; it is the status column, and
    // ten million x's are no known status, so the record is quarantined.
    let big = format!(
        "{HEADER}\nO1,C1,2024-03-01 10:00:00,10,\"{}\"\n",
        "x".repeat(10 << 20)
    );
    let outcome = ingest_file("csv", "", big.as_bytes());
    outcome.assert_adds_up();
    assert_eq!((outcome.read, outcome.quarantined), (1, 1), "{outcome:?}");
    // 10,000 columns, the mapped ones among them.
    let extra: Vec<String> = (0..9_995).map(|i| format!("c{i}")).collect();
    let mut text = format!("{HEADER},{}\n", extra.join(","));
    text.push_str(&format!(
        "O1,C1,2024-03-01 10:00:00,10,completed,{}\n",
        extra.join(",")
    ));
    let outcome = ingest_file("csv", "", text.as_bytes());
    outcome.assert_adds_up();
    assert_eq!((outcome.read, outcome.loaded), (1, 1), "{outcome:?}");
}

#[test]
fn deeply_nested_json_is_quarantined_not_crashed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // The document is an array of one record, too deep to parse: that
    // record is quarantined.
    let outcome = ingest_file("json", "", deep.as_bytes());
    outcome.assert_adds_up();
    assert_eq!((outcome.read, outcome.quarantined), (1, 1), "{outcome:?}");
    // The second record has every mapped key (a path that no record has
    // fails the file: a misspelled mapping), but no values.
    let lines = format!(
        "{deep}\n{{\"id\": \"O1\", \"customer\": null, \"at\": null, \"amount\": null, \"status\": null}}\n"
    );
    let outcome = ingest_file("jsonl", "", lines.as_bytes());
    outcome.assert_adds_up();
    assert_eq!((outcome.read, outcome.quarantined), (2, 2), "{outcome:?}");
}

#[test]
fn dates_in_year_0_and_99999_and_numbers_out_of_range_are_quarantined() {
    let text = "id,customer,at,amount,status\n\
                O1,C1,0000-01-01 10:00:00,10,completed\n\
                O2,C1,99999-12-31 10:00:00,10,completed\n\
                O3,C1,2024-03-01 10:00:00,1e999,completed\n\
                O4,C1,2024-03-01 10:00:00,-99999999999999999999,completed\n\
                O5,C1,2024-03-01 10:00:00,10,completed\n";
    let outcome = ingest_file("csv", "", text.as_bytes());
    outcome.assert_adds_up();
    assert_eq!(
        (outcome.read, outcome.loaded, outcome.quarantined),
        (5, 1, 4),
        "{outcome:?}"
    );
}
