//! The russh client callbacks of one device connection: the host key check (pinned,
//! stored, or trusted on first use) and the device's disconnect message.

use std::sync::{Arc, Mutex};

use russh::client::{self, DisconnectReason};
use russh::keys::{PublicKey, PublicKeyOrCertificate};

use super::{hostkey, ConnectError, HostKeys, Result, Target};

/// russh callbacks for one device connection: host key check and disconnect notes.
pub(crate) struct DeviceHandler {
    target: Target,
    store: Arc<dyn HostKeys>,
    /// Text of a disconnect message received from the device, if any.
    disconnect: Arc<Mutex<Option<String>>>,
}

impl client::Handler for DeviceHandler {
    type Error = ConnectError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        hostkey::verify(&self.target, &*self.store, &key).await?;
        Ok(true)
    }

    async fn disconnected(&mut self, reason: DisconnectReason<ConnectError>) -> Result<()> {
        match reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                let text = format!(
                    "device disconnected ({:?}): {}",
                    info.reason_code, info.message
                );
                *self.disconnect.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
                Ok(())
            }
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

impl DeviceHandler {
    /// Callbacks for `target`, keys learnt into `store`, disconnect text into `disconnect`.
    pub(crate) fn new(
        target: Target,
        store: Arc<dyn HostKeys>,
        disconnect: Arc<Mutex<Option<String>>>,
    ) -> Self {
        DeviceHandler {
            target,
            store,
            disconnect,
        }
    }
}
