//! Shared consoles: one long-lived link per console device, a continuous log, one writer.
//!
//! This is the console broker conserver users expect. For every registered console the
//! bastion holds at most ONE link to the device (serial tty, raw TCP, RFC 2217, IPMI
//! SOL: the broker only sees a factory that opens a fresh [`Link`](crate::connect::Link)),
//! and any number of admins attach to it:
//!
//! - [`ConsoleBroker`] is the registry: [`register`](ConsoleBroker::register),
//!   [`list`](ConsoleBroker::list), [`attach`](ConsoleBroker::attach),
//!   [`shutdown`](ConsoleBroker::shutdown).
//! - Each console is one task (`actor`) that owns all of its state: the link, the
//!   attached users, the write lock, the continuous log. Everyone else talks to it over
//!   channels; it never awaits an attached user, so a slow reader cannot slow the
//!   console or the other readers (see `peer`).
//! - Always-on consoles keep their link up and reconnect with exponential backoff;
//!   the others open on first attach and close a short grace period after the last
//!   detach.
//! - Every byte the console prints goes to an asciicast log under `log_dir/<name>/`,
//!   rotated and pruned so disk use is capped (`log`), and to an in-memory ring that
//!   new attachers receive first (`ring`).
//! - [`EscapeParser`] splits an attached user's keystrokes into data and `Ctrl-]`
//!   commands for the session layer.

mod actor;
mod alert;
mod alert_sink;
mod attachment;
mod broker;
mod escape;
pub(crate) mod log;
mod matcher;
mod peer;
mod protocol;
mod ring;
mod sharing;
mod spec;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use alert::{validate as validate_alerts, AlertConfig, AlertOn, AlertRule};
pub use alert_sink::{forward as forward_alerts, ConsoleAlert};
pub use attachment::Attachment;
pub use broker::ConsoleBroker;
pub use escape::{EscapeCmd, EscapeItem, EscapeParser, ESCAPE_BYTE, ESCAPE_HELP};
pub use matcher::Firing;
pub use peer::ConsoleOutput;
pub use protocol::WriteRequest;
pub use spec::{
    AttachedUser, Attacher, BoxFuture, BreakFn, BrokerOptions, ConsoleSpec, ConsoleStatus,
    LinkState, OpenFn,
};

/// Everything that can go wrong in the console broker.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No console of that name is registered.
    #[error("no console named {0:?}")]
    UnknownConsole(String),
    /// A console of that name is already registered.
    #[error("console {0:?} is already registered")]
    Duplicate(String),
    /// The name cannot be used (it names the log directory).
    #[error("invalid console name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The attached user lacks the right for this action.
    #[error("{user} may not {action} on console {console}")]
    NotPermitted {
        /// The attached user.
        user: String,
        /// What was refused (e.g. `write`, `force write`).
        action: &'static str,
        /// The console.
        console: String,
    },
    /// The action needs the write lock, which this attachment does not hold.
    #[error("you do not hold the write lock on console {0}")]
    NotWriter(String),
    /// The console's backend has no way to send a serial break.
    #[error("this console cannot send a break")]
    BreakUnsupported,
    /// The link is down, so the action cannot reach the device.
    #[error("console {0}: link is down")]
    LinkDown(String),
    /// Sending the break failed at the device link.
    #[error("console {console}: break failed: {source}")]
    Break {
        /// The console.
        console: String,
        /// What the link reported.
        source: crate::connect::ConnectError,
    },
    /// The continuous log could not be created or written.
    #[error("console log: {0}")]
    Log(#[from] crate::recording::RecordingError),
    /// The console task is gone (the broker shut down or the attachment detached).
    #[error("console {0} is shut down")]
    Gone(String),
}

/// Result alias for this module.
pub type Result<T, E = ConsoleError> = std::result::Result<T, E>;
