//! One-time links into the web console (`ssh bastion web`): a random token bound to the
//! certificate identity that asked for it, usable once, within [`LINK_TTL`]. Only the
//! token's SHA-256 is kept, so not even a dump of the store yields a usable link that was
//! already handed out; a redeemed, expired or unknown token answers the same. Links live
//! in the store's [`Tokens`]: on several nodes a link issued by one logs in on any.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::identity::Identity;
use crate::store::{StoreError, TokenKey, Tokens};

/// How long a link may wait before it is used.
pub const LINK_TTL: Duration = Duration::from_secs(60);

/// The token kind of links in the store.
const KIND: &str = "weblink";

/// The SHA-256 of a secret token: what the store keeps it under.
pub fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token (64 hex digits, 256 random bits).
pub fn random_token() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// Links issued and not yet used, and the console's address they point at; cheap to clone.
#[derive(Clone)]
pub struct WebLinks {
    tokens: Arc<dyn Tokens>,
    base: Arc<OnceLock<String>>,
}

impl WebLinks {
    /// Links kept in `tokens`.
    pub fn new(tokens: Arc<dyn Tokens>) -> WebLinks {
        WebLinks {
            tokens,
            base: Arc::default(),
        }
    }

    /// Sets the address links point at, once (the console's, as it was bound: `[web]
    /// listen` on port 0 takes a free one).
    pub fn set_base(&self, url: String) {
        let _ = self.base.set(url);
    }

    /// The address links point at, once the console listens.
    pub fn base(&self) -> Option<&str> {
        self.base.get().map(String::as_str)
    }

    /// A new token for `id`.
    pub async fn issue(&self, id: &Identity) -> Result<String, StoreError> {
        let token = random_token();
        let value = serde_json::to_string(id).map_err(|e| StoreError::Refused(e.to_string()))?;
        let until = SystemTime::now() + LINK_TTL;
        self.tokens
            .put(KIND, token_key(&token), &value, until)
            .await?;
        Ok(token)
    }

    /// The identity `token` was issued to, once: the token is used up by this call,
    /// whether it is still valid or not. A store that does not answer logs nobody in.
    pub async fn redeem(&self, token: &str) -> Option<Identity> {
        match self.tokens.take(KIND, token_key(token)).await {
            Ok(value) => serde_json::from_str(&value?).ok(),
            Err(e) => {
                tracing::error!(error = %e, "web link not checked: the store does not answer");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryTokens;

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

    #[tokio::test]
    async fn a_link_logs_in_once_and_a_wrong_one_never() {
        let links = WebLinks::new(Arc::new(MemoryTokens::default()));
        let token = links.issue(&identity()).await.unwrap();
        assert_eq!(token.len(), 64);
        assert!(links.redeem("0".repeat(64).as_str()).await.is_none());
        let id = links.redeem(&token).await.unwrap();
        assert_eq!((id.user.as_str(), id.serial), ("alice", 7));
        assert_eq!(id.roles, ["role:auditor"]);
        assert!(
            links.redeem(&token).await.is_none(),
            "a link works only once"
        );
        assert_ne!(links.issue(&identity()).await.unwrap(), token);
    }
}
