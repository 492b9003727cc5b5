//! Output to the admin's channel without ever blocking the session's loop: one write is
//! in flight at a time (waiting for the admin's SSH window), and the loop keeps serving
//! its other events (the guard's stops, the client leaving, revocation) meanwhile. While a
//! write waits, the loop reads no more device output, so the device is held back by the
//! bounded link instead of filling memory; a write that waits longer than the stall limit
//! ends the session.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use russh::server::Msg;
use russh::ChannelWriteHalf;
use tokio::time::Instant;

type Write<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// How a write in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flushed {
    /// It went out.
    Sent,
    /// It (or what had to come before it) failed: the client is gone.
    Failed,
    /// The admin's window stayed shut for the whole stall limit.
    Stalled,
}

/// The admin's side of the channel, as the loops write to it.
pub(super) struct Outbox<'a> {
    channel: &'a ChannelWriteHalf<Msg>,
    pending: Option<Write<'a>>,
    since: Instant,
}

impl<'a> Outbox<'a> {
    /// Writes go to `channel`.
    pub(super) fn new(channel: &'a ChannelWriteHalf<Msg>) -> Self {
        Outbox {
            channel,
            pending: None,
            since: Instant::now(),
        }
    }

    /// Whether a write is waiting for the admin's window.
    pub(super) fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts writing `bytes` (after `before`, e.g. handing them to the recorder); the
    /// previous write must be done.
    pub(super) fn send(&mut self, bytes: Bytes, before: impl Future<Output = bool> + Send + 'a) {
        let channel = self.channel;
        self.since = Instant::now();
        self.pending = Some(Box::pin(async move {
            before.await && channel.data_bytes(bytes).await.is_ok()
        }));
    }

    /// Resolves when the write in flight is done, or has waited `stall` for the admin's
    /// window. Never resolves while nothing is in flight. Cancel-safe: an unfinished write
    /// goes on at the next call.
    pub(super) async fn done(&mut self, stall: Duration) -> Flushed {
        let deadline = self.since + stall;
        let Some(w) = self.pending.as_mut() else {
            return std::future::pending().await;
        };
        let ok = tokio::select! {
            ok = w => ok,
            _ = tokio::time::sleep_until(deadline) => return Flushed::Stalled,
        };
        self.pending = None;
        if ok {
            Flushed::Sent
        } else {
            Flushed::Failed
        }
    }

    /// A line for the admin at the end of a session: given up on after a short wait, so a
    /// client that no longer reads cannot hold the session open.
    pub(super) async fn last_words(&mut self, text: String) {
        let channel = self.channel;
        self.pending = None;
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            channel.data_bytes(text.into_bytes()),
        )
        .await;
    }
}
