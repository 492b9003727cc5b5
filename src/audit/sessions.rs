//! The sessions table: one row per device session, for `sessions` listings and replay.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{now_rfc3339, Result};

/// What is known when a session starts.
#[derive(Debug, Clone)]
pub struct SessionStart {
    /// Session id (also the recording's file name).
    pub id: String,
    /// The admin.
    pub user: String,
    /// The admin's roles.
    pub roles: Vec<String>,
    /// The device.
    pub device: String,
    /// The device kind (ssh, telnet, serial, ipmi-sol).
    pub kind: String,
    /// The admin's address.
    pub source: String,
    /// The recording file.
    pub recording: Option<String>,
}

/// What is known when it ends.
#[derive(Debug, Clone, Default)]
pub struct SessionEnd {
    /// The device command's exit status, if any.
    pub exit_status: Option<i64>,
    /// Bytes typed by the admin.
    pub bytes_in: u64,
    /// Bytes shown to the admin.
    pub bytes_out: u64,
    /// SHA-256 of the finished recording.
    pub recording_sha256: Option<String>,
    /// Why it ended (client closed, device closed, deadline, error...).
    pub end_reason: String,
}

/// A stored session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    /// Session id.
    pub id: String,
    /// The admin.
    pub user: String,
    /// The admin's roles (comma-separated).
    pub roles: String,
    /// The device.
    pub device: String,
    /// The device kind.
    pub kind: String,
    /// The admin's address.
    pub source: String,
    /// Start time (RFC 3339).
    pub started: String,
    /// End time, if ended.
    pub ended: Option<String>,
    /// Exit status, if any.
    pub exit_status: Option<i64>,
    /// Bytes typed.
    pub bytes_in: i64,
    /// Bytes shown.
    pub bytes_out: i64,
    /// Recording file.
    pub recording: Option<String>,
    /// Recording hash.
    pub recording_sha256: Option<String>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Exact user.
    pub user: Option<String>,
    /// Exact device.
    pub device: Option<String>,
    /// Started at or after (RFC 3339).
    pub since: Option<String>,
    /// Started before (RFC 3339).
    pub until: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<usize>,
}

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

#[cfg(test)]
mod tests {
    use super::super::AuditStore;
    use super::*;

    #[test]
    fn start_end_and_list() {
        let s = AuditStore::open_in_memory().unwrap();
        s.session_start(&SessionStart {
            id: "2026-11-23/7f3a9c".into(),
            user: "alice".into(),
            roles: vec!["role:netops".into()],
            device: "sw1".into(),
            kind: "ssh".into(),
            source: "127.0.0.1:5000".into(),
            recording: Some("/r/x.cast".into()),
        })
        .unwrap();
        s.session_end(
            "2026-11-23/7f3a9c",
            &SessionEnd {
                exit_status: Some(3),
                bytes_in: 10,
                bytes_out: 20,
                recording_sha256: Some("ab".into()),
                end_reason: "client closed".into(),
            },
        )
        .unwrap();
        let rows = s
            .sessions(&SessionFilter {
                user: Some("alice".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].exit_status, Some(3));
        assert!(s.session("2026-11-23/7f").unwrap().is_some());
        assert!(s
            .sessions(&SessionFilter {
                device: Some("sw2".into()),
                ..Default::default()
            })
            .unwrap()
            .is_empty());
    }
}
