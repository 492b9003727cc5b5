//! The link of a transfer session: sits between the bridge and the device link, cuts both
//! directions into SFTP packets, and checks every path a client request names before it
//! is relayed: the path is resolved by the device's own REALPATH (asked by the relay,
//! while the client's later requests wait), then judged by policy; a refused request is
//! answered by the bastion with `permission denied` and audited with its path, and the
//! session goes on. Every file that ends is audited (`file.upload` / `file.download`) with
//! a marker in the session's recording. A malformed stream or a file over
//! `limits.max_transfer` ends the session.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::sftp_audit::{Dir, Done, Tracker};
use super::sftp_ops::{classify, Check, Op};
use super::sftp_paths::{query, resolved, Resolved};
use super::sftp_wire::*;
use super::transfer::{judge, Allowed, Asker, Refusal};
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::connect::{EndReason, Link, LinkControl, LinkEnds, LinkEvent};
use crate::identity::Identity;
use crate::recording::RecordingSender;

/// Who the files' audit events name, and what the session may do.
pub(super) struct Context {
    pub bastion: Arc<Bastion>,
    pub id: Identity,
    pub device: String,
    pub session: String,
    pub rec: RecordingSender,
    pub allowed: Allowed,
}

/// Wraps `device` (the device's link) so every SFTP packet passes `tracker`.
pub(super) fn wrap(device: Link, tracker: Tracker, cx: Context) -> Link {
    let (outer, bridge) = Link::pair();
    let relay = Relay {
        device,
        bridge,
        tracker,
        cx,
        up: Framer::default(),
        down: Framer::default(),
        asked: None,
        answer: None,
    };
    tokio::spawn(relay.run());
    outer
}

/// Why the relay ends the session: `Some` is told to the admin, `None` is a quiet end.
type End = Option<String>;

/// Requests that change the device's files: audited when the device answers.
const CHANGES: [&str; 7] = [
    "setstat", "remove", "mkdir", "rmdir", "rename", "symlink", "hardlink",
];

const OVER_CAP: &str = "a file went over limits.max_transfer";

fn from_client(e: WireError) -> End {
    Some(format!("malformed SFTP from the client: {e}"))
}

fn from_device(e: WireError) -> End {
    Some(format!("malformed SFTP from the device: {e}"))
}

struct Relay {
    device: Link,
    bridge: LinkEnds,
    tracker: Tracker,
    cx: Context,
    up: Framer,
    down: Framer,
    /// The id of the relay's own REALPATH waiting for the device's answer.
    asked: Option<u32>,
    answer: Option<Packet>,
}

impl Relay {
    async fn run(mut self) {
        let end = loop {
            let step = tokio::select! {
                ctl = self.bridge.control.recv() => self.bridge_control(ctl).await,
                ev = self.device.events.recv() => self.device_event(ev).await,
            };
            if let Err(end) = step {
                break end;
            }
        };
        for done in self.tracker.end() {
            audit(&self.cx, done).await;
        }
        if let Some(why) = end {
            let _ = self.device.control.send(LinkControl::Close).await;
            let note = format!("oobgate: transfer ended: {why}\r\n");
            let events = &self.bridge.events;
            let _ = events.send(LinkEvent::Stderr(note.into())).await;
            let _ = events.send(LinkEvent::ExitStatus(255)).await;
            let _ = events.send(LinkEvent::Closed(EndReason::LocalClose)).await;
        }
    }

    async fn bridge_control(&mut self, ctl: Option<LinkControl>) -> Result<(), End> {
        match ctl {
            Some(LinkControl::Data(d)) => {
                self.up.push(&d);
                self.client_packets().await
            }
            Some(other) => match self.device.control.send(other).await {
                Ok(()) => Ok(()),
                Err(_) => Err(None),
            },
            None => Err(None),
        }
    }

    async fn device_event(&mut self, ev: Option<LinkEvent>) -> Result<(), End> {
        match ev {
            Some(LinkEvent::Data(d)) => {
                self.down.push(&d);
                self.device_packets().await
            }
            Some(other) => {
                let last = matches!(other, LinkEvent::Closed(_));
                let _ = self.bridge.events.send(other).await;
                if last {
                    Err(None)
                } else {
                    Ok(())
                }
            }
            None => Err(None),
        }
    }

    /// The device's whole packets: the answer to the relay's own request is kept, the rest
    /// followed and passed to the client.
    async fn device_packets(&mut self) -> Result<(), End> {
        while let Some(p) = self.down.next_packet().map_err(from_device)? {
            if self.asked.is_some() && p.id() == self.asked {
                self.asked = None;
                self.answer = Some(p);
                continue;
            }
            let step = self.tracker.server(&p).map_err(from_device)?;
            if step.forward && !step.cut {
                let _ = self.bridge.events.send(LinkEvent::Data(p.raw)).await;
            }
            for d in step.done {
                audit(&self.cx, d).await;
            }
            if step.cut {
                return Err(Some(OVER_CAP.into()));
            }
        }
        Ok(())
    }

    /// The client's whole packets, one at a time: a later one waits while an earlier
    /// one's paths are checked.
    async fn client_packets(&mut self) -> Result<(), End> {
        while let Some(p) = self.up.next_packet().map_err(from_client)? {
            match classify(&p).map_err(from_client)? {
                Op::Other => self.other(p).await?,
                Op::Paths {
                    id,
                    name,
                    checks,
                    open,
                } => self.paths(p, id, name, &checks, open).await?,
                Op::Handle { id, handle } => self.fsetstat(p, id, &handle).await,
                Op::Unsupported { id, what } => {
                    let msg = format!("oobgate: {what} is not relayed");
                    self.reply(status(id, SSH_FX_OP_UNSUPPORTED, &msg)).await;
                }
            }
        }
        Ok(())
    }

    /// A request naming no path: followed by the tracker and relayed.
    async fn other(&mut self, p: Packet) -> Result<(), End> {
        let step = self.tracker.client(&p).map_err(from_client)?;
        for d in step.done {
            audit(&self.cx, d).await;
        }
        if step.cut {
            return Err(Some(OVER_CAP.into()));
        }
        if step.forward {
            self.forward(p).await;
        }
        Ok(())
    }

    /// A request naming paths: relayed only if every one is allowed.
    async fn paths(
        &mut self,
        p: Packet,
        id: u32,
        name: &'static str,
        checks: &[Check],
        open: Option<Dir>,
    ) -> Result<(), End> {
        let mut resolved_paths = Vec::new();
        for c in checks {
            let path = match self.resolve(c).await? {
                Resolved::Path(path) => path,
                Resolved::Device { code, message } => {
                    self.reply(status(id, code, &message)).await;
                    return Ok(());
                }
                Resolved::Unclear(why) => {
                    let shown = String::from_utf8_lossy(&c.path).into_owned();
                    let message = format!("cannot tell which file {shown:?} is: {why}");
                    let refusal = Refusal {
                        dir: open.unwrap_or(Dir::Upload),
                        reason: message.clone(),
                        message,
                    };
                    self.refuse(id, name, &shown, refusal).await;
                    return Ok(());
                }
            };
            if let Err(refusal) = judge(&self.asker(), c.need, &path).await {
                self.refuse(id, name, &path, refusal).await;
                return Ok(());
            }
            resolved_paths.push(path);
        }
        match (open, CHANGES.contains(&name)) {
            (Some(dir), _) => self.tracker.open(id, resolved_paths.remove(0), dir),
            (None, true) => self.tracker.change(id, name, &resolved_paths),
            (None, false) => {}
        }
        self.forward(p).await;
        Ok(())
    }

    /// FSETSTAT changes an open file: `file.upload` on its path.
    async fn fsetstat(&mut self, p: Packet, id: u32, handle: &[u8]) {
        let Some(path) = self.tracker.file_of(handle).map(str::to_string) else {
            let message = "changing a handle the bastion did not see opened".to_string();
            let refusal = Refusal {
                dir: Dir::Upload,
                reason: message.clone(),
                message,
            };
            return self.refuse(id, "fsetstat", "", refusal).await;
        };
        match judge(&self.asker(), super::sftp_ops::Need::Upload, &path).await {
            // Allowed: part of the file's own transfer (modes, times), audited with it.
            Ok(()) => self.forward(p).await,
            Err(refusal) => self.refuse(id, "fsetstat", &path, refusal).await,
        }
    }

    fn asker(&self) -> Asker<'_> {
        Asker {
            bastion: &self.cx.bastion,
            id: &self.cx.id,
            device: &self.cx.device,
            allowed: self.cx.allowed,
        }
    }

    /// Which file `c` names, by the device's REALPATH.
    async fn resolve(&mut self, c: &Check) -> Result<Resolved, End> {
        let (path, last) = query(&c.path, c.follow);
        let id = self.tracker.own_id();
        self.asked = Some(id);
        self.answer = None;
        let sent = self
            .device
            .control
            .send(LinkControl::Data(realpath(id, &path)));
        if sent.await.is_err() {
            return Err(None);
        }
        let limit = tokio::time::sleep(super::SETUP_TIMEOUT);
        tokio::pin!(limit);
        while self.answer.is_none() {
            tokio::select! {
                ev = self.device.events.recv() => self.device_event(ev).await?,
                _ = &mut limit => {
                    return Err(Some("the device did not answer a REALPATH in time".into()));
                }
            }
        }
        let answer = self.answer.take().expect("answered");
        Ok(resolved(&answer, last.as_deref()))
    }

    /// Answers request `id` with permission denied and audits the refusal with its path.
    async fn refuse(&mut self, id: u32, op: &'static str, path: &str, r: Refusal) {
        let msg = format!("oobgate: {}", r.message);
        self.reply(status(id, SSH_FX_PERMISSION_DENIED, &msg)).await;
        audit(&self.cx, Tracker::refused(op, path, r.dir, r.reason)).await;
    }

    async fn reply(&self, packet: Bytes) {
        let _ = self.bridge.events.send(LinkEvent::Data(packet)).await;
    }

    async fn forward(&mut self, p: Packet) {
        self.tracker.sent(&p);
        let _ = self.device.control.send(LinkControl::Data(p.raw)).await;
    }
}

/// One file's (or refused request's) audit event and recording marker.
async fn audit(cx: &Context, d: Done) {
    let action = d.dir.action();
    let to =
        d.to.as_ref()
            .map(|t| format!(" -> {t}"))
            .unwrap_or_default();
    let marker = if d.op == "open" {
        format!("{action} {}: {} bytes, {}", d.path, d.bytes, d.result)
    } else {
        format!("{action} {} {}{to}: {}", d.op, d.path, d.result)
    };
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
            "op": d.op,
            "path": d.path,
            "to": d.to,
            "bytes": d.bytes,
            "sha256": d.sha256,
            "result": d.result,
            "reason": d.reason,
        }));
    cx.bastion.audit(ev).await;
}
