//! Node liveness, when several nodes share the store: this node renews its lease every
//! third of `[store] node_lease`, and on each round takes over any other node whose lease
//! lapsed, so the sessions a lost node was carrying end as `aborted (node lost)` in the
//! ledger and the audit chain. Their recordings are sealed from what reached the object
//! store (`[recording.s3]`); without one they stay on the lost node's disk.

use std::sync::Arc;

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::store::{LostNode, SessionEnd, NODE_LOST};

/// Runs until the bastion shuts down; returns at once on a store with no leases.
pub async fn run(bastion: Arc<Bastion>) {
    let Some(leases) = bastion.stores.leases.clone() else {
        return;
    };
    let ttl = bastion.config.store.node_lease;
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = leases.renew(ttl).await {
            tracing::error!(error = %e, "cannot renew this node's lease");
            continue;
        }
        match leases.reap().await {
            Ok(lost) => {
                for node in lost {
                    report(&bastion, node).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot look for lost nodes"),
        }
    }
}

async fn report(bastion: &Bastion, lost: LostNode) {
    tracing::warn!(
        node = %lost.node,
        lease_ended = %lost.lease_ended,
        sessions = lost.sessions.len(),
        "a node's lease lapsed: its sessions are closed"
    );
    let ids: Vec<&str> = lost.sessions.iter().map(|s| s.id.as_str()).collect();
    bastion
        .audit(Event::new("node.lost").outcome("alert").detail(json!({
            "node": lost.node,
            "lease_ended": lost.lease_ended,
            "sessions": ids,
        })))
        .await;
    for row in &lost.sessions {
        let (sha, rec_err) = seal(bastion, &row.id).await;
        let ev = Event::new("session.end")
            .user(&row.user)
            .source(&row.source)
            .device(&row.device)
            .outcome("error")
            .detail(json!({
                "session": row.id,
                "reason": NODE_LOST,
                "lost_node": lost.node,
                "exit_status": null,
                "recording": row.recording,
                "recording_sha256": sha,
                "recording_error": rec_err,
            }));
        bastion.audit(ev).await;
    }
}

/// Seals the recording of a lost node's session from what reached the object store, and
/// records its SHA-256 in the session's end row; (SHA-256, why not).
async fn seal(bastion: &Bastion, id: &str) -> (Option<String>, Option<String>) {
    let marker = format!("session end: {NODE_LOST}");
    let summary = match bastion.stores.recordings.seal_abandoned(id, &marker).await {
        Ok(s) => s,
        Err(e) => {
            let why = match bastion.stores.recordings.remote() {
                None => format!("the recording stays on the lost node's disk ({e})"),
                Some(_) => e.to_string(),
            };
            tracing::warn!(session = %id, error = %why, "cannot seal a lost node's recording");
            return (None, Some(why));
        }
    };
    let end = SessionEnd {
        exit_status: None,
        bytes_in: summary.bytes_in,
        bytes_out: summary.bytes_out,
        recording_sha256: Some(summary.sha256.clone()),
        end_reason: NODE_LOST.into(),
    };
    if let Err(e) = bastion.stores.sessions.end(id, &end).await {
        tracing::error!(session = %id, error = %e, "cannot record the sealed recording of a lost session");
    }
    (Some(summary.sha256), None)
}
