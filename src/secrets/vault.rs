//! `VaultStore`: device credentials from a Vault or OpenBao KV v2 mount.
//!
//! A reference such as `devices/sw1` is read from the configured mount; the secret's
//! `username`, `password`, `private_key` and `passphrase` fields become a [`Credential`].
//! Reads are cached for `cache_ttl`, every call runs under `timeout`, and a background task
//! owned by the store keeps the token alive (it stops when the store is dropped).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::cache::CredentialCache;
use super::credential::Credential;
use super::error::{Result, SecretsError};
use super::reference::KvPath;
use super::vault_config::{VaultAuth, VaultConfig};
use super::vault_session::{classify, run_renewal, Failure, VaultSession};
use super::SecretStore;

/// Credentials read from Vault/OpenBao KV v2.
pub struct VaultStore {
    session: Arc<VaultSession>,
    cache: CredentialCache,
    _renewal: DropGuard,
}

impl std::fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultStore")
            .field("config", &self.session.config)
            .finish_non_exhaustive()
    }
}

impl VaultStore {
    /// Logs in (or checks the given token) and starts the renewal task.
    ///
    /// Must be called inside a Tokio runtime. Fails when Vault is unreachable, slower than
    /// the timeout, or refuses the credentials, so a misconfiguration shows at startup.
    pub async fn connect(config: VaultConfig) -> Result<Self> {
        if config.mount.is_empty() || config.mount.contains('/') {
            return Err(SecretsError::Config(format!(
                "mount {:?} must be a single path segment such as \"secret\"",
                config.mount
            )));
        }
        if config.timeout.is_zero() {
            return Err(SecretsError::Config(
                "timeout must be above zero".to_owned(),
            ));
        }
        let cache = CredentialCache::new(config.cache_ttl);
        let (session, lease) = VaultSession::establish(config).await?;
        let session = Arc::new(session);
        let cancel = CancellationToken::new();
        tokio::spawn(run_renewal(session.clone(), lease, cancel.clone()));
        Ok(Self {
            session,
            cache,
            _renewal: cancel.drop_guard(),
        })
    }

    /// One KV v2 read, with a single AppRole re-login if the token was refused.
    async fn fetch(&self, reference: &str, kv: &KvPath) -> Result<Credential> {
        match self.read_once(reference, kv).await {
            Err(SecretsError::PermissionDenied { .. })
                if matches!(self.session.config.auth, VaultAuth::AppRole { .. }) =>
            {
                // The token may have expired while Vault was away: log in and try once more.
                self.session.login().await?;
                self.read_once(reference, kv).await
            }
            other => other,
        }
    }

    async fn read_once(&self, reference: &str, kv: &KvPath) -> Result<Credential> {
        let client = self.session.client();
        let data: HashMap<String, serde_json::Value> = self
            .session
            .timed(
                || format!("read {reference}"),
                vaultrs::kv2::read(&*client, &kv.mount, &kv.path),
            )
            .await?
            .map_err(|e| self.read_error(reference, e))?;
        let mut fields = BTreeMap::new();
        for (name, value) in data {
            match value {
                serde_json::Value::String(text) => {
                    fields.insert(name, text);
                }
                serde_json::Value::Null => {}
                other => {
                    return Err(SecretsError::Malformed {
                        reference: reference.to_owned(),
                        detail: format!("field `{name}` is {}, not a string", kind(&other)),
                    })
                }
            }
        }
        Credential::from_fields(reference, fields)
    }

    fn read_error(&self, reference: &str, error: vaultrs::error::ClientError) -> SecretsError {
        let address = self.session.config.address.clone();
        match classify(error) {
            Failure::Unreachable(reason) => SecretsError::Unreachable { address, reason },
            Failure::Api { code: 404, .. } => SecretsError::NotFound {
                reference: reference.to_owned(),
            },
            Failure::Api { code: 403, detail } => SecretsError::PermissionDenied {
                reference: reference.to_owned(),
                address,
                detail,
            },
            Failure::Api { detail, .. } | Failure::Other(detail) => SecretsError::Vault {
                address,
                operation: format!("read {reference}"),
                detail,
            },
        }
    }
}

/// A JSON value's kind, for messages that must not show the value.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[async_trait]
impl SecretStore for VaultStore {
    async fn credential(&self, reference: &str) -> Result<Credential> {
        let kv = KvPath::parse(reference, &self.session.config.mount)?;
        if let Some(hit) = self.cache.get(reference) {
            return Ok(hit);
        }
        let credential = self.fetch(reference, &kv).await?;
        self.cache.put(reference, &credential);
        Ok(credential)
    }

    fn describe(&self) -> String {
        let config = &self.session.config;
        let namespace = config
            .namespace
            .as_deref()
            .map(|ns| format!(", namespace {ns}"))
            .unwrap_or_default();
        format!(
            "vault at {} (kv v2 mount {}, {} auth{namespace})",
            config.address,
            config.mount,
            config.auth.method()
        )
    }
}
