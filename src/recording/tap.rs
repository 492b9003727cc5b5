//! A tap on a recording: every event, as the file's reader will see it, handed to someone
//! else as it is written (the live search index). The tap must not block: it runs on the
//! recorder's thread, which holds the session back when it is slow.

use super::{RecordedEvent, RecordingSummary};

/// Receives each event written to a recording.
pub trait EventTap: Send {
    /// Event number `seq` (0 for the first after the header), as
    /// [`super::Recording::open`] would read it back. Must return at once.
    fn event(&mut self, seq: u64, event: &RecordedEvent);

    /// The recording was sealed: its file is complete and synced, `summary` holds its
    /// SHA-256. Must return at once.
    fn finished(&mut self, _summary: &RecordingSummary) {}
}
