//! A native async IPMI v2.0 RMCP+ ("lanplus") client for BMCs: sessions with cipher suites
//! 17 and 3 only (authentication, integrity and AES-CBC-128 encryption; suite 0 and every
//! suite without integrity and confidentiality are refused whatever the config says), and
//! chassis power control. The BMC password never leaves this module: it is used for the
//! RAKP proofs and dropped.

mod boot;
mod crypto;
pub mod packet;
mod session;
pub mod sol;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use boot::{boot, BootDevice, BootFlags};
pub use crypto::Suite;
pub use session::Session;

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// Errors talking to a BMC. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum IpmiError {
    /// The BMC's address could not be used or a socket error came back.
    #[error("cannot reach BMC {bmc}: {message}")]
    Unreachable {
        /// The BMC (device name).
        bmc: String,
        /// The error.
        message: String,
    },
    /// No answer after every retransmission.
    #[error("BMC {bmc} did not answer the {what} within {seconds:.1} s")]
    Timeout {
        /// The BMC.
        bmc: String,
        /// What was asked.
        what: &'static str,
        /// The whole time waited.
        seconds: f64,
    },
    /// The BMC refused the user name or its proof did not match the password.
    #[error("BMC {bmc}: authentication failed (wrong user name or password)")]
    AuthFailed {
        /// The BMC.
        bmc: String,
    },
    /// The BMC accepted none of the allowed cipher suites.
    #[error(
        "BMC {bmc} refused every allowed cipher suite: {refused}; suites without \
             integrity and encryption are never used"
    )]
    NoSuite {
        /// The BMC.
        bmc: String,
        /// The suites tried and why each was refused.
        refused: String,
    },
    /// A command failed at the BMC.
    #[error("BMC {bmc}: command {cmd:#04x} failed with completion code {code:#04x}")]
    Completion {
        /// The BMC.
        bmc: String,
        /// The command.
        cmd: u8,
        /// The completion code.
        code: u8,
    },
    /// The BMC broke the protocol.
    #[error("BMC {bmc}: {message}")]
    Protocol {
        /// The BMC.
        bmc: String,
        /// What went wrong.
        message: String,
    },
    /// A packet could not be decoded.
    #[error("malformed IPMI packet: {0}")]
    Malformed(String),
    /// The settings are unusable (refused cipher suite, over-long user name...).
    #[error("{0}")]
    Config(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, IpmiError>;

/// A BMC and the login the bastion holds for it. `Debug` hides the password.
#[derive(Clone)]
pub struct BmcTarget {
    /// Device name, for messages.
    pub name: String,
    /// `host:port` (port 623 usually).
    pub address: String,
    /// BMC user name.
    pub username: String,
    /// BMC password.
    pub password: Zeroizing<String>,
    /// Suites to try, in order of preference.
    pub suites: Vec<Suite>,
    /// Wait for each answer.
    pub timeout: Duration,
    /// Retransmissions after the first try.
    pub retries: u32,
}

impl fmt::Debug for BmcTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BmcTarget")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &"***")
            .field("suites", &self.suites)
            .finish()
    }
}

impl BmcTarget {
    /// A target with suites 17 then 3, a 1 s answer timeout and 3 retransmissions.
    pub fn new(name: &str, address: &str, username: &str, password: &str) -> BmcTarget {
        BmcTarget {
            name: name.into(),
            address: address.into(),
            username: username.into(),
            password: Zeroizing::new(password.into()),
            suites: vec![Suite::S17, Suite::S3],
            timeout: Duration::from_secs(1),
            retries: 3,
        }
    }

    /// Suites from configured numbers; anything but 17 and 3 is an error naming it.
    pub fn parse_suites(ids: &[u8]) -> Result<Vec<Suite>> {
        if ids.is_empty() {
            return Err(IpmiError::Config("cipher_suites is empty".into()));
        }
        ids.iter().map(|&i| Suite::from_id(i)).collect()
    }

    /// The same target trying cipher suites `ids` (only 17 and 3 are accepted).
    pub fn with_suites(mut self, ids: &[u8]) -> Result<BmcTarget> {
        self.suites = BmcTarget::parse_suites(ids)?;
        Ok(self)
    }
}

/// A chassis power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Power down (hard off).
    Off,
    /// Power up.
    On,
    /// Power cycle.
    Cycle,
    /// Hard reset.
    Reset,
    /// ACPI soft shutdown.
    Soft,
}

impl PowerAction {
    /// Parses `on`, `off`, `cycle`, `reset`, `soft`.
    pub fn parse(s: &str) -> Option<PowerAction> {
        Some(match s {
            "on" | "up" => PowerAction::On,
            "off" | "down" => PowerAction::Off,
            "cycle" => PowerAction::Cycle,
            "reset" => PowerAction::Reset,
            "soft" => PowerAction::Soft,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            PowerAction::Off => 0,
            PowerAction::On => 1,
            PowerAction::Cycle => 2,
            PowerAction::Reset => 3,
            PowerAction::Soft => 5,
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerAction::Off => "off",
            PowerAction::On => "on",
            PowerAction::Cycle => "cycle",
            PowerAction::Reset => "reset",
            PowerAction::Soft => "soft",
        })
    }
}

const NETFN_CHASSIS: u8 = 0x00;

/// Opens a session, performs `action` (if any), and returns whether the chassis is powered
/// on afterwards, as the BMC reports it right away (a soft shutdown takes the host's time).
pub async fn chassis(target: &BmcTarget, action: Option<PowerAction>) -> Result<bool> {
    let mut s = Session::open(target).await?;
    let r = async {
        if let Some(a) = action {
            s.power(a).await?;
        }
        s.power_is_on().await
    }
    .await;
    s.close().await;
    r
}

impl Session {
    /// Whether the chassis is powered on.
    pub async fn power_is_on(&mut self) -> Result<bool> {
        let d = self.command(NETFN_CHASSIS, 0x01, &[]).await?;
        let first = d
            .first()
            .ok_or_else(|| IpmiError::Malformed("empty chassis status".into()))?;
        Ok(first & 0x01 != 0)
    }

    /// Performs a chassis control action.
    pub async fn power(&mut self, action: PowerAction) -> Result<()> {
        self.command(NETFN_CHASSIS, 0x02, &[action.code()]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
