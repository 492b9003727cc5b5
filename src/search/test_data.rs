//! Sessions and lines the search tests of both backends index.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{IndexedLine, SessionInfo, Stream};

/// A moment in 2026, `secs` after a fixed start.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

/// A session of `user` on `device`, started at [`at`]`(start)`.
pub(crate) fn session(id: &str, user: &str, device: &str, start: u64) -> SessionInfo {
    SessionInfo {
        id: id.into(),
        user: user.into(),
        device: device.into(),
        started_at: at(start),
    }
}

/// A line at `offset_ms` of `stream`.
pub(crate) fn line(offset_ms: u64, stream: Stream, text: &str) -> IndexedLine {
    IndexedLine {
        offset_ms,
        stream,
        text: text.into(),
    }
}
