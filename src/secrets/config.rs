//! The `[secrets]` section of the bastion's config, and opening the store it names.
//!
//! ```toml
//! [secrets]
//! local_file = "credentials.toml"        # default DATA_DIR/credentials.toml (mode 0600)
//!
//! [secrets.vault]                        # when present, Vault/OpenBao is used instead
//! address = "https://vault.mgmt:8200"
//! mount = "secret"                       # KV v2 mount
//! token_file = "/etc/oobgate/vault-token"            # either a token file...
//! approle_role_id = "..."                            # ...or AppRole
//! approle_secret_id_file = "/etc/oobgate/secret-id"
//! timeout = "5s"
//! cache_ttl = "30s"
//! ```
//!
//! Tokens and secret ids are read from files (never written in the config itself).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{
    Credential, LocalStore, Result, Secret, SecretStore, SecretsError, VaultAuth, VaultConfig,
    VaultStore,
};

/// `[secrets]` as written (paths resolved against the config file's directory).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The embedded credentials file (used when no Vault is configured).
    pub local_file: Option<PathBuf>,
    /// Vault / OpenBao settings.
    pub vault: Option<VaultSettings>,
}

/// `[secrets.vault]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// Base address, e.g. `https://vault.mgmt:8200`.
    pub address: String,
    /// KV v2 mount.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// File holding a Vault token.
    pub token_file: Option<PathBuf>,
    /// AppRole role id.
    pub approle_role_id: Option<String>,
    /// File holding the AppRole secret id.
    pub approle_secret_id_file: Option<PathBuf>,
    /// AppRole auth mount.
    #[serde(default = "default_approle")]
    pub approle_mount: String,
    /// Limit for each Vault call.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// How long fetched credentials are served from memory.
    #[serde(default, with = "humantime_serde")]
    pub cache_ttl: Option<Duration>,
    /// Namespace, if any.
    pub namespace: Option<String>,
    /// CA certificates (PEM) for an https address.
    pub ca_cert: Option<PathBuf>,
}

fn default_mount() -> String {
    VaultConfig::DEFAULT_MOUNT.to_string()
}
fn default_approle() -> String {
    "approle".to_string()
}

impl SecretsConfig {
    /// Makes paths absolute against `base` and checks the Vault auth choice; an error is
    /// `(key, reason)` for the config's messages.
    pub fn resolve(mut self, base: &Path) -> std::result::Result<SecretsConfig, (String, String)> {
        self.local_file = self.local_file.map(|p| base.join(p));
        if let Some(v) = self.vault.as_mut() {
            v.token_file = v.token_file.take().map(|p| base.join(p));
            v.approle_secret_id_file = v.approle_secret_id_file.take().map(|p| base.join(p));
            v.ca_cert = v.ca_cert.take().map(|p| base.join(p));
            let approle = v.approle_role_id.is_some() || v.approle_secret_id_file.is_some();
            match (v.token_file.is_some(), approle) {
                (true, true) => {
                    return Err((
                        "secrets.vault".into(),
                        "give either token_file or approle_role_id + approle_secret_id_file, not both".into(),
                    ))
                }
                (false, false) => {
                    return Err((
                        "secrets.vault".into(),
                        "no login method: set token_file, or approle_role_id and approle_secret_id_file".into(),
                    ))
                }
                (false, true) if v.approle_role_id.is_none() || v.approle_secret_id_file.is_none() => {
                    return Err((
                        "secrets.vault".into(),
                        "AppRole needs both approle_role_id and approle_secret_id_file".into(),
                    ))
                }
                _ => {}
            }
            if !(v.address.starts_with("http://") || v.address.starts_with("https://")) {
                return Err((
                    "secrets.vault.address".into(),
                    format!("{:?} is not an http(s) URL", v.address),
                ));
            }
        }
        Ok(self)
    }
}

fn read_secret_file(path: &Path, what: &str) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SecretsError::Config(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    let value = text.trim().to_string();
    if value.is_empty() {
        return Err(SecretsError::Config(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(value))
}

/// Opens the store `config` names; `data_dir` holds the default local file.
pub async fn open_store(config: &SecretsConfig, data_dir: &Path) -> Result<Arc<dyn SecretStore>> {
    if let Some(v) = &config.vault {
        let auth = match (&v.token_file, &v.approle_role_id, &v.approle_secret_id_file) {
            (Some(t), _, _) => VaultAuth::Token(read_secret_file(t, "Vault token")?),
            (None, Some(role), Some(sid)) => VaultAuth::AppRole {
                role_id: role.clone(),
                secret_id: read_secret_file(sid, "AppRole secret id")?,
                mount: v.approle_mount.clone(),
            },
            _ => {
                return Err(SecretsError::Config(
                    "no Vault login method configured".into(),
                ))
            }
        };
        let mut vc = VaultConfig::new(v.address.clone(), auth);
        vc.mount = v.mount.clone();
        if let Some(t) = v.timeout {
            vc.timeout = t;
        }
        if let Some(t) = v.cache_ttl {
            vc.cache_ttl = t;
        }
        vc.namespace = v.namespace.clone();
        vc.ca_cert = v.ca_cert.clone();
        return Ok(Arc::new(VaultStore::connect(vc).await?));
    }
    let path = config
        .local_file
        .clone()
        .unwrap_or_else(|| data_dir.join("credentials.toml"));
    if config.local_file.is_some() || path.exists() {
        return Ok(Arc::new(LocalStore::open(path)?));
    }
    Ok(Arc::new(NoStore(path)))
}

/// No store configured: every lookup says how to configure one.
struct NoStore(PathBuf);

#[async_trait]
impl SecretStore for NoStore {
    async fn credential(&self, reference: &str) -> Result<Credential> {
        Err(SecretsError::Config(format!(
            "no credential store for {reference}: create {} (mode 0600) or configure [secrets.vault]",
            self.0.display()
        )))
    }

    fn describe(&self) -> String {
        "no credential store configured".into()
    }
}
