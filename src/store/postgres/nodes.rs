//! Node leases in PostgreSQL: one row per live node with the end of its lease, set and
//! compared by the database's clock (the nodes' clocks may disagree).

use std::time::Duration;

use deadpool_postgres::Client;

use super::sessions;
use crate::audit::now_rfc3339;
use crate::store::{LostNode, NodeLease, Result, SharedKey, NODE_LOST};

/// Holds or renews `node`'s lease for `ttl`.
pub(super) async fn renew(c: &Client, node: &str, ttl: Duration) -> Result<()> {
    c.execute(
        "INSERT INTO nodes (name, lease_until, renewed)
         VALUES ($1, now() + make_interval(secs => $2), now())
         ON CONFLICT (name) DO UPDATE SET lease_until = excluded.lease_until,
             renewed = excluded.renewed",
        &[&node, &ttl.as_secs_f64()],
    )
    .await?;
    Ok(())
}

/// Takes the nodes other than `node` whose lease lapsed and closes their open sessions.
pub(super) async fn reap(client: &mut Client, node: &str) -> Result<Vec<LostNode>> {
    let tx = client.transaction().await?;
    let lost = tx
        .query(
            "DELETE FROM nodes WHERE lease_until < now() AND name <> $1
             RETURNING name, to_char(lease_until AT TIME ZONE 'UTC',
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            &[&node],
        )
        .await?;
    let mut out = Vec::with_capacity(lost.len());
    for row in &lost {
        let name: String = row.get(0);
        let open = sessions::unfinished(&tx, &name).await?;
        tx.execute(
            "UPDATE sessions SET ended = $2, end_reason = $3 WHERE node = $1 AND ended IS NULL",
            &[&name, &now_rfc3339(), &NODE_LOST],
        )
        .await?;
        out.push(LostNode {
            node: name,
            lease_ended: row.get(1),
            sessions: open,
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// Every node holding a lease, by name, with its sessions without an end.
pub(super) async fn list(c: &Client) -> Result<Vec<NodeLease>> {
    let rows = c
        .query(
            "SELECT n.name, to_char(n.lease_until AT TIME ZONE 'UTC',
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), n.lease_until < now(),
                 (SELECT count(*) FROM sessions s WHERE s.node = n.name AND s.ended IS NULL)
             FROM nodes n ORDER BY n.name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| NodeLease {
            node: r.get(0),
            lease_until: r.get(1),
            lapsed: r.get(2),
            live_sessions: r.get::<_, i64>(3).try_into().unwrap_or(0),
        })
        .collect())
}

/// The node set's key `name`, keeping `offer` as `node`'s first when none is kept.
pub(super) async fn shared_key(
    c: &Client,
    node: &str,
    name: &str,
    offer: Option<&str>,
) -> Result<Option<SharedKey>> {
    if let Some(fp) = offer {
        c.execute(
            "INSERT INTO node_keys (name, fingerprint, node) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &fp, &node],
        )
        .await?;
    }
    let row = c
        .query_opt(
            "SELECT fingerprint, node FROM node_keys WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| SharedKey {
        fingerprint: r.get(0),
        node: r.get(1),
    }))
}
