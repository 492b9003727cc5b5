//! Node liveness for several nodes on one shared store: each node holds a lease it renews;
//! a node whose lease lapsed is lost, and the first other node to see it closes the
//! sessions the lost node was carrying.

use std::time::Duration;

use async_trait::async_trait;

use super::{Result, SessionRow};

/// Why the sessions of a lost node were closed.
pub const NODE_LOST: &str = "aborted (node lost)";

/// Leases of the nodes sharing a store.
#[async_trait]
pub trait NodeLeases: Send + Sync {
    /// Holds (or renews) this node's lease for `ttl` from now, by the database's clock.
    async fn renew(&self, ttl: Duration) -> Result<()>;
    /// Takes every other node whose lease lapsed: its lease is removed and its open
    /// sessions are closed as [`NODE_LOST`], all at once, so only one node ever reports
    /// a given loss. Returns what was taken.
    async fn reap(&self) -> Result<Vec<LostNode>>;
    /// Every node holding a lease (lapsed ones too, until some node reaps them), by name,
    /// with the sessions it carries.
    async fn list(&self) -> Result<Vec<NodeLease>>;
    /// The node set's key `name` (`host_ca`, `user_ca`): its fingerprint and the node that
    /// first shared it. When none is kept yet and `offer` is given, `offer` is kept as this
    /// node's (the first node to start sets what the others must hold).
    async fn shared_key(&self, name: &str, offer: Option<&str>) -> Result<Option<SharedKey>>;
    /// Claims network console `console` for this node, reachable at `address` by the
    /// others: it stays with the node that holds it while that node's lease holds, and
    /// passes to the first node to claim it once the lease lapsed or was given up.
    async fn claim_console(&self, console: &str, address: &str) -> Result<ConsoleClaim>;
    /// Which node carries each claimed console, by console name.
    async fn console_owners(&self) -> Result<Vec<ConsoleOwner>>;
    /// Gives up every console this node holds (a clean stop: another node takes them at
    /// its next claim instead of after the lease).
    async fn release_consoles(&self) -> Result<()>;
}

/// The outcome of [`NodeLeases::claim_console`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleClaim {
    /// This node carries the console (it just claimed it, or held it already).
    Ours,
    /// This node took the console over from `from`, whose lease had lapsed.
    TakenOver {
        /// The node that carried it before.
        from: String,
    },
    /// Another node, whose lease holds, carries it.
    Elsewhere(ConsoleOwner),
}

/// The node carrying a network console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOwner {
    /// The console's name.
    pub console: String,
    /// The node's name.
    pub node: String,
    /// Where the other nodes reach it (its `listen` address).
    pub address: String,
    /// Since when (RFC 3339, the database's clock).
    pub since: String,
}

/// A key every node of the set must hold, as the shared store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedKey {
    /// Its SHA-256 fingerprint (`SHA256:...`).
    pub fingerprint: String,
    /// The node that shared it first.
    pub node: String,
}

/// One node's lease as the shared store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLease {
    /// The node's name (`[node] name`).
    pub node: String,
    /// When its lease ends (RFC 3339, the database's clock).
    pub lease_until: String,
    /// Whether the lease has lapsed already (the node stopped renewing it).
    pub lapsed: bool,
    /// Sessions it carries that have no end yet.
    pub live_sessions: u64,
}

/// A node found lost, and the sessions it left open (as they were before closing).
#[derive(Debug, Clone)]
pub struct LostNode {
    /// Its name.
    pub node: String,
    /// When its lease ended (RFC 3339).
    pub lease_ended: String,
    /// The sessions closed on its behalf.
    pub sessions: Vec<SessionRow>,
}
