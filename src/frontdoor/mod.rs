//! The front door: the russh server admins reach with plain OpenSSH.
//!
//! `serve` accepts TCP connections, enforces the connection limit and the authentication
//! timeout, and runs one [`handler::Conn`] per connection. Authentication is by OpenSSH user
//! certificate only; bastion commands arrive as exec requests or through the interactive
//! menu of a shell request.

/// The pty, shell and exec answers of both SSH servers (the front door and the inner `-J`
/// server): a pty only when the certificate has `permit-pty`; shell and exec are accepted
/// and served by the channel's own task, which reads them from the channel.
macro_rules! session_requests {
    () => {
        async fn pty_request(
            &mut self,
            channel: ChannelId,
            _term: &str,
            _cols: u32,
            _rows: u32,
            _pw: u32,
            _ph: u32,
            _modes: &[(russh::Pty, u32)],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            if self.identity.as_ref().is_some_and(|i| i.permit_pty) {
                session.channel_success(channel)
            } else {
                session.channel_failure(channel)
            }
        }

        async fn shell_request(
            &mut self,
            channel: ChannelId,
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)
        }

        async fn exec_request(
            &mut self,
            channel: ChannelId,
            _data: &[u8],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)
        }
    };
}

mod access_cmds;
mod authlog;
pub mod authorize;
mod commands;
mod forward;
mod handler;
mod intercept;
mod killable;
pub mod power;
mod replay;
mod shell;

pub use commands::{CommandOutput, COMMANDS};
pub use replay::{parse_offset, parse_replay, sessions_table, ReplayArgs};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::server::Config as SshConfig;
use russh::{MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{AuditStore, Event};
use crate::config::Config;
use crate::identity::{KeyStore, RevocationList, Validator};
use crate::policy::PolicyEngine;

/// Errors that stop the front door from starting.
#[derive(Debug, thiserror::Error)]
pub enum FrontdoorError {
    /// Keys, CAs or the revocation list could not be loaded.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The audit store could not be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The webhook settings are unusable.
    #[error("{0}")]
    Notify(#[from] crate::notify::NotifyError),
    /// The inventory could not be loaded.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    /// The policy could not be loaded.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The secrets store could not be set up.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// Accepting connections failed.
    #[error("accept failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, FrontdoorError>;

/// Everything a connection needs, shared by all connections.
pub struct Bastion {
    /// The validated configuration.
    pub config: Config,
    /// The bastion's keys and CAs.
    pub keys: KeyStore,
    /// Certificate validation.
    pub validator: Validator,
    /// The audit store.
    pub audit: AuditStore,
    /// Policy decisions (and the current inventory).
    pub policy: PolicyEngine,
    /// Device credentials.
    pub secrets: Arc<dyn crate::secrets::SecretStore>,
    /// SSH connector to devices (host keys learnt on first use go to the store).
    pub ssh: crate::connect::SshConnector,
    /// Telnet connector to legacy devices.
    pub telnet: crate::connect::TelnetConnector,
    /// Raw TCP console-server ports.
    pub rawtcp: crate::connect::RawTcpConnector,
    /// Shared consoles: one link per console, continuous logs, one writer.
    pub consoles: crate::console::ConsoleBroker,
    /// Sessions running now, with the grant and certificate each depends on.
    pub live: crate::access::LiveSessions,
    /// The webhook for access events.
    pub notifier: crate::notify::Notifier,
    /// Inner-server SSH configs per device (host certificate minted for the device name).
    inner_configs: std::sync::Mutex<std::collections::HashMap<String, Arc<SshConfig>>>,
}

impl Bastion {
    /// Opens keys, store, inventory and policy as `config` says (creating the data dir).
    pub async fn open(config: Config) -> Result<Bastion> {
        let keys = KeyStore::open_or_create(&config.data_dir, &config.host_names)?;
        let mut trusted = Vec::new();
        if config.auth.trust_builtin_ca {
            trusted.push(keys.user_ca.public_key().clone());
        }
        for p in &config.auth.trusted_user_ca {
            trusted.push(crate::identity::load_public_key(p)?);
        }
        let revocation = RevocationList::open(config.auth.revoked.clone())?;
        let validator = Validator::new(trusted, revocation);
        let audit = AuditStore::open(&config.store_path())?;
        let inventory = crate::inventory::Inventory::load(&config.inventory)?;
        let policy = PolicyEngine::load(&config.policy_dir, &inventory).await?;
        let secrets = crate::secrets::open_store(&config.secrets, &config.data_dir).await?;
        let hostkeys = Arc::new(crate::session::StoreHostKeys(audit.clone()));
        let bastion_name = config
            .host_names
            .first()
            .cloned()
            .unwrap_or_else(|| config.listen.to_string());
        let notifier = crate::notify::Notifier::new(config.webhook.as_ref(), &bastion_name)?;
        let consoles = crate::console::ConsoleBroker::new(
            config.data_dir.join("consoles"),
            Default::default(),
        );
        Ok(Bastion {
            config,
            keys,
            validator,
            audit,
            policy,
            secrets,
            ssh: crate::connect::SshConnector::new(hostkeys),
            telnet: crate::connect::TelnetConnector::new(),
            rawtcp: crate::connect::RawTcpConnector::default(),
            consoles,
            live: Default::default(),
            notifier,
            inner_configs: Default::default(),
        })
    }

    /// The inner SSH server config for `device`: the bastion's host key with a host
    /// certificate for the device name (minted once, then cached).
    pub fn inner_ssh_config(&self, device: &str) -> crate::identity::Result<Arc<SshConfig>> {
        let mut cache = self.inner_configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(device) {
            return Ok(c.clone());
        }
        let cert = self.keys.mint_host_cert(&[device.to_string()])?;
        let mut config = self.ssh_config();
        config.certificates = vec![cert];
        config.keepalive_interval = None;
        let config = Arc::new(config);
        cache.insert(device.to_string(), config.clone());
        Ok(config)
    }

    /// Records an audit event; a failing store is logged, never fatal to the caller.
    pub fn audit(&self, ev: Event) {
        if let Err(e) = self.audit.record(ev) {
            tracing::error!(error = %e, "audit store write failed");
        }
    }

    fn ssh_config(&self) -> SshConfig {
        let limits = &self.config.limits;
        SshConfig {
            server_id: russh::SshId::Standard(
                concat!("SSH-2.0-oobgate_", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![self.keys.host_key.clone()],
            certificates: vec![self.keys.host_cert.clone()],
            max_auth_attempts: self.config.auth.max_auth_attempts,
            inactivity_timeout: Some(limits.idle_timeout),
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        }
    }
}

/// Serves the front door on `listener` until `shutdown` is cancelled, then closes every
/// connection and waits for them to finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<()> {
    authlog::install();
    let bastion = Arc::new(Bastion::open(config).await?);
    let reloader = bastion.policy.clone().spawn_reloader(
        bastion.config.policy_dir.clone(),
        bastion.config.inventory.clone(),
        bastion.config.limits.reload_interval,
        shutdown.clone(),
    );
    for device in bastion.policy.inventory().devices() {
        if device.kind.is_console() && device.always_on {
            if let Err(e) = crate::session::register_console(&bastion, device) {
                tracing::error!(device = %device.name, error = %e, "cannot start always-on console");
            }
        }
    }
    let watcher = tokio::spawn(watch_access(bastion.clone(), shutdown.clone()));
    let ssh_config = Arc::new(bastion.ssh_config());
    let slots = Arc::new(Semaphore::new(bastion.config.limits.max_connections));
    let tracker = TaskTracker::new();
    tracing::info!(listen = %listener.local_addr()?, "oobgate front door listening");
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            bastion.audit(
                Event::new("connection.refused")
                    .source(peer.to_string())
                    .outcome("deny")
                    .detail(serde_json::json!({"reason": "connection limit reached"})),
            );
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let bastion = bastion.clone();
        let ssh_config = ssh_config.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            run_connection(bastion, ssh_config, socket, peer, shutdown).await;
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
    bastion.consoles.shutdown().await;
    reloader.abort();
    watcher.abort();
    Ok(())
}

/// Every second: expires lapsed requests and grants (ending their sessions), and ends the
/// sessions whose certificate was revoked.
async fn watch_access(bastion: Arc<Bastion>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match crate::access::store::sweep(&bastion.audit, std::time::SystemTime::now()) {
            Ok(lapsed) => {
                for r in lapsed {
                    let was_grant = r.grant_end.is_some();
                    if was_grant {
                        bastion
                            .live
                            .end_grant(r.id, &format!("access grant #{} ended", r.id));
                    }
                    bastion.audit(
                        Event::new("access.expire")
                            .user(&r.requester)
                            .action("expire")
                            .outcome("ok")
                            .detail(serde_json::json!({
                                "request": r.id,
                                "target": r.target.to_string(),
                                "was": if was_grant { "grant" } else { "pending request" },
                            })),
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "access sweep failed"),
        }
        if !bastion.live.is_empty() {
            bastion.live.end_where(bastion.validator.revocations());
        }
    }
}

async fn run_connection(
    bastion: Arc<Bastion>,
    ssh_config: Arc<SshConfig>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let authed = Arc::new(AtomicBool::new(false));
    let conn = handler::Conn::new(bastion.clone(), peer, authed.clone(), shutdown.clone());
    let auth_timeout = bastion.config.auth.auth_timeout;
    let cut = CancellationToken::new();
    let _cut_on_exit = cut.clone().drop_guard();
    // russh reads each packet as two exact reads (length, then body): buffering them
    // halves the read syscalls on bulk output.
    let socket = killable::Killable::new(
        tokio::io::BufReader::with_capacity(crate::connect::READ_BUFFER, socket),
        cut.clone(),
    );
    let session = match tokio::time::timeout(
        auth_timeout,
        russh::server::run_stream(ssh_config, socket, conn),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "ssh handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "ssh version exchange timed out");
            return;
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    let deadline = tokio::time::sleep(auth_timeout);
    tokio::pin!(deadline);
    let mut deadline_armed = true;
    loop {
        tokio::select! {
            r = &mut session => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with error");
                }
                return;
            }
            _ = &mut deadline, if deadline_armed => {
                deadline_armed = false;
                if !authed.load(Ordering::SeqCst) {
                    bastion.audit(
                        Event::new("auth.reject")
                            .source(peer.to_string())
                            .outcome("deny")
                            .detail(serde_json::json!({
                                "code": "auth-timeout",
                                "reason": format!("not authenticated within {}", humantime::format_duration(auth_timeout)),
                            })),
                    );
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        handle.disconnect(russh::Disconnect::ByApplication, "authentication timeout".into(), "en".into()),
                    )
                    .await;
                    cut.cancel();
                }
            }
            _ = shutdown.cancelled() => {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    handle.disconnect(russh::Disconnect::ByApplication, "bastion shutting down".into(), "en".into()),
                )
                .await;
                if tokio::time::timeout(Duration::from_secs(5), &mut session).await.is_err() {
                    cut.cancel();
                }
                return;
            }
        }
    }
}
