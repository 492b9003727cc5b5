//! BMC capabilities as small traits, one per thing an admin does to a server through its
//! BMC: [`Power`], [`Boot`], [`Media`], [`Firmware`], [`EventLog`]. Each backend implements
//! all of them, answering what its protocol cannot do with [`BmcError::Unsupported`]
//! ("virtual media is not supported by IPMI"), and says up front what it supports in its
//! [`Capabilities`], so a front end can refuse clearly before it starts anything.
//! Backends: [`IpmiBmc`] (power and boot device over `crate::ipmi`) and [`RedfishBmc`]
//! (everything, over `crate::redfish`).

mod config;
mod ipmi;
mod redfish;

pub use self::config::MediaConfig;
pub use self::ipmi::IpmiBmc;
pub use self::redfish::RedfishBmc;
pub use crate::ipmi::PowerAction;
pub use crate::redfish::{LogEntry, MediaStatus, OnProgress, TaskProgress};

use std::fmt;
use std::time::Duration;

/// Errors from a BMC backend.
#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    /// The BMC's protocol cannot do this.
    #[error("{capability} is not supported by {protocol} (BMC {bmc})")]
    Unsupported {
        /// The BMC.
        bmc: String,
        /// What was asked.
        capability: Capability,
        /// `IPMI`, `Redfish`.
        protocol: &'static str,
    },
    /// The IPMI backend failed.
    #[error(transparent)]
    Ipmi(#[from] crate::ipmi::IpmiError),
    /// The Redfish backend failed.
    #[error(transparent)]
    Redfish(#[from] crate::redfish::RedfishError),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, BmcError>;

/// One thing a BMC may be able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Chassis power.
    Power,
    /// Boot device override.
    Boot,
    /// Virtual media.
    Media,
    /// Firmware update.
    Firmware,
    /// The BMC's event log.
    EventLog,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Power => "power control",
            Capability::Boot => "boot device selection",
            Capability::Media => "virtual media",
            Capability::Firmware => "firmware update",
            Capability::EventLog => "the BMC event log",
        })
    }
}

/// What a BMC supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The protocol (`IPMI`, `Redfish`).
    pub protocol: &'static str,
    /// The capabilities it has.
    pub supported: &'static [Capability],
}

impl Capabilities {
    /// Whether `c` is supported.
    pub fn supports(&self, c: Capability) -> bool {
        self.supported.contains(&c)
    }

    /// `Ok` if `c` is supported, else the error a front end shows.
    pub fn require(&self, bmc: &str, c: Capability) -> Result<()> {
        if self.supports(c) {
            Ok(())
        } else {
            Err(BmcError::Unsupported {
                bmc: bmc.to_string(),
                capability: c,
                protocol: self.protocol,
            })
        }
    }
}

/// A chassis power state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerStatus {
    /// On.
    On,
    /// Off.
    Off,
    /// Anything else the BMC reports (`powering on`, `Paused`...).
    Other(String),
}

impl fmt::Display for PowerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerStatus::On => f.write_str("on"),
            PowerStatus::Off => f.write_str("off"),
            PowerStatus::Other(s) => f.write_str(s),
        }
    }
}

/// A boot device to force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    /// Network (PXE).
    Pxe,
    /// The (virtual) CD/DVD.
    Cd,
    /// The local disk.
    Disk,
    /// The firmware setup screen.
    Bios,
}

impl BootDevice {
    /// Parses `pxe`, `cd`, `disk`, `bios`.
    pub fn parse(s: &str) -> Option<BootDevice> {
        Some(match s {
            "pxe" => BootDevice::Pxe,
            "cd" => BootDevice::Cd,
            "disk" => BootDevice::Disk,
            "bios" => BootDevice::Bios,
            _ => return None,
        })
    }
}

impl fmt::Display for BootDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BootDevice::Pxe => "pxe",
            BootDevice::Cd => "cd",
            BootDevice::Disk => "disk",
            BootDevice::Bios => "bios",
        })
    }
}

/// The boot override a BMC reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSetting {
    /// The forced device, if it is one of ours.
    pub device: Option<BootDevice>,
    /// Whether it holds for every boot (`None` when the BMC does not say).
    pub persistent: Option<bool>,
    /// What the BMC said, for display (`Pxe (Continuous)`).
    pub detail: String,
}

/// Chassis power.
#[async_trait::async_trait]
pub trait Power: Send + Sync {
    /// The power state now.
    async fn power_status(&self) -> Result<PowerStatus>;
    /// Performs `action`; returns once the BMC has accepted it (a power cycle, once it
    /// has been carried out).
    async fn power(&self, action: PowerAction) -> Result<()>;
}

/// Boot device override.
#[async_trait::async_trait]
pub trait Boot: Send + Sync {
    /// Forces `device` for the next boot (`once`) or every boot.
    async fn set_boot(&self, device: BootDevice, once: bool) -> Result<()>;
    /// The override now.
    async fn boot_setting(&self) -> Result<BootSetting>;
}

/// Virtual media (a CD/DVD image by URL). The caller checks the URL against the
/// allow-list (`crate::redfish::media_url_allowed`) first.
#[async_trait::async_trait]
pub trait Media: Send + Sync {
    /// Inserts the image at `url`.
    async fn media_insert(&self, url: &str) -> Result<()>;
    /// Ejects the image.
    async fn media_eject(&self) -> Result<()>;
    /// What is inserted.
    async fn media_status(&self) -> Result<MediaStatus>;
}

/// Firmware update from an image URL.
#[async_trait::async_trait]
pub trait Firmware: Send + Sync {
    /// Starts the update and follows it until it ends or `deadline` passes, calling
    /// `progress` on every change.
    async fn firmware_update(
        &self,
        url: &str,
        deadline: Duration,
        progress: &mut OnProgress<'_>,
    ) -> Result<TaskProgress>;
}

/// The BMC's event log.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// The newest `n` entries, newest first.
    async fn event_log(&self, n: usize) -> Result<Vec<LogEntry>>;
}

/// A BMC: every capability trait, and what it really supports.
pub trait Bmc: Power + Boot + Media + Firmware + EventLog {
    /// The BMC's (device's) name.
    fn name(&self) -> &str;
    /// What it supports.
    fn capabilities(&self) -> Capabilities;
}
