//! Device credentials: one trait, two backends.
//!
//! The session layer asks a [`SecretStore`] for the [`Credential`] a device's inventory
//! entry references, and hands it to the device's connector. Two stores exist:
//! [`VaultStore`] (Vault or OpenBao, KV v2, token or AppRole login) and [`LocalStore`]
//! (an owner-only TOML file on the bastion, used when no Vault is configured).
//!
//! Credentials never reach the admin, the logs or the recordings: secret values are held
//! in [`Secret`], which prints as `***`, [`Credential`] has no `Serialize`, and no
//! [`SecretsError`] ever carries a value, only references, addresses, paths and field
//! names.

mod cache;
mod config;
mod credential;
mod error;
mod local;
mod local_file;
mod reference;
mod secret;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod vault;
mod vault_config;
mod vault_session;

#[cfg(test)]
mod tests;

use async_trait::async_trait;

pub use config::{open_store, SecretsConfig, VaultSettings};
pub use credential::{
    Credential, FIELD_PASSPHRASE, FIELD_PASSWORD, FIELD_PRIVATE_KEY, FIELD_USERNAME,
};
pub use error::{Result, SecretsError};
pub use local::LocalStore;
pub use reference::KvPath;
pub use secret::Secret;
pub use vault::VaultStore;
pub use vault_config::{VaultAuth, VaultConfig};

/// Where device credentials come from. Callers hold it as `Arc<dyn SecretStore>`.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The credential stored under `reference` (e.g. `devices/sw1`).
    ///
    /// Implementations bound the time this takes and never put a secret value into the
    /// error.
    async fn credential(&self, reference: &str) -> Result<Credential>;

    /// A one-line description for logs and `oobgate` status output (no secrets).
    fn describe(&self) -> String;
}
