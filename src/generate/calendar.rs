//! Time for the simulation: milliseconds since the epoch in UTC, the
//! shops' and customers' time zones (real rules from `chrono-tz`, so
//! offsets switch at 02:00 local like the exports they imitate), the
//! timestamp spellings the exports use, and the signup calendar.

use std::fmt::Write;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::random::Rng;

pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;
pub(super) const WEEK_MS: i64 = 7 * DAY_MS;

pub(super) fn date_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

pub(super) fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("timestamp within chrono's range")
}

/// Months from the month of `start_ms` to the month of `ms` (UTC).
pub(super) fn month_index(start_ms: i64, ms: i64) -> usize {
    let (a, b) = (utc(start_ms), utc(ms));
    ((b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32).max(0) as usize
}

/// The first instant of the month `index` months after the month of
/// `start_ms`.
pub(super) fn month_start_ms(start_ms: i64, index: usize) -> i64 {
    let a = utc(start_ms);
    let months = a.year() * 12 + a.month0() as i32 + index as i32;
    date_ms(NaiveDate::from_ymd_opt(months / 12, (months % 12) as u32 + 1, 1).expect("valid"))
}

// --- spellings ---------------------------------------------------------------
// chrono's `format` parses its pattern on every call; these fixed layouts
// are written digit by digit, which made `generate` about twice as fast on
// the heavy profile (formatting dominated the profile).

fn push_2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn push_date(out: &mut String, t: &NaiveDateTime) {
    let _ = write!(out, "{:04}-", t.year());
    push_2(out, t.month());
    out.push('-');
    push_2(out, t.day());
}

fn push_time(out: &mut String, t: &NaiveDateTime) {
    push_2(out, t.hour());
    out.push(':');
    push_2(out, t.minute());
    out.push(':');
    push_2(out, t.second());
}

fn naive(ms: i64) -> NaiveDateTime {
    utc(ms).naive_utc()
}

/// `MM/DD/YYYY`, as Excel writes US dates.
pub(super) fn fmt_mdy(ms: i64) -> String {
    let t = naive(ms);
    let mut s = String::with_capacity(10);
    push_2(&mut s, t.month());
    s.push('/');
    push_2(&mut s, t.day());
    let _ = write!(s, "/{:04}", t.year());
    s
}

/// `YYYY-MM-DD HH:MM:SS`, UTC without an offset.
pub(super) fn fmt_sql(ms: i64) -> String {
    let t = naive(ms);
    let mut s = String::with_capacity(19);
    push_date(&mut s, &t);
    s.push(' ');
    push_time(&mut s, &t);
    s
}

/// RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn fmt_z(ms: i64) -> String {
    let t = naive(ms);
    let mut s = String::with_capacity(20);
    push_date(&mut s, &t);
    s.push('T');
    push_time(&mut s, &t);
    s.push('Z');
    s
}

/// RFC 3339 in UTC with milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) fn fmt_z_millis(ms: i64) -> String {
    let t = naive(ms);
    let mut s = String::with_capacity(24);
    push_date(&mut s, &t);
    s.push('T');
    push_time(&mut s, &t);
    let _ = write!(s, ".{:03}Z", ms.rem_euclid(1000));
    s
}

/// Local time with its offset, `YYYY-MM-DDTHH:MM:SS+hh:mm`, in `zone`.
pub(super) fn fmt_local(ms: i64, zone: Tz) -> String {
    let offset = zone
        .offset_from_utc_datetime(&naive(ms))
        .fix()
        .local_minus_utc();
    let t = naive(ms + offset as i64 * 1000);
    let mut s = String::with_capacity(25);
    push_date(&mut s, &t);
    s.push('T');
    push_time(&mut s, &t);
    s.push(if offset < 0 { '-' } else { '+' });
    let minutes = offset.unsigned_abs() / 60;
    push_2(&mut s, minutes / 60);
    s.push(':');
    push_2(&mut s, minutes % 60);
    s
}

/// Places an event on the local calendar day that `day_ms` falls on in
/// UTC, at a plausible local hour (lunch and evening peaks), returned as
/// UTC milliseconds. An hour that does not exist locally (the spring
/// switch) moves an hour on.
pub(super) fn at_local_hour(r: &mut Rng, day_ms: i64, zone: Tz) -> i64 {
    const HOURS: [(u32, f64); 17] = [
        (7, 2.0),
        (8, 3.0),
        (9, 4.0),
        (10, 5.0),
        (11, 6.0),
        (12, 8.0),
        (13, 7.0),
        (14, 5.0),
        (15, 5.0),
        (16, 5.0),
        (17, 6.0),
        (18, 7.0),
        (19, 9.0),
        (20, 10.0),
        (21, 9.0),
        (22, 6.0),
        (23, 3.0),
    ];
    let date = utc(day_ms).date_naive();
    let hour = r.weighted(&HOURS);
    let second = r.below(3600) as u32;
    let local = date
        .and_hms_opt(hour, second / 60, second % 60)
        .expect("valid time");
    let at = zone
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .expect("an hour after a gap exists");
    at.timestamp_millis()
}

// --- signups -----------------------------------------------------------------

/// Relative signup volume by calendar month: the gifting season brings
/// new customers.
const SIGNUP_MONTH: [f64; 12] = [
    0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.85, 0.9, 1.0, 1.1, 1.7, 1.9,
];

/// When customers sign up: a density over the days of the period
/// (seasonality times a growth trend). Customer `i` of `n` signs up at the
/// `(i + u)/n` quantile, so signup times grow with the index (like CRM
/// ids) and any customer's signup day is known from its index alone,
/// without generating the ones before it.
pub(super) struct SignupCalendar {
    start_ms: i64,
    /// Cumulative share of signups up to the end of each day.
    cumulative: Vec<f64>,
    customers: usize,
}

impl SignupCalendar {
    pub(super) fn new(start_ms: i64, end_ms: i64, customers: usize) -> SignupCalendar {
        let days = ((end_ms - start_ms) / DAY_MS).max(1) as usize;
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(days);
        for d in 0..days {
            let day_ms = start_ms + d as i64 * DAY_MS;
            let trend = 0.7 + 0.6 * d as f64 / days as f64;
            total += SIGNUP_MONTH[utc(day_ms).month0() as usize] * trend;
            cumulative.push(total);
        }
        for c in &mut cumulative {
            *c /= total;
        }
        SignupCalendar {
            start_ms,
            cumulative,
            customers,
        }
    }

    /// Customer `i`'s signup instant: a day by quantile, an hour of the
    /// (UTC) working day.
    pub(super) fn signup_ms(&self, i: usize, r: &mut Rng) -> i64 {
        let q = (i as f64 + r.unit()) / self.customers as f64;
        let day = self
            .cumulative
            .partition_point(|&c| c < q)
            .min(self.cumulative.len() - 1);
        self.start_ms + day as i64 * DAY_MS + r.between(6 * HOUR_MS, 23 * HOUR_MS)
    }

    /// How many customers (the lowest indices) signed up before the start
    /// of the day containing `ms`.
    pub(super) fn customers_before(&self, ms: i64) -> usize {
        let day = (ms - self.start_ms).div_euclid(DAY_MS);
        if day <= 0 {
            return 0;
        }
        let share = self.cumulative[(day as usize - 1).min(self.cumulative.len() - 1)];
        ((share * self.customers as f64).floor() as usize).min(self.customers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn local_times_switch_offset_at_two_in_the_morning_local() {
        let ny = Tz::America__New_York;
        // 2026-03-08 02:00 EST became 03:00 EDT: 06:59 UTC is still EST,
        // 07:00 UTC is EDT.
        assert_eq!(
            fmt_local(ms("2026-03-08T06:59:00Z"), ny),
            "2026-03-08T01:59:00-05:00"
        );
        assert_eq!(
            fmt_local(ms("2026-03-08T07:00:00Z"), ny),
            "2026-03-08T03:00:00-04:00"
        );
        let sydney = Tz::Australia__Sydney;
        assert_eq!(
            fmt_local(ms("2026-01-31T13:30:00Z"), sydney),
            "2026-02-01T00:30:00+11:00"
        );
    }

    #[test]
    fn fixed_layouts() {
        let t = ms("2025-02-03T04:05:06.789Z");
        assert_eq!(fmt_mdy(t), "02/03/2025");
        assert_eq!(fmt_sql(t), "2025-02-03 04:05:06");
        assert_eq!(fmt_z(t), "2025-02-03T04:05:06Z");
        assert_eq!(fmt_z_millis(t), "2025-02-03T04:05:06.789Z");
    }

    #[test]
    fn an_hour_lost_to_the_spring_switch_moves_on() {
        let ny = Tz::America__New_York;
        let day = ms("2026-03-08T00:00:00Z");
        for seed in 0..200 {
            let mut r = Rng::stream(seed, 1, 0);
            let at = at_local_hour(&mut r, day, ny);
            let local = fmt_local(at, ny);
            assert!(local.starts_with("2026-03-08T"), "{local}");
            assert!(!local.starts_with("2026-03-08T02:"), "{local}");
        }
    }

    #[test]
    fn signups_grow_with_the_index_and_earlier_customers_are_known() {
        let start = ms("2024-06-01T00:00:00Z");
        let end = ms("2026-11-01T00:00:00Z");
        let calendar = SignupCalendar::new(start, end, 1000);
        let days: Vec<i64> = (0..1000)
            .map(|i| calendar.signup_ms(i, &mut Rng::stream(3, 1, i as u64)) / DAY_MS)
            .collect();
        assert!(days.windows(2).all(|w| w[0] <= w[1]));
        for probe in [start + 40 * DAY_MS, start + 400 * DAY_MS, end - DAY_MS] {
            let before = calendar.customers_before(probe);
            assert!(days[..before].iter().all(|&d| d < probe / DAY_MS));
        }
        assert_eq!(calendar.customers_before(start), 0);
    }
}
