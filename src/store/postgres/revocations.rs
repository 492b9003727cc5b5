//! Certificates revoked by some node's revocation list, shared by every node: kept in the
//! `revocations` table and announced when new.

use deadpool_postgres::Client;

use super::listen;
use crate::audit::now_rfc3339;
use crate::store::{Result, Signal};

/// Records `serials` and `key_ids` as revoked by `node`; announces and returns the new ones.
pub(super) async fn share(
    client: &mut Client,
    node: &str,
    serials: &[u64],
    key_ids: &[String],
) -> Result<(Vec<u64>, Vec<String>)> {
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO revocations (kind, value, node, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, value) DO NOTHING",
        )
        .await?;
    let at = now_rfc3339();
    let mut new = (Vec::new(), Vec::new());
    for s in serials {
        if tx
            .execute(&insert, &[&"serial", &s.to_string(), &node, &at])
            .await?
            > 0
        {
            new.0.push(*s);
        }
    }
    for k in key_ids {
        if tx.execute(&insert, &[&"key-id", k, &node, &at]).await? > 0 {
            new.1.push(k.clone());
        }
    }
    if !new.0.is_empty() || !new.1.is_empty() {
        let signal = Signal::CertsRevoked {
            serials: new.0.clone(),
            key_ids: new.1.clone(),
            node: node.to_string(),
        };
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&listen::CHANNEL, &listen::payload(&signal)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Everything revoked by any node.
pub(super) async fn all(client: &Client) -> Result<(Vec<u64>, Vec<String>)> {
    let rows = client
        .query(
            "SELECT kind, value FROM revocations ORDER BY kind, value",
            &[],
        )
        .await?;
    let mut out = (Vec::new(), Vec::new());
    for r in rows {
        let (kind, value): (String, String) = (r.get(0), r.get(1));
        match kind.as_str() {
            "serial" => out.0.extend(value.parse::<u64>().ok()),
            _ => out.1.push(value),
        }
    }
    Ok(out)
}
