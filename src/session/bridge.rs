//! The bridge: bytes both ways between the admin's channel and the device link, teed to
//! the recording, until one side ends, the deadline passes or the bastion shuts down.
//!
//! Admin input is pumped by its own task, so a device that stops reading never stops the
//! bastion from reading the admin's channel (and so from seeing its close); device output
//! is written by the session task, whose writes wait for the admin's SSH window. Both link
//! directions are bounded, so a slow side makes the other wait instead of growing memory.

use std::sync::Arc;
use std::time::SystemTime;

use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use super::{Result, SessionError, Start, SETUP_TIMEOUT};
use crate::access::LiveSession;
use crate::connect::{
    Connector, DeviceCredential, EndReason, Link, LinkControl, LinkEvent, LinkRequest, Target,
};
use crate::frontdoor::Bastion;
use crate::identity::Identity;
use crate::inventory::{Device, DeviceKind};
use crate::recording::{
    Recorder, RecordingError, RecordingHeader, RecordingQueue, RecordingSender, RecordingSummary,
};

/// A connected device and an open recording, ready to bridge.
pub struct Opened {
    /// The device link.
    pub link: Link,
    /// The session's recording.
    pub recorder: Recorder,
}

/// How a bridge ended.
pub struct Outcome {
    /// The device command's exit status, if it sent one.
    pub exit_status: Option<u32>,
    /// Whether it ended normally (device or admin closed).
    pub clean: bool,
    /// Why it ended.
    pub reason: String,
    /// A line to show the admin before closing, if any.
    pub notice: Option<String>,
    /// Bytes typed by the admin.
    pub bytes_in: u64,
    /// Bytes shown to the admin.
    pub bytes_out: u64,
    /// The sealed recording, or why it could not be finished.
    pub recording: std::result::Result<RecordingSummary, RecordingError>,
}

/// Opens the recording (first: no recording, no session), fetches the credential and
/// connects to the device.
pub async fn open(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    start: &Start,
    session_id: &str,
) -> Result<Opened> {
    let (cols, rows) = start
        .pty
        .as_ref()
        .map(|p| (p.cols, p.rows))
        .unwrap_or((80, 24));
    let header = RecordingHeader {
        width: cols.clamp(1, u16::MAX as u32) as u16,
        height: rows.clamp(1, u16::MAX as u32) as u16,
        title: format!("{}@{}", id.user, device.name),
        term: start.pty.as_ref().map(|p| p.term.clone()),
        timestamp: SystemTime::now(),
    };
    let mut recorder = Recorder::create(&bastion.config.recording_dir, session_id, header)?;
    recorder.marker(&format!(
        "session start: {} ({}) on {}: {}",
        id.user,
        id.roles_display(),
        device.name,
        start.command.as_deref().unwrap_or("interactive shell")
    ))?;
    let cred = credential(bastion, device).await?;
    let connector: &dyn Connector = match device.kind {
        DeviceKind::Ssh => &bastion.ssh,
        DeviceKind::Telnet => &bastion.telnet,
        other => {
            return Err(SessionError::Unsupported(format!(
                "{} is a {other} device, which cannot be reached as a CLI session",
                device.name
            )))
        }
    };
    let target = Target {
        name: device.name.clone(),
        address: device.address.clone(),
        host_key: device.host_key.clone(),
        legacy_algorithms: device.legacy_algorithms,
    };
    let req = LinkRequest {
        term: start.pty.as_ref().map(|p| p.term.clone()),
        cols,
        rows,
        command: start.command.clone(),
        pty: start.pty.is_some(),
    };
    let link = connector.open(&target, &cred, &req).await?;
    Ok(Opened { link, recorder })
}

/// The device's credential from the secrets store, under the setup timeout.
pub(crate) async fn credential(bastion: &Bastion, device: &Device) -> Result<DeviceCredential> {
    let Some(reference) = &device.credential else {
        return Err(SessionError::Credential(format!(
            "device {} has no credential reference in the inventory",
            device.name
        )));
    };
    let fetched = tokio::time::timeout(SETUP_TIMEOUT, bastion.secrets.credential(reference))
        .await
        .map_err(|_| {
            SessionError::Credential(format!(
                "secrets store did not answer within {}s for {reference}",
                SETUP_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            SessionError::Credential(format!(
                "cannot get the credential for {}: {e}",
                device.name
            ))
        })?;
    Ok(DeviceCredential::from_secret(&fetched))
}

/// When bytes last went either way, for the idle timeout.
struct Activity {
    start: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: std::time::Instant::now(),
            last_ms: Default::default(),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn idle_for(&self) -> std::time::Duration {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.start
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(last))
    }
}

/// Why the admin-input pump stopped.
enum PumpEnd {
    ClientClosed,
    DeviceGone,
    RecordingFailed,
}

async fn pump_input(
    mut read: ChannelReadHalf,
    control: tokio::sync::mpsc::Sender<LinkControl>,
    rec: RecordingSender,
    record_input: bool,
    bytes_in: Arc<std::sync::atomic::AtomicU64>,
    activity: Arc<Activity>,
) -> PumpEnd {
    use std::sync::atomic::Ordering;
    loop {
        let msg = match read.wait().await {
            Some(m) => m,
            None => return PumpEnd::ClientClosed,
        };
        let ctl = match msg {
            ChannelMsg::Data { data } => {
                bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
                activity.touch();
                if record_input && !rec.input(data.clone()).await {
                    return PumpEnd::RecordingFailed;
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
                    return PumpEnd::RecordingFailed;
                }
                LinkControl::Resize {
                    cols: col_width,
                    rows: row_height,
                }
            }
            ChannelMsg::Signal { signal } => {
                LinkControl::Signal(format!("{signal:?}").to_uppercase())
            }
            ChannelMsg::Eof => LinkControl::Eof,
            ChannelMsg::Close => return PumpEnd::ClientClosed,
            _ => continue,
        };
        if control.send(ctl).await.is_err() {
            return PumpEnd::DeviceGone;
        }
    }
}

/// Bridges until the end; returns the outcome and the admin channel's write half.
pub async fn run(
    opened: Opened,
    channel: Channel<Msg>,
    record_input: bool,
    deadline: SystemTime,
    warn_before: std::time::Duration,
    live: &LiveSession,
    idle_limit: Option<std::time::Duration>,
) -> (Outcome, ChannelWriteHalf<Msg>) {
    let shutdown = live.token();
    let activity = Arc::new(Activity::new());
    let mut idle_tick = tokio::time::interval(std::time::Duration::from_secs(1));
    use std::sync::atomic::{AtomicU64, Ordering};
    let Opened { link, recorder } = opened;
    let Link {
        mut events,
        control,
    } = link;
    let (read, write) = channel.split();
    let queue = RecordingQueue::spawn(recorder);
    let rec = queue.sender();
    let bytes_in = Arc::new(AtomicU64::new(0));
    let mut pump = tokio::spawn(pump_input(
        read,
        control.clone(),
        queue.sender(),
        record_input,
        bytes_in.clone(),
        activity.clone(),
    ));
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let sleep = tokio::time::sleep(left);
    tokio::pin!(sleep);
    // Warn the admin ahead of the deadline (at once if it is already that close).
    let warn = tokio::time::sleep(left.saturating_sub(warn_before));
    tokio::pin!(warn);
    let mut warned = warn_before.is_zero();
    let mut bytes_out = 0u64;
    let mut exit_status = None;
    let mut notice = None;
    let mut rec_failed = false;
    let (clean, reason) = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(LinkEvent::Data(b)) | Some(LinkEvent::Stderr(b)) => {
                    bytes_out += b.len() as u64;
                    activity.touch();
                    // Handed to the recorder before the admin sees it.
                    if !rec.output(b.clone()).await {
                        rec_failed = true;
                        break (false, "recording failed".to_string());
                    }
                    if write.data_bytes(b).await.is_err() {
                        break (true, "client disconnected".to_string());
                    }
                }
                Some(LinkEvent::Eof) => {
                    let _ = write.eof().await;
                }
                Some(LinkEvent::ExitStatus(n)) => exit_status = Some(n),
                Some(LinkEvent::ExitSignal(s)) => {
                    notice = Some(format!("device command killed by signal {s}"));
                }
                Some(LinkEvent::Closed(r)) => break (r == EndReason::DeviceClosed, r.to_string()),
                None => break (false, "device link ended".to_string()),
            },
            end = &mut pump => {
                match end {
                    Ok(PumpEnd::ClientClosed) => break (true, "client disconnected".to_string()),
                    Ok(PumpEnd::DeviceGone) => break (false, "device link ended".to_string()),
                    Ok(PumpEnd::RecordingFailed) => {
                        rec_failed = true;
                        break (false, "recording failed".to_string());
                    }
                    Err(_) => break (false, "input task failed".to_string()),
                }
            }
            _ = &mut warn, if !warned => {
                warned = true;
                let mins = left.min(warn_before).as_secs().div_ceil(60);
                let note = format!(
                    "\r\n[oobgate: this session ends in about {mins} min, at {} (end of your access grant, certificate or maximum session length)]\r\n",
                    crate::audit::rfc3339(deadline)
                );
                let _ = rec.marker(note.trim()).await;
                if write.data_bytes(note.into_bytes()).await.is_err() {
                    break (true, "client disconnected".to_string());
                }
            }
            _ = idle_tick.tick(), if idle_limit.is_some() => {
                if let Some(limit) = idle_limit.filter(|l| activity.idle_for() >= *l) {
                    notice = Some(format!(
                        "session idle for {}; closing (access.session_idle)",
                        humantime::format_duration(limit)
                    ));
                    break (false, "idle timeout".to_string());
                }
            }
            _ = &mut sleep => {
                notice = Some("session deadline reached (end of your access grant, certificate or maximum session length); closing".into());
                break (false, "deadline reached".to_string());
            }
            _ = shutdown.cancelled() => {
                match live.ended_because() {
                    Some(why) => {
                        notice = Some(format!("{why}; closing"));
                        break (false, why);
                    }
                    None => {
                        notice = Some("the bastion is shutting down; closing".into());
                        break (false, "bastion shutdown".to_string());
                    }
                }
            }
        }
    };
    pump.abort();
    let _ = control.try_send(LinkControl::Close);
    drop(control);
    drop(rec);
    let recording = queue.finish(&format!("session end: {reason}")).await;
    if rec_failed {
        if let Err(e) = &recording {
            notice = Some(format!("recording failed, session closed: {e}"));
        }
    }
    (
        Outcome {
            exit_status,
            clean,
            reason,
            notice,
            bytes_in: bytes_in.load(Ordering::Relaxed),
            bytes_out,
            recording,
        },
        write,
    )
}
