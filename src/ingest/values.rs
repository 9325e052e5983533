//! Parsing one text value into a typed value, with the reason when it
//! does not parse. Dates and timestamps accept ISO 8601, `YYYYMMDD`, epoch
//! seconds or milliseconds, or an explicit chrono format.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::Date32Type;

/// Bounds outside which a date is taken as a data error: nothing in a
/// CRM predates 1970, and nothing happens more than a day in the future.
#[derive(Clone, Copy)]
pub struct DateBounds {
    pub min: NaiveDate,
    pub max: NaiveDate,
}

impl DateBounds {
    pub fn until_tomorrow() -> DateBounds {
        DateBounds {
            min: NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"),
            max: Utc::now().date_naive() + chrono::Days::new(1),
        }
    }

    fn check(&self, date: NaiveDate) -> Result<(), String> {
        if date < self.min {
            Err(format!("date {date} is before {}", self.min))
        } else if date > self.max {
            Err(format!("date {date} is in the future"))
        } else {
            Ok(())
        }
    }
}

/// `str::trim`, without its char-by-char Unicode scan for the values that
/// need none: those that begin and end with a visible ASCII byte, which
/// is nearly every value of an export. Every field is trimmed, some twice,
/// and `str::trim` was 5% of the instructions of loading an orders CSV
/// (callgrind); this check costs a few.
pub fn trim(text: &str) -> &str {
    let visible = |b: &u8| b.is_ascii_graphic();
    match text.as_bytes() {
        [first, .., last] if visible(first) && visible(last) => text,
        [only] if visible(only) => text,
        _ => text.trim(),
    }
}

pub fn parse_int(text: &str) -> Result<i64, String> {
    let t = trim(text);
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    // Spreadsheets turn 8 into "8.0"; accept that, but not 8.5.
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9e15 => Ok(f as i64),
        Ok(_) => Err(format!("{t:?} is not a whole number")),
        Err(_) => Err(format!("{t:?} is not a number")),
    }
}

pub fn parse_float(text: &str) -> Result<f64, String> {
    let t = trim(text);
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err(format!("{t:?} is not a number")),
    }
}

/// `{ from: refunds, sum: total }`: the sum of a dotted path's numbers
/// (JSON numbers, or text that parses as one) over the elements of a JSON
/// array; 0 for an empty array. An element without the path is an error:
/// a sum that silently left one out would be a wrong amount.
pub fn sum_over_array(array: &str, path: &str) -> Result<f64, String> {
    let not_array = || {
        let start: String = array.chars().take(40).collect();
        let more = if start.len() < array.len() { "..." } else { "" };
        format!("{start:?}{more} is not a JSON array (`sum` adds up a field of its elements)")
    };
    let items = match serde_json::from_str::<serde_json::Value>(array) {
        Ok(serde_json::Value::Array(items)) => items,
        _ => return Err(not_array()),
    };
    let mut total = 0.0;
    for (i, item) in items.iter().enumerate() {
        let value = path.split('.').try_fold(item, |v, key| match v {
            serde_json::Value::Object(map) => map.get(key),
            serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|k| items.get(k)),
            _ => None,
        });
        total += match value {
            Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(serde_json::Value::String(t)) => {
                parse_float(t).map_err(|e| format!("element {i} of the array: {path}: {e}"))?
            }
            _ => return Err(format!("element {i} of the array has no number at {path}")),
        };
    }
    if !total.is_finite() {
        return Err(format!("the sum of {path} is not a finite number"));
    }
    Ok(total)
}

pub fn parse_bool(text: &str) -> Result<bool, String> {
    match trim(text).to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        other => Err(format!("{other:?} is not true/false")),
    }
}

/// Epoch seconds below this are seconds, above it milliseconds: 1e11
/// seconds is the year 5138, 1e11 milliseconds is March 1973.
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// What a value made only of digits stands for.
enum BareNumber {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

/// Eight digits are a `YYYYMMDD` date from 1900-01-01 to 2100-12-31, 9 to
/// 13 are epoch seconds or milliseconds, with or without a fraction
/// (`1615154286.0`, as Reddit and many JSON APIs write them), and any other
/// count is refused: read as epoch seconds, the date 20240501 would be
/// 1970-08-23 and load without a word. `None` when `t` is not digits with
/// at most one decimal point.
fn parse_bare_number(t: &str) -> Option<Result<BareNumber, String>> {
    let (whole, fraction) = match t.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    Some(match (whole.len(), fraction) {
        (8, None) => yyyymmdd(t)
            .map(BareNumber::Date)
            .ok_or_else(|| format!("{t:?} is not a date (eight digits are read as YYYYMMDD)")),
        (9..=13, _) => {
            let n: i64 = whole.parse().expect("at most 13 digits fit an i64");
            let micros = if n >= MILLIS_THRESHOLD {
                n.checked_mul(1_000)
                    .map(|m| m + fraction_micros(fraction, 1_000))
            } else {
                n.checked_mul(1_000_000)
                    .map(|m| m + fraction_micros(fraction, 1_000_000))
            };
            micros
                .and_then(DateTime::from_timestamp_micros)
                .map(BareNumber::Instant)
                .ok_or_else(|| format!("{t:?} is out of range"))
        }
        _ => Err(format!(
            "{t:?} is neither a YYYYMMDD date (8 digits) nor epoch seconds or milliseconds (9 to 13 digits, maybe with a fraction)"
        )),
    })
}

/// The fraction of a unit of `unit_micros` microseconds written as the
/// digits after the decimal point, in whole microseconds (finer digits are
/// dropped).
fn fraction_micros(fraction: Option<&str>, unit_micros: i64) -> i64 {
    let Some(fraction) = fraction else { return 0 };
    let mut value = 0i64;
    let mut scale = unit_micros;
    for b in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value += i64::from(b - b'0') * scale;
    }
    value
}

fn yyyymmdd(t: &str) -> Option<NaiveDate> {
    let n: u32 = t.parse().ok()?;
    if !(19000101..=21001231).contains(&n) {
        return None;
    }
    NaiveDate::from_ymd_opt((n / 10000) as i32, n / 100 % 100, n % 100)
}

fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.with_timezone(&Utc))
        .ok_or_else(|| format!("{naive} does not exist in time zone {tz}"))
}

/// Parses a timestamp to microseconds since the epoch (UTC). Values
/// without an offset are read in `tz`.
pub fn parse_timestamp(
    text: &str,
    format: Option<&str>,
    tz: Tz,
    bounds: &DateBounds,
) -> Result<i64, String> {
    let t = trim(text);
    let parsed = match format {
        Some(f) => parse_with_format(t, f, tz)?,
        None => parse_timestamp_auto(t, tz)?,
    };
    bounds.check(parsed.date_naive())?;
    Ok(parsed.timestamp_micros())
}

/// The fields of `text` read with a strftime `format`: what chrono's
/// `parse_from_str` does, except that chrono re-reads the format string on
/// every call (3% of ingest CPU at a million customers, several formats
/// tried per value), so each thread keeps the formats it has seen, parsed.
fn parse_fields(text: &str, format: &str) -> Option<Parsed> {
    thread_local! {
        static FORMATS: RefCell<HashMap<String, Option<Vec<Item<'static>>>>> =
            RefCell::new(HashMap::new());
    }
    FORMATS.with(|formats| {
        let mut formats = formats.borrow_mut();
        if !formats.contains_key(format) {
            let items = StrftimeItems::new(format).parse_to_owned().ok();
            formats.insert(format.to_string(), items);
        }
        let items = formats.get(format)?.as_ref()?;
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
        Some(parsed)
    })
}

fn parse_offset_datetime(t: &str, format: &str) -> Option<DateTime<Utc>> {
    let dt = parse_fields(t, format)?.to_datetime().ok()?;
    Some(dt.with_timezone(&Utc))
}

fn parse_naive_datetime(t: &str, format: &str) -> Option<NaiveDateTime> {
    parse_fields(t, format)?
        .to_naive_datetime_with_offset(0)
        .ok()
}

fn parse_naive_date(t: &str, format: &str) -> Option<NaiveDate> {
    parse_fields(t, format)?.to_naive_date().ok()
}

fn parse_with_format(t: &str, format: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    parse_fields(t, format)
        .and_then(|fields| fields_to_utc(&fields, tz))
        .unwrap_or_else(|| Err(format!("{t:?} does not match format {format:?}")))
}

/// An instant from parsed fields: with their offset, else a local time in
/// `tz`, else local midnight of a date; `None` when they make none of them.
fn fields_to_utc(fields: &Parsed, tz: Tz) -> Option<Result<DateTime<Utc>, String>> {
    if let Ok(dt) = fields.to_datetime() {
        return Some(Ok(dt.with_timezone(&Utc)));
    }
    if let Ok(naive) = fields.to_naive_datetime_with_offset(0) {
        return Some(local_to_utc(naive, tz));
    }
    let date = fields.to_naive_date().ok()?;
    Some(local_to_utc(date.and_time(NaiveTime::MIN), tz))
}

fn parse_timestamp_auto(t: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    match parse_bare_number(t) {
        Some(Ok(BareNumber::Date(date))) => return local_to_utc(date.and_time(NaiveTime::MIN), tz),
        Some(Ok(BareNumber::Instant(instant))) => return Ok(instant),
        Some(Err(reason)) => return Err(reason),
        None => {}
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    // ISO 8601 variants real exports use: space separator, no seconds,
    // fractional seconds, `+0100` offsets, or no offset at all.
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Some(dt) = parse_offset_datetime(t, f) {
            return Ok(dt);
        }
    }
    let t_no_z = t.strip_suffix(" UTC").unwrap_or(t);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Some(naive) = parse_naive_datetime(t_no_z, f) {
            return if t_no_z.len() != t.len() {
                Ok(Utc.from_utc_datetime(&naive))
            } else {
                local_to_utc(naive, tz)
            };
        }
    }
    if let Some(date) = parse_naive_date(t, "%Y-%m-%d") {
        return local_to_utc(date.and_time(NaiveTime::MIN), tz);
    }
    Err(format!(
        "{t:?} is not a timestamp (ISO 8601, YYYYMMDD, epoch seconds or milliseconds; or set `format`)"
    ))
}

/// Parses a calendar date. Timestamps are accepted (those without an
/// offset read in `read_tz`, the column's zone) and reduced to their date
/// in `tz` (the run's), so a `Created At` column can feed a date field.
pub fn parse_date(
    text: &str,
    format: Option<&str>,
    read_tz: Tz,
    tz: Tz,
    bounds: &DateBounds,
) -> Result<i32, String> {
    let t = trim(text);
    let date = match format {
        Some(f) => {
            let mismatch = || format!("{t:?} does not match format {f:?}");
            let fields = parse_fields(t, f).ok_or_else(mismatch)?;
            match fields.to_naive_date() {
                Ok(d) => d,
                Err(_) => fields_to_utc(&fields, read_tz)
                    .unwrap_or_else(|| Err(mismatch()))?
                    .with_timezone(&tz)
                    .date_naive(),
            }
        }
        None => match (parse_naive_date(t, "%Y-%m-%d"), parse_bare_number(t)) {
            (Some(d), _) | (None, Some(Ok(BareNumber::Date(d)))) => d,
            (None, Some(Ok(BareNumber::Instant(instant)))) => instant.with_timezone(&tz).date_naive(),
            (None, Some(Err(reason))) => return Err(reason),
            (None, None) => parse_timestamp_auto(t, read_tz)
                .map_err(|_| {
                    format!(
                        "{t:?} is not a date (YYYY-MM-DD, YYYYMMDD, ISO 8601, epoch seconds; or set `format`)"
                    )
                })?
                .with_timezone(&tz)
                .date_naive(),
        },
    };
    bounds.check(date)?;
    Ok(Date32Type::from_naive_date(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> DateBounds {
        DateBounds {
            min: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            max: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
        }
    }

    fn ts(text: &str) -> Result<i64, String> {
        parse_timestamp(text, None, Tz::UTC, &bounds())
    }

    #[test]
    fn trim_agrees_with_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\tab\r\n",
            "a b",
            "\u{a0}x",
            "x\u{2003}",
            "é",
            " é ",
            "\u{feff}x",
            "x\u{3000}",
            "~!",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn timestamps_in_every_shape_exports_use() {
        let expected = 1_714_564_800_000_000; // 2024-05-01T12:00:00Z
        for text in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.000Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01 14:00:00+0200",
            "2024-05-01 12:00:00",
            "2024-05-01T12:00",
            "2024-05-01 12:00:00 UTC",
            "1714564800",
            "1714564800000",
        ] {
            assert_eq!(ts(text), Ok(expected), "{text}");
        }
        assert_eq!(ts("2024-05-01"), Ok(1_714_521_600_000_000));
    }

    #[test]
    fn naive_timestamps_are_read_in_the_configured_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let micros = parse_timestamp("2024-05-01 14:00:00", None, paris, &bounds()).unwrap();
        assert_eq!(micros, 1_714_564_800_000_000);
    }

    #[test]
    fn dates_with_and_without_format() {
        let d = |t: &str, f: Option<&str>| parse_date(t, f, Tz::UTC, Tz::UTC, &bounds());
        assert_eq!(d("1970-01-02", None), Ok(1));
        assert_eq!(d("03/15/2024", Some("%m/%d/%Y")), Ok(19_797));
        assert_eq!(d("2024-03-15T23:30:00-02:00", None), Ok(19_798));
        assert!(d("31/02/2025", None).is_err());
        assert!(d("yesterday", None).is_err());
        assert!(d("2099-01-01", None).unwrap_err().contains("future"));
        assert!(d("1969-12-31", None).unwrap_err().contains("before 1970"));
    }

    #[test]
    fn bare_numbers_are_yyyymmdd_dates_or_9_to_13_digit_epochs() {
        // 2024-05-01 is day 19_844 (2024-03-15 is 19_797, plus 16 days of
        // March and 30 of April, plus 1) and 1_714_521_600 s at UTC midnight.
        assert_eq!(ts("20240501"), Ok(1_714_521_600_000_000));
        // Local midnight in Paris (UTC+2 in May) is two hours earlier.
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let micros = parse_timestamp("20240501", None, paris, &bounds()).unwrap();
        assert_eq!(micros, 1_714_521_600_000_000 - 7_200_000_000);
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let d = |t: &str, tz: Tz| parse_date(t, None, tz, tz, &bounds());
        // A YYYYMMDD date is the same day in every zone.
        assert_eq!(d("20240501", la), Ok(19_844));
        assert_eq!(d("20240501", tokyo), Ok(19_844));
        // 1_714_600_800 s is 2024-05-01T22:00Z: 15:00 in Los Angeles, 07:00
        // the next day in Tokyo.
        assert_eq!(d("1714600800", la), Ok(19_844));
        assert_eq!(d("1714600800", tokyo), Ok(19_845));
        // A column read in UTC (`timezone: UTC`) is still cut into days in
        // the run's zone: 2024-05-01 22:30 UTC is 01:30 on May 2 in
        // Istanbul (UTC+3), day 19_845; read in Istanbul it stays May 1.
        let istanbul: Tz = "Europe/Istanbul".parse().unwrap();
        let text = "2024-05-01 22:30";
        assert_eq!(
            parse_date(text, None, Tz::UTC, istanbul, &bounds()),
            Ok(19_845)
        );
        assert_eq!(
            parse_date(text, None, istanbul, istanbul, &bounds()),
            Ok(19_844)
        );
        // Nine digits are seconds: 999_999_999 s is 2001-09-09T01:46:39Z.
        assert_eq!(ts("999999999"), Ok(999_999_999_000_000));
        for (text, reason) in [
            ("20241332", "eight digits are read as YYYYMMDD"),
            ("21010101", "eight digits are read as YYYYMMDD"),
            ("18991231", "eight digits are read as YYYYMMDD"),
            ("1714564", "neither a YYYYMMDD date"),
            ("17145648000000", "neither a YYYYMMDD date"),
        ] {
            assert!(ts(text).unwrap_err().contains(reason), "{text}");
            assert!(d(text, la).unwrap_err().contains(reason), "{text}");
        }
        // In range for YYYYMMDD, but before the dates the load accepts.
        assert!(d("19000101", la).unwrap_err().contains("before 1970"));
    }

    #[test]
    fn epochs_may_have_a_fraction() {
        // Reddit's created_utc: 1_615_154_286 s is 2021-03-07T21:58:06Z.
        assert_eq!(ts("1615154286.0"), Ok(1_615_154_286_000_000));
        assert_eq!(ts("1615154286.25"), Ok(1_615_154_286_250_000));
        // Milliseconds with a fraction: .5 ms is 500 us; digits finer than
        // a microsecond are dropped.
        assert_eq!(ts("1615154286123.5"), Ok(1_615_154_286_123_500));
        assert_eq!(ts("1615154286.1234567"), Ok(1_615_154_286_123_456));
        // A YYYYMMDD date has no fraction, and neither count of digits
        // becomes an epoch by having one.
        assert!(
            ts("20240501.0")
                .unwrap_err()
                .contains("neither a YYYYMMDD date")
        );
        assert!(
            ts("1714564.5")
                .unwrap_err()
                .contains("neither a YYYYMMDD date")
        );
        assert!(ts("1615154286.").is_err());
        assert!(ts("1615154286.2.5").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_int(" 8 "), Ok(8));
        assert_eq!(parse_int("\u{a0}8\u{2003}"), Ok(8));
        assert_eq!(parse_int("8.0"), Ok(8));
        assert!(parse_int("8.5").is_err());
        assert!(parse_int("ten").is_err());
        assert_eq!(parse_float("12.50"), Ok(12.5));
        assert!(parse_float("NaN").is_err());
        assert!(parse_float("inf").is_err());
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
