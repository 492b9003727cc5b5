//! Audit store: hash-chained events, sessions and small key-value state in sqlite.
//!
//! Every authentication, policy decision, command and session boundary is an [`Event`].
//! Each stored event carries the SHA-256 of its predecessor, so editing, deleting,
//! inserting or reordering rows is detected by [`AuditStore::verify`]; a separate head
//! record (updated in the same transaction) catches rows cut off the end. Someone with
//! write access to the database could still rewrite the whole chain consistently: the
//! defence is to copy [`AuditStore::head`] to another system from time to time.

pub mod cef;
mod chain;
mod config;
mod event;
mod export;
pub mod ocsf;
mod schema;
mod sessions;
pub mod syslog;
mod timestamp;

pub use chain::{ChainProblem, VerifyReport};
pub use config::AuditConfig;
pub use event::{Event, EventFilter, EventRow};
pub use export::ExportFormat;
pub use sessions::{SessionEnd, SessionFilter, SessionRow, SessionStart};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension};

/// Errors of the audit store.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database file could not be opened or is not a sqlite database.
    #[error("{path}: cannot open audit store: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// sqlite's error.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("audit store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Writing an export failed.
    #[error("audit export: {0}")]
    Io(#[from] std::io::Error),
    /// A stored row cannot be decoded.
    #[error("audit store row {id}: {reason}")]
    Corrupt {
        /// The row id.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, AuditError>;

/// The sqlite-backed store. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct AuditStore {
    conn: Arc<Mutex<Connection>>,
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

/// A time as RFC 3339 UTC (seconds precision).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl AuditStore {
    /// Opens (creating if needed) the store at `path`, in WAL mode, applying migrations.
    pub fn open(path: &Path) -> Result<AuditStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AuditError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())),
            })?;
        }
        let open_err = |source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        Self::with_conn(conn).map_err(|e| match e {
            AuditError::Sqlite(source) => open_err(source),
            other => other,
        })
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<AuditStore> {
        Self::with_conn(Connection::open_in_memory()?)
    }

    fn with_conn(mut conn: Connection) -> Result<AuditStore> {
        schema::migrate(&mut conn)?;
        Ok(AuditStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the store's connection (other modules' tables, e.g. access requests).
    pub(crate) fn on_conn<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `ev` to the chain; returns its id.
    pub fn record(&self, ev: Event) -> Result<i64> {
        let mut conn = self.lock();
        chain::append(&mut conn, ev)
    }

    /// Recomputes the whole chain.
    pub fn verify(&self) -> Result<VerifyReport> {
        chain::verify(&self.lock())
    }

    /// Id and hash of the last event, for anchoring elsewhere.
    pub fn head(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The last `n` events, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<EventRow>> {
        let mut rows = event::select(
            &self.lock(),
            "ORDER BY id DESC LIMIT ?1",
            rusqlite::params![n as i64],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Up to `limit` events after id `id`, oldest first (for following the log).
    pub fn after(&self, id: i64, limit: usize) -> Result<Vec<EventRow>> {
        event::select(
            &self.lock(),
            "WHERE id > ?1 ORDER BY id LIMIT ?2",
            rusqlite::params![id, limit as i64],
        )
    }

    /// Events matching `filter`, oldest first.
    pub fn query(&self, filter: &EventFilter) -> Result<Vec<EventRow>> {
        event::query(&self.lock(), filter)
    }

    /// Writes every event as JSON Lines; returns how many.
    pub fn export_json(&self, w: &mut dyn std::io::Write) -> Result<u64> {
        let mut last = 0;
        let mut n = 0;
        loop {
            let batch = self.after(last, 1000)?;
            if batch.is_empty() {
                return Ok(n);
            }
            for row in &batch {
                serde_json::to_writer(&mut *w, row).map_err(std::io::Error::other)?;
                w.write_all(b"\n")?;
                last = row.id;
                n += 1;
            }
        }
    }

    /// Records the start of a session.
    pub fn session_start(&self, s: &SessionStart) -> Result<()> {
        sessions::start(&self.lock(), s)
    }

    /// Records the end of a session.
    pub fn session_end(&self, id: &str, end: &SessionEnd) -> Result<()> {
        sessions::end(&self.lock(), id, end)
    }

    /// Sessions matching `filter`, newest first.
    pub fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>> {
        sessions::query(&self.lock(), filter)
    }

    /// One session by id (or unique id prefix).
    pub fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        sessions::get(&self.lock(), id)
    }

    /// A small persistent value (e.g. a device host key learnt on first use).
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Stores a small persistent value.
    pub fn kv_set(&self, key: &str, value: &str) -> Result<()> {
        self.lock().execute(
            "INSERT INTO kv(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
