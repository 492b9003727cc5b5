//! What the other nodes sharing the store change reaches this node: a grant revoked on any
//! node ends the sessions it authorized here, and certificates revoked by any node's
//! revocation list are refused here and their live sessions ended. At start, and whenever
//! this node's list is read again, its entries are shared with the others.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::access::revoked_reason;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::store::{Signal, Signals, State};

/// Shares this node's revocation list and takes in what the other nodes' lists revoke.
pub async fn share_revocations(bastion: &Bastion, signals: &dyn Signals) {
    let list = bastion.validator.revocation_list();
    let (serials, key_ids) = list.entries();
    match signals.share_revocations(&serials, &key_ids).await {
        Ok((s, k)) if !s.is_empty() || !k.is_empty() => {
            let detail = json!({ "serials": s, "key_ids": k });
            bastion
                .audit(Event::new("revocation.shared").outcome("ok").detail(detail))
                .await;
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot share this node's revocation list"),
    }
    match signals.shared_revocations().await {
        Ok((s, k)) => {
            list.add_shared(&s, &k);
        }
        Err(e) => tracing::error!(error = %e, "cannot read the revocations of the other nodes"),
    }
}

/// Applies every signal in `news` until the bastion shuts down.
pub async fn run(bastion: Arc<Bastion>, mut news: broadcast::Receiver<Signal>) {
    loop {
        let signal = tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            s = news.recv() => s,
        };
        match signal {
            Ok(Signal::GrantRevoked { grant, by, note }) => {
                let why = revoked_reason(grant, &by, note.as_deref());
                let ended = bastion.live.end_grant(grant, &why);
                if ended > 0 {
                    tracing::info!(grant, ended, "sessions ended by a grant revoked on a node");
                }
            }
            Ok(Signal::CertsRevoked {
                serials,
                key_ids,
                node,
            }) => {
                if bastion
                    .validator
                    .revocation_list()
                    .add_shared(&serials, &key_ids)
                {
                    tracing::info!(%node, ?serials, ?key_ids, "certificates revoked by another node");
                }
                bastion.live.end_where(bastion.validator.revocations());
            }
            Ok(Signal::Resync) => resync(&bastion).await,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "signals from other nodes were dropped; reading the store again"
                );
                resync(&bastion).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Reads again what missed announcements would have said: the revocations every node
/// shared, and the state of each grant a live session here depends on.
async fn resync(bastion: &Bastion) {
    let Some(signals) = bastion.stores.signals.clone() else {
        return;
    };
    match signals.shared_revocations().await {
        Ok((s, k)) => {
            bastion.validator.revocation_list().add_shared(&s, &k);
            bastion.live.end_where(bastion.validator.revocations());
        }
        Err(e) => tracing::error!(error = %e, "cannot read the revocations of the other nodes"),
    }
    for grant in bastion.live.grants() {
        match bastion.stores.access.get(grant).await {
            Ok(r) if r.state == State::Revoked => {
                let by = r.closed_by.as_deref().unwrap_or("another node");
                let why = revoked_reason(grant, by, r.close_note.as_deref());
                let ended = bastion.live.end_grant(grant, &why);
                tracing::info!(
                    grant,
                    ended,
                    "sessions ended by a grant revoked while this node was not listening"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(grant, error = %e, "cannot read a live session's grant"),
        }
    }
}
