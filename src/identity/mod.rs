//! Identity: who is connecting, established from an OpenSSH user certificate only.
//!
//! russh verifies the certificate's signature and validity window; this module checks the
//! rest (trusted signer, type, principals, critical options, revocation) and manages the
//! bastion's own user and host CAs in the data dir.

mod ca;
mod revocation;
mod validate;

pub use ca::{check_key_files, CertRequest, KeyStore};
pub use revocation::{ListNews, RevocationList};
pub use validate::{Rejection, Validator};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use russh::keys::ssh_key::PublicKey;

/// Errors of the identity module (key files, CA operations).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A key or certificate file could not be read or parsed.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Creating or signing a key failed.
    #[error("{0}")]
    Crypto(String),
    /// The revocation list is malformed.
    #[error("{path} line {line}: {reason}")]
    Revocation {
        /// The revocation file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong on that line.
        reason: String,
    },
    /// A certificate request is not acceptable (e.g. TTL above the maximum).
    #[error("{0}")]
    Request(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, IdentityError>;

/// An authenticated admin, as established by a valid user certificate.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The SSH login name, which is one of the certificate's principals.
    pub user: String,
    /// Roles: the certificate's `role:NAME` principals, as `role:NAME`.
    pub roles: Vec<String>,
    /// The certificate's key id.
    pub key_id: String,
    /// The certificate's serial number.
    pub serial: u64,
    /// When the certificate stops being valid (`None`: forever).
    pub valid_before: Option<SystemTime>,
    /// SHA-256 fingerprint of the CA that signed it.
    pub ca_fingerprint: String,
    /// SHA-256 fingerprint of the certified key.
    pub key_fingerprint: String,
    /// The `force-command` critical option, which replaces any command the client asks for.
    pub force_command: Option<String>,
    /// Whether the certificate carries `permit-port-forwarding` (needed for TCP forwards;
    /// `-J` to a device is intercepted, not forwarded, and does not need it).
    pub permit_port_forwarding: bool,
    /// Whether the certificate carries `permit-pty`.
    pub permit_pty: bool,
    /// The client's address.
    pub source: SocketAddr,
    /// The certificate's `source-address` critical option (comma-separated CIDRs), which
    /// every path the identity is used on checks against its client's address.
    pub source_address: Option<String>,
}

impl Identity {
    /// Whether the certificate may be used from `ip` (its `source-address`, if any; a
    /// list that does not parse admits nobody).
    pub fn admits_from(&self, ip: std::net::IpAddr) -> bool {
        match &self.source_address {
            None => true,
            Some(list) => validate::source_allows(list, ip).unwrap_or(false),
        }
    }

    /// `user` followed by roles, as shown by `whoami`.
    pub fn roles_display(&self) -> String {
        if self.roles.is_empty() {
            "(none)".to_string()
        } else {
            self.roles.join(", ")
        }
    }
}

/// Reads an OpenSSH public key file (`ssh-ed25519 AAAA... comment`).
pub fn load_public_key(path: &Path) -> Result<PublicKey> {
    let text = std::fs::read_to_string(path).map_err(|e| IdentityError::KeyFile {
        path: path.to_path_buf(),
        reason: format!("cannot read public key: {e}"),
    })?;
    PublicKey::from_openssh(text.trim()).map_err(|e| IdentityError::KeyFile {
        path: path.to_path_buf(),
        reason: format!("not an OpenSSH public key: {e}"),
    })
}
