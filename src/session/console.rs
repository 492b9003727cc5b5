//! A console attach: the admin joins a shared console held by the broker. The attach is its
//! own recorded session (what this admin saw and typed), the console keeps its continuous
//! log, and `Ctrl-]` escapes control sharing (who, take/force/release write, break, replay
//! the last lines, detach) without clashing with OpenSSH's `~` escapes.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{finish_channel, Start};
use crate::audit::{Event, SessionEnd};
use crate::connect::{
    Connector, DeviceCredential, LinkControl, LinkRequest, Rfc2217Connector, SerialConnector,
    SerialSettings, Target,
};
use crate::console::{
    Attacher, ConsoleError, ConsoleSpec, EscapeCmd, EscapeItem, EscapeParser, WriteRequest,
    ESCAPE_HELP,
};
use crate::frontdoor::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;
use crate::recording::{Recorder, RecordingHeader};

/// The connector for a console device's address (`/dev/...`, `raw://`, `rfc2217://`, or a
/// BMC's `host:port` for Serial-over-LAN).
fn console_target(device: &Device) -> (Target, ConsoleKind) {
    let (kind, address) = if device.kind == crate::inventory::DeviceKind::IpmiSol {
        (ConsoleKind::Sol, device.address.clone())
    } else if let Some(a) = device.address.strip_prefix("raw://") {
        (ConsoleKind::RawTcp, a.to_string())
    } else if let Some(a) = device.address.strip_prefix("rfc2217://") {
        (ConsoleKind::Rfc2217, a.to_string())
    } else {
        (ConsoleKind::Local, device.address.clone())
    };
    (
        Target {
            name: device.name.clone(),
            address,
            host_key: None,
            legacy_algorithms: false,
        },
        kind,
    )
}

#[derive(Debug, Clone, Copy)]
enum ConsoleKind {
    Local,
    RawTcp,
    Rfc2217,
    Sol,
}

/// Registers `device` with the broker (once); the link opener holds only a weak reference
/// to the bastion.
pub fn register(bastion: &Arc<Bastion>, device: &Device) -> crate::console::Result<()> {
    let weak: Weak<Bastion> = Arc::downgrade(bastion);
    let dev = device.clone();
    // The control side of the current link, so a break can be sent on it.
    let current: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Sender<LinkControl>>>> =
        Default::default();
    let for_break = current.clone();
    let send_break: crate::console::BreakFn = Arc::new(move || {
        let ctl = for_break.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move {
            match ctl {
                Some(c) => c.send(LinkControl::Break).await.map_err(|_| {
                    crate::connect::ConnectError::Protocol("console link is down".into())
                }),
                None => Err(crate::connect::ConnectError::Protocol(
                    "console link is down".into(),
                )),
            }
        })
    });
    let open: crate::console::OpenFn = Arc::new(move || {
        let weak = weak.clone();
        let dev = dev.clone();
        let current = current.clone();
        Box::pin(async move {
            let Some(bastion) = weak.upgrade() else {
                return Err(crate::connect::ConnectError::Protocol(
                    "bastion stopped".into(),
                ));
            };
            let (target, kind) = console_target(&dev);
            let settings = || -> Result<SerialSettings, crate::connect::ConnectError> {
                match &dev.serial {
                    Some(s) => s
                        .parse()
                        .map_err(|reason| crate::connect::ConnectError::Config {
                            device: dev.name.clone(),
                            reason,
                        }),
                    None => Ok(SerialSettings::default()),
                }
            };
            let plain = DeviceCredential::default;
            let (connector, cred): (Box<dyn Connector>, DeviceCredential) = match kind {
                ConsoleKind::RawTcp => (Box::new(bastion.rawtcp.clone()), plain()),
                ConsoleKind::Local => (Box::new(SerialConnector::new(settings()?)), plain()),
                ConsoleKind::Rfc2217 => (Box::new(Rfc2217Connector::new(settings()?)), plain()),
                // The BMC login comes from the secrets store and never leaves the bastion.
                ConsoleKind::Sol => (
                    Box::new(crate::connect::IpmiSolConnector::new(
                        dev.cipher_suites.clone(),
                        crate::ipmi::sol::SolOptions {
                            deactivate_stale: dev.sol_takeover,
                            ..Default::default()
                        },
                    )),
                    crate::session::credential(&bastion, &dev)
                        .await
                        .map_err(|e| crate::connect::ConnectError::BadCredential {
                            device: dev.name.clone(),
                            reason: e.to_string(),
                        })?,
                ),
            };
            let link = connector
                .open(&target, &cred, &LinkRequest::shell(80, 24))
                .await?;
            *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(link.control.clone());
            Ok(link)
        })
    });
    match bastion.consoles.register(ConsoleSpec {
        name: device.name.clone(),
        always_on: device.always_on,
        open,
        // Raw TCP ports carry bytes only; ttys, RFC 2217 ports and SOL can send a break.
        send_break: matches!(
            console_target(device).1,
            ConsoleKind::Local | ConsoleKind::Rfc2217 | ConsoleKind::Sol
        )
        .then_some(send_break),
    }) {
        Ok(()) | Err(ConsoleError::Duplicate(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn decide(bastion: &Bastion, id: &Identity, device: &str, action: Action) -> bool {
    decide_with_grant(bastion, id, device, action).await.0
}

async fn decide_with_grant(
    bastion: &Bastion,
    id: &Identity,
    device: &str,
    action: Action,
) -> (bool, Option<crate::access::AccessRequest>) {
    let (d, grant) = bastion.authorize_with_grant(id, device, action).await;
    bastion.audit(
        Event::new("policy.decision")
            .user(&id.user)
            .source(id.source.to_string())
            .device(device)
            .action(action.as_str())
            .outcome(if d.allowed { "allow" } else { "deny" })
            .detail(json!({ "reason": d.reason, "rule": d.rule, "via": "console" })),
    );
    (d.allowed, grant)
}

/// Attaches the admin's channel to the console until they detach or leave.
pub async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    channel: Channel<Msg>,
    start: Start,
    shutdown: CancellationToken,
) {
    let session_id = super::new_session_id();
    let say = |text: String| Bytes::from(text.replace('\n', "\r\n").into_bytes());
    let (can_read, grant) =
        decide_with_grant(&bastion, &id, &device.name, Action::ConsoleRead).await;
    let deadline = super::deadline(&bastion, &id, grant.as_ref());
    let live = bastion
        .live
        .register(&id, grant.as_ref().map(|g| g.id), &shutdown);
    if !can_read {
        let _ = channel
            .data_bytes(say(format!(
                "oobgate: console {} is not yours to read\n",
                device.name
            )))
            .await;
        return finish_channel(&channel, 255).await;
    }
    let can_write = decide(&bastion, &id, &device.name, Action::ConsoleWrite).await;
    let can_force = can_write && decide(&bastion, &id, &device.name, Action::ConsoleForce).await;
    if let Err(e) = register(&bastion, &device) {
        let _ = channel.data_bytes(say(format!("oobgate: {e}\n"))).await;
        return finish_channel(&channel, 255).await;
    }
    let (cols, rows) = start
        .pty
        .as_ref()
        .map(|p| (p.cols, p.rows))
        .unwrap_or((80, 24));
    let mut recorder = match Recorder::create(
        &bastion.config.recording_dir,
        &session_id,
        RecordingHeader {
            width: cols.clamp(1, 65535) as u16,
            height: rows.clamp(1, 65535) as u16,
            title: format!("{}@{}", id.user, device.name),
            term: start.pty.as_ref().map(|p| p.term.clone()),
            timestamp: SystemTime::now(),
        },
    ) {
        Ok(r) => r,
        Err(e) => {
            let _ = channel
                .data_bytes(say(format!(
                    "oobgate: recording failed, not attaching: {e}\n"
                )))
                .await;
            return finish_channel(&channel, 255).await;
        }
    };
    let mut attachment = match bastion
        .consoles
        .attach(
            &device.name,
            Attacher {
                user: id.user.clone(),
                can_write,
                can_force,
            },
        )
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let _ = channel
                .data_bytes(say(format!(
                    "oobgate: cannot attach to {}: {e}\n",
                    device.name
                )))
                .await;
            return finish_channel(&channel, 255).await;
        }
    };
    let _ = recorder.marker(&format!(
        "console attach: {} ({})",
        id.user,
        id.roles_display()
    ));
    if let Some(g) = &grant {
        let _ = recorder.marker(&format!(
            "access by {}",
            crate::frontdoor::authorize::grant_label(g)
        ));
    }
    super::ledger::started(
        &bastion,
        &id,
        &device,
        &session_id,
        recorder.path(),
        "console.read",
        json!({
            "kind": "console",
            "can_write": can_write,
            "deadline": crate::audit::rfc3339(deadline),
            "grant": grant.as_ref().map(|g| g.id),
            "breakglass": grant.as_ref().is_some_and(|g| g.breakglass),
        }),
    );
    let banner = format!(
        "[oobgate: attached to console {} ({}); Ctrl-] ? for help]\n",
        device.name,
        if can_write {
            "write access when free"
        } else {
            "read-only"
        }
    );
    let _ = channel.data_bytes(say(banner)).await;
    let mut output = attachment.take_output();
    let (mut read, write) = channel.split();
    let mut escapes = EscapeParser::new();
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let sleep = tokio::time::sleep(left);
    tokio::pin!(sleep);
    let mut rec_error = None;
    let reason: String = 'session: loop {
        tokio::select! {
            out = output.recv() => match out {
                Some(b) => {
                    bytes_out += b.len() as u64;
                    if let Err(e) = recorder.output(&b) {
                        rec_error = Some(e.to_string());
                        break 'session "recording failed".into();
                    }
                    if write.data_bytes(b).await.is_err() {
                        break 'session "client disconnected".into();
                    }
                }
                None => break 'session "console closed".into(),
            },
            msg = read.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    for item in escapes.feed(&data) {
                        match item {
                            EscapeItem::Data(d) => {
                                bytes_in += d.len() as u64;
                                if device.record_input.unwrap_or(bastion.config.recording.input) {
                                    let _ = recorder.input(&d);
                                }
                                let _ = attachment.input(d).await;
                            }
                            EscapeItem::Command(cmd) => {
                                let _ = recorder.marker(&format!("escape {cmd:?}"));
                                let note = match cmd {
                                    EscapeCmd::Help | EscapeCmd::Unknown(_) => ESCAPE_HELP.to_string(),
                                    EscapeCmd::Who => match attachment.who().await {
                                        Ok(users) => format!(
                                            "\r\n[console {}: {}]\r\n",
                                            device.name,
                                            users.iter().map(|u| if u.writer { format!("{} (writing)", u.user) } else { u.user.clone() }).collect::<Vec<_>>().join(", ")
                                        ),
                                        Err(e) => format!("\r\n[console: {e}]\r\n"),
                                    },
                                    EscapeCmd::RequestWrite => match attachment.request_write().await {
                                        Ok(WriteRequest::Granted) | Ok(WriteRequest::AlreadyHeld) => "\r\n[console: you have write access]\r\n".into(),
                                        Ok(WriteRequest::Asked { holder }) => format!("\r\n[console: {holder} is writing; asked them for you]\r\n"),
                                        Err(e) => format!("\r\n[console: {e}]\r\n"),
                                    },
                                    EscapeCmd::ForceWrite => match attachment.force_write().await {
                                        Ok(()) => "\r\n[console: you took write access]\r\n".into(),
                                        Err(e) => format!("\r\n[console: {e}]\r\n"),
                                    },
                                    EscapeCmd::ReleaseWrite => match attachment.release_write().await {
                                        Ok(()) => "\r\n[console: write access released]\r\n".into(),
                                        Err(e) => format!("\r\n[console: {e}]\r\n"),
                                    },
                                    EscapeCmd::Break => match attachment.send_break().await {
                                        Ok(()) => "\r\n[console: break sent]\r\n".into(),
                                        Err(e) => format!("\r\n[console: {e}]\r\n"),
                                    },
                                    EscapeCmd::Replay(n) => {
                                        let last = attachment.replay_last(n);
                                        format!("\r\n[console: last {n} lines]\r\n{}", String::from_utf8_lossy(&last))
                                    }
                                    EscapeCmd::Detach => break 'session "detached".into(),
                                };
                                if write.data_bytes(note.into_bytes()).await.is_err() {
                                    break 'session "client disconnected".into();
                                }
                            }
                        }
                    }
                }
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => break 'session "client disconnected".into(),
                Some(_) => {}
            },
            _ = &mut sleep => {
                let _ = write.data_bytes(&b"\r\n[oobgate: session deadline reached; detaching]\r\n"[..]).await;
                break 'session "deadline reached".into();
            }
            _ = live.token().cancelled() => {
                let why = live.ended_because().unwrap_or_else(|| "bastion shutdown".into());
                let _ = write.data_bytes(format!("\r\n[oobgate: {why}; detaching]\r\n").into_bytes()).await;
                break 'session why;
            }
        }
    };
    let _ = attachment.detach().await;
    let _ = recorder.marker(&format!("console detach: {reason}"));
    let summary = recorder.finish();
    let sha = summary.as_ref().ok().map(|s| s.sha256.clone());
    if reason == "detached" {
        let _ = write.data_bytes(&b"\r\n[oobgate: detached]\r\n"[..]).await;
    }
    let _ = write.exit_status(0).await;
    let _ = write.eof().await;
    let _ = write.close().await;
    let end = SessionEnd {
        exit_status: None,
        bytes_in,
        bytes_out,
        recording_sha256: sha,
        end_reason: reason,
    };
    super::ledger::ended(&bastion, &id, &device, &session_id, &end, true, rec_error);
}
