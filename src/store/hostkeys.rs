//! Device keys learnt on first use (SSH host keys today), kept so they survive restarts;
//! keys pinned in the inventory take precedence in the connector.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::Result;

/// Where trust-on-first-use device keys live.
#[async_trait]
pub trait HostKeys: Send + Sync {
    /// The recorded OpenSSH public key line for `device`, if any.
    async fn get(&self, device: &str) -> Result<Option<String>>;
    /// Records `key_line` as the host key of `device`.
    async fn put(&self, device: &str, key_line: &str) -> Result<()>;
}

/// An in-memory [`HostKeys`] (tests, and connectors used without a bastion).
#[derive(Debug, Default)]
pub struct MemoryHostKeys {
    keys: Mutex<HashMap<String, String>>,
}

impl MemoryHostKeys {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl HostKeys for MemoryHostKeys {
    async fn get(&self, device: &str) -> Result<Option<String>> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        Ok(keys.get(device).cloned())
    }

    async fn put(&self, device: &str, key_line: &str) -> Result<()> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.insert(device.to_owned(), key_line.to_owned());
        Ok(())
    }
}
