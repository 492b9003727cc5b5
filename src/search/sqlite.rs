//! The embedded backend: SQLite FTS5 (rusqlite's bundled SQLite is built with FTS5).
//!
//! Everything takes a `rusqlite::Connection`, so the store's worker thread runs it on its
//! own connection; [`SqliteIndex`] wraps one for the [`TextIndex`] trait.
//!
//! Schema:
//! - `search_sessions(ord, session, user, device, started_at_ms, next_line, last_offset_ms)`:
//!   one row per indexed session; `ord` numbers sessions in start order (the start second
//!   since 2000 times 32, plus the first free slot in that second).
//! - `search_lines(session, stream, offset_ms, text)`: the FTS5 table (`detail=full` for
//!   phrases, `unicode61` with diacritics folded, no column sizes: no ranking is used).
//!   `session` holds the session's `ord`, `stream` is 0 (shown) or 1 (typed). The rowid is
//!   `i64::MAX - (ord << 26 | line << 1 | stream)`, so ascending rowid order is
//!   newest-session-first and latest-line-first, which FTS5 walks directly: a query stops
//!   after `limit` accepted hits instead of sorting every match. Ascending, because FTS5
//!   walks large doclists backwards page by page (measured over 60M lines: a rare phrase
//!   65 ms `ORDER BY rowid DESC`, 0.2 ms ascending).
//! - A hit's offset and text are read from FTS5's content table (`search_lines_content`,
//!   columns `c0..c3` in declaration order, as FTS5 documents it) by rowid: a plain
//!   lookup, where a second query on `search_lines` inside the running match would make
//!   FTS5 seek its doclists again (measured: 40 ms instead of 1.5 ms for a rare phrase).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::snippet::snippet;
use super::{
    phrase, Allowed, Hit, IndexedLine, Query, Result, SearchError, SessionInfo, Stream, TextIndex,
    MAX_LIMIT,
};

/// Lines one session can hold: the rowid's line field.
pub const MAX_LINES_PER_SESSION: u64 = 1 << 25;
const SESSION_SHIFT: u32 = 26;

/// A line's key: session number, line number, stream; it grows with time.
fn key(ord: i64, line: u64, stream: i64) -> i64 {
    (ord << SESSION_SHIFT) | ((line as i64) << 1) | stream
}

/// Rowids run opposite to keys, so that ascending rowid order is newest first.
fn rowid_of(key: i64) -> i64 {
    i64::MAX - key
}

/// The rowids of one session's lines, inclusive.
fn session_rowids(ord: i64) -> (i64, i64) {
    (
        rowid_of(((ord + 1) << SESSION_SHIFT) - 1),
        rowid_of(ord << SESSION_SHIFT),
    )
}
/// Session numbers per start second.
const SLOTS_PER_SECOND: i64 = 32;
/// 2000-01-01T00:00:00Z: session numbers count seconds from here.
const EPOCH_2000: u64 = 946_684_800;
/// Sessions matching the filters, up to which `allowed` is asked for each of them first.
const PREFILTER_SESSIONS: usize = 4096;
/// Allowed sessions up to which each one is searched on its own (rowid ranges) once the
/// first walk over all matches has used its budget.
const PER_SESSION_SEARCH: usize = 256;
/// Allowed sessions up to which they are searched one by one from the start, when they are
/// at most a quarter of all sessions.
const DIRECT_SESSIONS: usize = 64;
/// Matches the first walk looks at before it considers searching session by session.
const SCAN_BUDGET: usize = 20_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS search_sessions (
    ord INTEGER PRIMARY KEY,
    session TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL,
    device TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    next_line INTEGER NOT NULL DEFAULT 0,
    last_offset_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS search_sessions_user ON search_sessions(user);
CREATE INDEX IF NOT EXISTS search_sessions_device ON search_sessions(device);
CREATE VIRTUAL TABLE IF NOT EXISTS search_lines USING fts5(
    session UNINDEXED, stream UNINDEXED, offset_ms UNINDEXED, text,
    columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
);
";
const SCHEMA_VERSION: i64 = 1;

fn db(what: &'static str) -> impl Fn(rusqlite::Error) -> SearchError {
    move |source| SearchError::Database { what, source }
}

/// Creates the tables if missing; safe to run at every start.
pub fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)
        .map_err(db("creating the search schema"))?;
    let version: Option<i64> = conn
        .query_row("SELECT max(version) FROM search_schema", [], |r| r.get(0))
        .map_err(db("reading the search schema version"))?;
    if version.is_none() {
        conn.execute(
            "INSERT INTO search_schema (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )
        .map_err(db("recording the search schema version"))?;
    }
    Ok(())
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// The session's number, allocating one on first use; and its next line number.
fn session_ord(tx: &Transaction<'_>, s: &SessionInfo) -> Result<(i64, u64)> {
    let found: Option<(i64, i64)> = tx
        .query_row(
            "SELECT ord, next_line FROM search_sessions WHERE session = ?1",
            [&s.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db("looking up a session"))?;
    if let Some((ord, next)) = found {
        return Ok((ord, next as u64));
    }
    let secs = s
        .started_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(EPOCH_2000)
        .min(u32::MAX as u64) as i64;
    let mut base = secs * SLOTS_PER_SECOND;
    let ord = loop {
        let max: Option<i64> = tx
            .query_row(
                "SELECT max(ord) FROM search_sessions WHERE ord >= ?1 AND ord < ?2",
                [base, base + SLOTS_PER_SECOND],
                |r| r.get(0),
            )
            .map_err(db("numbering a session"))?;
        match max {
            None => break base,
            Some(m) if m + 1 < base + SLOTS_PER_SECOND => break m + 1,
            // Every slot of that second is taken: the next second's (order is kept to
            // within a second).
            Some(_) => base += SLOTS_PER_SECOND,
        }
    };
    tx.execute(
        "INSERT INTO search_sessions (ord, session, user, device, started_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![ord, s.id, s.user, s.device, unix_ms(s.started_at)],
    )
    .map_err(db("registering a session"))?;
    Ok((ord, 0))
}

fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Adds lines of one session, registering it on first use, in one transaction. When the
/// session reaches [`MAX_LINES_PER_SESSION`], what fits is added and
/// [`SearchError::SessionFull`] is returned.
pub fn add_lines(
    conn: &mut Connection,
    session: &SessionInfo,
    lines: &[IndexedLine],
) -> Result<()> {
    // IMMEDIATE: the write lock is taken (or waited for) at the start, so a writer beside
    // (the live index and `oobgate reindex`) makes this wait, never fail on upgrading.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction"))?;
    let (ord, mut next) = session_ord(&tx, session)?;
    let room = MAX_LINES_PER_SESSION.saturating_sub(next) as usize;
    let mut last = 0u64;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO search_lines (rowid, session, stream, offset_ms, text)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db("preparing the line insert"))?;
        // Last line first: rowids then ascend within the transaction. FTS5 flushes its
        // pending terms whenever a rowid is lower than the one before, which in line
        // order (descending rowids) would write one segment per line.
        let taken = &lines[..lines.len().min(room)];
        for (i, line) in taken.iter().enumerate().rev() {
            let stream = (line.stream == Stream::Typed) as i64;
            let rowid = rowid_of(key(ord, next + i as u64, stream));
            let offset = line.offset_ms.min(i64::MAX as u64) as i64;
            insert
                .execute(params![rowid, ord, stream, offset, clean(&line.text)])
                .map_err(db("adding a line"))?;
            last = last.max(line.offset_ms);
        }
        next += taken.len() as u64;
    }
    tx.execute(
        "UPDATE search_sessions SET next_line = ?1,
             last_offset_ms = max(last_offset_ms, ?2) WHERE ord = ?3",
        params![next as i64, last.min(i64::MAX as u64) as i64, ord],
    )
    .map_err(db("counting a session's lines"))?;
    tx.commit().map_err(db("committing lines"))?;
    if lines.len() > room {
        return Err(SearchError::SessionFull {
            session: session.id.clone(),
            limit: MAX_LINES_PER_SESSION,
        });
    }
    Ok(())
}

/// Removes a session and its lines; whether it was indexed.
pub fn delete_session(conn: &mut Connection, session: &str) -> Result<bool> {
    // IMMEDIATE: the write lock is taken (or waited for) at the start, so a writer beside
    // (the live index and `oobgate reindex`) makes this wait, never fail on upgrading.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction"))?;
    let ord: Option<i64> = tx
        .query_row(
            "SELECT ord FROM search_sessions WHERE session = ?1",
            [session],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("looking up a session"))?;
    let Some(ord) = ord else {
        return Ok(false);
    };
    tx.execute(
        "DELETE FROM search_lines WHERE rowid >= ?1 AND rowid <= ?2",
        <[i64; 2]>::from(session_rowids(ord)),
    )
    .map_err(db("deleting a session's lines"))?;
    tx.execute("DELETE FROM search_sessions WHERE ord = ?1", [ord])
        .map_err(db("deleting a session"))?;
    tx.commit().map_err(db("committing a deletion"))?;
    Ok(true)
}

/// A session as the query sees it.
struct Candidate {
    info: SessionInfo,
    started_ms: i64,
    last_offset_ms: i64,
    /// Filters and policy accept it (lines may still be before `since`).
    pass: bool,
}

fn candidate(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Candidate)> {
    let started_ms: i64 = r.get(4)?;
    Ok((
        r.get(0)?,
        Candidate {
            info: SessionInfo {
                id: r.get(1)?,
                user: r.get(2)?,
                device: r.get(3)?,
                started_at: from_unix_ms(started_ms),
            },
            started_ms,
            last_offset_ms: r.get(5)?,
            pass: false,
        },
    ))
}

const SESSION_COLUMNS: &str = "ord, session, user, device, started_at_ms, last_offset_ms";

struct Search<'q, 'a, 'c> {
    conn: &'c Connection,
    query: &'q Query,
    phrase: String,
    since_ms: Option<i64>,
    allowed: &'q mut Allowed<'a>,
    sessions: HashMap<i64, Candidate>,
    hits: Vec<Hit>,
}

/// The newest hits of `query` among the sessions `allowed` accepts; see the module header.
pub fn query(conn: &Connection, query: &Query, allowed: &mut Allowed<'_>) -> Result<Vec<Hit>> {
    if query.limit == 0 || query.limit > MAX_LIMIT {
        return Err(SearchError::BadLimit(query.limit));
    }
    let mut search = Search {
        conn,
        query,
        phrase: phrase(&query.text)?,
        since_ms: query.since.map(unix_ms),
        allowed,
        sessions: HashMap::new(),
        hits: Vec::new(),
    };
    let allowed = search.prefilter()?;
    if let Some(ords) = &allowed {
        // A few sessions out of many: each is searched on its own (a rowid range).
        let total: i64 = conn
            .query_row("SELECT count(*) FROM search_sessions", [], |r| r.get(0))
            .map_err(db("counting sessions"))?;
        if ords.len() <= DIRECT_SESSIONS && ords.len() as i64 * 4 <= total {
            search.per_session(ords, -1)?;
            return Ok(search.hits);
        }
    }
    // One walk over the matches, newest first. When it has seen SCAN_BUDGET matches without
    // filling the limit (a common phrase, few sessions the caller may see), and those
    // sessions are few and known, each of them is searched on its own instead.
    if let Some(last) = search.scan(-1, Some(SCAN_BUDGET))? {
        match allowed.filter(|ords| ords.len() <= PER_SESSION_SEARCH) {
            Some(ords) => search.per_session(&ords, last)?,
            None => {
                search.scan(last, None)?;
            }
        }
    }
    Ok(search.hits)
}

impl Search<'_, '_, '_> {
    /// Sessions passing the filters, when few enough to ask the policy about each first:
    /// the allowed ones, newest first.
    fn prefilter(&mut self) -> Result<Option<Vec<i64>>> {
        let q = self.query;
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM search_sessions
             WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR device = ?2)
               AND (?3 IS NULL OR started_at_ms + last_offset_ms >= ?3)
             ORDER BY ord DESC LIMIT ?4"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(db("listing sessions"))?;
        let rows = stmt
            .query_map(
                params![
                    q.user,
                    q.device,
                    self.since_ms,
                    PREFILTER_SESSIONS as i64 + 1
                ],
                candidate,
            )
            .map_err(db("listing sessions"))?;
        let mut found = Vec::new();
        for row in rows {
            found.push(row.map_err(db("listing sessions"))?);
        }
        if found.len() > PREFILTER_SESSIONS {
            return Ok(None);
        }
        let mut ords = Vec::new();
        for (ord, mut c) in found {
            c.pass = (self.allowed)(&c.info);
            if c.pass {
                ords.push(ord);
            }
            self.sessions.insert(ord, c);
        }
        Ok(Some(ords))
    }

    /// Searches each session of `ords` (newest first) for matches after rowid `after`.
    fn per_session(&mut self, ords: &[i64], after: i64) -> Result<()> {
        let conn = self.conn;
        let mut stmt = conn
            .prepare_cached(
                "SELECT rowid FROM search_lines WHERE search_lines MATCH ?1
                 AND rowid >= ?2 AND rowid <= ?3 ORDER BY rowid",
            )
            .map_err(db("searching a session"))?;
        for &ord in ords {
            let (first, last) = session_rowids(ord);
            let from = first.max(after.saturating_add(1));
            let to = last;
            if to < from {
                continue;
            }
            let mut rows = stmt
                .query(params![self.phrase, from, to])
                .map_err(db("searching a session"))?;
            while let Some(row) = rows.next().map_err(db("searching a session"))? {
                let rowid: i64 = row.get(0).map_err(db("searching a session"))?;
                if self.consider(rowid)? && self.hits.len() >= self.query.limit {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Walks the matches after rowid `after`, newest first, until the limit is filled,
    /// the matches end (`None`) or `budget` matches were seen (the last rowid).
    fn scan(&mut self, after: i64, budget: Option<usize>) -> Result<Option<i64>> {
        let conn = self.conn;
        let mut stmt = conn
            .prepare_cached(
                "SELECT rowid FROM search_lines WHERE search_lines MATCH ?1 AND rowid > ?2
                 ORDER BY rowid",
            )
            .map_err(db("searching"))?;
        let mut rows = stmt
            .query(params![self.phrase, after])
            .map_err(db("searching"))?;
        let mut seen = 0;
        while let Some(row) = rows.next().map_err(db("searching"))? {
            let rowid: i64 = row.get(0).map_err(db("searching"))?;
            if self.consider(rowid)? && self.hits.len() >= self.query.limit {
                return Ok(None);
            }
            seen += 1;
            if budget.is_some_and(|b| seen >= b) {
                return Ok(Some(rowid));
            }
        }
        Ok(None)
    }

    /// Checks one matching line against filters and policy; keeps it if it passes.
    fn consider(&mut self, rowid: i64) -> Result<bool> {
        let key = i64::MAX - rowid;
        let stream = if key & 1 == 1 {
            Stream::Typed
        } else {
            Stream::Shown
        };
        if self.query.stream.is_some_and(|s| s != stream) {
            return Ok(false);
        }
        let ord = key >> SESSION_SHIFT;
        if !self.sessions.contains_key(&ord) {
            self.load_session(ord)?;
        }
        let Some(c) = self.sessions.get(&ord) else {
            return Ok(false);
        };
        if !c.pass {
            return Ok(false);
        }
        let (started_ms, info) = (c.started_ms, c.info.clone());
        let mut line = self
            .conn
            .prepare_cached("SELECT c2, c3 FROM search_lines_content WHERE id = ?1")
            .map_err(db("reading a hit"))?;
        let found: Option<(i64, String)> = line
            .query_row([rowid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db("reading a hit"))?;
        let Some((offset_ms, text)) = found else {
            return Ok(false);
        };
        if self
            .since_ms
            .is_some_and(|since| started_ms.saturating_add(offset_ms) < since)
        {
            return Ok(false);
        }
        self.hits.push(Hit {
            session: info,
            stream,
            offset_ms: offset_ms.max(0) as u64,
            snippet: snippet(&text, &self.query.text),
            line: text,
        });
        Ok(true)
    }

    fn load_session(&mut self, ord: i64) -> Result<()> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM search_sessions WHERE ord = ?1");
        let found = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([ord], candidate).optional())
            .map_err(db("looking up a session"))?;
        let Some((_, mut c)) = found else {
            return Ok(());
        };
        let q = self.query;
        let since_ok = self
            .since_ms
            .is_none_or(|since| c.started_ms.saturating_add(c.last_offset_ms) >= since);
        c.pass = q.user.as_ref().is_none_or(|u| *u == c.info.user)
            && q.device.as_ref().is_none_or(|d| *d == c.info.device)
            && since_ok
            && (self.allowed)(&c.info);
        self.sessions.insert(ord, c);
        Ok(())
    }
}

/// The [`TextIndex`] over one SQLite connection.
pub struct SqliteIndex<'c> {
    conn: &'c mut Connection,
}

impl<'c> SqliteIndex<'c> {
    /// Wraps `conn` (the store worker's, or one of its own).
    pub fn new(conn: &'c mut Connection) -> SqliteIndex<'c> {
        SqliteIndex { conn }
    }
}

impl TextIndex for SqliteIndex<'_> {
    fn migrate(&mut self) -> Result<()> {
        migrate(self.conn)
    }

    fn add_lines(&mut self, session: &SessionInfo, lines: &[IndexedLine]) -> Result<()> {
        add_lines(self.conn, session, lines)
    }

    fn delete_session(&mut self, session: &str) -> Result<bool> {
        delete_session(self.conn, session)
    }

    fn query(&mut self, query: &Query, allowed: &mut Allowed<'_>) -> Result<Vec<Hit>> {
        self::query(self.conn, query, allowed)
    }
}
