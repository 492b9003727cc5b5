//! LISTEN/NOTIFY: store changes that live sessions on every node must hear of are
//! announced with `pg_notify` inside the transaction that makes them (so they are sent
//! only if it commits), and one connection per node, outside the pool, listens and hands
//! them to the node's subscribers. A lost connection is reopened after a second; once it
//! listens again, [`Signal::Resync`] tells the subscribers that announcements may have
//! been missed meanwhile (NOTIFY keeps none for absent listeners).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::store::Signal;

/// The channel every node listens on.
pub(super) const CHANNEL: &str = "oobgate";

/// The payload announcing `signal`.
pub(super) fn payload(signal: &Signal) -> String {
    match signal {
        Signal::GrantRevoked { grant, by, note } => {
            json!({ "kind": "grant.revoked", "grant": grant, "by": by, "note": note })
        }
        Signal::CertsRevoked {
            serials,
            key_ids,
            node,
        } => {
            json!({ "kind": "certs.revoked", "serials": serials, "key_ids": key_ids, "node": node })
        }
        Signal::Resync => json!({ "kind": "resync" }),
    }
    .to_string()
}

fn parse(payload: &str) -> Option<Signal> {
    let v: Value = serde_json::from_str(payload).ok()?;
    match v["kind"].as_str()? {
        "grant.revoked" => Some(Signal::GrantRevoked {
            grant: v["grant"].as_i64()?,
            by: v["by"].as_str()?.to_string(),
            note: v["note"].as_str().map(str::to_string),
        }),
        "certs.revoked" => Some(Signal::CertsRevoked {
            serials: v["serials"]
                .as_array()?
                .iter()
                .filter_map(Value::as_u64)
                .collect(),
            key_ids: v["key_ids"]
                .as_array()?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            node: v["node"].as_str()?.to_string(),
        }),
        "resync" => Some(Signal::Resync),
        _ => None,
    }
}

/// Listens on `url` until `stop` is cancelled (the store is dropped), reconnecting as
/// needed.
pub(super) async fn run(url: String, tx: broadcast::Sender<Signal>, stop: CancellationToken) {
    let mut lost = false;
    loop {
        match listen(&url, &tx, &stop, lost).await {
            Ok(()) => return,
            Err(e) => {
                lost = true;
                tracing::warn!(error = %e, "store: the LISTEN connection failed; reopening")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One LISTEN connection: `Ok` when stopped, the error when it failed.
/// `after_loss`: an earlier connection failed, so [`Signal::Resync`] follows the LISTEN.
async fn listen(
    url: &str,
    tx: &broadcast::Sender<Signal>,
    stop: &CancellationToken,
    after_loss: bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let (done_tx, mut done) = tokio::sync::oneshot::channel::<tokio_postgres::Error>();
    let pump_tx = tx.clone();
    let pump = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => match parse(n.payload()) {
                    Some(signal) => {
                        let _ = pump_tx.send(signal);
                    }
                    None => tracing::warn!(payload = n.payload(), "store: unknown notification"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _ = done_tx.send(e);
                    return;
                }
                None => return,
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if listening.is_ok() && after_loss {
        tracing::info!("store: listening again; reading what may have been missed");
        let _ = tx.send(Signal::Resync);
    }
    let ended = match listening {
        Err(e) => Some(e),
        Ok(()) => tokio::select! {
            e = &mut done => e.ok(),
            _ = stop.cancelled() => None,
        },
    };
    pump.abort();
    match ended {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
