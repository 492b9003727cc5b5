//! Event times for the SIEM formats, which want milliseconds since the epoch.

/// Milliseconds since the epoch of an RFC 3339 time, if it parses.
pub(super) fn epoch_millis(ts: &str) -> Option<i64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}
