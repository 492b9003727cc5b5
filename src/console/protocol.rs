//! The messages attachments and the broker send to a console's task.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::peer::ConsoleOutput;
use super::spec::{AttachedUser, Attacher, BreakFn};
use super::Result;

/// What came of asking for the write lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRequest {
    /// The lock was free and is now yours.
    Granted,
    /// You already held it.
    AlreadyHeld,
    /// Someone else holds it and was told you asked.
    Asked {
        /// The current holder.
        holder: String,
    },
}

/// An attachment's identity inside its console task.
pub(crate) type PeerId = u64;

/// A request to a console task. Replies travel on the enclosed oneshot.
pub(crate) enum Cmd {
    /// A new user attaches; the reply is their id and output queue.
    Attach {
        who: Attacher,
        reply: oneshot::Sender<(PeerId, ConsoleOutput)>,
    },
    /// Keystrokes of an attached user (dropped unless they hold the write lock).
    Input { id: PeerId, bytes: Bytes },
    /// Ask for the write lock.
    RequestWrite {
        id: PeerId,
        reply: oneshot::Sender<Result<WriteRequest>>,
    },
    /// Take the write lock from its holder.
    ForceWrite {
        id: PeerId,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Give the write lock up.
    ReleaseWrite {
        id: PeerId,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Check a break is allowed; the reply is the function to call (outside the task).
    Break {
        id: PeerId,
        reply: oneshot::Sender<Result<BreakFn>>,
    },
    /// Who is attached.
    Who {
        reply: oneshot::Sender<Vec<AttachedUser>>,
    },
    /// Tell everyone attached and mark the continuous log (power actions and the like).
    Announce { text: String },
    /// Detach now; the reply confirms it is done.
    Detach {
        id: PeerId,
        reply: oneshot::Sender<()>,
    },
}
