//! One client connection: certificate-only authentication and channel dispatch.
//!
//! Callbacks stay short: anything that takes time (commands, the interactive menu,
//! forwarding) runs in a task spawned per channel, so one slow channel never stalls the
//! connection's protocol loop.

use std::net::SocketAddr;
use std::sync::Arc;

use russh::keys::ssh_key::{Certificate, HashAlg};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use serde_json::json;
use tokio_util::task::TaskTracker;

use super::admission::{Admission, Ticket};
use super::configs::ServerConfigs;
use super::jump::Jump;
use super::{authlog, forward, intercept, shell};
use crate::access::LiveSession;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;

/// The longest login name kept in audit rows and logs; longer ones are cut with a marker.
const MAX_LOGIN: usize = 256;

/// `user` as audited and logged: at most [`MAX_LOGIN`] bytes of it, then a marker.
fn login_shown(user: &str) -> String {
    if user.len() <= MAX_LOGIN {
        return user.to_string();
    }
    let mut end = MAX_LOGIN;
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...(+{} bytes)", &user[..end], user.len() - end)
}

/// What the connection's task learns when the admin has logged in.
pub struct LoggedIn {
    /// The connection as a live session: revoking its certificate ends it.
    pub live: LiveSession,
    /// The certificate's expiry, when the connection must end.
    pub expires: Option<std::time::SystemTime>,
}

/// State of one client connection.
pub struct Conn {
    bastion: Arc<Bastion>,
    configs: Arc<ServerConfigs>,
    admission: Arc<Admission>,
    peer: SocketAddr,
    ticket: Ticket,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    logged_in: Option<tokio::sync::oneshot::Sender<LoggedIn>>,
    identity: Option<Identity>,
    registration: Option<authlog::Registration>,
    /// The tasks serving this connection's channels.
    channels: TaskTracker,
}

impl Conn {
    /// A connection from `peer` holding the unauthenticated place `ticket`; `logged_in`
    /// hears when a certificate is accepted.
    pub fn new(
        bastion: Arc<Bastion>,
        configs: Arc<ServerConfigs>,
        admission: Arc<Admission>,
        peer: SocketAddr,
        ticket: Ticket,
        logged_in: tokio::sync::oneshot::Sender<LoggedIn>,
        channels: TaskTracker,
    ) -> Conn {
        Conn {
            bastion,
            configs,
            admission,
            peer,
            ticket,
            slot: None,
            logged_in: Some(logged_in),
            identity: None,
            registration: None,
            channels,
        }
    }

    /// Runs a channel's task, tracked as one of this connection's channels.
    fn spawn_channel(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.bastion.tasks.spawn(self.channels.track_future(task));
    }

    async fn reject(&self, user: &str, code: &str, reason: &str, extra: serde_json::Value) -> Auth {
        let user = login_shown(user);
        tracing::info!(peer = %self.peer, user, code, reason, "authentication rejected");
        self.bastion.metrics.login(false, code);
        if !self.admission.note_noise(self.peer.ip()) {
            return Auth::reject();
        }
        let mut detail = json!({ "code": code, "reason": reason });
        if let (Some(d), serde_json::Value::Object(x)) = (detail.as_object_mut(), extra) {
            d.extend(x);
        }
        self.bastion
            .audit(
                Event::new("auth.reject")
                    .user(user)
                    .source(self.peer.to_string())
                    .outcome("deny")
                    .detail(detail),
            )
            .await;
        Auth::reject()
    }

    /// The certificate was accepted: take a logged-in place (or refuse), and hand the
    /// connection's live registration to its task.
    async fn log_in(&mut self, user: &str, id: Identity, cert: &Certificate) -> Auth {
        let Some(slot) = self.admission.authenticated() else {
            let reason = format!(
                "the bastion already holds {} logged-in connections (limits.max_connections)",
                self.bastion.config.limits.max_connections
            );
            return self
                .reject(user, "connection-limit", &reason, json!({}))
                .await;
        };
        tracing::info!(peer = %self.peer, user, key_id = %id.key_id, "certificate accepted");
        self.bastion.metrics.login(true, "certificate");
        self.bastion
            .audit(
                Event::new("auth.accept")
                    .user(user)
                    .source(self.peer.to_string())
                    .outcome("allow")
                    .detail(json!({
                        "key_id": id.key_id,
                        "serial": id.serial,
                        "roles": id.roles,
                        "ca": id.ca_fingerprint,
                        "key": id.key_fingerprint,
                        "valid_before": cert.valid_before(),
                    })),
            )
            .await;
        self.slot = Some(slot);
        self.ticket.logged_in();
        if let Some(tx) = self.logged_in.take() {
            let live = self
                .bastion
                .live
                .register(&id, None, &self.bastion.shutdown);
            let _ = tx.send(LoggedIn {
                live,
                expires: id.valid_before,
            });
        }
        self.identity = Some(id);
        Auth::Accept
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        if self.registration.is_none() {
            let bastion = self.bastion.clone();
            let admission = self.admission.clone();
            let peer = self.peer;
            self.registration = authlog::register(Arc::new(move |reason: &str| {
                bastion.metrics.login(false, "cert-window-or-signature");
                if !admission.note_noise(peer.ip()) {
                    return;
                }
                bastion.audit_later(
                    Event::new("auth.reject")
                        .source(peer.to_string())
                        .outcome("deny")
                        .detail(json!({ "code": "cert-window-or-signature", "reason": reason })),
                );
            }));
        }
        Ok(None)
    }

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(self
            .reject(
                user,
                "password",
                "password authentication is not accepted; log in with an OpenSSH certificate",
                json!({}),
            )
            .await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.reject(
            user,
            "keyboard-interactive",
            "keyboard-interactive authentication is not accepted; log in with an OpenSSH certificate",
            json!({}),
        )
        .await)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let fp = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        Ok(self
            .reject(
                user,
                "plain-key",
                "plain public key without a certificate",
                json!({ "key": fp }),
            )
            .await)
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        cert: &Certificate,
    ) -> Result<Auth, Self::Error> {
        match self.bastion.validator.validate(cert, user, self.peer) {
            Ok(id) => Ok(self.log_in(user, id, cert).await),
            Err(rej) => Ok(self
                .reject(
                    user,
                    rej.code(),
                    &rej.to_string(),
                    json!({ "key_id": cert.key_id(), "serial": cert.serial() }),
                )
                .await),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(id) = self.identity.clone() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        self.spawn_channel(shell::run_channel(
            self.bastion.clone(),
            id,
            channel,
            session.handle(),
        ));
        Ok(())
    }

    session_requests!();

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _orig: &str,
        _orig_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(id) = self.identity.clone() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        match super::jump::decide(&self.bastion, &id, self.peer, host, port).await {
            Jump::Refuse => {
                reply
                    .reject(ChannelOpenFailure::AdministrativelyProhibited)
                    .await;
            }
            Jump::Inner { device, refusal } => {
                reply.accept().await;
                self.spawn_channel(intercept::serve_inner(
                    self.bastion.clone(),
                    self.configs.clone(),
                    id,
                    device,
                    channel,
                    refusal,
                ));
            }
            Jump::Forward { device } => {
                reply.accept().await;
                self.spawn_channel(forward::run(
                    self.bastion.clone(),
                    id,
                    device,
                    port,
                    channel,
                ));
            }
        }
        Ok(())
    }
}
