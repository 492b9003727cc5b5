//! A small time-bounded cache of credentials, keyed by reference.
//!
//! Only successes are stored; entries older than the TTL are neither served nor kept.
//! A zero TTL disables caching. The lock is never held across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::credential::Credential;

/// Credentials fetched recently, each served until it is `ttl` old.
pub(crate) struct CredentialCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Credential)>>,
}

impl CredentialCache {
    /// An empty cache whose entries live for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The credential cached for `reference`, if it is still fresh.
    pub(crate) fn get(&self, reference: &str) -> Option<Credential> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(reference) {
            Some((at, credential)) if at.elapsed() < self.ttl => Some(credential.clone()),
            Some(_) => {
                entries.remove(reference);
                None
            }
            None => None,
        }
    }

    /// Remembers a freshly fetched credential, dropping stale entries on the way.
    pub(crate) fn put(&self, reference: &str, credential: &Credential) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.ttl;
        entries.retain(|_, (at, _)| at.elapsed() < ttl);
        entries.insert(reference.to_owned(), (Instant::now(), credential.clone()));
    }
}
