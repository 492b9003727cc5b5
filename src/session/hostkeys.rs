//! Device host keys learnt on first use, kept in the audit store's key-value table so they
//! survive restarts (keys pinned in the inventory take precedence in the connector).

use crate::audit::AuditStore;
use crate::connect::HostKeyStore;

/// [`HostKeyStore`] on the sqlite store (`hostkey:<device>` keys).
pub struct StoreHostKeys(pub AuditStore);

impl HostKeyStore for StoreHostKeys {
    fn get(&self, device: &str) -> Option<String> {
        self.0
            .kv_get(&format!("hostkey:{device}"))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, device, "cannot read stored host key");
                None
            })
    }

    fn put(&self, device: &str, key_line: &str) {
        if let Err(e) = self.0.kv_set(&format!("hostkey:{device}"), key_line) {
            tracing::error!(error = %e, device, "cannot store learnt host key");
        }
    }
}
