//! The config's durations (`lock_ttl`, retry settings) and sizes
//! (`memory_limit`). Our own two parsers, not `humantime` (already in the
//! build) and `bytesize`: humantime takes `3 minutes`, `1h 30m` and weeks,
//! forms the config reference does not document and its tests refuse
//! (`tests/storage/faults.rs`), and a size of ours is one number and one
//! unit of B, KB, KiB, MB, MiB, GB, GiB; twenty lines each keep the
//! documented forms and messages exact.

/// Parses durations like `90s`, `30m`, `6h`, `2d`.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m or 6h"))?;
    match unit.trim() {
        "ms" => Ok(chrono::Duration::milliseconds(n)),
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!("{text:?}: unknown unit (use ms, s, m, h or d)")),
    }
}

/// Parses sizes like `2GiB`, `512MiB`, `1.5GB` or a plain byte count.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 2GiB or 512MiB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{text:?}: unknown unit (use B, KiB, MiB, GiB)")),
    };
    Ok((number * factor) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h"), Ok(chrono::Duration::hours(6)));
        assert_eq!(parse_duration("90s"), Ok(chrono::Duration::seconds(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }
}
