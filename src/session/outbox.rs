//! Output to the admin's channel without ever blocking the session's loop: one write is
//! in flight at a time (waiting for the admin's SSH window), and the loop keeps serving
//! its other events (the guard's stops, the client leaving, revocation) meanwhile. While a
//! write waits, the loop reads no more device output, so the device is held back by the
//! bounded link instead of filling memory; a write that waits longer than the stall limit
//! ends the session. The device's stderr stays the admin's stderr (SSH extended data), and
//! the bastion's own notices go where a terminal shows them: the terminal with a pty,
//! stderr without one (so `ssh -J bastion sw1 cmd > out` keeps `out` the command's output).

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

/// Which of the admin's streams bytes go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    /// Channel data: the terminal, or the command's standard output.
    Stdout,
    /// Extended data 1: the command's standard error.
    Stderr,
}

/// The admin's side of the channel, as the loops write to it.
pub(super) struct Outbox<'a> {
    channel: &'a ChannelWriteHalf<Msg>,
    pending: Option<Write<'a>>,
    since: Instant,
    notices: To,
}

impl<'a> Outbox<'a> {
    /// Writes go to `channel`; the bastion's notices to its terminal when `pty`, else to
    /// its stderr.
    pub(super) fn new(channel: &'a ChannelWriteHalf<Msg>, pty: bool) -> Self {
        Outbox {
            channel,
            pending: None,
            since: Instant::now(),
            notices: if pty { To::Stdout } else { To::Stderr },
        }
    }

    /// The stream the bastion's own notices go to.
    pub(super) fn notices(&self) -> To {
        self.notices
    }

    /// Whether a write is waiting for the admin's window.
    pub(super) fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts writing `bytes` to `to` (after `before`, e.g. handing them to the
    /// recorder); the previous write must be done.
    pub(super) fn send(
        &mut self,
        bytes: Bytes,
        to: To,
        before: impl Future<Output = bool> + Send + 'a,
    ) {
        let channel = self.channel;
        self.since = Instant::now();
        self.pending = Some(Box::pin(async move {
            before.await && write(channel, to, bytes).await
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
            write(channel, self.notices, text.into()),
        )
        .await;
    }
}

async fn write(channel: &ChannelWriteHalf<Msg>, to: To, bytes: Bytes) -> bool {
    match to {
        To::Stdout => channel.data_bytes(bytes).await.is_ok(),
        To::Stderr => channel.extended_data_bytes(1, bytes).await.is_ok(),
    }
}
