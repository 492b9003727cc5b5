//! A device session: decide, open the guard (recording first: no recording, no session),
//! fetch the credential, connect, bridge, seal.

use std::sync::Arc;

use russh::server::{Handle, Msg};
use russh::Channel;
use serde_json::json;

use super::bridge;
use super::four_eyes;
use super::guard::Guard;
use super::{credential, refuse, transfer, SessionError, Start};
use crate::bastion::Bastion;
use crate::connect::{Early, Line, Link, LinkRequest, Take};
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
    early: Option<Early>,
) {
    let allowed = match transfer::check(&bastion, &id, &device, &start).await {
        Ok(a) => a,
        Err(msg) => return refuse(&channel, &start, &msg).await,
    };
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
    let Some(_line) = wait_for_line(&bastion, &device, &channel, &start).await else {
        return;
    };
    let marker = format!(
        "session start: {} ({}) on {}: {}",
        id.user,
        id.roles_display(),
        device.name,
        what(&start)
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
    if device.require_observer {
        if let Err(stop) = four_eyes::wait_for_observer(&mut guard, &channel, &start).await {
            let reason = stop.reason.clone();
            guard.fail("connect", &reason).await;
            return refuse(&channel, &start, &reason).await;
        }
    }
    let asked = tokio::time::Instant::now();
    let link = connect(&bastion, &device, &start, early).await;
    let kind = device.kind.as_str();
    bastion
        .metrics
        .device_connect(kind, asked.elapsed(), link.is_ok());
    let link = match link {
        Ok(l) => l,
        Err(e) => {
            guard.fail("connect", &e.to_string()).await;
            return refuse(&channel, &start, &e.to_string()).await;
        }
    };
    let link = audited(&bastion, &id, &device, &guard, link, allowed);
    guard
        .begin(
            "connect",
            json!({
                "kind": device.kind.as_str(),
                "command": start.command,
                "forced": start.forced,
                "subsystem": start.subsystem,
            }),
        )
        .await;
    let tape = tape(&bastion, &device, allowed.is_some());
    let pty = start.pty.is_some();
    let (stop, ending) = bridge::run(&mut guard, link, channel, &handle, tape, pty).await;
    guard.finish(&stop, ending).await;
}

/// What the session runs, for its start marker.
fn what(start: &Start) -> String {
    match (&start.subsystem, &start.command) {
        (Some(s), _) => format!("{s} file transfer"),
        (None, Some(c)) => c.clone(),
        (None, None) => "interactive shell".into(),
    }
}

/// What is taped: a transfer's bytes are files, not a terminal, and are not.
fn tape(bastion: &Bastion, device: &Device, transfer: bool) -> bridge::Tape {
    bridge::Tape {
        input: !transfer
            && device
                .record_input
                .unwrap_or(bastion.config.recording.input),
        output: !transfer,
    }
}

/// The link as the bridge sees it: for a transfer, every SFTP packet passes the audit.
fn audited(
    bastion: &Arc<Bastion>,
    id: &Identity,
    device: &Device,
    guard: &Guard,
    link: Link,
    allowed: Option<transfer::Allowed>,
) -> Link {
    let Some(allowed) = allowed else {
        return link;
    };
    let cx = super::sftp_relay::Context {
        bastion: bastion.clone(),
        id: id.clone(),
        device: device.name.clone(),
        session: guard.session_id().to_string(),
        rec: guard.recorder(),
        allowed,
    };
    let max = bastion.config.limits.max_transfer;
    let tracker = super::sftp_audit::Tracker::new(max);
    super::sftp_relay::wrap(link, tracker, cx)
}

/// A line of `device` (its `max_sessions`), waiting for one with a message if all are in
/// use; `None` (the channel already closed with the reason) if none came in time.
async fn wait_for_line(
    bastion: &Bastion,
    device: &Device,
    channel: &Channel<Msg>,
    start: &Start,
) -> Option<Line> {
    let (n, wait) = match bastion.connectors.lines.take(device) {
        Take::Got(line) => return Some(line),
        Take::Busy(n, wait) => (n, wait),
    };
    let note = format!(
        "oobgate: waiting for a free line on {}: {n} in use\r\n",
        device.name
    );
    if start.pty.is_some() {
        let _ = channel.data_bytes(note.into_bytes()).await;
    } else {
        let _ = channel.extended_data_bytes(1, note.into_bytes()).await;
    }
    let limit = bastion.config.limits.line_wait;
    tokio::select! {
        line = wait => Some(line),
        _ = tokio::time::sleep(limit) => {
            let msg = format!(
                "no line of {} came free within {} (max_sessions = {n}); try again later",
                device.name,
                humantime::format_duration(limit)
            );
            refuse(channel, start, &msg).await;
            None
        }
        _ = bastion.shutdown.cancelled() => None,
    }
}

/// The credential, then the link, as the device's kind says (on the connection started
/// ahead, if there is one).
async fn connect(
    bastion: &Bastion,
    device: &Device,
    start: &Start,
    early: Option<Early>,
) -> super::Result<Link> {
    let cred = credential(bastion, device).await?;
    let (connector, target) = bastion.connectors.for_device(device);
    let (cols, rows) = start.size();
    let req = LinkRequest {
        term: start.term(),
        cols,
        rows,
        command: start.command.clone(),
        pty: start.pty.is_some(),
        subsystem: start.subsystem.clone(),
    };
    Ok(match early {
        Some(early) => early.start(&bastion.connectors, &cred, &req).await?,
        None => connector.open(&target, &cred, &req).await?,
    })
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
