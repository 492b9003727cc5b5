//! One user's attachment to a console: output to read, input and lock requests to send.
//!
//! Every call is a message to the console task; none of them can stall the console.
//! Dropping an [`Attachment`] detaches it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::peer::ConsoleOutput;
use super::protocol::{Cmd, PeerId, WriteRequest};
use super::ring::lock;
use super::ring::Ring;
use super::spec::AttachedUser;
use super::{ConsoleError, Result};

/// A user attached to a console. Read [`output`](Attachment::output): the backlog
/// first, then live output and `[console: ...]` notices, ending when the console stops.
pub struct Attachment {
    /// Console output for this user. Bounded in bytes: if it is not read, output is
    /// dropped for this user only and they are later told how many bytes they missed.
    pub output: ConsoleOutput,
    console: String,
    user: String,
    id: PeerId,
    cmds: mpsc::Sender<Cmd>,
    detaches: mpsc::UnboundedSender<PeerId>,
    ring: Arc<Mutex<Ring>>,
    status: tokio::sync::watch::Receiver<super::ConsoleStatus>,
    detached: bool,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("console", &self.console)
            .field("user", &self.user)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Attachment {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        output: ConsoleOutput,
        console: String,
        user: String,
        id: PeerId,
        cmds: mpsc::Sender<Cmd>,
        detaches: mpsc::UnboundedSender<PeerId>,
        ring: Arc<Mutex<Ring>>,
        status: tokio::sync::watch::Receiver<super::ConsoleStatus>,
    ) -> Self {
        Attachment {
            output,
            console,
            user,
            id,
            cmds,
            detaches,
            ring,
            status,
            detached: false,
        }
    }

    /// Whether this attachment holds the write lock now (its input reaches the device).
    pub fn is_writer(&self) -> bool {
        self.status.borrow().writer == Some(self.id)
    }

    /// The console's name.
    pub fn console(&self) -> &str {
        &self.console
    }

    /// The attached user's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    fn gone(&self) -> ConsoleError {
        ConsoleError::Gone(self.console.clone())
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).await.map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())
    }

    /// Sends keystrokes. They reach the device only while you hold the write lock;
    /// otherwise they are dropped and you are told once.
    pub async fn input(&self, bytes: Bytes) -> Result<()> {
        let id = self.id;
        self.cmds
            .send(Cmd::Input { id, bytes })
            .await
            .map_err(|_| self.gone())
    }

    /// Asks for the write lock: granted if free, otherwise the holder is asked.
    pub async fn request_write(&self) -> Result<WriteRequest> {
        let id = self.id;
        self.call(|reply| Cmd::RequestWrite { id, reply }).await?
    }

    /// Takes the write lock from its holder (needs `can_force`); they are told.
    pub async fn force_write(&self) -> Result<()> {
        let id = self.id;
        self.call(|reply| Cmd::ForceWrite { id, reply }).await?
    }

    /// Gives the write lock up.
    pub async fn release_write(&self) -> Result<()> {
        let id = self.id;
        self.call(|reply| Cmd::ReleaseWrite { id, reply }).await?
    }

    /// Sends a serial break (write lock holder only, if the backend can).
    pub async fn send_break(&self) -> Result<()> {
        let id = self.id;
        let send_break = self.call(|reply| Cmd::Break { id, reply }).await??;
        send_break().await.map_err(|source| ConsoleError::Break {
            console: self.console.clone(),
            source,
        })
    }

    /// Who is attached, and who holds the write lock.
    pub async fn who(&self) -> Result<Vec<AttachedUser>> {
        self.call(|reply| Cmd::Who { reply }).await
    }

    /// Takes the output queue out, e.g. to read it in another task than the one that
    /// sends input; `output` is left closed and empty.
    pub fn take_output(&mut self) -> ConsoleOutput {
        std::mem::replace(&mut self.output, ConsoleOutput::closed())
    }

    /// The last `n_lines` lines of console output still held in memory.
    pub fn replay_last(&self, n_lines: usize) -> Bytes {
        lock(&self.ring).last_lines(n_lines)
    }

    /// Detaches and waits until the console has forgotten this attachment.
    pub async fn detach(mut self) -> Result<()> {
        let id = self.id;
        let res = self.call(|reply| Cmd::Detach { id, reply }).await;
        self.detached = true;
        res
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        // Through the mailbox when it has room, so that input sent just before is
        // still delivered; otherwise on the unbounded side channel, which cannot be
        // full. A console that is gone needs no detach.
        let (reply, _) = oneshot::channel();
        let id = self.id;
        if self.cmds.try_send(Cmd::Detach { id, reply }).is_err() {
            let _ = self.detaches.send(id);
        }
    }
}
