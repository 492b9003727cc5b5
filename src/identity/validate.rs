//! Certificate validation beyond what russh does: trusted signer, certificate type,
//! validity, principals, critical options and revocation. Every refusal is a [`Rejection`]
//! whose text is what the audit log records.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Certificate, HashAlg, PublicKey};

use super::revocation::{RevocationList, Revoked};
use super::Identity;

/// Critical options this bastion understands and enforces. Any other rejects the certificate.
const KNOWN_CRITICAL: &[&str] = &["force-command", "source-address"];

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A host certificate was offered for user authentication.
    #[error("host certificate offered as a user certificate")]
    NotUserCertificate,
    /// The certificate is signed by its own key.
    #[error("self-signed certificate (signed by its own key {0})")]
    SelfSigned(String),
    /// The signing CA is not among the trusted user CAs.
    #[error("certificate signed by an untrusted CA {0}")]
    UntrustedCa(String),
    /// The CA's signature does not match the certificate's contents.
    #[error("certificate signature invalid (claimed CA {0})")]
    BadSignature(String),
    /// `valid_after` is in the future.
    #[error("certificate not yet valid (valid from {0})")]
    NotYetValid(String),
    /// `valid_before` has passed.
    #[error("certificate expired (valid until {0})")]
    Expired(String),
    /// The certificate lists no principals.
    #[error("certificate has no principals")]
    NoPrincipals,
    /// The login name is not one of the principals.
    #[error("login name {login:?} is not among the certificate principals {principals:?}")]
    WrongPrincipal {
        /// The name the client logged in as.
        login: String,
        /// The certificate's principals.
        principals: Vec<String>,
    },
    /// A critical option this bastion does not enforce.
    #[error("unknown critical option {0:?}")]
    UnknownCriticalOption(String),
    /// `source-address` does not include the client's address.
    #[error("source-address {allowed:?} does not include the client address {peer}")]
    SourceAddressMismatch {
        /// The option's value.
        allowed: String,
        /// The real peer address.
        peer: IpAddr,
    },
    /// `source-address` could not be parsed.
    #[error("malformed source-address {0:?}")]
    BadSourceAddress(String),
    /// The serial is on the revocation list.
    #[error("certificate serial {0} is revoked")]
    RevokedSerial(u64),
    /// The key id is on the revocation list.
    #[error("certificate key id {0:?} is revoked")]
    RevokedKeyId(String),
    /// The revocation list cannot be read, so nothing is accepted.
    #[error("revocation list unusable, refusing all certificates: {0}")]
    RevocationUnusable(String),
}

impl Rejection {
    /// A stable short code for the audit log and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotUserCertificate => "host-cert",
            Rejection::SelfSigned(_) => "self-signed",
            Rejection::UntrustedCa(_) => "untrusted-ca",
            Rejection::BadSignature(_) => "bad-signature",
            Rejection::NotYetValid(_) => "not-yet-valid",
            Rejection::Expired(_) => "expired",
            Rejection::NoPrincipals => "no-principals",
            Rejection::WrongPrincipal { .. } => "wrong-principal",
            Rejection::UnknownCriticalOption(_) => "unknown-critical-option",
            Rejection::SourceAddressMismatch { .. } => "source-address",
            Rejection::BadSourceAddress(_) => "source-address",
            Rejection::RevokedSerial(_) => "revoked-serial",
            Rejection::RevokedKeyId(_) => "revoked-key-id",
            Rejection::RevocationUnusable(_) => "revocation-unusable",
        }
    }
}

/// Checks user certificates against the trusted CAs and the revocation list.
pub struct Validator {
    trusted: Vec<KeyData>,
    revocation: RevocationList,
}

fn fingerprint(k: &KeyData) -> String {
    PublicKey::new(k.clone(), "")
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

fn fmt_time(secs: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// A certificate's `valid_before` as a time; ssh-keygen's "forever" (`u64::MAX`) and
/// anything the clock cannot hold are `None`.
fn valid_until(secs: u64) -> Option<SystemTime> {
    if secs == u64::MAX {
        return None;
    }
    UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
}

/// Maps an IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) to plain IPv4 before matching.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub(super) fn source_allows(list: &str, peer: IpAddr) -> Result<bool, Rejection> {
    let peer = canonical(peer);
    let mut any = false;
    for item in list.split(',').map(str::trim) {
        let net: ipnet::IpNet = match item.parse() {
            Ok(n) => n,
            Err(_) => item
                .parse::<IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| Rejection::BadSourceAddress(list.to_string()))?,
        };
        any |= net.contains(&peer);
    }
    Ok(any)
}

impl Validator {
    /// A validator trusting `trusted` CA keys and consulting `revocation`.
    pub fn new(trusted: Vec<PublicKey>, revocation: RevocationList) -> Validator {
        Validator {
            trusted: trusted.into_iter().map(|k| k.key_data().clone()).collect(),
            revocation,
        }
    }

    /// The revocation list itself (its changes of state are reported from there).
    pub fn revocation_list(&self) -> &RevocationList {
        &self.revocation
    }

    /// A check of live sessions' certificates against the revocation list, re-read once:
    /// why a certificate with this serial and key id may no longer be used, if so. An
    /// unusable file ends no session: the last list that could be read decides.
    pub fn revocations(&self) -> impl Fn(u64, &str) -> Option<String> + '_ {
        self.revocation.reload_if_changed();
        move |serial, key_id| {
            self.revocation
                .lookup_last_good(serial, key_id)
                .map(|r| match r {
                    super::revocation::Revoked::Serial(s) => {
                        format!("your certificate (serial {s}) was revoked")
                    }
                    super::revocation::Revoked::KeyId(k) => {
                        format!("your certificate (key id {k}) was revoked")
                    }
                    super::revocation::Revoked::ListUnusable(e) => {
                        format!("the revocation list is unusable ({e})")
                    }
                })
        }
    }

    /// Validates `cert` presented by `login` from `peer`, yielding the admin's identity.
    pub fn validate(
        &self,
        cert: &Certificate,
        login: &str,
        peer: SocketAddr,
    ) -> Result<Identity, Rejection> {
        if cert.cert_type() != CertType::User {
            return Err(Rejection::NotUserCertificate);
        }
        let signer = cert.signature_key();
        if signer == cert.public_key() {
            return Err(Rejection::SelfSigned(fingerprint(signer)));
        }
        if !self.trusted.iter().any(|t| t == signer) {
            return Err(Rejection::UntrustedCa(fingerprint(signer)));
        }
        // russh checks it before the handlers run; checked here too, so no path that
        // reaches the validator can trust a forged certificate.
        if cert.verify_signature().is_err() {
            return Err(Rejection::BadSignature(fingerprint(signer)));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now < cert.valid_after() {
            return Err(Rejection::NotYetValid(fmt_time(cert.valid_after())));
        }
        if now >= cert.valid_before() {
            return Err(Rejection::Expired(fmt_time(cert.valid_before())));
        }
        let principals = cert.valid_principals();
        if principals.is_empty() {
            return Err(Rejection::NoPrincipals);
        }
        if login.starts_with("role:") || !principals.iter().any(|p| p == login) {
            return Err(Rejection::WrongPrincipal {
                login: login.to_string(),
                principals: principals.to_vec(),
            });
        }
        let opts = cert.critical_options();
        if let Some(name) = opts.keys().find(|k| !KNOWN_CRITICAL.contains(&k.as_str())) {
            return Err(Rejection::UnknownCriticalOption(name.clone()));
        }
        if let Some(list) = opts.get("source-address") {
            if !source_allows(list, peer.ip())? {
                return Err(Rejection::SourceAddressMismatch {
                    allowed: list.clone(),
                    peer: canonical(peer.ip()),
                });
            }
        }
        match self.revocation.check(cert.serial(), cert.key_id()) {
            None => {}
            Some(Revoked::Serial(s)) => return Err(Rejection::RevokedSerial(s)),
            Some(Revoked::KeyId(k)) => return Err(Rejection::RevokedKeyId(k)),
            Some(Revoked::ListUnusable(e)) => return Err(Rejection::RevocationUnusable(e)),
        }
        let roles = principals
            .iter()
            .filter(|p| p.starts_with("role:") && p.len() > 5)
            .cloned()
            .collect();
        let ext = cert.extensions();
        Ok(Identity {
            user: login.to_string(),
            roles,
            key_id: cert.key_id().to_string(),
            serial: cert.serial(),
            valid_before: valid_until(cert.valid_before()),
            ca_fingerprint: fingerprint(signer),
            key_fingerprint: fingerprint(cert.public_key()),
            force_command: opts.get("force-command").cloned(),
            permit_port_forwarding: ext.contains_key("permit-port-forwarding"),
            permit_pty: ext.contains_key("permit-pty"),
            source: peer,
            source_address: opts.get("source-address").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_address_lists() {
        let p: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(source_allows("10.0.0.0/8,127.0.0.0/8", p).unwrap());
        assert!(source_allows("127.0.0.1", p).unwrap());
        assert!(!source_allows("10.0.0.0/8", p).unwrap());
        assert!(source_allows("127.0.0.1/32", "::ffff:127.0.0.1".parse().unwrap()).unwrap());
        assert!(source_allows("nonsense", p).is_err());
    }
}
