//! RFC 3339 timestamps (UTC) in requests and responses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ApiError;

/// `micros` since the Unix epoch as RFC 3339 with microseconds, e.g. `2025-01-31T12:00:00.123456Z`.
pub(crate) fn format_micros(micros: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or_default());
    humantime::format_rfc3339_micros(time).to_string()
}

/// `millis` since the Unix epoch as RFC 3339 with milliseconds.
pub(crate) fn format_millis(millis: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or_default());
    humantime::format_rfc3339_millis(time).to_string()
}

fn parse(field: &str, value: &str) -> Result<Duration, ApiError> {
    humantime::parse_rfc3339(value.trim())
        .ok()
        .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "invalid_timestamp",
                format!("{field} must be an RFC 3339 time in UTC after 1970, such as 2030-01-31T12:00:00Z"),
            )
        })
}

/// Parses an RFC 3339 UTC time into microseconds since the Unix epoch.
pub(crate) fn parse_micros(field: &str, value: &str) -> Result<i64, ApiError> {
    parse(field, value).map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 UTC time into milliseconds since the Unix epoch.
pub(crate) fn parse_millis(field: &str, value: &str) -> Result<i64, ApiError> {
    parse(field, value).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let micros = parse_micros("t", "2030-01-31T12:00:00.123456Z").expect("parses");
        assert_eq!(format_micros(micros), "2030-01-31T12:00:00.123456Z");
        let millis = parse_millis("t", "2030-01-31T12:00:00Z").expect("parses");
        assert_eq!(format_millis(millis), "2030-01-31T12:00:00.000Z");
        assert!(parse_micros("t", "yesterday").is_err());
        assert!(parse_micros("t", "1960-01-01T00:00:00Z").is_err());
    }
}
