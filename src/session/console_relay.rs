//! An attach to a network console another node carries: this node relays it to the
//! owner over SSH, never in plaintext. The owner proves itself with its host certificate
//! from the shared host CA; this node logs in there with a certificate from the shared user
//! CA minted for the admin's identity (see `KeyStore::sign_relay`). The owner decides the
//! policy again and records the attach as its own session; this node audits the relay.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, AuthResult};
use russh::keys::ssh_key::{Algorithm, HashAlg, PrivateKey};
use russh::keys::PublicKeyOrCertificate;
use russh::{Channel, ChannelMsg};
use serde_json::json;

use super::Start;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::store::ConsoleOwner;

/// How long reaching the owner node may take (TCP, key exchange, login).
const REACH: Duration = Duration::from_secs(10);

/// Checks the owner node's host certificate against the shared host CA.
struct OwnerNode {
    host_ca: russh::keys::ssh_key::PublicKey,
}

impl client::Handler for OwnerNode {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::Certificate(cert) = key else {
            return Ok(false);
        };
        let ca = [self.host_ca.fingerprint(HashAlg::Sha256)];
        Ok(cert
            .validate(&ca)
            .is_ok_and(|()| cert.cert_type().is_host()))
    }
}

/// Relays the admin's channel to the console `device` on `owner` until either side ends.
pub(super) async fn run(
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    channel: Channel<russh::server::Msg>,
    start: Start,
    owner: ConsoleOwner,
) {
    let ev = Event::new("console.relay")
        .user(&id.user)
        .source(id.source.to_string())
        .device(&device.name)
        .outcome("allow")
        .detail(json!({ "owner": owner.node, "address": owner.address }));
    bastion.audit(ev).await;
    let (connection, relayed) =
        match tokio::time::timeout(REACH, reach(&bastion, &id, &device, &start, &owner)).await {
            Ok(Ok(reached)) => reached,
            Ok(Err(why)) => return fail(&channel, &start, &device, &owner, &why).await,
            Err(_) => return fail(&channel, &start, &device, &owner, "no answer in time").await,
        };
    let status = pump(
        Pair {
            admin: channel,
            owner: relayed,
        },
        &device,
        &owner,
    )
    .await;
    drop(connection);
    tracing::info!(console = %device.name, owner = %owner.node, ?status, "console relay ended");
}

async fn fail(
    channel: &Channel<russh::server::Msg>,
    start: &Start,
    device: &Device,
    owner: &ConsoleOwner,
    why: &str,
) {
    tracing::warn!(console = %device.name, owner = %owner.node, why, "cannot relay console attach");
    let text = format!(
        "console {} is carried by node {}, which cannot be reached ({why})",
        device.name, owner.node
    );
    super::refuse(channel, start, &text).await;
}

/// Logs into the owner node as the admin and attaches there: the relayed channel.
async fn reach(
    bastion: &Bastion,
    id: &Identity,
    device: &Device,
    start: &Start,
    owner: &ConsoleOwner,
) -> Result<(client::Handle<OwnerNode>, Channel<client::Msg>), String> {
    let key =
        PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(|e| e.to_string())?;
    let cert = bastion
        .keys
        .sign_relay(key.public_key(), id, &bastion.config.node_name)
        .map_err(|e| e.to_string())?;
    let preferred = russh::Preferred {
        host_key_certificates: Cow::Owned(vec![Algorithm::Ed25519]),
        ..Default::default()
    };
    let config = Arc::new(client::Config {
        preferred,
        nodelay: true,
        keepalive_interval: Some(Duration::from_secs(15)),
        ..Default::default()
    });
    let handler = OwnerNode {
        host_ca: bastion.keys.host_ca.public_key().clone(),
    };
    let mut handle = client::connect(config, owner.address.as_str(), handler)
        .await
        .map_err(|e| e.to_string())?;
    match handle
        .authenticate_openssh_cert(&id.user, Arc::new(key), cert)
        .await
        .map_err(|e| e.to_string())?
    {
        AuthResult::Success => {}
        AuthResult::Failure { .. } => return Err("it refused this node's login".into()),
    }
    let ch = handle
        .channel_open_session()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(pty) = &start.pty {
        ch.request_pty(false, &pty.term, pty.cols, pty.rows, 0, 0, &[])
            .await
            .map_err(|e| e.to_string())?;
    }
    ch.exec(false, format!("connect {}", device.name))
        .await
        .map_err(|e| e.to_string())?;
    Ok((handle, ch))
}

struct Pair {
    admin: Channel<russh::server::Msg>,
    owner: Channel<client::Msg>,
}

/// Moves bytes, resizes and the end both ways; the owner's exit status ends the admin's
/// channel.
async fn pump(mut p: Pair, device: &Device, owner: &ConsoleOwner) -> Option<u32> {
    let mut status = None;
    loop {
        tokio::select! {
            msg = p.admin.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if p.owner.data(&data[..]).await.is_err() { break; }
                }
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    let _ = p.owner.window_change(col_width, row_height, 0, 0).await;
                }
                Some(ChannelMsg::Eof) => { let _ = p.owner.eof().await; }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            msg = p.owner.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if p.admin.data(&data[..]).await.is_err() { break; }
                }
                Some(ChannelMsg::ExtendedData { data, ext }) => {
                    let _ = p.admin.extended_data(ext, &data[..]).await;
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(ChannelMsg::Eof) => { let _ = p.admin.eof().await; }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
        }
    }
    let _ = p.owner.close().await;
    if status.is_none() {
        let text = format!(
            "\r\noobgate: node {} carrying console {} is gone; attach again: another node takes the console over within seconds\r\n",
            owner.node, device.name
        );
        let _ = p.admin.data(text.as_bytes()).await;
    }
    super::finish_channel(&p.admin, status.unwrap_or(255)).await;
    status
}
