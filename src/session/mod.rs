//! A device session's lifecycle: authorize, fix the deadline, fetch the credential, open
//! the recording, connect, bridge, and close with the recording sealed into the audit log.
//!
//! It runs in its own task per session channel (inner `-J` connection or `connect` on the
//! outer one). Every step that waits on something outside (secrets, the device) runs under
//! a timeout, and every way out of the session goes through [`close`], so the recording
//! and the audit row are always finished.

mod bridge;
mod console;
mod hostkeys;
mod ledger;
mod setup;

pub(crate) use bridge::credential;
pub use console::register as register_console;
pub use hostkeys::StoreHostKeys;
pub use setup::{PtyInfo, Start};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::server::Msg;
use russh::Channel;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::audit::{Event, SessionEnd};
use crate::frontdoor::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

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
    Credential(String),
    /// The device could not be reached or logged into.
    #[error("{0}")]
    Connect(#[from] crate::connect::ConnectError),
    /// The recording could not be written: the session is not allowed unrecorded.
    #[error("recording failed, session closed: {0}")]
    Recording(#[from] crate::recording::RecordingError),
    /// This kind of device cannot be reached this way.
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, SessionError>;

/// Runs one session channel to its end. `start` is given when the pty/exec/shell
/// requests were already read (the outer `connect` command); otherwise they are awaited.
pub async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    mut channel: Channel<Msg>,
    start: Option<Start>,
    shutdown: CancellationToken,
) {
    let start = match start {
        Some(s) => s,
        None => match setup::wait_for_start(&mut channel).await {
            Some(s) => s,
            None => return,
        },
    };
    if device.kind.is_console() {
        console::run(bastion, id, device, channel, start, shutdown).await;
        return;
    }
    let (decision, grant) = bastion
        .authorize_with_grant(&id, &device.name, Action::Connect)
        .await;
    if !decision.allowed {
        fail(
            &channel,
            &start,
            &SessionError::Denied {
                device: device.name.clone(),
                reason: decision.reason,
            },
        )
        .await;
        return;
    }
    let deadline = deadline(&bastion, &id, grant.as_ref());
    let live = bastion
        .live
        .register(&id, grant.as_ref().map(|g| g.id), &shutdown);
    let session_id = new_session_id();
    match bridge::open(&bastion, &id, &device, &start, &session_id).await {
        Ok(mut opened) => {
            if let Some(g) = &grant {
                let _ = opened.recorder.marker(&format!(
                    "access by {}",
                    crate::frontdoor::authorize::grant_label(g)
                ));
            }
            ledger::started(
                &bastion,
                &id,
                &device,
                &session_id,
                opened.recorder.path(),
                "connect",
                json!({
                    "kind": device.kind.as_str(),
                    "command": start.command,
                    "deadline": crate::audit::rfc3339(deadline),
                    "grant": grant.as_ref().map(|g| g.id),
                    "breakglass": grant.as_ref().is_some_and(|g| g.breakglass),
                }),
            );
            let record_input = device
                .record_input
                .unwrap_or(bastion.config.recording.input);
            let (outcome, write) = bridge::run(
                opened,
                channel,
                record_input,
                deadline,
                bastion.config.limits.deadline_warning,
                &live,
                bastion.config.access.idle_timeout(&id.roles),
            )
            .await;
            close(&bastion, &id, &device, &session_id, &write, outcome).await;
        }
        Err(e) => {
            bastion.audit(
                Event::new("session.fail")
                    .user(&id.user)
                    .source(id.source.to_string())
                    .device(&device.name)
                    .action("connect")
                    .outcome("error")
                    .detail(json!({ "session": session_id, "error": e.to_string() })),
            );
            fail(&channel, &start, &e).await;
        }
    }
}

/// The earliest of the grant's end (when a grant allowed the session), the certificate's
/// expiry and the configured maximum session length.
fn deadline(
    bastion: &Bastion,
    id: &Identity,
    grant: Option<&crate::access::AccessRequest>,
) -> SystemTime {
    let max = SystemTime::now() + bastion.config.limits.max_session;
    [id.valid_before, grant.and_then(|g| g.grant_end)]
        .into_iter()
        .flatten()
        .fold(max, |a, b| a.min(b))
}

/// `YYYY-MM-DD/` + 12 random hex digits: also the recording's relative path.
fn new_session_id() -> String {
    let day = time::OffsetDateTime::now_utc().date();
    let r: u64 = rand::random();
    format!("{day}/{:012x}", r & 0xffff_ffff_ffff)
}

/// Sends the exit status, EOF and close on a channel.
async fn finish_channel(channel: &Channel<Msg>, exit: u32) {
    let _ = channel.exit_status(exit).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

/// Tells the admin why the session could not start, and closes the channel.
async fn fail(channel: &Channel<Msg>, start: &Start, e: &SessionError) {
    let msg = format!("oobgate: {e}\r\n");
    if start.pty.is_some() {
        let _ = channel.data_bytes(msg.into_bytes()).await;
    } else {
        let _ = channel.extended_data_bytes(1, msg.into_bytes()).await;
    }
    let _ = channel.exit_status(255).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

/// Ends the admin's channel, seals the recording and writes the session's end.
async fn close(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    session_id: &str,
    channel: &russh::ChannelWriteHalf<Msg>,
    outcome: bridge::Outcome,
) {
    if let Some(note) = &outcome.notice {
        let _ = channel
            .data_bytes(format!("\r\noobgate: {note}\r\n").into_bytes())
            .await;
    }
    let exit = outcome
        .exit_status
        .unwrap_or(if outcome.clean { 0 } else { 255 });
    let _ = channel.exit_status(exit).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
    let (sha, rec_err) = match outcome.recording {
        Ok(summary) => (Some(summary.sha256), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let end = SessionEnd {
        exit_status: outcome.exit_status.map(i64::from),
        bytes_in: outcome.bytes_in,
        bytes_out: outcome.bytes_out,
        recording_sha256: sha,
        end_reason: outcome.reason,
    };
    ledger::ended(
        bastion,
        id,
        device,
        session_id,
        &end,
        outcome.clean,
        rec_err,
    );
}

/// How long the bastion waits for secrets and device setup, each.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
