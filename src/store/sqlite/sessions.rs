//! The sessions table: one row per session, for `sessions` listings, replay and crash
//! recovery.

use rusqlite::{Connection, OptionalExtension};

use crate::audit::now_rfc3339;
use crate::store::{Result, SessionEnd, SessionFilter, SessionRow, SessionStart};

const COLUMNS: &str = "id, user, roles, device, kind, source, started, ended, exit_status, \
                       bytes_in, bytes_out, recording, recording_sha256, end_reason";

fn row(r: &rusqlite::Row) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        user: r.get(1)?,
        roles: r.get(2)?,
        device: r.get(3)?,
        kind: r.get(4)?,
        source: r.get(5)?,
        started: r.get(6)?,
        ended: r.get(7)?,
        exit_status: r.get(8)?,
        bytes_in: r.get(9)?,
        bytes_out: r.get(10)?,
        recording: r.get(11)?,
        recording_sha256: r.get(12)?,
        end_reason: r.get(13)?,
        node: None,
    })
}

pub(super) fn start(conn: &Connection, s: &SessionStart) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (id, user, roles, device, kind, source, started, recording)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            s.id,
            s.user,
            s.roles.join(","),
            s.device,
            s.kind,
            s.source,
            now_rfc3339(),
            s.recording
        ],
    )?;
    Ok(())
}

pub(super) fn end(conn: &Connection, id: &str, e: &SessionEnd) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET ended = ?2, exit_status = ?3, bytes_in = ?4, bytes_out = ?5,
         recording_sha256 = ?6, end_reason = ?7 WHERE id = ?1",
        rusqlite::params![
            id,
            now_rfc3339(),
            e.exit_status,
            e.bytes_in as i64,
            e.bytes_out as i64,
            e.recording_sha256,
            e.end_reason
        ],
    )?;
    Ok(())
}

pub(super) fn query(conn: &Connection, f: &SessionFilter) -> Result<Vec<SessionRow>> {
    let mut clauses = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for (col, v) in [
        ("user =", &f.user),
        ("device =", &f.device),
        ("started >=", &f.since),
        ("started <", &f.until),
    ] {
        if let Some(v) = v {
            params.push(v.clone());
            clauses.push(format!("{col} ?{}", params.len()));
        }
    }
    if f.live {
        clauses.push("ended IS NULL".to_string());
    }
    let mut sql = format!("SELECT {COLUMNS} FROM sessions");
    if !clauses.is_empty() {
        sql.push_str(&format!(" WHERE {}", clauses.join(" AND ")));
    }
    sql.push_str(&format!(
        " ORDER BY started DESC LIMIT {}",
        f.limit.unwrap_or(100)
    ));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<SessionRow>> {
    if let Some(r) = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?
    {
        return Ok(Some(r));
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id LIKE ?1 || '%' LIMIT 2"
    ))?;
    let rows: Vec<SessionRow> = stmt
        .query_map([id], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(if rows.len() == 1 {
        rows.into_iter().next()
    } else {
        None
    })
}

/// Sessions with a start and no end.
pub(super) fn unfinished(conn: &Connection) -> Result<Vec<SessionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE ended IS NULL ORDER BY started"
    ))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
