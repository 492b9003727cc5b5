//! A Redfish BMC as the client reaches it: name, `https://` address, login, certificate
//! policy, timeout and retries. `Debug` hides the password.

use std::fmt;
use std::time::Duration;

use url::Url;
use zeroize::Zeroizing;

use super::pins::CertFingerprint;
use super::{RedfishError, Result};

/// How the BMC's TLS certificate is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPolicy {
    /// Only the certificate with this fingerprint (configured).
    Pinned(CertFingerprint),
    /// The one on record in the pin store, or, when there is none, the first one seen,
    /// which is then recorded.
    LearnOnFirstUse,
}

/// A Redfish BMC and the login the bastion holds for it.
#[derive(Clone)]
pub struct Endpoint {
    /// Device name, for messages and as the pin store key.
    pub name: String,
    /// `https://host[:port]` (no path, no credentials).
    pub url: Url,
    /// BMC user name.
    pub username: String,
    /// BMC password.
    pub password: Zeroizing<String>,
    /// Certificate trust.
    pub pin: PinPolicy,
    /// Time allowed for each request.
    pub timeout: Duration,
    /// Further tries after a connection error, a timeout of a safe request or a 5xx.
    pub retries: u32,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &"***")
            .field("pin", &self.pin)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint learning its certificate on first use, with a 10 s timeout and 2
    /// retries. `address` must be `https://host[:port]`: plain HTTP, a path, a query or
    /// credentials in it are errors naming the address.
    pub fn new(name: &str, address: &str, username: &str, password: &str) -> Result<Endpoint> {
        let bad = |reason: &str| RedfishError::Address {
            bmc: name.to_string(),
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let url = Url::parse(address).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(bad("a Redfish BMC is reached over https:// only"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the address (they come from the secrets store)",
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("give only https://host[:port], without a path"));
        }
        Ok(Endpoint {
            name: name.to_string(),
            url,
            username: username.to_string(),
            password: Zeroizing::new(password.to_string()),
            pin: PinPolicy::LearnOnFirstUse,
            timeout: Duration::from_secs(10),
            retries: 2,
        })
    }

    /// The same endpoint trusting only the certificate `fp`.
    pub fn pinned(mut self, fp: CertFingerprint) -> Endpoint {
        self.pin = PinPolicy::Pinned(fp);
        self
    }

    /// `https://host:port`, for messages.
    pub fn address(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }
}
