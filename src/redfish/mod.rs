//! A small typed async Redfish client for BMCs (iDRAC, iLO, XCC, OpenBMC...): service root
//! discovery, SessionService login (`X-Auth-Token`, the session deleted at the end) or
//! HTTP basic auth, a timeout per request and bounded retries on connection errors and
//! 5xx answers (never on 4xx), TLS with the BMC's certificate pinned by SHA-256 fingerprint
//! or learnt on first use, Systems, power, boot override, virtual media, firmware
//! `SimpleUpdate` with task following, and the BMC event log.
//!
//! Why not a crate: the three Redfish crates on crates.io were weighed and refused.
//! - `redfish` (0.3) is async but runs on its own HTTP stack (`reqx`, a second client
//!   beside the `reqwest` the crate already has), offers no way to plug in a certificate
//!   verifier (so no pinning; BMCs are self-signed), follows redirects with the
//!   credentials, and needs Rust 1.94 while this crate builds with 1.89.
//! - `libredfish` (0.2) is async over `reqwest` but accepts any certificate by default,
//!   can only switch that off (no pinning), keeps the password in a plain `String` inside a
//!   `Debug` endpoint, and drags `clap`, `regex`, `chrono` and a dozen vendor OEM back ends
//!   into a library behind a 100-method trait.
//! - `nv-redfish` (0.22) is async, maintained and schema-generated, but compiles the whole
//!   Redfish CSDL schema at build time, pins `reqwest` 0.12 (a second HTTP stack), needs
//!   Rust 1.95, and its 0.x line breaks its API every few weeks.
//!
//! So this module is a thin client over `reqwest` (rustls) and `serde`, typed only for the
//! resources oobgate uses. It imports nothing from the rest of the crate. Passwords and
//! session tokens never reach an error, a log line or `Debug` output.

mod client;
mod endpoint;
mod eventlog;
mod firmware;
mod media;
mod model;
mod pins;
mod power;
mod system;
#[doc(hidden)]
pub mod testing;
mod tls;
mod transport;

pub use client::Client;
pub use endpoint::{Endpoint, PinPolicy};
pub use eventlog::LogEntry;
pub use firmware::{OnProgress, TaskProgress, TaskRef};
pub use media::{media_url_allowed, MediaStatus};
pub use pins::{CertFingerprint, CertPins, MemoryPins};
pub use power::{BootPersistence, BootTarget, ResetKind};
pub use system::{BootOverride, PowerState, System};

/// Errors talking to a Redfish BMC. No variant carries a password or a session token.
#[derive(Debug, thiserror::Error)]
pub enum RedfishError {
    /// The configured address cannot be used.
    #[error("BMC {bmc}: bad address {address:?}: {reason}")]
    Address {
        /// The BMC (device name).
        bmc: String,
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be made.
    #[error("cannot reach BMC {bmc} at {address}: {message}")]
    Unreachable {
        /// The BMC.
        bmc: String,
        /// `https://host:port`.
        address: String,
        /// The innermost cause.
        message: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The BMC did not answer a request in time, retries included.
    #[error("BMC {bmc} at {address} did not answer {what} within {seconds:.1} s")]
    Timeout {
        /// The BMC.
        bmc: String,
        /// `https://host:port`.
        address: String,
        /// The request (`GET /redfish/v1/Systems`).
        what: String,
        /// The time allowed for each try.
        seconds: f64,
    },
    /// The BMC refused the login.
    #[error("BMC {bmc}: authentication failed (wrong user name or password)")]
    AuthFailed {
        /// The BMC.
        bmc: String,
    },
    /// The BMC presented another certificate than the pinned one.
    #[error(
        "BMC CERTIFICATE FOR {bmc} CHANGED: pinned SHA256 {pinned}, presented SHA256 \
         {presented}. Someone may be intercepting the connection, or the BMC's certificate \
         was replaced: check it, then update the pin"
    )]
    CertificateChanged {
        /// The BMC.
        bmc: String,
        /// The fingerprint on record.
        pinned: CertFingerprint,
        /// The fingerprint the BMC presented.
        presented: CertFingerprint,
    },
    /// The BMC answered with an error status.
    #[error("BMC {bmc}: {request} answered {status}: {message}")]
    Status {
        /// The BMC.
        bmc: String,
        /// The request (`POST /redfish/v1/...`).
        request: String,
        /// The HTTP status code.
        status: u16,
        /// The BMC's own message, if it sent one.
        message: String,
    },
    /// An answer could not be decoded.
    #[error("BMC {bmc} sent a {what} ({path}) that cannot be read: field `{field}`: {message}")]
    Decode {
        /// The BMC.
        bmc: String,
        /// The resource kind (`ComputerSystem`).
        what: &'static str,
        /// Its path.
        path: String,
        /// The field at fault (`Boot.BootSourceOverrideTarget`; `.` for the whole body).
        field: String,
        /// The decoder's message.
        message: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The BMC does not offer what was asked (no such system, action or media).
    #[error("BMC {bmc}: {message}")]
    Unsupported {
        /// The BMC.
        bmc: String,
        /// What is missing.
        message: String,
    },
    /// A BMC task ended in failure.
    #[error("BMC {bmc}: task {task} ended {state}: {messages}")]
    TaskFailed {
        /// The BMC.
        bmc: String,
        /// The task's path.
        task: String,
        /// Its final `TaskState` (`Exception`, `Killed`, `Cancelled`).
        state: String,
        /// Its messages, joined.
        messages: String,
    },
    /// A BMC task did not end by the deadline.
    #[error("BMC {bmc}: task {task} did not finish within {seconds:.0} s (last seen: {last})")]
    TaskTimeout {
        /// The BMC.
        bmc: String,
        /// The task's path.
        task: String,
        /// The deadline.
        seconds: f64,
        /// The last progress seen.
        last: String,
    },
    /// A system did not reach the power state waited for.
    #[error("BMC {bmc}: system {system} did not reach power {want} within {seconds:.0} s (it reads {last})")]
    PowerTimeout {
        /// The BMC.
        bmc: String,
        /// The system's id.
        system: String,
        /// The state waited for.
        want: String,
        /// The deadline.
        seconds: f64,
        /// The last state read.
        last: String,
    },
    /// The certificate pin store failed.
    #[error("BMC {bmc}: certificate pin store: {source}")]
    PinStore {
        /// The BMC.
        bmc: String,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The HTTP client could not be set up.
    #[error("BMC {bmc}: cannot set up the HTTPS client: {source}")]
    Setup {
        /// The BMC.
        bmc: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, RedfishError>;

#[cfg(test)]
mod tests;
