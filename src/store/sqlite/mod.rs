//! The embedded store: one sqlite file (WAL mode, `synchronous = NORMAL`) holding the audit
//! chain, the sessions table, access requests and learnt host keys, owned by a worker
//! thread ([`worker`]). Other processes (the local `oobgate audit ...` commands) may open
//! the same file at the same time: every write is an immediate transaction.

mod access;
mod events;
mod schema;
mod sessions;
mod worker;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::{
    AccessRequest, AccessStore, AuditLog, HostKeys, NewRequest, Result, SessionEnd, SessionFilter,
    SessionLedger, SessionRow, SessionStart, State, StoreError, Transition,
};
use crate::audit::{Event, EventFilter, EventRow, VerifyReport};
use worker::Worker;

/// The sqlite store; cheap to clone (clones share the worker).
#[derive(Clone)]
pub struct SqliteStore {
    worker: Worker,
}

impl SqliteStore {
    /// Opens (creating if needed, file mode 0600) the store at `path` and applies
    /// migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                open_err(rusqlite::Error::InvalidPath(PathBuf::from(format!(
                    "{}: {e}",
                    dir.display()
                ))))
            })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        restrict(path);
        Self::with_conn(conn).map_err(|e| match e {
            StoreError::Sqlite(source) => open_err(source),
            other => other,
        })
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<SqliteStore> {
        Self::with_conn(Connection::open_in_memory()?)
    }

    fn with_conn(mut conn: Connection) -> Result<SqliteStore> {
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            worker: Worker::spawn(conn)?,
        })
    }

    /// Runs `f` on the store's connection (tests that must reach under the traits).
    #[cfg(any(test, feature = "testing"))]
    pub async fn with_connection<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.worker.call(move |c| Ok(f(c)?)).await
    }
}

/// The database and its WAL files are readable by the bastion's user only.
fn restrict(db: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            if let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(file = %p.display(), error = %e, "cannot restrict the store's file mode");
            }
        }
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, ev: Event) -> Result<EventRow> {
        self.worker.append(ev).await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        self.worker.call(|c| events::verify(c)).await
    }

    async fn head(&self) -> Result<Option<(i64, String)>> {
        self.worker.call(|c| events::head(c)).await
    }

    async fn after(&self, after: i64, limit: usize) -> Result<Vec<EventRow>> {
        self.worker
            .call(move |c| events::after(c, after, limit))
            .await
    }

    async fn tail(&self, n: usize) -> Result<Vec<EventRow>> {
        self.worker.call(move |c| events::tail(c, n)).await
    }

    async fn query(&self, filter: &EventFilter) -> Result<Vec<EventRow>> {
        let f = filter.clone();
        self.worker.call(move |c| events::query(c, &f)).await
    }
}

#[async_trait]
impl SessionLedger for SqliteStore {
    async fn start(&self, s: &SessionStart) -> Result<()> {
        let s = s.clone();
        self.worker.call(move |c| sessions::start(c, &s)).await
    }

    async fn end(&self, id: &str, end: &SessionEnd) -> Result<()> {
        let (id, end) = (id.to_string(), end.clone());
        self.worker.call(move |c| sessions::end(c, &id, &end)).await
    }

    async fn list(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>> {
        let f = filter.clone();
        self.worker.call(move |c| sessions::query(c, &f)).await
    }

    async fn get(&self, id: &str) -> Result<Option<SessionRow>> {
        let id = id.to_string();
        self.worker.call(move |c| sessions::get(c, &id)).await
    }

    async fn unfinished(&self) -> Result<Vec<SessionRow>> {
        self.worker.call(|c| sessions::unfinished(c)).await
    }
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn insert(&self, new: &NewRequest, now: SystemTime) -> Result<AccessRequest> {
        let new = new.clone();
        self.worker
            .call(move |c| access::insert(c, &new, now))
            .await
    }

    async fn get(&self, id: i64) -> Result<AccessRequest> {
        self.worker.call(move |c| access::get(c, id)).await
    }

    async fn list(
        &self,
        requester: Option<&str>,
        state: Option<State>,
        limit: usize,
    ) -> Result<Vec<AccessRequest>> {
        let requester = requester.map(str::to_string);
        self.worker
            .call(move |c| access::list(c, requester.as_deref(), state, limit))
            .await
    }

    async fn active_grants(&self, user: &str, now: SystemTime) -> Result<Vec<AccessRequest>> {
        let user = user.to_string();
        self.worker
            .call(move |c| access::active_grants(c, &user, now))
            .await
    }

    async fn approve(&self, id: i64, approver: &str, now: SystemTime) -> Result<AccessRequest> {
        let approver = approver.to_string();
        self.worker
            .call(move |c| access::approve(c, id, &approver, now))
            .await
    }

    async fn close(&self, id: i64, t: Transition, now: SystemTime) -> Result<AccessRequest> {
        self.worker
            .call(move |c| access::close(c, id, t, now))
            .await
    }

    async fn sweep(&self, now: SystemTime) -> Result<Vec<AccessRequest>> {
        self.worker.call(move |c| access::sweep(c, now)).await
    }
}

#[async_trait]
impl HostKeys for SqliteStore {
    async fn get(&self, device: &str) -> Result<Option<String>> {
        let key = format!("hostkey:{device}");
        self.worker
            .call(move |c| {
                Ok(
                    c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                        .optional()?,
                )
            })
            .await
    }

    async fn put(&self, device: &str, key_line: &str) -> Result<()> {
        let (key, value) = (format!("hostkey:{device}"), key_line.to_string());
        self.worker
            .call(move |c| {
                c.execute(
                    "INSERT INTO kv(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [key, value],
                )?;
                Ok(())
            })
            .await
    }
}
