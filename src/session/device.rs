//! A device session: decide, open the guard (recording first: no recording, no session),
//! fetch the credential, connect, bridge, seal.

use std::sync::Arc;

use russh::server::{Handle, Msg};
use russh::Channel;
use serde_json::json;

use super::bridge;
use super::guard::Guard;
use super::{credential, refuse, SessionError, Start};
use crate::bastion::Bastion;
use crate::connect::{Link, LinkRequest};
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

/// Runs a device session on `channel` to its end.
pub(super) async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    channel: Channel<Msg>,
    handle: Handle,
    start: Start,
) {
    if let Some(name) = &start.subsystem {
        let msg = format!(
            "{} does not offer the {name:?} subsystem through the bastion",
            device.name
        );
        return refuse(&channel, &start, &msg).await;
    }
    let verdict = bastion
        .authz
        .decide(&id, &device.name, Action::Connect)
        .await;
    if !verdict.allowed {
        let e = SessionError::Denied {
            device: device.name.clone(),
            reason: verdict.reason,
        };
        return refuse(&channel, &start, &e.to_string()).await;
    }
    let marker = format!(
        "session start: {} ({}) on {}: {}",
        id.user,
        id.roles_display(),
        device.name,
        start.command.as_deref().unwrap_or("interactive shell")
    );
    let mut guard = match Guard::open(
        &bastion,
        &id,
        &device,
        &start,
        marker,
        verdict.grant.as_ref(),
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            fail_unrecorded(&bastion, &id, &device, &e).await;
            return refuse(&channel, &start, &e.to_string()).await;
        }
    };
    let link = match connect(&bastion, &device, &start).await {
        Ok(l) => l,
        Err(e) => {
            guard.fail("connect", &e.to_string()).await;
            return refuse(&channel, &start, &e.to_string()).await;
        }
    };
    guard
        .begin(
            "connect",
            json!({ "kind": device.kind.as_str(), "command": start.command, "forced": start.forced }),
        )
        .await;
    let record_input = device
        .record_input
        .unwrap_or(bastion.config.recording.input);
    let (stop, ending) = bridge::run(&mut guard, link, channel, &handle, record_input).await;
    guard.finish(&stop, ending).await;
}

/// The credential, then the link, as the device's kind says.
async fn connect(bastion: &Bastion, device: &Device, start: &Start) -> super::Result<Link> {
    let cred = credential(bastion, device).await?;
    let (connector, target) = bastion.connectors.for_device(device);
    let (cols, rows) = start.size();
    let req = LinkRequest {
        term: start.term(),
        cols,
        rows,
        command: start.command.clone(),
        pty: start.pty.is_some(),
    };
    Ok(connector.open(&target, &cred, &req).await?)
}

/// A session that failed before its recording existed.
async fn fail_unrecorded(bastion: &Bastion, id: &Identity, device: &Device, e: &SessionError) {
    bastion
        .audit(
            crate::audit::Event::new("session.fail")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&device.name)
                .action("connect")
                .outcome("error")
                .detail(json!({ "error": e.to_string() })),
        )
        .await;
}
