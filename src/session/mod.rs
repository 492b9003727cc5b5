//! The session pipeline, one for every kind of session: read what the admin asks for
//! ([`requests`], where the certificate's restrictions apply), decide, then either a
//! device session (fetch the credential, connect, [`bridge`]) or a console attach
//! ([`console`]); both run under one [`Guard`] (recording, deadline and its warning, idle
//! timeout, revocation cut-off, ledger rows) and end with the recording sealed into the
//! audit log.
//!
//! It runs in its own task per session channel (inner `-J` connection or `connect` on the
//! outer one). Every step that waits on something outside (secrets, the device) runs under
//! a timeout.

mod bridge;
mod console;
mod console_link;
pub mod console_owner;
mod console_relay;
mod credential;
mod device;
mod four_eyes;
mod guard;
mod ledger;
pub mod liveness;
mod outbox;
mod recovery;
mod requests;
mod sftp_audit;
mod sftp_ops;
mod sftp_paths;
mod sftp_relay;
mod sftp_wire;
mod transfer;

pub use console_link::register as register_console;
pub use credential::credential;
pub use guard::{Activity, Guard, Stop, Tick};
pub use recovery::{close_abandoned, ABORTED};
pub use requests::{pty_allowed, read_start, PtyInfo, Start};

use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::Channel;

use crate::bastion::Bastion;
use crate::connect::Early;
use crate::identity::Identity;
use crate::inventory::Device;

/// Errors that end a session before or during the bridge (shown to the admin).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Policy does not allow it.
    #[error("access to {device} denied: {reason}")]
    Denied {
        /// The device.
        device: String,
        /// The policy's reason.
        reason: String,
    },
    /// The device has no usable credential.
    #[error("{0}")]
    Credential(#[from] credential::CredentialError),
    /// The device could not be reached or logged into.
    #[error("{0}")]
    Connect(#[from] crate::connect::ConnectError),
    /// The recording could not be written: the session is not allowed unrecorded.
    #[error("recording failed, session closed: {0}")]
    Recording(#[from] crate::recording::RecordingError),
    /// The store failed.
    #[error("{0}")]
    Store(crate::store::StoreError),
    /// This kind of device cannot be reached this way, or the session cannot start as
    /// asked.
    #[error("{0}")]
    Unsupported(String),
}

impl From<crate::store::StoreError> for SessionError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Recording(r) => SessionError::Recording(r),
            other => SessionError::Store(other),
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, SessionError>;

/// How long the bastion waits for secrets and device setup, each.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs one session channel on `device` to its end; `handle` is the SSH connection the
/// channel belongs to. `start` is given when the requests were already read (the outer
/// `connect` command); otherwise they are read here. `early` is the device connection
/// started ahead of the session, if any.
pub async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    mut channel: Channel<Msg>,
    handle: Handle,
    start: Option<Start>,
    early: Option<Early>,
) {
    let start = match start {
        Some(s) => s,
        None => match read_start(&mut channel, &id, &bastion.shutdown).await {
            Some(s) => s,
            None => return,
        },
    };
    if device.kind.is_console() {
        console::run(bastion, id, device, channel, start).await;
    } else {
        device::run(bastion, id, device, channel, handle, start, early).await;
    }
}

/// Tells the admin why the session could not start, and closes the channel with exit
/// status 255.
pub async fn refuse(channel: &Channel<Msg>, start: &Start, message: &str) {
    let msg = format!("oobgate: {message}\r\n");
    if start.pty.is_some() {
        let _ = channel.data_bytes(msg.into_bytes()).await;
    } else {
        let _ = channel.extended_data_bytes(1, msg.into_bytes()).await;
    }
    finish_channel(channel, 255).await;
}

/// Sends the exit status, EOF and close on a channel.
pub async fn finish_channel(channel: &Channel<Msg>, exit: u32) {
    let _ = channel.exit_status(exit).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}
