//! Crash recovery: sessions and console attaches that a previous run left open (the
//! bastion was killed, the machine lost power) are closed at start as
//! `aborted (bastion restarted)`, with the SHA-256 and byte counts of their recording's
//! valid prefix sealed into the audit chain like any other session end.

use serde_json::json;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::store::SessionEnd;

/// Why the sessions closed here ended.
pub const ABORTED: &str = "aborted (bastion restarted)";

/// Closes every session the ledger still shows open; returns how many.
pub async fn close_abandoned(bastion: &Bastion) -> usize {
    let open = match bastion.stores.sessions.unfinished().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the sessions a previous run left open");
            return 0;
        }
    };
    for row in &open {
        let sealed = bastion
            .stores
            .recordings
            .seal_abandoned(&row.id, &format!("session end: {ABORTED}"))
            .await;
        let (summary, rec_err) = match sealed {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let end = SessionEnd {
            exit_status: None,
            bytes_in: summary.as_ref().map_or(0, |s| s.bytes_in),
            bytes_out: summary.as_ref().map_or(0, |s| s.bytes_out),
            recording_sha256: summary.map(|s| s.sha256),
            end_reason: ABORTED.into(),
        };
        if let Err(e) = bastion.stores.sessions.end(&row.id, &end).await {
            tracing::error!(session = %row.id, error = %e, "cannot close an abandoned session");
            continue;
        }
        tracing::warn!(session = %row.id, user = %row.user, device = %row.device, "closed a session the previous run left open");
        let ev = Event::new("session.end")
            .user(&row.user)
            .source(&row.source)
            .device(&row.device)
            .outcome("error")
            .detail(json!({
                "session": row.id,
                "reason": ABORTED,
                "exit_status": null,
                "bytes_in": end.bytes_in,
                "bytes_out": end.bytes_out,
                "recording_sha256": end.recording_sha256,
                "recording_error": rec_err,
            }));
        bastion.audit(ev).await;
    }
    open.len()
}
