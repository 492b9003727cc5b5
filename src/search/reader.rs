//! Searching the index file beside the live worker: a read-only connection per search
//! (the file is in WAL mode, so readers never wait for the writer, nor it for them).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{sqlite, Allowed, Hit, Query, Result, SearchError};

fn db(what: &'static str) -> impl Fn(rusqlite::Error) -> SearchError {
    move |source| SearchError::Database { what, source }
}

/// A read-only connection to the index at `path`.
pub fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db("opening the search index"))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(db("setting the search index's busy timeout"))?;
    Ok(conn)
}

/// Every device (or console) the index has sessions of, for deciding beforehand which of
/// them the caller may see.
pub fn devices(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT DISTINCT device FROM search_sessions")
        .map_err(db("listing indexed devices"))?;
    let rows = stmt
        .query_map([], |r| r.get(0))
        .map_err(db("listing indexed devices"))?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(db("listing indexed devices"))
}

/// Runs `query` on the index at `path`.
pub fn search(conn: &Connection, query: &Query, allowed: &mut Allowed<'_>) -> Result<Vec<Hit>> {
    sqlite::query(conn, query, allowed)
}
