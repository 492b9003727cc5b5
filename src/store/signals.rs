//! News one node's store changes carry to the live sessions of every node (several nodes
//! on one shared store): a grant revoked on any node reaches the sessions it authorized
//! on all of them within a second.

use tokio::sync::broadcast;

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
}

/// Where signals from every node arrive (this node's own included).
pub trait Signals: Send + Sync {
    /// A receiver of every signal from now on.
    fn subscribe(&self) -> broadcast::Receiver<Signal>;
}
