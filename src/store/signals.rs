//! News one node's store changes carry to the live sessions of every node (several nodes
//! on one shared store): a grant revoked on any node reaches the sessions it authorized
//! on all of them within a second, and a certificate revoked by one node's revocation
//! list is revoked on every node (kept in the store for nodes that start later).

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::Result;

/// A change made by some node that live sessions must hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Grant `grant` was revoked by `by`, with `note`.
    GrantRevoked {
        /// The grant (request number).
        grant: i64,
        /// Who revoked it.
        by: String,
        /// Their note.
        note: Option<String>,
    },
    /// A node's revocation list newly revokes these certificates.
    CertsRevoked {
        /// Serials.
        serials: Vec<u64>,
        /// Key ids.
        key_ids: Vec<String>,
        /// The node whose list revoked them.
        node: String,
    },
    /// This node's listening connection was lost and is back (or its queue overflowed):
    /// announcements made meanwhile were missed, so what they would have said is read
    /// from the store again.
    Resync,
}

/// Where signals from every node arrive (this node's own included).
#[async_trait]
pub trait Signals: Send + Sync {
    /// A receiver of every signal from now on.
    fn subscribe(&self) -> broadcast::Receiver<Signal>;
    /// Records what this node's revocation list revokes; the entries no node had shared
    /// yet are announced to every node ([`Signal::CertsRevoked`]) and returned.
    async fn share_revocations(
        &self,
        serials: &[u64],
        key_ids: &[String],
    ) -> Result<(Vec<u64>, Vec<String>)>;
    /// Everything any node's list revoked.
    async fn shared_revocations(&self) -> Result<(Vec<u64>, Vec<String>)>;
}
