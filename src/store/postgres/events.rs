//! The audit chain in PostgreSQL: one chain for every node. A batch of appends locks the
//! chain's head row (`FOR UPDATE`), so batches of all nodes are serialised in the database
//! and the lock is held for one short transaction; reads and the verifying walk.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::audit::VerifyReport;
use crate::audit::{event_hash, now_rfc3339, ChainVerifier, Event, EventFilter, EventRow};
use crate::store::Result;

const COLUMNS: &str =
    "id, ts, kind, \"user\", source, device, action, outcome, detail, prev_hash, hash, node";

/// A row and its detail exactly as stored (the hash covers the stored text).
fn row(r: &Row) -> (EventRow, String) {
    let detail: String = r.get(8);
    (
        EventRow {
            id: r.get(0),
            ts: r.get(1),
            kind: r.get(2),
            user: r.get(3),
            source: r.get(4),
            device: r.get(5),
            action: r.get(6),
            outcome: r.get(7),
            detail: serde_json::from_str(&detail)
                .unwrap_or_else(|_| serde_json::Value::String(detail.clone())),
            prev_hash: r.get(9),
            hash: r.get(10),
            node: r.get(11),
        },
        detail,
    )
}

async fn select(
    c: &impl GenericClient,
    tail: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<EventRow>> {
    let sql = format!("SELECT {COLUMNS} FROM events {tail}");
    let rows = c.query(&sql, params).await?;
    Ok(rows.iter().map(|r| row(r).0).collect())
}

/// Appends `evs` in order, as written by `node`, in one transaction that holds the head
/// row's lock; returns the stored rows.
pub(super) async fn append_batch(
    client: &mut deadpool_postgres::Client,
    node: &str,
    evs: Vec<Event>,
) -> Result<Vec<EventRow>> {
    let tx = client.transaction().await?;
    let head = tx
        .query_one(
            "SELECT id, hash FROM chain_head WHERE one = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let (mut id, mut prev): (i64, String) = (head.get(0), head.get(1));
    let insert = tx
        .prepare_cached(
            "INSERT INTO events (id, ts, kind, \"user\", source, device, action, outcome, \
             detail, prev_hash, hash, node) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .await?;
    let mut rows = Vec::with_capacity(evs.len());
    for ev in evs {
        id += 1;
        let detail = serde_json::to_string(&ev.detail).unwrap_or_else(|_| "{}".into());
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
            node: Some(node.to_string()),
        };
        row.hash = event_hash(&row, &detail);
        tx.execute(
            &insert,
            &[
                &row.id,
                &row.ts,
                &row.kind,
                &row.user,
                &row.source,
                &row.device,
                &row.action,
                &row.outcome,
                &detail,
                &row.prev_hash,
                &row.hash,
                &row.node,
            ],
        )
        .await?;
        prev = row.hash.clone();
        row.detail = ev.detail;
        rows.push(row);
    }
    tx.execute(
        "UPDATE chain_head SET id = $1, hash = $2 WHERE one = 1",
        &[&id, &prev],
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Walks the chain from the first event, reporting the first inconsistency. The head is
/// read first in the same snapshot, so appends by other nodes during the walk are not
/// mistaken for a broken end.
pub(super) async fn verify(client: &mut deadpool_postgres::Client) -> Result<VerifyReport> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let head = tx
        .query_one("SELECT id, hash FROM chain_head WHERE one = 1", &[])
        .await?;
    let head: (i64, String) = (head.get(0), head.get(1));
    let mut verifier = ChainVerifier::default();
    let mut last = 0i64;
    let sql = format!("SELECT {COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT 1000");
    'walk: loop {
        let batch = tx.query(&sql, &[&last]).await?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            let (r, detail) = row(r);
            if !verifier.feed(&r, &detail) {
                break 'walk;
            }
            last = r.id;
        }
    }
    tx.commit().await?;
    Ok(verifier.finish((head.0 > 0).then_some(head)))
}

/// Id and hash of the last event.
pub(super) async fn head(c: &impl GenericClient) -> Result<Option<(i64, String)>> {
    let r = c
        .query_opt("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1", &[])
        .await?;
    Ok(r.map(|r| (r.get(0), r.get(1))))
}

/// The last `n` events, oldest first.
pub(super) async fn tail(c: &impl GenericClient, n: usize) -> Result<Vec<EventRow>> {
    let mut rows = select(c, "ORDER BY id DESC LIMIT $1", &[&(n as i64)]).await?;
    rows.reverse();
    Ok(rows)
}

/// Up to `limit` events after id `id`, oldest first.
pub(super) async fn after(c: &impl GenericClient, id: i64, limit: usize) -> Result<Vec<EventRow>> {
    select(
        c,
        "WHERE id > $1 ORDER BY id LIMIT $2",
        &[&id, &(limit as i64)],
    )
    .await
}

/// Events matching `f`, oldest first.
pub(super) async fn query(c: &impl GenericClient, f: &EventFilter) -> Result<Vec<EventRow>> {
    let (tail, params) =
        crate::store::event_query::event_query_tail(f, |n| format!("${n}"), "\"user\"");
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
    let mut rows = select(c, &tail, &refs).await?;
    rows.reverse();
    Ok(rows)
}
