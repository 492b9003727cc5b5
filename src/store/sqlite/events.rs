//! The audit chain in sqlite: the `events` table, its head record, appends in batches and
//! the walk that verifies the whole chain.

use rusqlite::{Connection, OptionalExtension, Params, TransactionBehavior};

use crate::audit::{event_hash, now_rfc3339, ChainVerifier, Event, EventFilter, EventRow};
use crate::audit::{VerifyReport, GENESIS};
use crate::store::Result;

const COLUMNS: &str =
    "id, ts, kind, user, source, device, action, outcome, detail, prev_hash, hash";

/// A row and its detail exactly as stored (the hash covers the stored text).
fn row(r: &rusqlite::Row) -> rusqlite::Result<(EventRow, String)> {
    let detail: String = r.get(8)?;
    Ok((
        EventRow {
            id: r.get(0)?,
            ts: r.get(1)?,
            kind: r.get(2)?,
            user: r.get(3)?,
            source: r.get(4)?,
            device: r.get(5)?,
            action: r.get(6)?,
            outcome: r.get(7)?,
            detail: serde_json::from_str(&detail)
                .unwrap_or_else(|_| serde_json::Value::String(detail.clone())),
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
            node: None,
        },
        detail,
    ))
}

/// `SELECT COLUMNS FROM events <tail>`.
fn select(conn: &Connection, tail: &str, params: impl Params) -> Result<Vec<EventRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM events {tail}"))?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows
        .map(|r| r.map(|(row, _)| row))
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Appends `evs` in order in one immediate transaction (safe across processes); returns
/// the stored rows.
pub(super) fn append_batch(conn: &mut Connection, evs: Vec<Event>) -> Result<Vec<EventRow>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let head: Option<i64> = tx
        .query_row("SELECT id FROM chain_head WHERE one = 1", [], |r| r.get(0))
        .optional()?;
    let (last_id, mut prev) = last.unwrap_or((0, GENESIS.to_string()));
    // Never reuse ids of events cut off the end: verify must keep seeing the gap.
    let mut id = last_id.max(head.unwrap_or(0));
    let mut rows = Vec::with_capacity(evs.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (id, ts, kind, user, source, device, action, outcome, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for ev in evs {
            id += 1;
            let detail = serde_json::to_string(&ev.detail).unwrap_or_else(|_| "{}".into());
            let value = ev.detail;
            let mut row = EventRow {
                id,
                ts: now_rfc3339(),
                kind: ev.kind,
                user: ev.user,
                source: ev.source,
                device: ev.device,
                action: ev.action,
                outcome: ev.outcome,
                detail: serde_json::Value::Null,
                prev_hash: prev,
                hash: String::new(),
                node: None,
            };
            row.hash = event_hash(&row, &detail);
            insert.execute(rusqlite::params![
                row.id,
                row.ts,
                row.kind,
                row.user,
                row.source,
                row.device,
                row.action,
                row.outcome,
                detail,
                row.prev_hash,
                row.hash
            ])?;
            prev = row.hash.clone();
            row.detail = value;
            rows.push(row);
        }
    }
    tx.execute(
        "INSERT INTO chain_head (one, id, hash) VALUES (1, ?1, ?2)
         ON CONFLICT(one) DO UPDATE SET id = excluded.id, hash = excluded.hash",
        rusqlite::params![id, prev],
    )?;
    tx.commit()?;
    Ok(rows)
}

/// Walks the chain from the first event, reporting the first inconsistency.
pub(super) fn verify(conn: &Connection) -> Result<VerifyReport> {
    let mut verifier = ChainVerifier::default();
    let mut last = 0i64;
    'walk: loop {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT 1000"
        ))?;
        let batch = stmt
            .query_map([last], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if batch.is_empty() {
            break;
        }
        for (r, detail) in &batch {
            if !verifier.feed(r, detail) {
                break 'walk;
            }
            last = r.id;
        }
    }
    Ok(verifier.finish(head_record(conn)?))
}

fn head_record(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row("SELECT id, hash FROM chain_head WHERE one = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// Id and hash of the last event.
pub(super) fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The last `n` events, oldest first.
pub(super) fn tail(conn: &Connection, n: usize) -> Result<Vec<EventRow>> {
    let mut rows = select(conn, "ORDER BY id DESC LIMIT ?1", [n as i64])?;
    rows.reverse();
    Ok(rows)
}

/// Up to `limit` events after id `id`, oldest first.
pub(super) fn after(conn: &Connection, id: i64, limit: usize) -> Result<Vec<EventRow>> {
    select(
        conn,
        "WHERE id > ?1 ORDER BY id LIMIT ?2",
        rusqlite::params![id, limit as i64],
    )
}

/// Events matching `f`, oldest first.
pub(super) fn query(conn: &Connection, f: &EventFilter) -> Result<Vec<EventRow>> {
    let (tail, params) =
        crate::store::event_query::event_query_tail(f, |n| format!("?{n}"), "user");
    let mut rows = select(conn, &tail, rusqlite::params_from_iter(params.iter()))?;
    rows.reverse();
    Ok(rows)
}
