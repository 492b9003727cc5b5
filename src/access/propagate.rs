//! What other nodes change reaches this node's live sessions: a grant revoked on any node
//! ends the sessions it authorized here, with the same reason the revoking node shows.

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::LiveSessions;
use crate::store::Signal;

/// What a session ended by the revocation of grant `n` tells its admin.
pub fn revoked_reason(n: i64, by: &str, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        None => format!("access grant #{n} revoked by {by}"),
        Some(note) => format!("access grant #{n} revoked by {by}: {note}"),
    }
}

/// Applies every signal from `signals` to `live` until `shutdown`.
pub async fn run(
    mut signals: broadcast::Receiver<Signal>,
    live: LiveSessions,
    shutdown: CancellationToken,
) {
    loop {
        let signal = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = signals.recv() => s,
        };
        match signal {
            Ok(Signal::GrantRevoked { grant, by, note }) => {
                let ended = live.end_grant(grant, &revoked_reason(grant, &by, note.as_deref()));
                if ended > 0 {
                    tracing::info!(grant, ended, "sessions ended by a revocation");
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "signals from other nodes were dropped")
            }
            Err(RecvError::Closed) => return,
        }
    }
}
