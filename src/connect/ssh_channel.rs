//! The session on a device connection: the login (unless the connection is a reused one),
//! the session channel with its pty and shell or command, and the pump that moves channel
//! messages to the [`Link`] until either side ends. The pump takes the next message from
//! russh only once the previous one is handed on, so backpressure reaches the device
//! through russh's bounded channel buffer, TCP, and the SSH window.

use std::sync::Mutex;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::{ChannelMsg, Sig};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::link::LinkEnds;
use super::ssh_conn::DeviceConn;
use super::ssh_handler::DeviceHandler;
use super::ssh_pool::Pool;
use super::{
    ssh_auth, ConnectError, DeviceCredential, EndReason, Link, LinkControl, LinkEvent, LinkRequest,
    Result, Target,
};

/// Logs in with `cred` (unless it already did), starts what `req` asks for and
/// returns the running link; everything under the setup timeout. After a clean session
/// the connection goes back to `pool` (devices with `reuse_connection`).
pub(super) async fn start(
    mut conn: DeviceConn,
    cred: &DeviceCredential,
    req: &LinkRequest,
    pool: Option<Pool>,
) -> Result<Link> {
    let limit = conn.setup_timeout;
    let device = conn.target.name.clone();
    let setup = async {
        let handle = conn
            .handle
            .as_mut()
            .ok_or_else(|| ConnectError::Protocol("connection already used".into()))?;
        if !conn.authed {
            ssh_auth::authenticate(handle, &conn.target, cred)
                .await
                .map_err(|e| match e {
                    ConnectError::Ssh(e) => ConnectError::during_handshake(&device, e),
                    other => other,
                })?;
            conn.authed = true;
        }
        start_session(handle, &conn.target, req).await
    };
    let (channel, pending) = timeout(limit, setup)
        .await
        .map_err(|_| ConnectError::Timeout {
            device: device.clone(),
            stage: "SSH login and session setup",
            seconds: limit.as_secs_f64(),
        })??;
    tracing::info!(device = %device, user = %cred.username, "SSH link open");
    let (link, ends) = Link::pair();
    tokio::spawn(pump(conn, pool, channel, pending, ends));
    Ok(link)
}

/// Opens the session channel, requests pty and shell/exec, and waits for the
/// device's answers. Channel messages that arrive meanwhile are returned to replay.
async fn start_session(
    handle: &Handle<DeviceHandler>,
    target: &Target,
    req: &LinkRequest,
) -> Result<(russh::Channel<client::Msg>, Vec<ChannelMsg>)> {
    let refused = |what: &str| ConnectError::SessionRefused {
        device: target.name.clone(),
        reason: what.to_owned(),
    };
    let mut channel = handle
        .channel_open_session()
        .await
        .map_err(|e| refused(&format!("session channel: {e}")))?;
    let mut asked = Vec::new();
    if req.pty {
        let term = req.term.as_deref().unwrap_or("xterm");
        channel
            .request_pty(true, term, req.cols, req.rows, 0, 0, &[])
            .await?;
        asked.push("pty");
    }
    match (&req.subsystem, &req.command) {
        (Some(name), _) => {
            channel.request_subsystem(true, name).await?;
            asked.push("subsystem");
        }
        (None, Some(cmd)) => {
            channel.exec(true, cmd.as_bytes()).await?;
            asked.push("command");
        }
        (None, None) => {
            channel.request_shell(true).await?;
            asked.push("shell");
        }
    }
    let mut pending = Vec::new();
    let mut answered = 0;
    while answered < asked.len() {
        match channel.wait().await {
            Some(ChannelMsg::Success) => answered += 1,
            Some(ChannelMsg::Failure) => return Err(refused(asked[answered])),
            Some(msg @ (ChannelMsg::Close | ChannelMsg::Eof)) if answered == 0 => {
                return Err(refused(&format!("channel ended early ({msg:?})")));
            }
            Some(other) => pending.push(other),
            None => return Err(refused("connection ended during session setup")),
        }
    }
    Ok((channel, pending))
}

/// Moves channel messages to the link and link control to the channel until either side
/// ends; then disconnects, or gives a cleanly ended connection back to its pool.
async fn pump(
    mut conn: DeviceConn,
    pool: Option<Pool>,
    channel: russh::Channel<client::Msg>,
    pending: Vec<ChannelMsg>,
    ends: LinkEnds,
) {
    let device = conn.target.name.clone();
    let LinkEnds {
        events,
        mut control,
    } = ends;
    let (mut reader, writer) = channel.split();
    let (local_tx, mut local_rx) = oneshot::channel::<EndReason>();
    let writer_task = tokio::spawn(async move {
        let reason = loop {
            let step = match control.recv().await {
                None | Some(LinkControl::Close) => break EndReason::LocalClose,
                Some(LinkControl::Data(bytes)) => writer.data_bytes(bytes).await,
                Some(LinkControl::Resize { cols, rows }) => {
                    writer.window_change(cols, rows, 0, 0).await
                }
                Some(LinkControl::Signal(name)) => writer.signal(to_sig(&name)).await,
                Some(LinkControl::Eof) => writer.eof().await,
                Some(LinkControl::Break) => Ok(()),
            };
            if let Err(e) = step {
                break EndReason::Lost(format!("sending to device failed: {e}"));
            }
        };
        let _ = local_tx.send(reason);
        let _ = writer.close().await;
    });

    let mut queued = pending.into_iter();
    let reason = loop {
        let msg = match queued.next() {
            Some(msg) => Some(msg),
            None => tokio::select! {
                biased;
                r = &mut local_rx => break r.unwrap_or(EndReason::LocalClose),
                _ = events.closed() => break EndReason::LocalClose,
                msg = reader.wait() => msg,
            },
        };
        let event = match msg {
            Some(ChannelMsg::Data { data }) => LinkEvent::Data(data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => LinkEvent::Stderr(data),
            Some(ChannelMsg::Eof) => LinkEvent::Eof,
            Some(ChannelMsg::ExitStatus { exit_status }) => LinkEvent::ExitStatus(exit_status),
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                LinkEvent::ExitSignal(sig_name(&signal_name))
            }
            Some(ChannelMsg::Close) => break EndReason::DeviceClosed,
            Some(other) => {
                tracing::trace!(device, "ignoring channel message {other:?}");
                continue;
            }
            None => {
                let disconnect = conn.disconnect.clone();
                match conn.handle.as_mut() {
                    Some(handle) => break lost_reason(handle, &disconnect).await,
                    None => break EndReason::Lost("connection gone".into()),
                }
            }
        };
        if events.send(event).await.is_err() {
            break EndReason::LocalClose;
        }
    };
    writer_task.abort();
    tracing::info!(device, %reason, "SSH link closed");
    match pool {
        Some(pool) if reason == EndReason::DeviceClosed && conn.is_open() => pool.put(conn),
        _ => conn.close().await,
    }
    let _ = events.send(LinkEvent::Closed(reason)).await;
}

/// Explains why the channel vanished without a close: the device's disconnect
/// message, or the error that ended the SSH session.
async fn lost_reason(
    handle: &mut Handle<DeviceHandler>,
    disconnect: &Mutex<Option<String>>,
) -> EndReason {
    let session_end = timeout(Duration::from_secs(2), &mut *handle).await;
    if let Some(text) = disconnect.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return EndReason::Lost(text);
    }
    EndReason::Lost(match session_end {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => "SSH connection closed".into(),
        Err(_) => "channel closed without an SSH close".into(),
    })
}

/// Maps a signal name (`INT`, `SIGINT`) to russh's type.
pub fn to_sig(name: &str) -> Sig {
    let name = name.trim().trim_start_matches("SIG");
    match name {
        "ABRT" => Sig::ABRT,
        "ALRM" => Sig::ALRM,
        "FPE" => Sig::FPE,
        "HUP" => Sig::HUP,
        "ILL" => Sig::ILL,
        "INT" => Sig::INT,
        "KILL" => Sig::KILL,
        "PIPE" => Sig::PIPE,
        "QUIT" => Sig::QUIT,
        "SEGV" => Sig::SEGV,
        "TERM" => Sig::TERM,
        "USR1" => Sig::USR1,
        other => Sig::Custom(other.to_owned()),
    }
}

/// The wire name of a russh signal, without `SIG`.
fn sig_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    }
    .to_owned()
}
