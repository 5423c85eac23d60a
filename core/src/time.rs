//! The clock, timestamp text, and Python-compatible rounding: decided here once for
//! every backend.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Timelike, Utc};

use crate::error::{Error, Result};

/// Now, in UTC, truncated to whole microseconds (what every backend can store exactly).
///
/// # Examples
/// ```
/// let t = waypost::time::now();
/// assert_eq!(t.timestamp_subsec_nanos() % 1_000, 0, "whole microseconds");
/// ```
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// Drops sub-microsecond precision.
///
/// # Examples
/// ```
/// use waypost::chrono::{TimeZone, Utc};
/// let t = Utc.timestamp_opt(0, 123_456_789).unwrap();
/// assert_eq!(waypost::time::truncate_to_micros(t).timestamp_subsec_nanos(), 123_456_000);
/// ```
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Formats a UTC time the way Python's `datetime.isoformat()` does for an aware
/// datetime: `2026-11-25T12:55:27.030494+00:00`, without a fraction when the
/// microseconds are 0.
///
/// # Examples
/// ```
/// use waypost::chrono::{TimeZone, Utc};
/// let t = Utc.timestamp_opt(1_764_000_000, 30_494_000).unwrap();
/// assert_eq!(waypost::time::isoformat(&t), "2025-11-24T16:00:00.030494+00:00");
/// assert_eq!(waypost::time::isoformat(&Utc.timestamp_opt(0, 0).unwrap()), "1970-01-01T00:00:00+00:00");
/// ```
pub fn isoformat(t: &DateTime<Utc>) -> String {
    let t = truncate_to_micros(*t);
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    match t.nanosecond() / 1_000 {
        0 => format!("{base}+00:00"),
        micros => format!("{base}.{micros:06}+00:00"),
    }
}

/// Parses the timestamp text found in SQLite tables: ISO 8601 with `T` or a space,
/// an optional fraction, and `Z`, an offset, or nothing (taken as UTC, which is what
/// SQLite's `datetime('now')` writes).
///
/// # Errors
/// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when the text is not such a timestamp.
///
/// # Examples
/// ```
/// let t = waypost::time::parse_timestamp("2026-01-01 12:00:00")?; // SQLite's datetime('now')
/// assert_eq!(t, waypost::time::parse_timestamp("2026-01-01T12:00:00+00:00")?);
/// assert!(waypost::time::parse_timestamp("yesterday").is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let normalized = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f%:z") {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = normalized.strip_suffix('Z').unwrap_or(&normalized);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|n| Utc.from_utc_datetime(&n))
        .map_err(|e| Error::backend(format!("stored timestamp {s:?} is not ISO 8601"), Some(e.into())))
}

/// RFC 3339 text with microseconds, for logs and JSON.
///
/// # Examples
/// ```
/// use waypost::chrono::{TimeZone, Utc};
/// let t = Utc.timestamp_opt(0, 5_000).unwrap();
/// assert_eq!(waypost::time::rfc3339(&t), "1970-01-01T00:00:00.000005Z");
/// ```
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Rounds to one decimal exactly as Python's `round(x, 1)`: ties go to even on the exact
/// binary value, so `0.25 -> 0.2` but `0.15 -> 0.1` (0.15 is stored as 0.1499…).
///
/// Rust's `{:.1}` formatting is exact on the binary value and rounds ties to even, and
/// parsing the text back gives the same double Python returns; `(x * 10).round() / 10`
/// differs on values such as 0.15, 0.35, 1.25 and 100.05.
///
/// # Examples
/// ```
/// use waypost::time::round_one_decimal;
/// assert_eq!(round_one_decimal(0.25), 0.2);
/// assert_eq!(round_one_decimal(0.15), 0.1);
/// assert_eq!(round_one_decimal(2.75), 2.8);
/// ```
pub fn round_one_decimal(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.1}").parse().unwrap_or(x)
}

/// Seconds between two times as Python's `timedelta.total_seconds()` computes them.
///
/// # Examples
/// ```
/// use waypost::chrono::{Duration, TimeZone, Utc};
/// let earlier = Utc.timestamp_opt(0, 0).unwrap();
/// assert_eq!(waypost::time::seconds_between(&(earlier + Duration::microseconds(1_500_001)), &earlier), 1.500001);
/// ```
pub fn seconds_between(later: &DateTime<Utc>, earlier: &DateTime<Utc>) -> f64 {
    let delta = *later - *earlier;
    match delta.num_microseconds() {
        Some(us) => us as f64 / 1_000_000.0,
        None => delta.num_milliseconds() as f64 / 1_000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn isoformat_matches_python() {
        assert_eq!(isoformat(&at("2026-11-25T12:55:27.030494+00:00")), "2026-11-25T12:55:27.030494+00:00");
        assert_eq!(isoformat(&at("2026-11-25T12:55:27Z")), "2026-11-25T12:55:27+00:00");
        assert_eq!(isoformat(&at("2026-11-25 12:55:27.5")), "2026-11-25T12:55:27.500000+00:00");
        assert_eq!(isoformat(&at("0999-01-02T03:04:05+00:00")), "0999-01-02T03:04:05+00:00");
    }

    #[test]
    fn parses_offsets_and_sqlite_defaults() {
        assert_eq!(at("2026-11-25T14:55:27+02:00"), at("2026-11-25T12:55:27Z"));
        assert_eq!(at("2026-11-25 12:55:27"), at("2026-11-25T12:55:27+00:00"));
        assert_eq!(at("2026-11-25 12:55:27.25+00:00"), at("2026-11-25T12:55:27.250Z"));
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().nanosecond() % 1_000, 0);
    }

    #[test]
    fn rounding_differs_from_naive_scaling() {
        assert_eq!(round_one_decimal(0.15), 0.1);
        assert_eq!(round_one_decimal(0.25), 0.2);
        assert_eq!(round_one_decimal(100.05), 100.0);
        assert_eq!(round_one_decimal(0.35), 0.3);
        assert_eq!(round_one_decimal(2.75), 2.8);
        assert_ne!((0.15f64 * 10.0).round() / 10.0, round_one_decimal(0.15));
    }

    #[test]
    fn seconds_are_exact_microseconds() {
        let a = at("2026-01-01T00:00:00Z");
        let b = at("2026-01-01T00:00:12.250000Z");
        assert_eq!(seconds_between(&b, &a), 12.25);
        assert_eq!(seconds_between(&a, &b), -12.25);
    }
}
