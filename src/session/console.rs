//! A console attach: the admin joins a shared console held by the broker. The attach is its
//! own recorded session under the same guard as device sessions (deadline and warning,
//! idle timeout, revocation cut-off), the console keeps its continuous log, and `Ctrl-]`
//! escapes control sharing (who, take/force/release write, break, replay the last lines,
//! detach) without clashing with OpenSSH's `~` escapes.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf};
use serde_json::json;

use super::four_eyes::{self, changed, Observers, Told};
use super::guard::{Ending, Guard, Stop, Tick};
use super::outbox::{Flushed, Outbox, To};
use super::{finish_channel, Start};
use crate::bastion::Bastion;
use crate::console::ESCAPE_HELP;
use crate::console::{Attacher, Attachment, EscapeCmd, EscapeItem, EscapeParser, WriteRequest};
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;

fn say(text: &str) -> Bytes {
    Bytes::from(text.replace('\n', "\r\n").into_bytes())
}

async fn refuse(channel: &Channel<Msg>, text: &str) {
    let _ = channel.data_bytes(say(&format!("oobgate: {text}\n"))).await;
    finish_channel(channel, 255).await;
}

/// Attaches the admin's channel to the console until they detach or the guard stops it.
pub(super) async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    channel: Channel<Msg>,
    start: Start,
) {
    if start.forced {
        let cmd = start.command.as_deref().unwrap_or_default();
        let text = format!(
            "this certificate may only run the command {cmd:?}; console {} takes no command",
            device.name
        );
        return refuse(&channel, &text).await;
    }
    let via = json!({ "via": "console" });
    let read = bastion
        .authz
        .decide_audited(&id, &device.name, Action::ConsoleRead, via.clone())
        .await;
    if !read.allowed {
        let text = format!("console {} is not yours to read", device.name);
        return refuse(&channel, &text).await;
    }
    let can_write = bastion
        .authz
        .decide_audited(&id, &device.name, Action::ConsoleWrite, via.clone())
        .await
        .allowed;
    let can_force = can_write
        && bastion
            .authz
            .decide_audited(&id, &device.name, Action::ConsoleForce, via)
            .await
            .allowed;
    // On several nodes, a network console another node carries is attached there.
    if let Some(owner) = super::console_owner::elsewhere(&bastion, &device).await {
        return super::console_relay::run(bastion, id, device, channel, start, owner).await;
    }
    if let Err(e) = super::register_console(&bastion, &device) {
        return refuse(&channel, &e.to_string()).await;
    }
    let marker = format!("console attach: {} ({})", id.user, id.roles_display());
    let mut guard =
        match Guard::open(&bastion, &id, &device, &start, marker, read.grant.as_ref()).await {
            Ok(g) => g,
            Err(e) => {
                let text = format!("recording failed, not attaching: {e}");
                return refuse(&channel, &text).await;
            }
        };
    if device.require_observer {
        if let Err(stop) = four_eyes::wait_for_observer(&mut guard, &channel, &start).await {
            guard.fail("console.read", &stop.reason).await;
            return refuse(&channel, &stop.reason).await;
        }
    }
    let who = Attacher {
        user: id.user.clone(),
        can_write,
        can_force,
    };
    let attachment = match bastion.consoles.attach(&device.name, who).await {
        Ok(a) => a,
        Err(e) => {
            let text = format!("cannot attach to {}: {e}", device.name);
            guard.fail("console.read", &text).await;
            return refuse(&channel, &text).await;
        }
    };
    guard
        .begin(
            "console.read",
            json!({ "kind": "console", "can_write": can_write }),
        )
        .await;
    let banner = format!(
        "[oobgate: attached to console {} ({}); Ctrl-] ? for help]\n",
        device.name,
        if can_write {
            "write access when free"
        } else {
            "read-only"
        }
    );
    let _ = channel.data_bytes(say(&banner)).await;
    let record_input = device
        .record_input
        .unwrap_or(bastion.config.recording.input);
    let stop = attached(&mut guard, attachment, channel, &device.name, record_input).await;
    guard.finish(&stop, Ending::default()).await;
}

/// The attach loop; returns why it ended (the channel is closed by then).
async fn attached(
    guard: &mut Guard,
    mut attachment: Attachment,
    channel: Channel<Msg>,
    console: &str,
    record_input: bool,
) -> Stop {
    let mut output = attachment.take_output();
    let (mut read, write) = channel.split();
    let mut escapes = EscapeParser::new();
    let rec = guard.recorder();
    let activity = guard.activity();
    let stall = guard.stall_limit();
    let mut out = Outbox::new(&write, true);
    // Notices for the admin (escape answers, warnings) waiting for the outbox.
    let mut notes: VecDeque<Bytes> = VecDeque::new();
    let mut dropped = 0u64;
    let mut four = FourEyes::new(guard);
    let stop = 'session: loop {
        tokio::select! {
            biased;
            _ = std::future::ready(()), if !out.busy() && !notes.is_empty() => {
                if let Some(note) = notes.pop_front() {
                    out.send(note, To::Stdout, async { true });
                }
            }
            o = output.recv(), if !out.busy() && notes.is_empty() => match o {
                Some(b) => {
                    activity.shown(b.len());
                    let (rec, recorded) = (rec.clone(), b.clone());
                    out.send(b, To::Stdout, async move { rec.output(recorded).await });
                }
                None => break 'session Stop::quiet("console closed", false),
            },
            flushed = out.done(stall) => match flushed {
                Flushed::Sent => {}
                Flushed::Failed if rec.is_closed() => break 'session super::bridge::recording_failed(&rec).await,
                Flushed::Failed => break 'session Stop::quiet("client disconnected", true),
                Flushed::Stalled => break 'session Stop::quiet("client stopped reading", false),
            },
            msg = read.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    for item in escapes.feed(&data) {
                        match item {
                            EscapeItem::Data(d) => {
                                activity.typed(d.len());
                                if !four.open() {
                                    four.hold(d);
                                } else if !typed(&mut attachment, &rec, record_input, &mut dropped, d).await {
                                    break 'session super::bridge::recording_failed(&rec).await;
                                }
                            }
                            EscapeItem::Command(EscapeCmd::Break) if !four.open() => {
                                notes.push_back(say("[oobgate: input paused: no break sent while nobody observes]\n"));
                            }
                            EscapeItem::Command(EscapeCmd::Detach) => {
                                let _ = rec.marker(format!("escape {:?}", EscapeCmd::Detach)).await;
                                break 'session Stop::quiet("detached", true);
                            }
                            EscapeItem::Command(cmd) => {
                                let _ = rec.marker(format!("escape {cmd:?}")).await;
                                notes.push_back(escape(&mut attachment, console, cmd).await.into());
                            }
                        }
                    }
                }
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => {
                    break 'session Stop::quiet("client disconnected", true)
                }
                Some(_) => {}
            },
            n = changed(&mut four.observers) => {
                if let Some(note) = four.told.turned(n) {
                    notes.push_back(say(&format!("\n[oobgate: {note}]\n")));
                }
                for d in four.release() {
                    if !typed(&mut attachment, &rec, record_input, &mut dropped, d).await {
                        break 'session super::bridge::recording_failed(&rec).await;
                    }
                }
            }
            t = guard.tick() => match t {
                Tick::Warn(note) => notes.push_back(format!("\r\n[oobgate: {note}]\r\n").into()),
                Tick::Stop(stop) => break 'session stop,
            },
        }
    };
    if four.lost > 0 {
        let _ = rec
            .marker(format!(
                "{} bytes typed while nobody observed were dropped (over {HELD_MAX} held)",
                four.lost
            ))
            .await;
    }
    let _ = attachment.detach().await;
    if dropped > 0 {
        let _ = rec.marker(dropped_marker(dropped)).await;
    }
    let _ = rec.marker(format!("console detach: {}", stop.reason)).await;
    close(&mut out, &write, &stop).await;
    stop
}

/// What the admin typed reaches the console, taped first when input is recorded; what a
/// read-only viewer types reaches nothing: it is counted, not recorded byte for byte.
/// False when the recording failed.
async fn typed(
    attachment: &mut Attachment,
    rec: &crate::recording::RecordingSender,
    record_input: bool,
    dropped: &mut u64,
    d: Bytes,
) -> bool {
    if !attachment.is_writer() {
        *dropped += d.len() as u64;
    } else {
        if *dropped > 0 {
            let _ = rec.marker(dropped_marker(*dropped)).await;
            *dropped = 0;
        }
        if record_input && !rec.input(d.clone()).await {
            return false;
        }
    }
    let _ = attachment.input(d).await;
    true
}

/// Input held while a four-eyes attach has no observer, at most (beyond it, dropped).
const HELD_MAX: usize = 1 << 20;

/// Four eyes on a console attach (a console marked `require_observer`): the observer
/// count, and what the admin typed while nobody observed, held until someone does.
struct FourEyes {
    observers: Option<Observers>,
    told: Told,
    held: VecDeque<Bytes>,
    held_bytes: usize,
    lost: usize,
}

impl FourEyes {
    fn new(guard: &Guard) -> FourEyes {
        FourEyes {
            observers: guard.device().require_observer.then(|| guard.observers()),
            told: Told::default(),
            held: VecDeque::new(),
            held_bytes: 0,
            lost: 0,
        }
    }

    /// Whether input may reach the console now.
    fn open(&self) -> bool {
        four_eyes::open(&self.observers)
    }

    fn hold(&mut self, d: Bytes) {
        if self.held_bytes + d.len() > HELD_MAX {
            self.lost += d.len();
        } else {
            self.held_bytes += d.len();
            self.held.push_back(d);
        }
    }

    /// What was held, once someone observes.
    fn release(&mut self) -> Vec<Bytes> {
        if !self.open() {
            return Vec::new();
        }
        self.held_bytes = 0;
        self.held.drain(..).collect()
    }
}

fn dropped_marker(bytes: u64) -> String {
    format!("{bytes} bytes typed while read-only were dropped (not recorded)")
}

/// Tells the admin why the attach ended and closes the channel.
async fn close(out: &mut Outbox<'_>, write: &ChannelWriteHalf<Msg>, stop: &Stop) {
    let text = match (&stop.notice, stop.reason.as_str()) {
        (Some(note), _) => Some(format!("\r\n[oobgate: {note}]\r\n")),
        (None, "detached") => Some("\r\n[oobgate: detached]\r\n".to_string()),
        _ => None,
    };
    if let Some(t) = text {
        out.last_words(t).await;
    }
    let _ = write.exit_status(0).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

/// Runs one `Ctrl-]` command; returns what to show the admin.
async fn escape(attachment: &mut Attachment, console: &str, cmd: EscapeCmd) -> String {
    let said = |r: crate::console::Result<&str>| match r {
        Ok(t) => format!("\r\n[console: {t}]\r\n"),
        Err(e) => format!("\r\n[console: {e}]\r\n"),
    };
    match cmd {
        EscapeCmd::Help | EscapeCmd::Unknown(_) | EscapeCmd::Detach => ESCAPE_HELP.to_string(),
        EscapeCmd::Who => match attachment.who().await {
            Ok(users) => {
                let names: Vec<String> = users
                    .iter()
                    .map(|u| {
                        if u.writer {
                            format!("{} (writing)", u.user)
                        } else {
                            u.user.clone()
                        }
                    })
                    .collect();
                format!("\r\n[console {console}: {}]\r\n", names.join(", "))
            }
            Err(e) => format!("\r\n[console: {e}]\r\n"),
        },
        EscapeCmd::RequestWrite => match attachment.request_write().await {
            Ok(WriteRequest::Granted) | Ok(WriteRequest::AlreadyHeld) => {
                said(Ok("you have write access"))
            }
            Ok(WriteRequest::Asked { holder }) => {
                format!("\r\n[console: {holder} is writing; asked them for you]\r\n")
            }
            Err(e) => said(Err(e)),
        },
        EscapeCmd::ForceWrite => said(
            attachment
                .force_write()
                .await
                .map(|_| "you took write access"),
        ),
        EscapeCmd::ReleaseWrite => said(
            attachment
                .release_write()
                .await
                .map(|_| "write access released"),
        ),
        EscapeCmd::Break => said(attachment.send_break().await.map(|_| "break sent")),
        EscapeCmd::Replay(n) => {
            let last = attachment.replay_last(n);
            format!(
                "\r\n[console: last {n} lines]\r\n{}",
                String::from_utf8_lossy(&last)
            )
        }
    }
}
