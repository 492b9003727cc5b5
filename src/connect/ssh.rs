//! SSH devices, through the russh client.
//!
//! The connector dials with a connect timeout and `TCP_NODELAY` and verifies the host
//! key ([`super::hostkey`]) within the handshake timeout ([`SshConnector::connect`]); the
//! login, the session and its pump follow in [`super::ssh_channel`]. Devices with
//! `reuse_connection` keep their logged-in connection idle in a pool
//! ([`super::ssh_pool`]) for the next session.
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
use russh::client;
use russh::keys::{Algorithm, PublicKey};
use russh::{cipher, kex, mac, Preferred};
use tokio::time::timeout;

pub use super::ssh_channel::to_sig;
use super::ssh_conn::DeviceConn;
use super::ssh_handler::DeviceHandler;
use super::ssh_pool::Pool;
use super::{
    ConnectError, Connector, DeviceCredential, HostKeys, Link, LinkRequest, Result, Target,
};

/// Default limit for the TCP connect and for handshake + login + session setup.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to SSH devices; one per bastion is enough (it holds no per-device state).
pub struct SshConnector {
    store: Arc<dyn HostKeys>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    pool: Pool,
}

impl SshConnector {
    /// A connector recording trust-on-first-use keys in `store`, with 10 s timeouts.
    pub fn new(store: Arc<dyn HostKeys>) -> Self {
        SshConnector {
            store,
            connect_timeout: DEFAULT_TIMEOUT,
            handshake_timeout: DEFAULT_TIMEOUT,
            pool: Pool::default(),
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

impl SshConnector {
    /// Connects to `target` up to the end of the key exchange and the host key check: no
    /// login yet. The login and the session follow in [`super::ssh_channel`].
    pub async fn connect(&self, target: &Target) -> Result<DeviceConn> {
        let tcp = super::connect_tcp(target, self.connect_timeout).await?;
        let config = Arc::new(client::Config {
            preferred: self.preferred_for(target).await,
            nodelay: true,
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        let disconnect = Arc::new(Mutex::new(None));
        let handler = DeviceHandler::new(target.clone(), self.store.clone(), disconnect.clone());
        // Buffered: russh reads every packet as two exact reads.
        let tcp = tokio::io::BufReader::with_capacity(super::READ_BUFFER, tcp);
        let handshake = client::connect_stream(config, tcp, handler);
        let handle = timeout(self.handshake_timeout, handshake)
            .await
            .map_err(|_| ConnectError::Timeout {
                device: target.name.clone(),
                stage: "SSH handshake",
                seconds: self.handshake_timeout.as_secs_f64(),
            })?
            .map_err(|e| match e {
                ConnectError::Ssh(e) => ConnectError::during_handshake(&target.name, e),
                other => other,
            })?;
        Ok(DeviceConn::new(
            target.clone(),
            handle,
            disconnect,
            self.handshake_timeout,
        ))
    }

    /// Whether an idle logged-in connection to `device` waits in the pool.
    pub fn has_idle(&self, device: &str) -> bool {
        self.pool.has(device)
    }

    pub(super) fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// Like [`Connector::open`], on an idle logged-in connection of this device when there
    /// is one, and giving the connection back after a clean session (`reuse_connection`).
    pub async fn open_reusing(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        let conn = match self.pool.take(&target.name) {
            Some(conn) => {
                tracing::debug!(device = %target.name, "reusing an idle SSH connection");
                conn
            }
            None => self.connect(target).await?,
        };
        super::ssh_channel::start(conn, cred, req, Some(self.pool.clone())).await
    }
}

#[async_trait]
impl Connector for SshConnector {
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        let conn = self.connect(target).await?;
        super::ssh_channel::start(conn, cred, req, None).await
    }
}
