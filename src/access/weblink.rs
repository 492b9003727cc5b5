//! One-time links into the web console (`ssh bastion web`): a random token bound to the
//! certificate identity that asked for it, usable once, within [`LINK_TTL`]. Only the
//! token's SHA-256 is kept, so not even a memory dump of the bastion yields a usable link
//! that was already handed out; a redeemed, expired or unknown token answers the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// How long a link may wait before it is used.
pub const LINK_TTL: Duration = Duration::from_secs(60);

/// Links issued and not yet used, by the SHA-256 of their token: whose, and since when.
type Pending = HashMap<[u8; 32], (Identity, Instant)>;

/// Links issued and not yet used, and the console's address they point at; cheap to clone.
#[derive(Clone, Default)]
pub struct WebLinks {
    pending: Arc<Mutex<Pending>>,
    base: Arc<OnceLock<String>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl WebLinks {
    /// Sets the address links point at, once (the console's, as it was bound: `[web]
    /// listen` on port 0 takes a free one).
    pub fn set_base(&self, url: String) {
        let _ = self.base.set(url);
    }

    /// The address links point at, once the console listens.
    pub fn base(&self) -> Option<&str> {
        self.base.get().map(String::as_str)
    }

    /// A new token for `id` (64 hex digits, 256 random bits).
    pub fn issue(&self, id: &Identity) -> String {
        let token = hex::encode(rand::rng().random::<[u8; 32]>());
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        pending.retain(|_, (_, at)| now.duration_since(*at) < LINK_TTL);
        pending.insert(digest(&token), (id.clone(), now));
        token
    }

    /// The identity `token` was issued to, once: the token is used up by this call,
    /// whether it is still valid or not.
    pub fn redeem(&self, token: &str) -> Option<Identity> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (id, at) = pending.remove(&digest(token))?;
        (at.elapsed() < LINK_TTL).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            user: "alice".into(),
            roles: vec!["role:auditor".into()],
            key_id: "alice".into(),
            serial: 7,
            valid_before: None,
            ca_fingerprint: String::new(),
            key_fingerprint: String::new(),
            force_command: None,
            permit_port_forwarding: false,
            permit_pty: true,
            source: "127.0.0.1:1".parse().unwrap(),
            source_address: None,
        }
    }

    #[test]
    fn a_link_logs_in_once_and_a_wrong_one_never() {
        let links = WebLinks::default();
        let token = links.issue(&identity());
        assert_eq!(token.len(), 64);
        assert!(links.redeem("0".repeat(64).as_str()).is_none());
        assert_eq!(links.redeem(&token).map(|i| i.user), Some("alice".into()));
        assert!(links.redeem(&token).is_none(), "a link works only once");
        assert_ne!(links.issue(&identity()), token);
    }
}
