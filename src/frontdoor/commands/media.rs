//! `media insert SERVER URL`, `media eject SERVER`, `media status SERVER`: the server's
//! virtual CD/DVD through its BMC (policy `media.control`; an IPMI BMC answers that it
//! cannot). Image URLs must lie under `[media] allowed_urls`: any other is refused, audited
//! and answered with the allowed prefixes. Changes are audited as `media` and announced on
//! the server's consoles.

use clap::Subcommand;
use serde_json::json;

use super::bmc;
use super::CommandOutput;
use crate::bastion::Bastion;
use crate::bmc::MediaStatus;
use crate::identity::Identity;
use crate::policy::Action;

/// `media insert|eject|status ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum MediaCommand {
    /// Insert the image at URL.
    Insert {
        /// The server.
        server: String,
        /// The image URL (under `media.allowed_urls`).
        url: String,
    },
    /// Eject the image.
    Eject {
        /// The server.
        server: String,
    },
    /// What is inserted.
    Status {
        /// The server.
        server: String,
    },
}

fn status_line(server: &str, s: &MediaStatus) -> String {
    match (&s.image, s.inserted) {
        (Some(url), true) => format!("{server}: virtual media {} holds {url}\n", s.id),
        _ => format!("{server}: virtual media {} is empty\n", s.id),
    }
}

/// Inserts `url` (already allowed) into `server`'s virtual media through `b`.
pub async fn insert(b: &dyn crate::bmc::Bmc, url: &str) -> crate::bmc::Result<MediaStatus> {
    b.media_insert(url).await?;
    b.media_status().await
}

/// Runs a `media` command.
pub(super) async fn run(bastion: &Bastion, id: &Identity, cmd: MediaCommand) -> CommandOutput {
    let (server, what, url) = match &cmd {
        MediaCommand::Insert { server, url } => (server, "media insert", Some(url.as_str())),
        MediaCommand::Eject { server } => (server, "media eject", None),
        MediaCommand::Status { server } => (server, "media status", None),
    };
    let (device, b) =
        match bmc::prepare(bastion, id, "media", what, server, Action::MediaControl).await {
            Ok(v) => v,
            Err(out) => return out,
        };
    if let Some(url) = url {
        if let Some(out) = bmc::refuse_url(bastion, id, "media", &device, server, what, url).await {
            return out;
        }
    }
    let result = match &cmd {
        MediaCommand::Insert { url, .. } => insert(b.as_ref(), url).await,
        MediaCommand::Eject { .. } => match b.media_eject().await {
            Ok(()) => b.media_status().await,
            Err(e) => Err(e),
        },
        MediaCommand::Status { .. } => b.media_status().await,
    }
    .map_err(|e| e.to_string());
    let shown = result
        .as_ref()
        .map(|s| json!({ "url": url, "image": s.image, "inserted": s.inserted }))
        .map_err(Clone::clone);
    let changes = !matches!(cmd, MediaCommand::Status { .. });
    bmc::record(bastion, id, "media", &device, server, what, &shown, changes).await;
    match result {
        Ok(s) => CommandOutput::ok(status_line(server, &s)),
        Err(e) => CommandOutput::fail(format!("media: {e}\n"), 1),
    }
}
