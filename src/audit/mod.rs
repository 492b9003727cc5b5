//! The audit log's model: what an event is, how events are chained, and how a chain is
//! checked.
//!
//! Every authentication, policy decision, command and session boundary is an [`Event`].
//! Each stored event carries the SHA-256 of its predecessor ([`chain`]), so editing,
//! deleting, inserting or reordering rows is detected by a [`ChainVerifier`]; the store
//! keeps a head record too, which catches rows cut off the end. Someone with write access
//! to the database could still rewrite the whole chain consistently: the defence is to copy
//! the head to another system from time to time. Where events are kept is the `store`
//! module's business; this module holds no I/O.

pub mod cef;
mod chain;
mod config;
mod event;
mod export;
pub mod ocsf;
pub mod syslog;
mod timestamp;

pub use chain::{event_hash, ChainProblem, ChainVerifier, VerifyReport, GENESIS};
pub use config::AuditConfig;
pub use event::{Event, EventFilter, EventRow};
pub use export::ExportFormat;

/// `text` with every control character escaped (`\n`, `\u{1b}`), for terminals and log
/// lines: text from a certificate, a device or a user can then neither forge a line nor
/// drive the terminal of whoever reads it.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A time as RFC 3339 UTC (seconds precision). Times beyond what the calendar can show
/// (a certificate valid "forever") read as `forever`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "forever".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_past_the_calendar_read_as_forever() {
        let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::MAX / 4);
        assert_eq!(super::rfc3339(far), "forever");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(super::rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
