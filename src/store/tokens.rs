//! Short-lived secrets a node hands out and any node may be shown: one-time web links and
//! web logins. Only a digest of each secret is a key (a dump of the store yields nothing
//! usable); each value has an end, after which it is gone as if never kept. On one node
//! they live in memory (a restart ends them); on the shared store every node sees them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::Result;

/// The SHA-256 of a secret: what a token is kept under.
pub type TokenKey = [u8; 32];

/// Where short-lived tokens live, by kind (`weblink`, `weblogin`) and digest.
#[async_trait]
pub trait Tokens: Send + Sync {
    /// Keeps `value` under (`kind`, `key`) until `until`, replacing what was there.
    async fn put(&self, kind: &str, key: TokenKey, value: &str, until: SystemTime) -> Result<()>;
    /// The value, if kept and not past its end; it is removed by this call either way, so
    /// only one caller on any node ever gets it.
    async fn take(&self, kind: &str, key: TokenKey) -> Result<Option<String>>;
    /// The value, if kept and not past its end.
    async fn get(&self, kind: &str, key: TokenKey) -> Result<Option<String>>;
    /// Forgets (`kind`, `key`).
    async fn remove(&self, kind: &str, key: TokenKey) -> Result<()>;
}

/// Tokens in this process's memory (one node).
#[derive(Debug, Default)]
pub struct MemoryTokens {
    kept: Mutex<HashMap<(String, TokenKey), (String, SystemTime)>>,
}

impl MemoryTokens {
    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<(String, TokenKey), (String, SystemTime)>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Tokens for MemoryTokens {
    async fn put(&self, kind: &str, key: TokenKey, value: &str, until: SystemTime) -> Result<()> {
        let mut kept = self.kept();
        let now = SystemTime::now();
        kept.retain(|_, (_, end)| *end > now);
        kept.insert((kind.to_string(), key), (value.to_string(), until));
        Ok(())
    }

    async fn take(&self, kind: &str, key: TokenKey) -> Result<Option<String>> {
        let taken = self.kept().remove(&(kind.to_string(), key));
        Ok(taken
            .filter(|(_, end)| *end > SystemTime::now())
            .map(|(v, _)| v))
    }

    async fn get(&self, kind: &str, key: TokenKey) -> Result<Option<String>> {
        let kept = self.kept();
        Ok(kept
            .get(&(kind.to_string(), key))
            .filter(|(_, end)| *end > SystemTime::now())
            .map(|(v, _)| v.clone()))
    }

    async fn remove(&self, kind: &str, key: TokenKey) -> Result<()> {
        self.kept().remove(&(kind.to_string(), key));
        Ok(())
    }
}
