//! The one error type of the secrets module.
//!
//! Every variant names the reference, the Vault address or the file involved, and none
//! ever carries a secret value: messages are built from status codes, Vault's own error
//! strings, field names and transport errors, never from response bodies or file lines.

use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong while fetching a credential.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The Vault server could not be reached at all (refused, reset, DNS, TLS).
    #[error("vault at {address} unreachable: {reason}")]
    Unreachable {
        /// The configured Vault address.
        address: String,
        /// The transport error, without any request or response body.
        reason: String,
    },
    /// A Vault call did not complete within the configured timeout.
    #[error("vault at {address} did not answer within {timeout:?} ({operation})")]
    Timeout {
        /// The configured Vault address.
        address: String,
        /// What was being done, e.g. `read devices/sw1` or `approle login`.
        operation: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// Nothing is stored under the reference.
    #[error("no secret at {reference}")]
    NotFound {
        /// The reference as the caller gave it.
        reference: String,
    },
    /// The store refused to hand out the secret to this bastion.
    #[error("permission denied reading {reference} from vault at {address}: {detail}")]
    PermissionDenied {
        /// The reference as the caller gave it.
        reference: String,
        /// The configured Vault address.
        address: String,
        /// Vault's error strings.
        detail: String,
    },
    /// Logging in to Vault, or checking or renewing the bastion's token, failed.
    #[error("vault login ({method}) at {address} failed: {detail}")]
    Login {
        /// `token` or `approle`.
        method: &'static str,
        /// The configured Vault address.
        address: String,
        /// Vault's error strings or the transport error.
        detail: String,
    },
    /// Vault answered with an error this module has no better name for.
    #[error("vault at {address} failed {operation}: {detail}")]
    Vault {
        /// The configured Vault address.
        address: String,
        /// What was being done.
        operation: String,
        /// Status code and Vault's error strings (never a response body).
        detail: String,
    },
    /// The secret exists but cannot be turned into a credential.
    #[error("secret at {reference} is not a usable credential: {detail}")]
    Malformed {
        /// The reference as the caller gave it.
        reference: String,
        /// Which field is wrong or missing (names only, never values).
        detail: String,
    },
    /// The reference itself is not acceptable.
    #[error("invalid secret reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as the caller gave it.
        reference: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The Vault configuration cannot be used.
    #[error("invalid vault configuration: {0}")]
    Config(String),
    /// The local store file is readable by others than its owner.
    #[error(
        "local credential store {path} has mode {mode:04o}, which is too open \
         (0600 or stricter is required); run: chmod 600 {path}",
        path = path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// The permission bits found.
        mode: u32,
    },
    /// The local store file belongs to another user.
    #[error(
        "local credential store {path} is owned by uid {owner}, not by the current user \
         (uid {current}); run: chown {current} {path}",
        path = path.display()
    )]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// The uid this process runs as.
        current: u32,
    },
    /// The local store file could not be read.
    #[error("cannot read local credential store {path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The local store file is not in the expected format.
    #[error("local credential store {path} is invalid: {detail}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with a line number; never a value from the file.
        detail: String,
    },
}

/// The secrets module's result type.
pub type Result<T, E = SecretsError> = std::result::Result<T, E>;
