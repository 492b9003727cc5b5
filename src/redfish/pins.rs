//! BMC certificate pins: the SHA-256 fingerprint of a BMC's TLS certificate, and the store
//! that remembers the ones learnt on first use (like SSH host keys).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate. Shown as `openssl x509 -fingerprint
/// -sha256` prints it (`AB:CD:...`); parsed from that form, or from plain hex, with an
/// optional `sha256:` prefix, in either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    /// The fingerprint of `der`.
    pub fn of_der(der: &[u8]) -> CertFingerprint {
        CertFingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&hex.join(":"))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

/// Why a fingerprint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 certificate fingerprint ({reason}): {input:?}")]
pub struct FingerprintError {
    /// What was given.
    pub input: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for CertFingerprint {
    type Err = FingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| FingerprintError {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        let t = t
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("sha256:"))
            .map_or(t, |_| &t[7..]);
        let hex_digits: String = t.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&hex_digits).map_err(|_| err("not hexadecimal"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| err("a SHA-256 fingerprint has 32 bytes"))?;
        Ok(CertFingerprint(arr))
    }
}

/// Where learnt-on-first-use BMC certificate fingerprints are kept, keyed by BMC name.
/// The bastion's store implements it; [`MemoryPins`] serves tests.
#[async_trait::async_trait]
pub trait CertPins: Send + Sync {
    /// The fingerprint on record for `bmc`, if any.
    async fn get(
        &self,
        bmc: &str,
    ) -> Result<Option<CertFingerprint>, Box<dyn std::error::Error + Send + Sync>>;
    /// Records `fp` for `bmc` (called once, after the first successful answer).
    async fn put(
        &self,
        bmc: &str,
        fp: CertFingerprint,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// An in-memory pin store that counts how often it was written.
#[derive(Debug, Default)]
pub struct MemoryPins {
    inner: Mutex<(HashMap<String, CertFingerprint>, usize)>,
}

impl MemoryPins {
    /// An empty store.
    pub fn new() -> MemoryPins {
        MemoryPins::default()
    }

    /// How many times [`CertPins::put`] was called.
    pub fn puts(&self) -> usize {
        self.inner.lock().map(|g| g.1).unwrap_or(0)
    }

    /// What is on record for `bmc`.
    pub fn pinned(&self, bmc: &str) -> Option<CertFingerprint> {
        self.inner.lock().ok()?.0.get(bmc).copied()
    }
}

#[async_trait::async_trait]
impl CertPins for MemoryPins {
    async fn get(
        &self,
        bmc: &str,
    ) -> Result<Option<CertFingerprint>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.pinned(bmc))
    }

    async fn put(
        &self,
        bmc: &str,
        fp: CertFingerprint,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut g = self.inner.lock().map_err(|_| "pin store lock poisoned")?;
        g.0.insert(bmc.to_string(), fp);
        g.1 += 1;
        Ok(())
    }
}
