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
            if crate::session::pty_allowed(self.identity.as_ref()) {
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

        // Accepted here; the session task decides (and refuses with a message naming why).
        async fn subsystem_request(
            &mut self,
            channel: ChannelId,
            _name: &str,
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)
        }

        // The bastion forwards no agent and no X11 display, whatever the certificate
        // permits: a device session must not reach the admin's keys or screen.
        async fn x11_request(
            &mut self,
            channel: ChannelId,
            _single: bool,
            _protocol: &str,
            _cookie: &str,
            _screen: u32,
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_failure(channel)
        }

        async fn agent_request(
            &mut self,
            _channel: ChannelId,
            _session: &mut Session,
        ) -> Result<bool, Self::Error> {
            Ok(false)
        }
    };
}

mod admission;
mod authlog;
mod channels;
pub mod commands;
mod configs;
mod connection;
mod console_watch;
mod forward;
mod handler;
mod intercept;
mod jump;
mod killable;
mod operations;
mod propagate;
mod reload;
mod replay;
mod service;
mod shell;
mod watch;
mod watcher;

pub use commands::{CommandOutput, COMMANDS};
pub use reload::ReloadReport;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::audit::Event;
use crate::bastion::Bastion;
use crate::config::Config;
use admission::Admission;
use configs::ServerConfigs;

/// Errors that stop the front door from starting.
#[derive(Debug, thiserror::Error)]
pub enum FrontdoorError {
    /// The shared context could not be assembled.
    #[error(transparent)]
    Bastion(#[from] crate::bastion::BastionError),
    /// Accepting connections failed.
    #[error("accept failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bastion's host certificate could not be published.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The metrics endpoint could not listen.
    #[error("metrics.listen: cannot listen on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    /// What was to run beside the front door (the web console) could not start.
    #[error("{0}")]
    Beside(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, FrontdoorError>;

/// What starts beside the front door once the shared context is open (the web console,
/// from the layer above); an error stops the start.
pub type Beside = Box<dyn FnOnce(&Arc<Bastion>) -> std::result::Result<(), String> + Send>;

/// Serves the front door on `listener` until `shutdown` is cancelled, then closes every
/// connection and waits for every task (sessions sealing their recordings included).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<()> {
    let (_keep, reloads) = tokio::sync::mpsc::channel(1);
    serve_with_reload(listener, config, shutdown, reloads, Box::new(|_| Ok(()))).await
}

/// Like [`serve`], starting `beside` once the bastion is open, reloading what can change
/// live at each message of `reloads` (SIGHUP), and notifying the service manager
/// (`NOTIFY_SOCKET`) of readiness, reloads and stop.
pub async fn serve_with_reload(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    reload_requests: tokio::sync::mpsc::Receiver<()>,
    beside: Beside,
) -> Result<()> {
    authlog::install();
    let bastion = Arc::new(Bastion::open(config, shutdown.clone()).await?);
    crate::session::close_abandoned(&bastion).await;
    bastion.stores.recordings.start();
    let reloader = bastion.policy.clone().spawn_reloader(
        bastion.config.policy_dir.clone(),
        bastion.config.inventory.clone(),
        bastion.config.limits.reload_interval,
        shutdown.clone(),
    );
    // The lease before the consoles: a claim by a node without a lease is taken over.
    if let Some(leases) = &bastion.stores.leases {
        if let Err(e) = leases.renew(bastion.config.store.node_lease).await {
            tracing::error!(error = %e, "cannot take this node's lease");
        }
    }
    operations::start_consoles(&bastion);
    if let Some(signals) = bastion.stores.signals.clone() {
        let news = signals.subscribe();
        propagate::share_revocations(&bastion, signals.as_ref()).await;
        bastion.tasks.spawn(propagate::run(bastion.clone(), news));
    }
    bastion.tasks.spawn(watch::run(bastion.clone()));
    bastion
        .tasks
        .spawn(crate::session::liveness::run(bastion.clone()));
    operations::start_metrics(&bastion).await?;
    beside(&bastion).map_err(FrontdoorError::Beside)?;
    let configs = Arc::new(ServerConfigs::new(&bastion)?);
    let admission = Admission::new(&bastion.config.limits);
    bastion
        .tasks
        .spawn(watch::noise(bastion.clone(), admission.clone()));
    tracing::info!(listen = %listener.local_addr()?, "oobgate front door listening");
    bastion
        .tasks
        .spawn(operations::reloads(bastion.clone(), reload_requests));
    bastion.tasks.spawn(service::watchdog(shutdown.clone()));
    service::ready();
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
        let ticket = match admission.admit(peer.ip()) {
            Ok(t) => t,
            Err(refusal) => {
                if admission.note_noise(peer.ip()) {
                    bastion.audit_later(
                        Event::new("connection.refused")
                            .source(peer.to_string())
                            .outcome("deny")
                            .detail(serde_json::json!({ "reason": refusal.to_string() })),
                    );
                }
                drop(socket);
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        bastion.tasks.spawn(connection::run(
            bastion.clone(),
            configs.clone(),
            admission.clone(),
            socket,
            peer,
            ticket,
        ));
    }
    service::stopping();
    bastion.tasks.close();
    bastion.tasks.wait().await;
    bastion.consoles.shutdown().await;
    // A clean stop hands this node's consoles to the others at once.
    if let Some(leases) = &bastion.stores.leases {
        if let Err(e) = leases.release_consoles().await {
            tracing::warn!(error = %e, "cannot give up this node's consoles; the others take them when its lease lapses");
        }
    }
    if !bastion
        .stores
        .recordings
        .drain(Duration::from_secs(30))
        .await
    {
        tracing::warn!("some recordings did not reach the object store; the spool keeps them for the next start");
    }
    reloader.abort();
    Ok(())
}
