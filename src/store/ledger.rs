//! The session ledger: one row per session (device session or console attach), written
//! at its start and its end, for `sessions` listings, replay and crash recovery.

use async_trait::async_trait;
use serde::Serialize;

use super::Result;

#[async_trait]
/// Session start and end rows.
pub trait SessionLedger: Send + Sync {
    /// Records the start of a session.
    async fn start(&self, s: &SessionStart) -> Result<()>;
    /// Records the end of session `id`.
    async fn end(&self, id: &str, end: &SessionEnd) -> Result<()>;
    /// Sessions matching `filter`, newest first.
    async fn list(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>>;
    /// One session by id, or by a unique id prefix.
    async fn get(&self, id: &str) -> Result<Option<SessionRow>>;
    /// Sessions with a start and no end (left open by a bastion that stopped abruptly);
    /// on a store shared by several nodes, those of this node only.
    async fn unfinished(&self) -> Result<Vec<SessionRow>>;
}

/// What is known when a session starts.
#[derive(Debug, Clone)]
pub struct SessionStart {
    /// Session id (also the recording's file name).
    pub id: String,
    /// The admin.
    pub user: String,
    /// The admin's roles.
    pub roles: Vec<String>,
    /// The device.
    pub device: String,
    /// The device kind (ssh, telnet, serial, ipmi-sol).
    pub kind: String,
    /// The admin's address.
    pub source: String,
    /// The recording file.
    pub recording: Option<String>,
}

/// What is known when it ends.
#[derive(Debug, Clone, Default)]
pub struct SessionEnd {
    /// The device command's exit status, if any.
    pub exit_status: Option<i64>,
    /// Bytes typed by the admin.
    pub bytes_in: u64,
    /// Bytes shown to the admin.
    pub bytes_out: u64,
    /// SHA-256 of the finished recording.
    pub recording_sha256: Option<String>,
    /// Why it ended (client closed, device closed, deadline, error...).
    pub end_reason: String,
}

/// A stored session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// Session id.
    pub id: String,
    /// The admin.
    pub user: String,
    /// The admin's roles (comma-separated).
    pub roles: String,
    /// The device.
    pub device: String,
    /// The device kind.
    pub kind: String,
    /// The admin's address.
    pub source: String,
    /// Start time (RFC 3339).
    pub started: String,
    /// End time, if ended.
    pub ended: Option<String>,
    /// Exit status, if any.
    pub exit_status: Option<i64>,
    /// Bytes typed.
    pub bytes_in: i64,
    /// Bytes shown.
    pub bytes_out: i64,
    /// Recording file.
    pub recording: Option<String>,
    /// Recording hash.
    pub recording_sha256: Option<String>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// The node carrying it (several nodes on a shared store); None on one node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Exact user.
    pub user: Option<String>,
    /// Exact device.
    pub device: Option<String>,
    /// Started at or after (RFC 3339).
    pub since: Option<String>,
    /// Started before (RFC 3339).
    pub until: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<usize>,
    /// Only sessions without an end yet (on a shared store: those of every node).
    pub live: bool,
}
