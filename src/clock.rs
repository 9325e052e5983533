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
