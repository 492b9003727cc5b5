//! Configuration of the Vault/OpenBao backend.

use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;

/// How the bastion authenticates to Vault.
#[derive(Clone, Debug)]
pub enum VaultAuth {
    /// A token given directly (renewed in the background if it is renewable).
    Token(Secret),
    /// AppRole login; the resulting token is renewed, and the login redone when renewal
    /// fails or the token reaches its maximum TTL.
    AppRole {
        /// The role's `role_id` (not secret on its own).
        role_id: String,
        /// The `secret_id` paired with it.
        secret_id: Secret,
        /// Where the AppRole auth method is mounted, usually `approle`.
        mount: String,
    },
}

impl VaultAuth {
    /// AppRole login at the usual `approle` mount.
    pub fn approle(role_id: impl Into<String>, secret_id: impl Into<Secret>) -> Self {
        Self::AppRole {
            role_id: role_id.into(),
            secret_id: secret_id.into(),
            mount: "approle".to_owned(),
        }
    }

    /// The method's name as used in messages: `token` or `approle`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Token(_) => "token",
            Self::AppRole { .. } => "approle",
        }
    }
}

/// Where and how to reach Vault. Its `Debug` shows `***` for the token or secret_id.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// Base address, e.g. `https://vault.example:8200` (no `/v1`).
    pub address: String,
    /// The KV v2 mount references are relative to.
    pub mount: String,
    /// How to log in.
    pub auth: VaultAuth,
    /// Limit for every single Vault call.
    pub timeout: Duration,
    /// How long a fetched credential is served from memory (zero disables the cache).
    pub cache_ttl: Duration,
    /// Vault Enterprise / OpenBao namespace, if any.
    pub namespace: Option<String>,
    /// PEM file of CA certificates to trust for an `https` address.
    pub ca_cert: Option<PathBuf>,
}

impl VaultConfig {
    /// Default KV v2 mount.
    pub const DEFAULT_MOUNT: &'static str = "secret";
    /// Default per-call timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default cache lifetime.
    pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

    /// A configuration with the defaults: mount `secret`, 5 s timeout, 30 s cache.
    pub fn new(address: impl Into<String>, auth: VaultAuth) -> Self {
        Self {
            address: address.into(),
            mount: Self::DEFAULT_MOUNT.to_owned(),
            auth,
            timeout: Self::DEFAULT_TIMEOUT,
            cache_ttl: Self::DEFAULT_CACHE_TTL,
            namespace: None,
            ca_cert: None,
        }
    }
}
