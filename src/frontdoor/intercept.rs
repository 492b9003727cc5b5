//! `ssh -J bastion sw1`: the client's `direct-tcpip` channel to an inventory device is not
//! forwarded anywhere. The bastion serves a second, inner SSH server over that channel,
//! presenting a host certificate minted for the device name by its host CA, so one
//! `@cert-authority` known_hosts line covers every device. The client re-authenticates with
//! the same certificate as on the outer connection; its session requests then go to the
//! session layer, which logs into the real device.

use std::sync::Arc;

use russh::keys::ssh_key::Certificate;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use serde_json::json;
use tokio_util::task::TaskTracker;

use super::configs::ServerConfigs;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;

/// The data size of one outer channel message (OpenSSH's default largest channel packet).
const OUTER_CHUNK: usize = 32 * 1024;

/// Serves the inner SSH server for `device` over `channel` until it ends. With `refusal`,
/// the inner server only shows that text as its login banner and refuses the login, so a
/// plain `ssh -J` user learns why (a refused channel would only say "stdio forwarding
/// failed").
pub async fn serve_inner(
    bastion: Arc<Bastion>,
    configs: Arc<ServerConfigs>,
    outer: Identity,
    device: Device,
    channel: Channel<Msg>,
    refusal: Option<String>,
) {
    let shutdown = bastion.shutdown.clone();
    let config = match configs.inner(&device.name) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(device = %device.name, error = %e, "cannot mint device host certificate");
            return;
        }
    };
    // The device's TCP and key exchange start now, while the client is still logging into
    // the inner server: only for an allowed session, and never its login (that waits for
    // the recording).
    let early = match &refusal {
        None => bastion.connectors.prepare(&device),
        Some(_) => None,
    };
    let channels = TaskTracker::new();
    let handler = InnerConn {
        bastion: bastion.clone(),
        channels: channels.clone(),
        outer,
        device,
        identity: None,
        refusal,
        early,
    };
    // The inner server writes whole SSH packets, each a few bytes over the outer channel's
    // largest data message: written as they come, every one would travel as a full message
    // and a runt. Buffered, the outer channel carries full messages.
    let stream = tokio::io::BufWriter::with_capacity(OUTER_CHUNK, channel.into_stream());
    let session = match russh::server::run_stream(config, stream, handler).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "inner ssh handshake failed");
            return;
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    tokio::select! {
        r = &mut session => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "inner connection ended with error");
            }
            return;
        }
        _ = shutdown.cancelled() => {}
    }
    // The device sessions end first, each telling its admin why.
    if super::channels::drain(&mut session, &channels).await {
        return;
    }
    let _ = handle
        .disconnect(
            russh::Disconnect::ByApplication,
            "bastion shutting down".into(),
            "en".into(),
        )
        .await;
}

/// The inner connection's handler: same certificate, then sessions to the device.
struct InnerConn {
    bastion: Arc<Bastion>,
    outer: Identity,
    device: Device,
    identity: Option<Identity>,
    refusal: Option<String>,
    /// The device connection started ahead, for the first session channel.
    early: Option<crate::connect::Early>,
    /// The tasks serving this connection's session channels.
    channels: TaskTracker,
}

impl InnerConn {
    async fn reject(&self, user: &str, code: &str, reason: &str) -> Auth {
        self.bastion
            .audit(
                Event::new("auth.reject")
                    .user(user)
                    .source(self.outer.source.to_string())
                    .device(&self.device.name)
                    .outcome("deny")
                    .detail(json!({ "code": code, "reason": reason, "inner": true })),
            )
            .await;
        Auth::reject()
    }
}

impl russh::server::Handler for InnerConn {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        Ok(self.refusal.clone())
    }

    async fn auth_password(&mut self, user: &str, _p: &str) -> Result<Auth, Self::Error> {
        Ok(self
            .reject(user, "password", "password authentication is not accepted")
            .await)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self
            .reject(user, "plain-key", "plain public key without a certificate")
            .await)
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        cert: &Certificate,
    ) -> Result<Auth, Self::Error> {
        if self.refusal.is_some() {
            // Already decided and audited at the jump.
            return Ok(Auth::reject());
        }
        let id = match self
            .bastion
            .validator
            .validate(cert, user, self.outer.source)
        {
            Ok(id) => id,
            Err(rej) => return Ok(self.reject(user, rej.code(), &rej.to_string()).await),
        };
        let same = id.user == self.outer.user
            && id.serial == self.outer.serial
            && id.key_fingerprint == self.outer.key_fingerprint
            && id.ca_fingerprint == self.outer.ca_fingerprint;
        if !same {
            return Ok(self.reject(
                user,
                "inner-mismatch",
                &format!(
                    "the device login used certificate {} ({}), not the one of the bastion login ({})",
                    id.key_fingerprint,
                    id.user,
                    self.outer.key_fingerprint
                ),
            ).await);
        }
        self.identity = Some(id);
        Ok(Auth::Accept)
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
        self.bastion
            .tasks
            .spawn(self.channels.track_future(crate::session::run(
                self.bastion.clone(),
                id,
                self.device.clone(),
                channel,
                session.handle(),
                None,
                self.early.take(),
            )));
        Ok(())
    }

    session_requests!();
}
