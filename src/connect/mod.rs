//! Device connectors: how the bastion logs into a device and gets a byte stream.
//!
//! One small trait, [`Connector`], with one backend per file: [`ssh`] (russh client)
//! and [`telnet`] (RFC 854 for legacy CLIs). A connector logs in with a
//! [`DeviceCredential`] the admin never sees and returns a [`Link`]: two bounded
//! channels, so a slow admin makes the device wait instead of growing memory, and a
//! slow device makes the admin's writes wait. Optional capabilities (serial break,
//! power) stay out of the trait.
//!
//! Secrets never appear in errors or `Debug` output.

use std::fmt;

use async_trait::async_trait;

use crate::inventory::{Device, DeviceKind};

pub mod hostkey;
pub mod ipmi_sol;
mod lines;
mod link;
pub mod rawtcp;
pub mod redfish;
pub mod rfc2217;
pub mod serial;
pub mod ssh;
mod ssh_auth;
mod ssh_channel;
mod ssh_conn;
mod ssh_handler;
mod ssh_pool;
pub mod telnet;
mod telnet_codec;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod ssh_session_tests;
#[cfg(test)]
mod ssh_tests;
#[cfg(test)]
mod telnet_tests;

pub use crate::store::{HostKeys, MemoryHostKeys};
pub use hostkey::fingerprint;
pub use ipmi_sol::{bmc_target, IpmiSolConnector};
pub use lines::{Line, Lines, Take};
pub(crate) use link::LinkEnds;
pub use link::{EndReason, Link, LinkControl, LinkEvent, LINK_BUFFER};
pub use rawtcp::RawTcpConnector;
pub use redfish::{redfish_bmc, RedfishConnector, StoreCertPins};
pub use rfc2217::Rfc2217Connector;
pub use serial::{SerialConnector, SerialSettings};
pub use ssh::SshConnector;
pub use ssh_conn::DeviceConn;
pub use telnet::TelnetConnector;

/// A device as the connectors see it (the inventory owns the full record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Inventory name of the device, used in logs, errors and the host key store.
    pub name: String,
    /// `host:port` to connect to.
    pub address: String,
    /// Pinned OpenSSH public key line (`ssh-ed25519 AAAA...`); wins over the store.
    pub host_key: Option<String>,
    /// Also offer SHA-1 key exchange, `ssh-rsa` signatures and CBC ciphers (old gear).
    pub legacy_algorithms: bool,
}

/// What the admin asked for on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// Terminal type (`TERM`); `xterm` when absent and a pty is requested.
    pub term: Option<String>,
    /// Terminal width in columns.
    pub cols: u32,
    /// Terminal height in rows.
    pub rows: u32,
    /// Command to run; `None` opens an interactive shell.
    pub command: Option<String>,
    /// Whether to request a pseudo-terminal.
    pub pty: bool,
    /// A subsystem (`sftp`) to start instead of the shell or command.
    pub subsystem: Option<String>,
}

impl LinkRequest {
    /// An interactive shell on a pty of the given size.
    pub fn shell(cols: u32, rows: u32) -> Self {
        LinkRequest {
            term: Some("xterm".into()),
            cols,
            rows,
            command: None,
            pty: true,
            subsystem: None,
        }
    }

    /// A command run without a pty.
    pub fn exec(command: impl Into<String>) -> Self {
        LinkRequest {
            term: None,
            cols: 80,
            rows: 24,
            command: Some(command.into()),
            pty: false,
            subsystem: None,
        }
    }
}

/// The bastion-held login for a device. `Debug` masks every secret.
#[derive(Clone, Default)]
pub struct DeviceCredential {
    /// Login name on the device.
    pub username: String,
    /// Password (SSH password / keyboard-interactive, telnet `Password:` prompt).
    pub password: Option<String>,
    /// OpenSSH private key (PEM text) for public key login.
    pub private_key: Option<String>,
    /// Passphrase of `private_key`, if it is encrypted.
    pub passphrase: Option<String>,
}

impl DeviceCredential {
    /// The login held in the secrets store; a credential without a user name logs in as
    /// `admin`.
    pub fn from_secret(c: &crate::secrets::Credential) -> DeviceCredential {
        let expose =
            |v: &Option<crate::secrets::Secret>| v.as_ref().map(|s| s.expose().to_string());
        DeviceCredential {
            username: c.username.clone().unwrap_or_else(|| "admin".into()),
            password: expose(&c.password),
            private_key: expose(&c.private_key),
            passphrase: expose(&c.passphrase),
        }
    }
}

impl fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn mask(v: &Option<String>) -> &'static str {
            if v.is_some() {
                "***"
            } else {
                "None"
            }
        }
        f.debug_struct("DeviceCredential")
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("private_key", &mask(&self.private_key))
            .field("passphrase", &mask(&self.passphrase))
            .finish()
    }
}

/// Everything that can go wrong while reaching a device. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The device refused the TCP connection (nothing listens, or it refuses us).
    #[error("{device} refused the connection at {address} (is the service up there?)")]
    Refused {
        /// Device name.
        device: String,
        /// Address tried.
        address: String,
    },
    /// The device closed the connection while the SSH handshake or login was under way.
    #[error(
        "{device} closed the connection during the SSH handshake (it may limit concurrent \
         logins: sshd's MaxStartups, or all vty lines busy); try again shortly"
    )]
    HandshakeDropped {
        /// Device name.
        device: String,
        /// What the connection reported.
        #[source]
        source: Box<russh::Error>,
    },
    /// TCP connection to the device failed.
    #[error("cannot reach device {device} at {address}: {message}")]
    Unreachable {
        /// Device name.
        device: String,
        /// Address tried.
        address: String,
        /// Operating system error text.
        message: String,
    },
    /// A stage (connect, handshake, login, session setup) took too long.
    #[error("device {device}: {stage} timed out after {seconds:.1} s")]
    Timeout {
        /// Device name.
        device: String,
        /// Which stage timed out.
        stage: &'static str,
        /// The limit that was exceeded.
        seconds: f64,
    },
    /// The device presented a host key different from the pinned or stored one.
    #[error(
        "HOST KEY FOR {device} CHANGED: expected {expected_fingerprint}, device presented \
         {got_fingerprint}; possible man-in-the-middle, refusing to connect"
    )]
    HostKeyChanged {
        /// Device name.
        device: String,
        /// Fingerprint of the pinned or stored key.
        expected_fingerprint: String,
        /// Fingerprint the device presented.
        got_fingerprint: String,
    },
    /// The device rejected every login method the credential allows.
    #[error("login to device {device} failed (tried: {})", methods_tried.join(", "))]
    AuthFailed {
        /// Device name.
        device: String,
        /// Methods attempted, e.g. `publickey`, `password`.
        methods_tried: Vec<String>,
    },
    /// The credential itself is unusable (unparsable key, wrong passphrase, empty).
    #[error("credential for device {device} is unusable: {reason}")]
    BadCredential {
        /// Device name.
        device: String,
        /// What is wrong, without the secret.
        reason: String,
    },
    /// Configuration of the target is invalid (e.g. an unparsable pinned key).
    #[error("device {device} is misconfigured: {reason}")]
    Config {
        /// Device name.
        device: String,
        /// What is wrong.
        reason: String,
    },
    /// The device refused the session, pty, shell or command request.
    #[error("device {device} refused the session: {reason}")]
    SessionRefused {
        /// Device name.
        device: String,
        /// What was refused.
        reason: String,
    },
    /// Protocol-level failure (negotiation, disconnect, I/O) described in words.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The SSH conversation with the device failed.
    #[error("protocol error: {0}")]
    Ssh(#[source] Box<russh::Error>),
}

impl From<russh::Error> for ConnectError {
    fn from(e: russh::Error) -> Self {
        ConnectError::Ssh(Box::new(e))
    }
}

impl ConnectError {
    /// A russh error met while the handshake or login with `device` was under way: a
    /// connection the device dropped reads as such, anything else as a protocol error.
    pub fn during_handshake(device: &str, e: Box<russh::Error>) -> ConnectError {
        let dropped = match &*e {
            russh::Error::Disconnect | russh::Error::HUP => true,
            russh::Error::IO(io) => matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        };
        if dropped {
            ConnectError::HandshakeDropped {
                device: device.to_string(),
                source: e,
            }
        } else {
            ConnectError::Protocol(format!("SSH with {device} failed: {e}"))
        }
    }
}

/// Result alias for this module.
pub type Result<T, E = ConnectError> = std::result::Result<T, E>;

/// Read buffer in front of an SSH connection's socket.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// Opens a TCP connection to `target` within `limit`, with `TCP_NODELAY` set; the errors
/// name the device and the address.
pub(crate) async fn connect_tcp(
    target: &Target,
    limit: std::time::Duration,
) -> Result<tokio::net::TcpStream> {
    let tcp = tokio::time::timeout(limit, tokio::net::TcpStream::connect(&target.address))
        .await
        .map_err(|_| ConnectError::Timeout {
            device: target.name.clone(),
            stage: "TCP connect",
            seconds: limit.as_secs_f64(),
        })?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ConnectError::Refused {
                device: target.name.clone(),
                address: target.address.clone(),
            },
            _ => ConnectError::Unreachable {
                device: target.name.clone(),
                address: target.address.clone(),
                message: e.to_string(),
            },
        })?;
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(device = %target.name, "set_nodelay failed: {e}");
    }
    Ok(tcp)
}

/// The connectors of one bastion: the SSH connector keeps learnt host keys in a store;
/// the others hold no state. [`Connectors::for_device`] is the one place a device's kind
/// and address choose how it is reached, for device sessions and consoles alike.
#[derive(Clone)]
pub struct Connectors {
    ssh: std::sync::Arc<SshConnector>,
    /// Redfish BMC certificates learnt on first use (kept with the host keys).
    pub cert_pins: std::sync::Arc<dyn crate::redfish::CertPins>,
    /// Devices' line slots (`max_sessions`).
    pub lines: Lines,
}

impl Connectors {
    /// Connectors learning SSH host keys into `hostkeys`.
    pub fn new(hostkeys: std::sync::Arc<dyn HostKeys>) -> Connectors {
        Connectors {
            ssh: std::sync::Arc::new(SshConnector::new(hostkeys.clone())),
            cert_pins: std::sync::Arc::new(StoreCertPins::new(hostkeys)),
            lines: Lines::default(),
        }
    }

    /// The connector for `device` and the target it dials.
    pub fn for_device(&self, device: &Device) -> (std::sync::Arc<dyn Connector>, Target) {
        use crate::inventory::Address;
        let connector: std::sync::Arc<dyn Connector> = match (&device.kind, &device.address) {
            (DeviceKind::Ssh, _) if device.reuse_connection => {
                std::sync::Arc::new(Reusing(self.ssh.clone()))
            }
            (DeviceKind::Ssh, _) => self.ssh.clone(),
            (DeviceKind::Telnet, _) => std::sync::Arc::new(TelnetConnector::new()),
            (DeviceKind::IpmiSol, _) => std::sync::Arc::new(IpmiSolConnector::new(
                device.cipher_suites.clone(),
                crate::ipmi::sol::SolOptions {
                    deactivate_stale: device.sol_takeover,
                    ..Default::default()
                },
            )),
            (DeviceKind::Serial, Address::Raw(_)) => {
                std::sync::Arc::new(RawTcpConnector::default())
            }
            (DeviceKind::Serial, Address::Rfc2217(_)) => {
                std::sync::Arc::new(Rfc2217Connector::new(device.serial))
            }
            (DeviceKind::Serial, _) => std::sync::Arc::new(SerialConnector::new(device.serial)),
            (DeviceKind::Redfish, _) => std::sync::Arc::new(RedfishConnector),
        };
        (connector, Target::of(device))
    }

    /// The BMC `device` speaks for (an `ipmi-sol` or `redfish` device), logged in with
    /// `login`: the one place a BMC's kind chooses its backend.
    pub fn bmc(
        &self,
        device: &Device,
        login: &DeviceCredential,
    ) -> crate::bmc::Result<Box<dyn crate::bmc::Bmc>> {
        open_bmc(device, login, self.cert_pins.clone())
    }

    /// Starts reaching `device` ahead of its session (the handshake, no login), when its
    /// kind allows, it has no line limit (a session waits for its line before it dials)
    /// and no idle reusable connection is waiting; `None` otherwise.
    pub fn prepare(&self, device: &Device) -> Option<Early> {
        if device.kind != DeviceKind::Ssh
            || device.max_sessions.is_some()
            || (device.reuse_connection && self.ssh.has_idle(&device.name))
        {
            return None;
        }
        let (ssh, target) = (self.ssh.clone(), Target::of(device));
        Some(Early {
            reuse: device.reuse_connection,
            task: tokio::spawn(async move { ssh.connect(&target).await }),
        })
    }

    /// Whether `device`'s link can send a serial break (ttys, RFC 2217 ports and SOL can;
    /// raw TCP ports and CLI sessions cannot).
    pub fn can_break(device: &Device) -> bool {
        use crate::inventory::Address;
        match device.kind {
            DeviceKind::IpmiSol => true,
            DeviceKind::Serial => !matches!(device.address, Address::Raw(_)),
            DeviceKind::Ssh | DeviceKind::Telnet | DeviceKind::Redfish => false,
        }
    }
}

/// The BMC `device` speaks for, logged in with `login`, learning Redfish certificates
/// into `pins` (see [`Connectors::bmc`]; the local commands call it with the store's pins).
pub fn open_bmc(
    device: &Device,
    login: &DeviceCredential,
    pins: std::sync::Arc<dyn crate::redfish::CertPins>,
) -> crate::bmc::Result<Box<dyn crate::bmc::Bmc>> {
    use crate::bmc::{BmcError, Capability, IpmiBmc};
    match device.kind {
        DeviceKind::IpmiSol => Ok(Box::new(IpmiBmc::new(bmc_target(device, login)?))),
        DeviceKind::Redfish => Ok(Box::new(redfish_bmc(device, login, pins)?)),
        other => Err(BmcError::Unsupported {
            bmc: device.name.clone(),
            capability: Capability::Power,
            protocol: other.as_str(),
        }),
    }
}

/// SSH with connection reuse, as a [`Connector`].
struct Reusing(std::sync::Arc<SshConnector>);

#[async_trait]
impl Connector for Reusing {
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        self.0.open_reusing(target, cred, req).await
    }
}

/// A device connection started ahead of its session ([`Connectors::prepare`]). Dropped
/// unused (the admin never started the session), its connection is closed when the
/// handshake ends.
pub struct Early {
    reuse: bool,
    task: tokio::task::JoinHandle<Result<DeviceConn>>,
}

impl Early {
    /// Waits for the handshake, then logs in and starts the session as `req` asks.
    pub async fn start(
        self,
        connectors: &Connectors,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link> {
        let mut conn = self
            .task
            .await
            .map_err(|e| ConnectError::Protocol(format!("device connection task failed: {e}")))??;
        // The device may have given up on a connection that waited long for its session
        // (sshd's LoginGraceTime): a fresh one then.
        if !conn.is_open() {
            let target = conn.target.clone();
            drop(conn);
            conn = connectors.ssh.connect(&target).await?;
        }
        let pool = self.reuse.then(|| connectors.ssh.pool());
        ssh_channel::start(conn, cred, req, pool).await
    }
}

impl Target {
    /// The target for inventory device `device`.
    pub fn of(device: &Device) -> Target {
        Target {
            name: device.name.clone(),
            address: device.address.endpoint(),
            host_key: device.host_key.clone(),
            legacy_algorithms: device.legacy_algorithms,
        }
    }
}

/// A way to log into a kind of device and obtain a [`Link`] to it.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects, authenticates with `cred`, starts what `req` asks for and returns
    /// the running link. Every stage runs under the connector's timeouts.
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        req: &LinkRequest,
    ) -> Result<Link>;
}
