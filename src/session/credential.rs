//! A device's login from the secrets store, fetched under the setup timeout. The admin
//! never sees it; errors name the device and the store, never the secret.

use super::SETUP_TIMEOUT;
use crate::bastion::Bastion;
use crate::connect::DeviceCredential;
use crate::inventory::Device;

/// Why a device's credential could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The inventory names no credential for the device.
    #[error("device {0} has no credential reference in the inventory")]
    NoReference(String),
    /// The secrets store did not answer in time.
    #[error("secrets store did not answer within {seconds}s for {reference}")]
    Timeout {
        /// The credential reference.
        reference: String,
        /// The limit.
        seconds: u64,
    },
    /// The secrets store answered with an error.
    #[error("cannot get the credential for {device}: {source}")]
    Store {
        /// The device.
        device: String,
        /// What the store said.
        #[source]
        source: crate::secrets::SecretsError,
    },
}

/// The device's credential from the secrets store, under the setup timeout.
pub async fn credential(
    bastion: &Bastion,
    device: &Device,
) -> Result<DeviceCredential, CredentialError> {
    let Some(reference) = &device.credential else {
        return Err(CredentialError::NoReference(device.name.clone()));
    };
    let fetched = tokio::time::timeout(SETUP_TIMEOUT, bastion.secrets.credential(reference))
        .await
        .map_err(|_| CredentialError::Timeout {
            reference: reference.clone(),
            seconds: SETUP_TIMEOUT.as_secs(),
        })?
        .map_err(|source| CredentialError::Store {
            device: device.name.clone(),
            source,
        })?;
    Ok(DeviceCredential::from_secret(&fetched))
}
