//! Telnet devices (legacy CLIs, terminal servers).
//!
//! After the TCP connect the connector negotiates options ([`super::telnet_codec`]),
//! answers the device's `login:`/`Username:` and `Password:` prompts from the
//! credential and decides from the reply whether the login worked. The password is
//! never echoed by the connector and is scrubbed from the pre-login output handed to
//! the admin, in case a device echoes it. Then a pump moves bytes both ways with
//! bounded buffers: the socket is only read once the previous output was handed on.
//! Telnet has no host authentication: `Target::host_key` does not apply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};

use super::link::LinkEnds;
use super::telnet_codec::{escape, Decoder, Item, Negotiator, IAC};
use super::{
    ConnectError, Connector, DeviceCredential, EndReason, Link, LinkControl, LinkEvent,
    LinkRequest, Result, Target,
};

/// Size of one socket read, hence the largest data event.
const READ_CHUNK: usize = 16 * 1024;
/// How much recent output the login logic looks at.
const SCREEN_TAIL: usize = 2048;
/// Most pre-login output (banner, prompts) kept to show the admin.
const MAX_BANNER: usize = 64 * 1024;
/// Telnet "interrupt process" command, sent for `LinkControl::Signal("INT")`.
const IP: u8 = 244;
/// How long an RFC 2217 serial break holds the line (a serial break is 0.25 to 0.5 s).
const BREAK_LENGTH: Duration = Duration::from_millis(250);

/// Connects to telnet devices and logs in at their prompts.
#[derive(Debug, Clone)]
pub struct TelnetConnector {
    connect_timeout: Duration,
    login_timeout: Duration,
    settle: Duration,
}

impl Default for TelnetConnector {
    fn default() -> Self {
        TelnetConnector {
            connect_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            settle: Duration::from_millis(1500),
        }
    }
}

impl TelnetConnector {
    /// A connector with 10 s connect and login timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the TCP connect timeout and the whole-login timeout.
    pub fn with_timeouts(mut self, connect: Duration, login: Duration) -> Self {
        self.connect_timeout = connect;
        self.login_timeout = login;
        self
    }

    /// Sets how long the device must stay quiet after printing something following
    /// the password before the login counts as done (when no shell prompt shows).
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

/// The connection while logging in: both socket halves and the protocol state.
pub(super) struct Wire {
    pub(super) read: OwnedReadHalf,
    pub(super) write: OwnedWriteHalf,
    pub(super) decoder: Decoder,
    pub(super) neg: Negotiator,
}

impl Wire {
    /// Reads once; answers negotiations; returns the data bytes (`None` at EOF).
    async fn read_data(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; READ_CHUNK];
        let n = self.read.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        let mut items = Vec::new();
        self.decoder.decode(&buf[..n], &mut items);
        let mut data = Vec::new();
        let mut reply = Vec::new();
        for item in items {
            match item {
                Item::Data(b) => data.extend_from_slice(&b),
                Item::Negotiate(verb, opt) => reply.extend(self.neg.negotiate(verb, opt)),
                Item::Sub(opt, payload) => reply.extend(self.neg.subnegotiate(opt, &payload)),
            }
        }
        if !reply.is_empty() {
            self.write.write_all(&reply).await?;
        }
        Ok(Some(data))
    }
}

#[async_trait]
impl Connector for TelnetConnector {
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        let tcp = super::connect_tcp(target, self.connect_timeout).await?;
        let (read, mut write) = tcp.into_split();
        let term = req.term.as_deref().unwrap_or("xterm");
        let mut neg = Negotiator::new(term, req.cols, req.rows);
        write
            .write_all(&neg.start(req.pty))
            .await
            .map_err(|e| lost(target, e))?;
        let mut wire = Wire {
            read,
            write,
            decoder: Decoder::new(),
            neg,
        };
        let deadline = Instant::now() + self.login_timeout;
        let banner = self.login(&mut wire, target, cred, deadline).await?;
        tracing::info!(device = %target.name, user = %cred.username, "telnet link open");
        let (link, ends) = Link::pair();
        tokio::spawn(pump(target.name.clone(), wire, banner, ends));
        Ok(link)
    }
}

impl TelnetConnector {
    /// Answers login prompts; returns the output seen so far, password scrubbed.
    async fn login(
        &self,
        wire: &mut Wire,
        target: &Target,
        cred: &DeviceCredential,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let mut banner = Vec::new();
        if cred.username.is_empty() && cred.password.is_none() {
            return Ok(banner);
        }
        let failed = || ConnectError::AuthFailed {
            device: target.name.clone(),
            methods_tried: vec!["telnet-login".into()],
        };
        let mut screen: Vec<u8> = Vec::new();
        let mut sent_user = false;
        let mut sent_password = false;
        let mut answered = false;
        loop {
            // After the password, silence following real output means a shell with
            // an unusual prompt: accept it once the device has settled.
            let limit = if sent_password && answered {
                deadline.min(Instant::now() + self.settle)
            } else {
                deadline
            };
            let data = match timeout_at(limit, wire.read_data()).await {
                Err(_) if limit < deadline => break,
                Err(_) => {
                    return Err(ConnectError::Timeout {
                        device: target.name.clone(),
                        stage: "telnet login",
                        seconds: self.login_timeout.as_secs_f64(),
                    })
                }
                Ok(Err(e)) => return Err(lost(target, e)),
                Ok(Ok(None)) if sent_password => return Err(failed()),
                Ok(Ok(None)) => return Err(lost(target, "device closed during login")),
                Ok(Ok(Some(data))) => data,
            };
            if banner.len() < MAX_BANNER {
                banner.extend_from_slice(&data);
            }
            screen.extend_from_slice(&data);
            if screen.len() > SCREEN_TAIL {
                screen.drain(..screen.len() - SCREEN_TAIL);
            }
            let text = String::from_utf8_lossy(&screen).to_ascii_lowercase();
            let tail = text.trim_end();
            if sent_password {
                const FAILURES: [&str; 6] = [
                    "incorrect",
                    "authentication failed",
                    "access denied",
                    "login invalid",
                    "bad password",
                    "invalid password",
                ];
                if FAILURES.iter().any(|f| text.contains(f))
                    || is_user_prompt(tail)
                    || is_password_prompt(tail)
                {
                    return Err(failed());
                }
                answered |= !tail.is_empty();
                if is_shell_prompt(tail) {
                    break;
                }
            } else if is_password_prompt(tail) {
                let password = cred.password.as_deref().ok_or_else(failed)?;
                send_line(wire, password, target).await?;
                sent_password = true;
                screen.clear();
            } else if is_user_prompt(tail) {
                if sent_user && !tail.contains("password") {
                    return Err(failed());
                }
                send_line(wire, &cred.username, target).await?;
                sent_user = true;
                screen.clear();
            } else if sent_user && cred.password.is_none() && is_shell_prompt(tail) {
                break;
            }
        }
        Ok(scrub(banner, cred.password.as_deref()))
    }
}

async fn send_line(wire: &mut Wire, line: &str, target: &Target) -> Result<()> {
    let mut bytes = escape(line.as_bytes(), wire.neg.local_binary()).to_vec();
    bytes.extend_from_slice(b"\r\n");
    wire.write
        .write_all(&bytes)
        .await
        .map_err(|e| lost(target, e))
}

fn is_user_prompt(tail: &str) -> bool {
    ["login:", "username:", "user name:", "user:"]
        .iter()
        .any(|p| tail.ends_with(p))
}

fn is_password_prompt(tail: &str) -> bool {
    tail.ends_with("password:") || tail.ends_with("passcode:")
}

fn is_shell_prompt(tail: &str) -> bool {
    tail.ends_with(['#', '>', '$', '%'])
}

/// Removes the password from text shown to the admin (short passwords would
/// mangle ordinary output and are left alone).
fn scrub(mut text: Vec<u8>, password: Option<&str>) -> Vec<u8> {
    let Some(pw) = password.map(str::as_bytes).filter(|p| p.len() >= 4) else {
        return text;
    };
    while let Some(at) = text.windows(pw.len()).position(|w| w == pw) {
        text.splice(at..at + pw.len(), b"****".iter().copied());
    }
    text
}

fn lost(target: &Target, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Protocol(format!("telnet to {}: {e}", target.name))
}

/// Runs the logged-in link until either side ends.
/// Moves bytes between the device and the link until either side ends.
pub(super) async fn pump(device: String, wire: Wire, banner: Vec<u8>, ends: LinkEnds) {
    let LinkEnds {
        events,
        mut control,
    } = ends;
    let Wire {
        mut read,
        mut write,
        mut decoder,
        neg,
    } = wire;
    let neg = Arc::new(Mutex::new(neg));
    let (raw_tx, mut raw_rx) = mpsc::channel::<Vec<u8>>(16);
    let (local_tx, mut local_rx) = oneshot::channel::<EndReason>();
    let writer_neg = neg.clone();
    let writer_task = tokio::spawn(async move {
        let mut eof = false;
        let reason = loop {
            let bytes: Vec<u8> = tokio::select! {
                Some(raw) = raw_rx.recv() => raw,
                ctl = control.recv() => match ctl {
                    None | Some(LinkControl::Close) => break EndReason::LocalClose,
                    Some(LinkControl::Data(data)) if !eof => {
                        let binary = writer_neg.lock().unwrap_or_else(|e| e.into_inner()).local_binary();
                        escape(&data, binary).to_vec()
                    }
                    Some(LinkControl::Break) => {
                        // RFC 2217 ports only: hold the line in break for 250 ms.
                        let on = writer_neg.lock().unwrap_or_else(|e| e.into_inner()).break_bytes(true);
                        if on.is_empty() {
                            continue;
                        }
                        if let Err(e) = write.write_all(&on).await {
                            break EndReason::Lost(format!("sending to device failed: {e}"));
                        }
                        tokio::time::sleep(BREAK_LENGTH).await;
                        writer_neg.lock().unwrap_or_else(|e| e.into_inner()).break_bytes(false)
                    }
                    Some(LinkControl::Resize { cols, rows }) => {
                        writer_neg.lock().unwrap_or_else(|e| e.into_inner()).resize(cols, rows)
                    }
                    Some(LinkControl::Signal(name)) if name.trim_start_matches("SIG") == "INT" => {
                        vec![IAC, IP]
                    }
                    Some(LinkControl::Eof) if !eof => {
                        eof = true;
                        let _ = write.shutdown().await;
                        continue;
                    }
                    Some(_) => continue,
                },
            };
            if bytes.is_empty() || eof {
                continue;
            }
            if let Err(e) = write.write_all(&bytes).await {
                break EndReason::Lost(format!("sending to device failed: {e}"));
            }
        };
        let _ = local_tx.send(reason);
        let _ = write.shutdown().await;
    });

    let mut first = Some(banner).filter(|b| !b.is_empty());
    let mut buf = vec![0u8; READ_CHUNK];
    let reason = 'outer: loop {
        let mut items = Vec::new();
        if let Some(banner) = first.take() {
            items.push(Item::Data(Bytes::from(banner)));
        } else {
            let n = tokio::select! {
                biased;
                r = &mut local_rx => break r.unwrap_or(EndReason::LocalClose),
                _ = events.closed() => break EndReason::LocalClose,
                n = read.read(&mut buf) => n,
            };
            match n {
                Ok(0) => break EndReason::DeviceClosed,
                Ok(n) => decoder.decode(&buf[..n], &mut items),
                Err(e) => break EndReason::Lost(e.to_string()),
            }
        }
        for item in items {
            let reply = match item {
                Item::Data(data) => {
                    if events.send(LinkEvent::Data(data)).await.is_err() {
                        break 'outer EndReason::LocalClose;
                    }
                    continue;
                }
                Item::Negotiate(verb, opt) => {
                    let mut neg = neg.lock().unwrap_or_else(|e| e.into_inner());
                    let reply = neg.negotiate(verb, opt);
                    decoder.set_binary(neg.remote_binary());
                    reply
                }
                Item::Sub(opt, payload) => neg
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .subnegotiate(opt, &payload),
            };
            if !reply.is_empty() && raw_tx.send(reply).await.is_err() {
                break 'outer EndReason::LocalClose;
            }
        }
    };
    writer_task.abort();
    tracing::info!(device, %reason, "telnet link closed");
    let _ = events.send(LinkEvent::Closed(reason)).await;
}
