//! The bridge: bytes both ways between the admin's channel and the device link, teed to
//! the recording, until one side ends or the guard stops the session.
//!
//! Admin input is pumped by its own task, so a device that stops reading never stops the
//! bastion from reading the admin's channel (and so from seeing its close); device output
//! is written by the session task, whose writes wait for the admin's SSH window. Both link
//! directions are bounded, so a slow side makes the other wait instead of growing memory.
//!
//! The device side ends the bridge only with its last event ([`LinkEvent::Closed`]),
//! which comes after its exit status or signal: an input pump that finds the device gone
//! first does not end the session, so the exit status always reaches the admin.

use std::sync::Arc;

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use super::four_eyes::{self, changed, Observers, Told};
use super::guard::{Activity, Ending, Guard, Stop, Tick};
use super::outbox::{Flushed, Outbox, To};
use crate::connect::ssh::to_sig;
use crate::connect::{EndReason, Link, LinkControl, LinkEvent};
use crate::recording::RecordingSender;

/// Why the admin-input pump stopped.
enum PumpEnd {
    ClientClosed,
    DeviceGone,
    RecordingFailed,
}

/// Admin input the pump holds while the device is not taking it, at most. russh grants
/// the client more window as soon as data arrives, not when it is consumed, and its
/// connection loop stops reading the socket (window adjusts included) while a channel's
/// queue is full; so the pump must keep draining the admin's channel, or a device that is
/// busy sending output (waiting for the admin's window, whose adjusts sit behind the input
/// in that socket) and an admin who is pasting wedge each other for good.
const INPUT_BACKLOG: usize = 16 << 20;

async fn pump_input(
    mut read: ChannelReadHalf,
    control: tokio::sync::mpsc::Sender<LinkControl>,
    rec: RecordingSender,
    record_input: bool,
    activity: Arc<Activity>,
    mut observers: Option<Observers>,
) -> PumpEnd {
    let mut backlog = std::collections::VecDeque::new();
    let mut held = 0usize;
    loop {
        let open = four_eyes::open(&observers);
        tokio::select! {
            biased;
            // Four eyes: nothing typed reaches the device while nobody observes.
            _ = changed(&mut observers), if !open => {}
            permit = control.reserve(), if !backlog.is_empty() && open => {
                let Ok(permit) = permit else {
                    return PumpEnd::DeviceGone;
                };
                if let Some(ctl) = backlog.pop_front() {
                    if let LinkControl::Data(d) = &ctl {
                        held -= d.len();
                    }
                    permit.send(ctl);
                }
            }
            msg = read.wait(), if held < INPUT_BACKLOG => {
                let Some(msg) = msg else {
                    return PumpEnd::ClientClosed;
                };
                let ctl = match admin_message(msg, &rec, record_input, &activity).await {
                    Ok(Some(ctl)) => ctl,
                    Ok(None) => continue,
                    Err(end) => return end,
                };
                if let LinkControl::Data(d) = &ctl {
                    held += d.len();
                }
                backlog.push_back(ctl);
            }
        }
    }
}

/// What one message on the admin's channel asks of the device (`None`: nothing), taped
/// first when input is recorded.
async fn admin_message(
    msg: ChannelMsg,
    rec: &RecordingSender,
    record_input: bool,
    activity: &Activity,
) -> Result<Option<LinkControl>, PumpEnd> {
    Ok(Some(match msg {
        ChannelMsg::Data { data } => {
            activity.typed(data.len());
            if record_input && !rec.input(data.clone()).await {
                return Err(PumpEnd::RecordingFailed);
            }
            LinkControl::Data(data)
        }
        ChannelMsg::WindowChange {
            col_width,
            row_height,
            ..
        } => {
            let (c, r) = (
                col_width.clamp(1, 65535) as u16,
                row_height.clamp(1, 65535) as u16,
            );
            if !rec.resize(c, r).await {
                return Err(PumpEnd::RecordingFailed);
            }
            LinkControl::Resize {
                cols: col_width,
                rows: row_height,
            }
        }
        ChannelMsg::Signal { signal } => LinkControl::Signal(format!("{signal:?}").to_uppercase()),
        ChannelMsg::Eof => LinkControl::Eof,
        ChannelMsg::Close => return Err(PumpEnd::ClientClosed),
        _ => return Ok(None),
    }))
}

/// Which directions of the session go to the recording.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tape {
    /// The admin's input.
    pub input: bool,
    /// The device's output.
    pub output: bool,
}

/// How the device's side of the session went.
#[derive(Default)]
struct DeviceEnd {
    exit_status: Option<u32>,
    exit_signal: Option<String>,
}

/// Bridges `link` and `channel` until the end, then tells the admin why (if there is
/// something to tell), sends the exit status or signal, and closes the channel.
pub(super) async fn run(
    guard: &mut Guard,
    link: Link,
    channel: Channel<Msg>,
    handle: &Handle,
    tape: Tape,
    pty: bool,
) -> (Stop, Ending) {
    let mut observers = guard.device().require_observer.then(|| guard.observers());
    let mut told = Told::default();
    let Link {
        mut events,
        control,
    } = link;
    let channel_id = channel.id();
    let (read, write) = channel.split();
    let rec = guard.recorder();
    let activity = guard.activity();
    let stall = guard.stall_limit();
    let mut pump = tokio::spawn(pump_input(
        read,
        control.clone(),
        guard.recorder(),
        tape.input,
        activity.clone(),
        observers.clone(),
    ));
    let mut pumping = true;
    let mut device = DeviceEnd::default();
    let mut out = Outbox::new(&write, pty);
    let stop = loop {
        tokio::select! {
            biased;
            // Device output is read only when the previous write to the admin went out.
            ev = events.recv(), if !out.busy() => match ev {
                Some(LinkEvent::Data(b)) => shown(&mut out, &activity, &rec, tape.output, b, To::Stdout),
                Some(LinkEvent::Stderr(b)) => shown(&mut out, &activity, &rec, tape.output, b, To::Stderr),
                // The admin's EOF goes with the close: nothing can be said after it, and
                // the device's exit status or signal may still call for a notice.
                Some(LinkEvent::Eof) => {}
                Some(LinkEvent::ExitStatus(n)) => device.exit_status = Some(n),
                Some(LinkEvent::ExitSignal(s)) => device.exit_signal = Some(s),
                Some(LinkEvent::Closed(r)) => {
                    break Stop::quiet(r.to_string(), r == EndReason::DeviceClosed)
                }
                None => break Stop::quiet("device link ended", false),
            },
            flushed = out.done(stall) => match flushed {
                Flushed::Sent => {}
                Flushed::Failed if rec.is_closed() => break recording_failed(&rec).await,
                Flushed::Failed => break Stop::quiet("client disconnected", true),
                Flushed::Stalled => break stalled(stall),
            },
            end = &mut pump, if pumping => match end {
                Ok(PumpEnd::ClientClosed) => break Stop::quiet("client disconnected", true),
                // The device's last events (exit status, close) are still to come.
                Ok(PumpEnd::DeviceGone) => pumping = false,
                Ok(PumpEnd::RecordingFailed) => break recording_failed(&rec).await,
                Err(_) => break Stop::quiet("input task failed", false),
            },
            n = changed(&mut observers), if !out.busy() => {
                if let Some(note) = told.turned(n) {
                    let to = out.notices();
                    out.send(format!("\r\n[oobgate: {note}]\r\n").into(), to, async { true });
                }
            }
            t = guard.tick() => match t {
                Tick::Warn(note) if !out.busy() => {
                    let to = out.notices();
                    out.send(format!("\r\n[oobgate: {note}]\r\n").into(), to, async { true });
                }
                Tick::Warn(_) => {}
                Tick::Stop(stop) => break stop,
            },
        }
    };
    pump.abort();
    let _ = control.try_send(LinkControl::Close);
    drop(control);
    let ending = Ending {
        exit_status: device.exit_status,
    };
    close(&mut out, &write, handle, channel_id, &stop, device).await;
    (stop, ending)
}

/// Device output for the admin's `to` stream, handed to the recorder (when `tape`) before
/// the admin sees it (both streams are the recording's output, as a terminal shows them).
fn shown<'a>(
    out: &mut Outbox<'a>,
    activity: &Activity,
    rec: &RecordingSender,
    tape: bool,
    b: bytes::Bytes,
    to: To,
) {
    activity.shown(b.len());
    let (rec, recorded) = (rec.clone(), b.clone());
    out.send(b, to, async move { !tape || rec.output(recorded).await });
}

/// Tells the admin why the session ended (if there is something to tell), passes on the
/// device's exit status or signal, and closes the channel: in this order, so the exit
/// status is always there before the close.
async fn close(
    out: &mut Outbox<'_>,
    write: &ChannelWriteHalf<Msg>,
    handle: &Handle,
    channel_id: ChannelId,
    stop: &Stop,
    device: DeviceEnd,
) {
    let signalled = device
        .exit_signal
        .as_ref()
        .map(|s| format!("device command killed by signal {s}"));
    if let Some(note) = stop.notice.as_ref().or(signalled.as_ref()) {
        out.last_words(format!("\r\noobgate: {note}\r\n")).await;
    }
    match &device.exit_signal {
        Some(signal) => {
            let _ = handle
                .exit_signal_request(
                    channel_id,
                    to_sig(signal),
                    false,
                    String::new(),
                    String::new(),
                )
                .await;
        }
        None => {
            let fallback = if stop.clean { 0 } else { 255 };
            let _ = write
                .exit_status(device.exit_status.unwrap_or(fallback))
                .await;
        }
    }
    let _ = write.eof().await;
    let _ = write.close().await;
}

/// The recording failed: the session ends, saying why (a full disk, its size limit).
pub(super) async fn recording_failed(rec: &RecordingSender) -> Stop {
    // The recorder's task records its error as it ends: wait for it a moment.
    let mut why = rec.failure();
    for _ in 0..20 {
        if why.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        why = rec.failure();
    }
    Stop {
        reason: "recording failed".into(),
        notice: Some(match why {
            Some(e) => format!("recording failed, session closed: {e}"),
            None => "recording failed, session closed".into(),
        }),
        clean: false,
    }
}

fn stalled(limit: std::time::Duration) -> Stop {
    Stop {
        reason: "client stopped reading".into(),
        notice: Some(format!(
            "your client read no output for {}; closing (limits.stall_timeout)",
            humantime::format_duration(limit)
        )),
        clean: false,
    }
}
