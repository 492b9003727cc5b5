//! SSH devices, through the russh client.
//!
//! The connector dials with a connect timeout and `TCP_NODELAY`, verifies the host
//! key ([`super::hostkey`]), logs in ([`super::ssh_auth`]) and starts a shell or
//! command, all within the handshake timeout. A spawned pump then moves channel
//! messages to the [`Link`]; it only takes the next message from russh once the
//! previous one is handed on, so backpressure reaches the device through russh's
//! bounded channel buffer, TCP, and the SSH window.
//!
//! Legacy algorithms (`Target::legacy_algorithms`): russh can additionally offer
//! `diffie-hellman-group14-sha1`, `diffie-hellman-group-exchange-sha1`,
//! `diffie-hellman-group1-sha1`, `aes{128,192,256}-cbc`, `3des-cbc` (the `des`
//! feature), `hmac-sha1` and `ssh-rsa` (SHA-1) signatures. `ssh-rsa` host keys are
//! accepted by default too. DSA (`ssh-dss`) is not enabled.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::{Algorithm, PublicKey};
use russh::{cipher, kex, mac, ChannelMsg, Disconnect, Preferred, Sig};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::link::LinkEnds;
use super::ssh_handler::DeviceHandler;
use super::{
    ssh_auth, ConnectError, Connector, DeviceCredential, EndReason, HostKeys, Link, LinkControl,
    LinkEvent, LinkRequest, Result, Target,
};

/// Default limit for the TCP connect and for handshake + login + session setup.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to SSH devices; one per bastion is enough (it holds no per-device state).
pub struct SshConnector {
    store: Arc<dyn HostKeys>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
}

impl SshConnector {
    /// A connector recording trust-on-first-use keys in `store`, with 10 s timeouts.
    pub fn new(store: Arc<dyn HostKeys>) -> Self {
        SshConnector {
            store,
            connect_timeout: DEFAULT_TIMEOUT,
            handshake_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the TCP connect timeout and the handshake + login + setup timeout.
    pub fn with_timeouts(mut self, connect: Duration, handshake: Duration) -> Self {
        self.connect_timeout = connect;
        self.handshake_timeout = handshake;
        self
    }
}

impl SshConnector {
    /// Algorithms for `target`. When a host key is already known (pinned or
    /// stored), only its algorithm is offered, so a device that also has other host
    /// key types presents the known one instead of tripping a false "changed" alarm.
    async fn preferred_for(&self, target: &Target) -> Preferred {
        let mut p = preferred_algorithms(target.legacy_algorithms);
        let stored = match &target.host_key {
            Some(pinned) => Some(pinned.clone()),
            None => self.store.get(&target.name).await.unwrap_or_else(|e| {
                tracing::error!(device = %target.name, error = %e, "cannot read the stored host key");
                None
            }),
        };
        let known = stored.and_then(|line| PublicKey::from_openssh(line.trim()).ok());
        if let Some(key) = known {
            let algorithm = key.algorithm();
            let only: Vec<Algorithm> = if algorithm.clone().is_rsa() {
                p.key
                    .iter()
                    .filter(|a| matches!(a, Algorithm::Rsa { .. }))
                    .cloned()
                    .collect()
            } else {
                vec![algorithm]
            };
            p.key = Cow::Owned(only);
        }
        p
    }
}

/// The algorithm lists offered to a device; `legacy` appends SHA-1 and CBC suites
/// after the modern ones, so a modern device still negotiates modern algorithms.
pub fn preferred_algorithms(legacy: bool) -> Preferred {
    let mut p = Preferred::DEFAULT.clone();
    // The bastion chooses this hop's cipher: AES-GCM runs on the CPU's AES instructions and
    // costs a fraction of ChaCha20-Poly1305 for bulk console output.
    p.cipher = Cow::Owned(vec![
        cipher::AES_256_GCM,
        cipher::AES_128_GCM,
        cipher::CHACHA20_POLY1305,
        cipher::AES_256_CTR,
        cipher::AES_192_CTR,
        cipher::AES_128_CTR,
    ]);
    if legacy {
        let mut kexes = p.kex.to_vec();
        kexes.extend([kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1]);
        p.kex = Cow::Owned(kexes);
        let mut ciphers = p.cipher.to_vec();
        ciphers.extend([
            cipher::AES_256_CBC,
            cipher::AES_192_CBC,
            cipher::AES_128_CBC,
            cipher::TRIPLE_DES_CBC,
        ]);
        p.cipher = Cow::Owned(ciphers);
        let mut macs = p.mac.to_vec();
        macs.extend([mac::HMAC_SHA1_ETM, mac::HMAC_SHA1]);
        p.mac = Cow::Owned(macs);
    }
    p
}

#[async_trait]
impl Connector for SshConnector {
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        let tcp = super::connect_tcp(target, self.connect_timeout).await?;
        let config = Arc::new(client::Config {
            preferred: self.preferred_for(target).await,
            nodelay: true,
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        let disconnect = Arc::new(Mutex::new(None));
        let handler = DeviceHandler::new(target.clone(), self.store.clone(), disconnect.clone());
        let setup = async {
            // Buffered: russh reads every packet as two exact reads.
            let tcp = tokio::io::BufReader::with_capacity(super::READ_BUFFER, tcp);
            let dropped = |e| match e {
                ConnectError::Ssh(e) => ConnectError::during_handshake(&target.name, e),
                other => other,
            };
            let mut handle = client::connect_stream(config, tcp, handler)
                .await
                .map_err(dropped)?;
            ssh_auth::authenticate(&mut handle, target, cred)
                .await
                .map_err(dropped)?;
            let (channel, pending) = start_session(&handle, target, req).await?;
            Ok::<_, ConnectError>((handle, channel, pending))
        };
        let (handle, channel, pending) =
            timeout(self.handshake_timeout, setup)
                .await
                .map_err(|_| ConnectError::Timeout {
                    device: target.name.clone(),
                    stage: "SSH handshake and login",
                    seconds: self.handshake_timeout.as_secs_f64(),
                })??;
        tracing::info!(device = %target.name, user = %cred.username, "SSH link open");
        let (link, ends) = Link::pair();
        tokio::spawn(pump(
            target.name.clone(),
            handle,
            channel,
            pending,
            ends,
            disconnect,
        ));
        Ok(link)
    }
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
    match &req.command {
        Some(cmd) => channel.exec(true, cmd.as_bytes()).await?,
        None => channel.request_shell(true).await?,
    }
    asked.push(if req.command.is_some() {
        "command"
    } else {
        "shell"
    });
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

/// Moves channel messages to the link and link control to the channel until
/// either side ends; then disconnects.
async fn pump(
    device: String,
    mut handle: Handle<DeviceHandler>,
    channel: russh::Channel<client::Msg>,
    pending: Vec<ChannelMsg>,
    ends: LinkEnds,
    disconnect: Arc<Mutex<Option<String>>>,
) {
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
            None => break lost_reason(&mut handle, &disconnect).await,
        };
        if events.send(event).await.is_err() {
            break EndReason::LocalClose;
        }
    };
    writer_task.abort();
    tracing::info!(device, %reason, "SSH link closed");
    let _ = handle
        .disconnect(Disconnect::ByApplication, "session ended", "en")
        .await;
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
