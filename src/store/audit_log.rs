//! The audit log as a store: appends to the one hash chain, and reads for `audit tail`,
//! `audit export`, `audit verify` and the tests.

use async_trait::async_trait;

use super::Result;
use crate::audit::{Event, EventFilter, EventRow, VerifyReport};

/// The hash-chained audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `ev` to the chain; returns it as stored (id, time, hashes). Appends
    /// waiting together may be committed in one transaction; each still gets its own id
    /// and hash.
    async fn append(&self, ev: Event) -> Result<EventRow>;

    /// Recomputes the whole chain and names the first problem.
    async fn verify(&self) -> Result<VerifyReport>;

    /// Id and hash of the last event, for anchoring elsewhere.
    async fn head(&self) -> Result<Option<(i64, String)>>;

    /// Up to `limit` events after id `after`, oldest first (tail, follow, export).
    async fn after(&self, after: i64, limit: usize) -> Result<Vec<EventRow>>;

    /// The last `n` events, oldest first.
    async fn tail(&self, n: usize) -> Result<Vec<EventRow>>;

    /// Events matching `filter`, oldest first.
    async fn query(&self, filter: &EventFilter) -> Result<Vec<EventRow>>;
}
