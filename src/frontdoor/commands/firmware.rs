//! `firmware update SERVER URL`: starts the BMC's `UpdateService.SimpleUpdate` with an
//! image under `[media] allowed_urls` (policy `firmware.update`) and follows its task to
//! the end, a progress line for every change; audited as `firmware` with the final state,
//! and announced on the server's consoles.

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::bmc::{self, Progress};
use super::CommandOutput;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;

/// How long a firmware task may run before the command gives up following it.
const TASK_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// `firmware update SERVER URL`.
#[derive(Debug, Clone, Subcommand)]
pub enum FirmwareCommand {
    /// Flash the image at URL and follow the BMC's task to its end.
    Update {
        /// The server.
        server: String,
        /// The image URL (under `media.allowed_urls`).
        url: String,
    },
}

/// Runs a `firmware` command, showing the task's progress on `progress`.
pub(super) async fn run(
    bastion: &Bastion,
    id: &Identity,
    cmd: FirmwareCommand,
    progress: &Progress,
) -> CommandOutput {
    let FirmwareCommand::Update { server, url } = cmd;
    let what = "firmware update";
    let (device, b) = match bmc::prepare(
        bastion,
        id,
        "firmware",
        what,
        &server,
        Action::FirmwareUpdate,
    )
    .await
    {
        Ok(v) => v,
        Err(out) => return out,
    };
    if let Some(out) = bmc::refuse_url(bastion, id, "firmware", &device, &server, what, &url).await
    {
        return out;
    }
    progress.line(format!("{server}: firmware update from {url} started"));
    let result = b
        .firmware_update(&url, TASK_DEADLINE, &mut |p| {
            progress.line(format!("{server}: firmware task {p}"))
        })
        .await
        .map_err(|e| e.to_string());
    let shown = result
        .as_ref()
        .map(|t| json!({ "url": url, "state": t.state, "percent": t.percent }))
        .map_err(Clone::clone);
    bmc::record(
        bastion, id, "firmware", &device, &server, what, &shown, true,
    )
    .await;
    match result {
        Ok(t) => CommandOutput::ok(format!("{server}: firmware update done ({t})\n")),
        Err(e) => CommandOutput::fail(format!("firmware: {e}\n"), 1),
    }
}
