//! The sessions table in PostgreSQL: one row per session of every node, each naming the
//! node that carries it (so another node can close it when that node is lost).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::audit::now_rfc3339;
use crate::store::{Result, SessionEnd, SessionFilter, SessionRow, SessionStart};

const COLUMNS: &str = "id, \"user\", roles, device, kind, source, started, ended, exit_status, \
                       bytes_in, bytes_out, recording, recording_sha256, end_reason, node";

fn row(r: &Row) -> SessionRow {
    SessionRow {
        id: r.get(0),
        user: r.get(1),
        roles: r.get(2),
        device: r.get(3),
        kind: r.get(4),
        source: r.get(5),
        started: r.get(6),
        ended: r.get(7),
        exit_status: r.get(8),
        bytes_in: r.get(9),
        bytes_out: r.get(10),
        recording: r.get(11),
        recording_sha256: r.get(12),
        end_reason: r.get(13),
        node: r.get(14),
    }
}

pub(super) async fn start(c: &impl GenericClient, node: &str, s: &SessionStart) -> Result<()> {
    c.execute(
        "INSERT INTO sessions (id, \"user\", roles, device, kind, source, started, recording, node)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &s.id,
            &s.user,
            &s.roles.join(","),
            &s.device,
            &s.kind,
            &s.source,
            &now_rfc3339(),
            &s.recording,
            &node,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn end(c: &impl GenericClient, id: &str, e: &SessionEnd) -> Result<()> {
    c.execute(
        "UPDATE sessions SET ended = $2, exit_status = $3, bytes_in = $4, bytes_out = $5,
         recording_sha256 = $6, end_reason = $7 WHERE id = $1",
        &[
            &id,
            &now_rfc3339(),
            &e.exit_status,
            &(e.bytes_in as i64),
            &(e.bytes_out as i64),
            &e.recording_sha256,
            &e.end_reason,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn query(c: &impl GenericClient, f: &SessionFilter) -> Result<Vec<SessionRow>> {
    let mut clauses = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for (col, v) in [
        ("\"user\" =", &f.user),
        ("device =", &f.device),
        ("started >=", &f.since),
        ("started <", &f.until),
    ] {
        if let Some(v) = v {
            params.push(v.clone());
            clauses.push(format!("{col} ${}", params.len()));
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
        " ORDER BY started DESC, id LIMIT {}",
        f.limit.unwrap_or(100)
    ));
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
    Ok(c.query(&sql, &refs).await?.iter().map(row).collect())
}

pub(super) async fn get(c: &impl GenericClient, id: &str) -> Result<Option<SessionRow>> {
    let exact = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    if let Some(r) = c.query_opt(&exact, &[&id]).await? {
        return Ok(Some(row(&r)));
    }
    let prefix = format!("{}%", id.replace('%', "\\%").replace('_', "\\_"));
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id LIKE $1 ESCAPE '\\' LIMIT 2");
    let rows = c.query(&sql, &[&prefix]).await?;
    Ok(if rows.len() == 1 {
        Some(row(&rows[0]))
    } else {
        None
    })
}

/// Sessions of `node` with a start and no end.
pub(super) async fn unfinished(c: &impl GenericClient, node: &str) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE ended IS NULL AND node = $1 ORDER BY started"
    );
    Ok(c.query(&sql, &[&node]).await?.iter().map(row).collect())
}
