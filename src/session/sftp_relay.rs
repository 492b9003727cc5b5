//! The link of a transfer session: sits between the bridge and the device link, cuts both
//! directions into SFTP packets for the [`Tracker`], answers refused OPENs itself, and
//! audits every file that ends (`file.upload` / `file.download`), with a marker in the
//! session's recording. A malformed stream or a file over `limits.max_transfer` ends the
//! session.

use std::sync::Arc;

use serde_json::json;

use super::sftp_audit::{Done, Step, Tracker};
use super::sftp_wire::{Framer, WireError};
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::connect::{EndReason, Link, LinkControl, LinkEvent};
use crate::identity::Identity;
use crate::recording::RecordingSender;

/// Who the files' audit events name.
pub(super) struct Context {
    pub bastion: Arc<Bastion>,
    pub id: Identity,
    pub device: String,
    pub session: String,
    pub rec: RecordingSender,
}

/// Wraps `device` (the device's link) so every SFTP packet passes `tracker`.
pub(super) fn wrap(device: Link, tracker: Tracker, cx: Context) -> Link {
    let (outer, ends) = Link::pair();
    tokio::spawn(relay(device, ends, tracker, cx));
    outer
}

async fn relay(
    mut device: Link,
    mut bridge: crate::connect::LinkEnds,
    mut tracker: Tracker,
    cx: Context,
) {
    let (mut up, mut down) = (Framer::default(), Framer::default());
    let end = loop {
        tokio::select! {
            ctl = bridge.control.recv() => match ctl {
                Some(LinkControl::Data(d)) => {
                    up.push(&d);
                    match from_client(&mut up, &mut tracker, &device, &bridge, &cx).await {
                        Ok(true) => {}
                        Ok(false) => break Some("a file went over limits.max_transfer".to_string()),
                        Err(e) => break Some(format!("malformed SFTP from the client: {e}")),
                    }
                }
                Some(other) => {
                    if device.control.send(other).await.is_err() {
                        break None;
                    }
                }
                None => break None,
            },
            ev = device.events.recv() => match ev {
                Some(LinkEvent::Data(d)) => {
                    down.push(&d);
                    match from_device(&mut down, &mut tracker, &bridge, &cx).await {
                        Ok(true) => {}
                        Ok(false) => break Some("a file went over limits.max_transfer".to_string()),
                        Err(e) => break Some(format!("malformed SFTP from the device: {e}")),
                    }
                }
                Some(other) => {
                    let last = matches!(other, LinkEvent::Closed(_));
                    let _ = bridge.events.send(other).await;
                    if last {
                        break None;
                    }
                }
                None => break None,
            },
        }
    };
    for done in tracker.end() {
        audit(&cx, done).await;
    }
    if let Some(why) = end {
        let _ = device.control.send(LinkControl::Close).await;
        let note = format!("oobgate: transfer ended: {why}\r\n");
        let _ = bridge.events.send(LinkEvent::Stderr(note.into())).await;
        let _ = bridge.events.send(LinkEvent::ExitStatus(255)).await;
        let _ = bridge
            .events
            .send(LinkEvent::Closed(EndReason::LocalClose))
            .await;
    }
}

/// Handles the client's whole packets; `Ok(false)` when the session must be cut.
async fn from_client(
    framer: &mut Framer,
    tracker: &mut Tracker,
    device: &Link,
    bridge: &crate::connect::LinkEnds,
    cx: &Context,
) -> Result<bool, WireError> {
    while let Some(p) = framer.next_packet()? {
        let step = tracker.client(&p)?;
        let cut = step.cut;
        let Step {
            forward,
            reply,
            done,
            ..
        } = step;
        for d in done {
            audit(cx, d).await;
        }
        if cut {
            return Ok(false);
        }
        if let Some(r) = reply {
            let _ = bridge.events.send(LinkEvent::Data(r)).await;
        }
        if forward && device.control.send(LinkControl::Data(p.raw)).await.is_err() {
            return Ok(true);
        }
    }
    Ok(true)
}

/// Handles the device's whole packets; `Ok(false)` when the session must be cut.
async fn from_device(
    framer: &mut Framer,
    tracker: &mut Tracker,
    bridge: &crate::connect::LinkEnds,
    cx: &Context,
) -> Result<bool, WireError> {
    while let Some(p) = framer.next_packet()? {
        let step = tracker.server(&p)?;
        if step.forward && !step.cut {
            let _ = bridge.events.send(LinkEvent::Data(p.raw)).await;
        }
        for d in step.done {
            audit(cx, d).await;
        }
        if step.cut {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One file's audit event and recording marker.
async fn audit(cx: &Context, d: Done) {
    let action = d.dir.action();
    let marker = format!("{action} {}: {} bytes, {}", d.path, d.bytes, d.result);
    let _ = cx.rec.marker(marker).await;
    let outcome = match d.result {
        "ok" => "ok",
        "refused" => "deny",
        _ => "error",
    };
    let ev = Event::new(action)
        .user(&cx.id.user)
        .source(cx.id.source.to_string())
        .device(&cx.device)
        .action(action)
        .outcome(outcome)
        .detail(json!({
            "session": cx.session,
            "path": d.path,
            "bytes": d.bytes,
            "sha256": d.sha256,
            "result": d.result,
            "reason": d.reason,
        }));
    cx.bastion.audit(ev).await;
}
