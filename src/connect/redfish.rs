//! Redfish BMCs: the bastion's persistent certificate pins (learnt on first use and kept
//! in the store beside SSH host keys), and the [`RedfishBmc`] for an inventory device. A
//! Redfish BMC has no byte stream of its own, so its [`Connector`] refuses sessions with a
//! message naming the commands that reach it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    ConnectError, Connector, DeviceCredential, HostKeys, Link, LinkRequest, Result, Target,
};
use crate::bmc::RedfishBmc;
use crate::inventory::Device;
use crate::redfish::{CertFingerprint, CertPins, Endpoint};

type PinResult<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// BMC certificate fingerprints learnt on first use, kept in the store's [`HostKeys`]
/// under `redfish-tls:DEVICE` (device names have no `:`, so they never clash with SSH host
/// keys), as `sha256:AB:CD:...`.
#[derive(Clone)]
pub struct StoreCertPins {
    store: Arc<dyn HostKeys>,
}

impl StoreCertPins {
    /// Pins kept in `store`.
    pub fn new(store: Arc<dyn HostKeys>) -> StoreCertPins {
        StoreCertPins { store }
    }

    fn key(bmc: &str) -> String {
        format!("redfish-tls:{bmc}")
    }
}

#[async_trait]
impl CertPins for StoreCertPins {
    async fn get(&self, bmc: &str) -> PinResult<Option<CertFingerprint>> {
        let Some(line) = self.store.get(&Self::key(bmc)).await? else {
            return Ok(None);
        };
        let fp = line
            .parse::<CertFingerprint>()
            .map_err(|e| format!("the certificate pin on record for {bmc} is unreadable: {e}"))?;
        Ok(Some(fp))
    }

    async fn put(&self, bmc: &str, fp: CertFingerprint) -> PinResult<()> {
        self.store
            .put(&Self::key(bmc), &format!("sha256:{fp}"))
            .await?;
        Ok(())
    }
}

/// The Redfish BMC `device` (kind `redfish`), logged in with `login`, its certificate
/// pinned by the inventory's `tls_fingerprint` or else learnt into `pins`.
pub fn redfish_bmc(
    device: &Device,
    login: &DeviceCredential,
    pins: Arc<dyn CertPins>,
) -> crate::redfish::Result<RedfishBmc> {
    let mut endpoint = Endpoint::new(
        &device.name,
        &device.address.endpoint(),
        &login.username,
        login.password.as_deref().unwrap_or(""),
    )?;
    if let Some(fp) = device.tls_fingerprint {
        endpoint = endpoint.pinned(fp);
    }
    Ok(RedfishBmc::new(endpoint, None, pins))
}

/// The connector of a Redfish BMC: it has no session to open.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishConnector;

#[async_trait]
impl Connector for RedfishConnector {
    async fn open(
        &self,
        target: &Target,
        _cred: &DeviceCredential,
        _req: &LinkRequest,
    ) -> Result<Link> {
        Err(ConnectError::SessionRefused {
            device: target.name.clone(),
            reason: "it is a Redfish BMC, with no session of its own: use `ssh bastion power|boot|media|firmware|bmc-log|recover SERVER`".into(),
        })
    }
}
