//! The shared store of several bastion nodes: PostgreSQL holding the one audit chain, the
//! sessions of every node, access requests and learnt host keys. Every node runs the same
//! migrations at start (serialised in the database). Connections come from a pool
//! (`deadpool-postgres`); audit appends go through one group-commit task per node
//! ([`appender`]).

mod access;
mod appender;
mod console_owners;
mod events;
mod listen;
mod nodes;
mod revocations;
mod schema;
mod search;
#[cfg(test)]
mod search_tests;
mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tokens;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use deadpool_postgres::{Client, Pool};

use super::{
    AccessRequest, AccessStore, AuditLog, ConsoleClaim, ConsoleOwner, HostKeys, LostNode,
    NewRequest, NodeLease, NodeLeases, Result, SessionEnd, SessionFilter, SessionLedger,
    SessionRow, SessionStart, SharedKey, Signal, Signals, State, StoreError, TokenKey, Tokens,
    Transition,
};
use crate::audit::{Event, EventFilter, EventRow, VerifyReport};
use crate::search::{Hit, IndexedLine, Query, SearchError, SessionInfo, SharedIndex};
use appender::Appender;

/// The PostgreSQL store of one node; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    node: String,
    appender: Appender,
    signals: tokio::sync::broadcast::Sender<Signal>,
    // Stops the LISTEN connection when the last clone is dropped.
    _listening: Arc<tokio_util::sync::DropGuard>,
}

impl PgStore {
    /// Connects to `url` as node `node`, and applies migrations. Errors name the database
    /// by its URL without the password.
    pub async fn open(url: &str, node: &str) -> Result<PgStore> {
        let shown = redact(url);
        let open_err = |reason: String| StoreError::PostgresOpen {
            url: shown.clone(),
            reason,
        };
        let cfg = deadpool_postgres::Config {
            url: Some(url.to_string()),
            ..Default::default()
        };
        let pool = cfg
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                tokio_postgres::NoTls,
            )
            .map_err(|e| open_err(e.to_string()))?;
        let mut client = pool.get().await.map_err(|e| open_err(e.to_string()))?;
        schema::migrate(&mut client)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        drop(client);
        let (signals, _) = tokio::sync::broadcast::channel(1024);
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(listen::run(url.to_string(), signals.clone(), stop.clone()));
        Ok(PgStore {
            appender: Appender::spawn(pool.clone(), node.to_string()),
            pool,
            node: node.to_string(),
            signals,
            _listening: Arc::new(stop.drop_guard()),
        })
    }

    /// The node this store writes as.
    pub fn node(&self) -> &str {
        &self.node
    }

    async fn client(&self) -> Result<Client> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Postgres(e.to_string()))
    }

    /// Runs `sql` on a pooled connection (tests that must reach under the traits).
    #[cfg(any(test, feature = "testing"))]
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.client().await?.batch_execute(sql).await?;
        Ok(())
    }
}

/// `url` with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparsable postgres URL)".to_string(),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Postgres(e.to_string())
    }
}

#[async_trait]
impl AuditLog for PgStore {
    async fn append(&self, ev: Event) -> Result<EventRow> {
        self.appender.append(ev).await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        events::verify(&mut self.client().await?).await
    }

    async fn head(&self) -> Result<Option<(i64, String)>> {
        events::head(&self.client().await?).await
    }

    async fn after(&self, after: i64, limit: usize) -> Result<Vec<EventRow>> {
        events::after(&self.client().await?, after, limit).await
    }

    async fn tail(&self, n: usize) -> Result<Vec<EventRow>> {
        events::tail(&self.client().await?, n).await
    }

    async fn query(&self, filter: &EventFilter) -> Result<Vec<EventRow>> {
        events::query(&self.client().await?, filter).await
    }
}

#[async_trait]
impl SessionLedger for PgStore {
    async fn start(&self, s: &SessionStart) -> Result<()> {
        sessions::start(&self.client().await?, &self.node, s).await
    }

    async fn end(&self, id: &str, end: &SessionEnd) -> Result<()> {
        sessions::end(&self.client().await?, id, end).await
    }

    async fn list(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>> {
        sessions::query(&self.client().await?, filter).await
    }

    async fn get(&self, id: &str) -> Result<Option<SessionRow>> {
        sessions::get(&self.client().await?, id).await
    }

    async fn unfinished(&self) -> Result<Vec<SessionRow>> {
        sessions::unfinished(&self.client().await?, &self.node).await
    }
}

#[async_trait]
impl AccessStore for PgStore {
    async fn insert(&self, new: &NewRequest, now: SystemTime) -> Result<AccessRequest> {
        access::insert(&self.client().await?, new, now).await
    }

    async fn get(&self, id: i64) -> Result<AccessRequest> {
        access::get(&self.client().await?, id).await
    }

    async fn list(
        &self,
        requester: Option<&str>,
        state: Option<State>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>> {
        access::list(&self.client().await?, requester, state, limit).await
    }

    async fn active_grants(&self, user: &str, now: SystemTime) -> Result<Vec<AccessRequest>> {
        access::active_grants(&self.client().await?, user, now).await
    }

    async fn approve(&self, id: i64, approver: &str, now: SystemTime) -> Result<AccessRequest> {
        access::approve(&mut self.client().await?, id, approver, now).await
    }

    async fn close(&self, id: i64, t: Transition, now: SystemTime) -> Result<AccessRequest> {
        access::close(&mut self.client().await?, id, t, now).await
    }

    async fn sweep(&self, now: SystemTime) -> Result<Vec<AccessRequest>> {
        access::sweep(&mut self.client().await?, now).await
    }
}

#[async_trait]
impl HostKeys for PgStore {
    async fn get(&self, device: &str) -> Result<Option<String>> {
        let key = format!("hostkey:{device}");
        let row = self
            .client()
            .await?
            .query_opt("SELECT value FROM kv WHERE key = $1", &[&key])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn put(&self, device: &str, key_line: &str) -> Result<()> {
        let key = format!("hostkey:{device}");
        self.client()
            .await?
            .execute(
                "INSERT INTO kv (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &key_line],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl NodeLeases for PgStore {
    async fn renew(&self, ttl: std::time::Duration) -> Result<()> {
        nodes::renew(&self.client().await?, &self.node, ttl).await
    }

    async fn reap(&self) -> Result<Vec<LostNode>> {
        nodes::reap(&mut self.client().await?, &self.node).await
    }

    async fn list(&self) -> Result<Vec<NodeLease>> {
        nodes::list(&self.client().await?).await
    }

    async fn shared_key(&self, name: &str, offer: Option<&str>) -> Result<Option<SharedKey>> {
        nodes::shared_key(&self.client().await?, &self.node, name, offer).await
    }

    async fn claim_console(&self, console: &str, address: &str) -> Result<ConsoleClaim> {
        console_owners::claim(&mut self.client().await?, &self.node, console, address).await
    }

    async fn console_owners(&self) -> Result<Vec<ConsoleOwner>> {
        console_owners::list(&self.client().await?).await
    }

    async fn release_consoles(&self) -> Result<()> {
        console_owners::release(&self.client().await?, &self.node).await
    }
}

impl PgStore {
    async fn search_client(&self) -> std::result::Result<Client, SearchError> {
        self.client().await.map_err(|e| SearchError::Shared {
            what: "connecting",
            why: e.to_string(),
        })
    }
}

#[async_trait]
impl SharedIndex for PgStore {
    async fn add_lines(
        &self,
        session: &SessionInfo,
        lines: &[IndexedLine],
    ) -> std::result::Result<(), SearchError> {
        let mut c = self.search_client().await?;
        search::add_lines(&mut c, &self.node, session, lines).await
    }

    async fn delete_session(&self, session: &str) -> std::result::Result<bool, SearchError> {
        search::delete_session(&self.search_client().await?, session).await
    }

    async fn devices(&self) -> std::result::Result<Vec<String>, SearchError> {
        search::devices(&self.search_client().await?).await
    }

    async fn query(
        &self,
        query: &Query,
        devices: &[String],
    ) -> std::result::Result<Vec<Hit>, SearchError> {
        search::query(&self.search_client().await?, query, devices).await
    }
}

#[async_trait]
impl Tokens for PgStore {
    async fn put(&self, kind: &str, key: TokenKey, value: &str, until: SystemTime) -> Result<()> {
        tokens::put(&self.client().await?, kind, key, value, until).await
    }

    async fn take(&self, kind: &str, key: TokenKey) -> Result<Option<String>> {
        tokens::take(&self.client().await?, kind, key).await
    }

    async fn get(&self, kind: &str, key: TokenKey) -> Result<Option<String>> {
        tokens::get(&self.client().await?, kind, key).await
    }

    async fn remove(&self, kind: &str, key: TokenKey) -> Result<()> {
        tokens::remove(&self.client().await?, kind, key).await
    }
}

#[async_trait]
impl Signals for PgStore {
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    async fn share_revocations(
        &self,
        serials: &[u64],
        key_ids: &[String],
    ) -> Result<(Vec<u64>, Vec<String>)> {
        revocations::share(&mut self.client().await?, &self.node, serials, key_ids).await
    }

    async fn shared_revocations(&self) -> Result<(Vec<u64>, Vec<String>)> {
        revocations::all(&self.client().await?).await
    }
}
