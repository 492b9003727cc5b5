//! The russh server configurations: the front door's (the bastion's host key and host
//! certificate for `host_names`) and the inner `-J` servers' (a host certificate minted per
//! device name, cached). Every certificate is valid for `host_cert_validity` and is minted
//! again once half of that has passed: connections after that get the new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::Certificate;
use russh::server::Config as SshConfig;
use russh::{MethodKind, MethodSet};
use tokio::time::Instant;

use crate::bastion::Bastion;

/// A configuration and when its certificate is due for renewal.
struct Minted {
    config: Arc<SshConfig>,
    renew_at: Instant,
}

impl Minted {
    /// `config`, with a certificate minted now: due for renewal at half its validity.
    fn now(bastion: &Bastion, config: SshConfig) -> Minted {
        Minted {
            config: Arc::new(config),
            renew_at: Instant::now() + bastion.config.host_cert_validity / 2,
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.renew_at
    }
}

/// The server configurations of one bastion.
pub struct ServerConfigs {
    bastion: Arc<Bastion>,
    outer: Mutex<Minted>,
    inner: Mutex<HashMap<String, Minted>>,
}

impl ServerConfigs {
    /// The configurations for `bastion`'s keys and limits; publishes the front door's host
    /// certificate.
    pub fn new(bastion: &Arc<Bastion>) -> crate::identity::Result<ServerConfigs> {
        let cert = bastion.keys.host_cert.clone();
        bastion.keys.publish(&cert)?;
        Ok(ServerConfigs {
            outer: Mutex::new(Minted::now(bastion, base(bastion, cert))),
            bastion: bastion.clone(),
            inner: Mutex::new(HashMap::new()),
        })
    }

    /// The front door's configuration (with a renewed certificate when it is due; if
    /// renewal fails, the current one while it lasts, and an error in the log).
    pub fn outer(&self) -> Arc<SshConfig> {
        let mut outer = self.outer.lock().unwrap_or_else(|e| e.into_inner());
        if outer.due() {
            let b = &self.bastion;
            match b
                .keys
                .renew_host_cert(&b.config.host_names, b.config.host_cert_validity)
            {
                Ok(cert) => {
                    tracing::info!(serial = cert.serial(), "host certificate renewed");
                    *outer = Minted::now(b, base(b, cert));
                }
                Err(e) => tracing::error!(error = %e, "cannot renew the host certificate"),
            }
        }
        outer.config.clone()
    }

    /// The inner SSH server config for `device`: the bastion's host key with a host
    /// certificate for the device name (minted once, then cached until its renewal).
    pub fn inner(&self, device: &str) -> crate::identity::Result<Arc<SshConfig>> {
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(device).filter(|c| !c.due()) {
            return Ok(c.config.clone());
        }
        let b = &self.bastion;
        let cert = b
            .keys
            .mint_host_cert(&[device.to_string()], b.config.host_cert_validity)?;
        let mut config = base(b, cert);
        config.keepalive_interval = None;
        let minted = Minted::now(b, config);
        let config = minted.config.clone();
        cache.insert(device.to_string(), minted);
        Ok(config)
    }
}

/// Key exchanges offered by the front door and the inner servers: russh's list without
/// `diffie-hellman-group14-sha256` (a 2048-bit group, 112-bit strength), post-quantum
/// hybrid first, with the strict-kex marker against Terrapin.
const KEX: &[russh::kex::Name] = &[
    russh::kex::MLKEM768X25519_SHA256,
    russh::kex::CURVE25519,
    russh::kex::CURVE25519_PRE_RFC_8731,
    russh::kex::DH_GEX_SHA256,
    russh::kex::DH_G18_SHA512,
    russh::kex::DH_G17_SHA512,
    russh::kex::DH_G16_SHA512,
    russh::kex::DH_G15_SHA512,
    russh::kex::EXTENSION_SUPPORT_AS_SERVER,
    russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// MACs (for the CTR ciphers; AEAD ciphers need none): encrypt-then-MAC only.
const MACS: &[russh::mac::Name] = &[russh::mac::HMAC_SHA512_ETM, russh::mac::HMAC_SHA256_ETM];

fn base(bastion: &Bastion, cert: Certificate) -> SshConfig {
    let limits = &bastion.config.limits;
    SshConfig {
        server_id: russh::SshId::Standard(
            concat!("SSH-2.0-oobgate_", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        // No account database stands behind a refusal, so a delay would protect nothing and
        // cost every refused key offer (OpenSSH offers plain keys first) a fixed wait.
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![bastion.keys.host_key.clone()],
        certificates: vec![cert],
        max_auth_attempts: bastion.config.auth.max_auth_attempts,
        inactivity_timeout: Some(limits.idle_timeout),
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        preferred: russh::Preferred {
            // zlib@openssh.com only starts after login; RFC 4253 zlib would let anyone make
            // the bastion inflate data before knowing who they are.
            compression: std::borrow::Cow::Borrowed(&[
                russh::compression::NONE,
                russh::compression::ZLIB_LEGACY,
            ]),
            kex: std::borrow::Cow::Borrowed(KEX),
            mac: std::borrow::Cow::Borrowed(MACS),
            ..Default::default()
        },
        ..Default::default()
    }
}
