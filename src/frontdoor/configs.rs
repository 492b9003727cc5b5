//! The russh server configurations: the front door's (the bastion's host key and host
//! certificate) and the inner `-J` servers' (a host certificate minted per device name,
//! minted once and cached).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::server::Config as SshConfig;
use russh::{MethodKind, MethodSet};

use crate::bastion::Bastion;

/// The server configurations of one bastion.
pub struct ServerConfigs {
    bastion: Arc<Bastion>,
    outer: Arc<SshConfig>,
    inner: Mutex<HashMap<String, Arc<SshConfig>>>,
}

impl ServerConfigs {
    /// The configurations for `bastion`'s keys and limits.
    pub fn new(bastion: &Arc<Bastion>) -> ServerConfigs {
        ServerConfigs {
            outer: Arc::new(base(bastion)),
            bastion: bastion.clone(),
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// The front door's configuration.
    pub fn outer(&self) -> Arc<SshConfig> {
        self.outer.clone()
    }

    /// The inner SSH server config for `device`: the bastion's host key with a host
    /// certificate for the device name (minted once, then cached).
    pub fn inner(&self, device: &str) -> crate::identity::Result<Arc<SshConfig>> {
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(device) {
            return Ok(c.clone());
        }
        let cert = self.bastion.keys.mint_host_cert(&[device.to_string()])?;
        let mut config = base(&self.bastion);
        config.certificates = vec![cert];
        config.keepalive_interval = None;
        let config = Arc::new(config);
        cache.insert(device.to_string(), config.clone());
        Ok(config)
    }
}

fn base(bastion: &Bastion) -> SshConfig {
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
        certificates: vec![bastion.keys.host_cert.clone()],
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
            ..Default::default()
        },
        ..Default::default()
    }
}
