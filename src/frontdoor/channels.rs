//! The channels of one SSH connection (the outer one or a `-J` inner one), tracked so that
//! a connection that must end (shutdown, revocation, expiry) lets its sessions end first,
//! each with its own notice, exit status and sealed recording, before the disconnect.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// How long a connection being ended waits for its channels to end by themselves.
const GRACE: Duration = Duration::from_secs(3);

/// Waits (at most [`GRACE`]) until every channel task in `channels` has ended, while
/// `session` (the connection's russh future) keeps running so that their last messages
/// go out. Returns whether the connection ended meanwhile.
pub async fn drain<S>(session: &mut Pin<&mut S>, channels: &TaskTracker) -> bool
where
    S: Future<Output = Result<(), russh::Error>>,
{
    channels.close();
    tokio::select! {
        r = session.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with error");
            }
            true
        }
        _ = tokio::time::timeout(GRACE, channels.wait()) => false,
    }
}
