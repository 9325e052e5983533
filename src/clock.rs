//! Time zones and the logical run date.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown time zone {name:?} (use an IANA name such as UTC or Europe/Paris)")
    })
}

/// Today's date in the configured zone: the default logical run date.
pub fn today_in(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Whether `tz` is UTC under any of its names (`UTC`, `Etc/UTC`, `GMT`,
/// `Zulu`, ...): zero offset in winter and in summer.
pub fn is_always_utc(tz: Tz) -> bool {
    use chrono::{Offset, TimeZone};
    [1, 7].iter().all(|&month| {
        let day = NaiveDate::from_ymd_opt(2026, month, 1).expect("valid");
        let noon = day.and_hms_opt(12, 0, 0).expect("valid");
        tz.offset_from_utc_datetime(&noon).fix().local_minus_utc() == 0
    })
}

/// The instant a local day starts in `tz`. A day that starts in a
/// daylight-saving gap (no local midnight) starts at the first instant
/// after it; an ambiguous midnight is the earlier one.
pub fn local_midnight(day: NaiveDate, tz: Tz) -> chrono::DateTime<Utc> {
    use chrono::TimeZone;
    let mut local = day.and_hms_opt(0, 0, 0).expect("midnight");
    loop {
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_by_any_name_is_utc_and_london_is_not() {
        for name in ["UTC", "Etc/UTC", "GMT", "Zulu", "Etc/Universal"] {
            assert!(is_always_utc(parse_timezone(name).unwrap()), "{name}");
        }
        // London is on UTC in winter only.
        assert!(!is_always_utc(parse_timezone("Europe/London").unwrap()));
    }

    #[test]
    fn a_local_midnight_is_its_zone_s_instant() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let istanbul = parse_timezone("Europe/Istanbul").unwrap();
        assert_eq!(
            local_midnight(day, istanbul).to_rfc3339(),
            "2026-10-31T21:00:00+00:00"
        );
        // Santiago skips midnight on 2026-09-06 (00:00 -> 01:00, UTC-4 -> -3).
        let santiago = parse_timezone("America/Santiago").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(
            local_midnight(day, santiago).to_rfc3339(),
            "2026-09-06T04:00:00+00:00"
        );
    }
}
