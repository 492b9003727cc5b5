//! Every second: lapsed requests and grants expire (ending their sessions), and sessions
//! whose certificate the revocation list now names are ended.

use std::sync::Arc;
use std::time::Duration;

use crate::bastion::Bastion;

/// Runs until the bastion shuts down.
pub async fn run(bastion: Arc<Bastion>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = bastion.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = bastion.requests.sweep().await {
            tracing::error!(error = %e, "access sweep failed");
        }
        if !bastion.live.is_empty() {
            bastion.live.end_where(bastion.validator.revocations());
        }
    }
}
