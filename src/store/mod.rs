//! Where the bastion's state lives, behind one trait per kind of state: the audit log
//! ([`AuditLog`]), the session ledger ([`SessionLedger`]), access requests and grants
//! ([`AccessStore`]), learnt device keys ([`HostKeys`]) and session recordings
//! ([`RecordingStore`]).
//!
//! The embedded implementation is [`sqlite::SqliteStore`] (one database file, WAL mode)
//! with recordings as files ([`FileRecordings`]). Every trait method is async and no
//! implementation blocks the async runtime: sqlite runs on a worker thread of its own fed
//! by a bounded queue (audit appends waiting together are committed in one transaction),
//! and recording files are written from the blocking pool. [`Stores`] bundles one of each
//! for the bastion's shared context.
//!
//! Several nodes share [`postgres::PgStore`] instead (`[store] postgres = "postgres://..."`):
//! one audit chain, the sessions of every node, access requests and host keys.

mod access;
mod audit_log;
mod config;
mod counted;
mod event_query;
mod forwarding;
mod hostkeys;
mod ledger;
mod nodes;
pub mod objects;
pub mod postgres;
pub(crate) mod recordings;
mod shared_keys;
mod signals;
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod suite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tokens;

pub use access::{AccessRequest, AccessStore, AccessTarget, NewRequest, State, Transition};
pub use audit_log::AuditLog;
pub use config::{NodeConfig, StoreConfig};
pub use counted::Counted;
pub use forwarding::Forwarded;
pub use hostkeys::{HostKeys, MemoryHostKeys};
pub use ledger::{SessionEnd, SessionFilter, SessionLedger, SessionRow, SessionStart};
pub use nodes::{
    ConsoleClaim, ConsoleOwner, LostNode, NodeLease, NodeLeases, SharedKey, NODE_LOST,
};
pub use recordings::{FileRecordings, RecordingStore};
pub use shared_keys::agree_keys;
pub use signals::{Signal, Signals};
pub use tokens::{MemoryTokens, TokenKey, Tokens};

use std::path::PathBuf;
use std::sync::Arc;

/// Errors of the stores.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or is not a sqlite database.
    #[error("{path}: cannot open the store: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// sqlite's error.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file of the store could not be read or written.
    #[error("store: {0}")]
    Io(#[from] std::io::Error),
    /// The PostgreSQL store could not be reached or migrated.
    #[error("{url}: cannot open the store: {reason}")]
    PostgresOpen {
        /// The database URL, password hidden.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A PostgreSQL statement or connection failed.
    #[error("store: postgres: {0}")]
    Postgres(String),
    /// This node holds a key that differs from the node set's.
    #[error("{name}: this node's key {mine} differs from the node set's {theirs} (first shared by node {node}); every node must hold the same {name} and {name}.pub in its data_dir")]
    KeyDiffers {
        /// The key (`host_ca`, `user_ca`).
        name: String,
        /// This node's fingerprint.
        mine: String,
        /// The node set's fingerprint.
        theirs: String,
        /// The node that shared it first.
        node: String,
    },
    /// A batch of audit appends failed together; the text is the first error's.
    #[error("store: audit append failed: {0}")]
    Append(String),
    /// A stored row cannot be decoded.
    #[error("store row {id}: {reason}")]
    Corrupt {
        /// The row id.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// No access request of that number.
    #[error("no access request {0}")]
    NotFound(i64),
    /// The access request is not in a state that allows the change.
    #[error("request {id} is {state}, it cannot be {verb}")]
    WrongState {
        /// The request.
        id: i64,
        /// Its current state.
        state: State,
        /// What was attempted (`approved`, `revoked`...).
        verb: &'static str,
    },
    /// The change is refused as it stands (e.g. a second approval by the same person).
    #[error("{0}")]
    Refused(String),
    /// A recording is nowhere to be read.
    #[error("{0}")]
    Missing(String),
    /// The store's worker is gone (the bastion is stopping).
    #[error("store is shut down")]
    Closed,
    /// A recording could not be created or read.
    #[error(transparent)]
    Recording(#[from] crate::recording::RecordingError),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, StoreError>;

/// One store of each kind: what the bastion's shared context holds.
#[derive(Clone)]
pub struct Stores {
    /// The hash-chained audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Session start and end rows.
    pub sessions: Arc<dyn SessionLedger>,
    /// Access requests, approvals and grants.
    pub access: Arc<dyn AccessStore>,
    /// Device host keys learnt on first use.
    pub hostkeys: Arc<dyn HostKeys>,
    /// Session recordings.
    pub recordings: Arc<dyn RecordingStore>,
    /// Leases of the nodes sharing the store (None: one node, nothing to share).
    pub leases: Option<Arc<dyn NodeLeases>>,
    /// News from the other nodes sharing the store (None: one node).
    pub signals: Option<Arc<dyn Signals>>,
    /// One-time web links and web logins (in memory on one node).
    pub tokens: Arc<dyn Tokens>,
    /// The search index every node shares (None: one node, whose index is a local file).
    pub search: Option<Arc<dyn crate::search::SharedIndex>>,
}

impl Stores {
    /// The embedded stores: the sqlite file at `db` and recordings under `recording_dir`.
    pub fn embedded(db: &std::path::Path, recording_dir: PathBuf) -> Result<Stores> {
        let sqlite = Arc::new(sqlite::SqliteStore::open(db)?);
        Ok(Stores::with_sqlite(sqlite, recording_dir))
    }

    /// The stores `config` names: PostgreSQL (writing as `node`) when `[store] postgres`
    /// is set, else the sqlite file at `db`; recordings under `recording_dir`, shipped to
    /// the bucket `s3` names when it is set.
    pub async fn open(
        config: &StoreConfig,
        s3: Option<&objects::S3Config>,
        node: &str,
        db: &std::path::Path,
        recording_dir: PathBuf,
    ) -> Result<Stores> {
        let mut stores = match &config.postgres {
            Some(url) => {
                let pg = Arc::new(postgres::PgStore::open(url.expose(), node).await?);
                Stores::with_postgres(pg, recording_dir.clone())
            }
            None => Stores::embedded(db, recording_dir.clone())?,
        };
        if let Some(s3) = s3 {
            stores.recordings = Arc::new(objects::ObjectRecordings::open(s3, recording_dir, node)?);
        }
        Ok(stores)
    }

    /// Stores on `pg`, with recordings under `recording_dir`.
    pub fn with_postgres(pg: Arc<postgres::PgStore>, recording_dir: PathBuf) -> Stores {
        Stores {
            audit: pg.clone(),
            sessions: pg.clone(),
            access: pg.clone(),
            hostkeys: pg.clone(),
            recordings: Arc::new(FileRecordings::new(recording_dir)),
            leases: Some(pg.clone()),
            signals: Some(pg.clone()),
            tokens: pg.clone(),
            search: Some(pg),
        }
    }

    /// Stores on `sqlite`, with recordings under `recording_dir`.
    pub fn with_sqlite(sqlite: Arc<sqlite::SqliteStore>, recording_dir: PathBuf) -> Stores {
        Stores {
            audit: sqlite.clone(),
            sessions: sqlite.clone(),
            access: sqlite.clone(),
            hostkeys: sqlite,
            recordings: Arc::new(FileRecordings::new(recording_dir)),
            leases: None,
            signals: None,
            tokens: Arc::new(MemoryTokens::default()),
            search: None,
        }
    }
}
