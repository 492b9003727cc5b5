//! Boot device selection over IPMI: `Set/Get System Boot Options` (chassis commands 0x08
//! and 0x09), parameter 5 (boot flags), as `ipmitool chassis bootdev` sends it.

use super::{BmcTarget, IpmiError, Result, Session, NETFN_CHASSIS};

/// A boot device the BMC can force for the next boot(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    /// No override.
    None,
    /// Network boot.
    Pxe,
    /// The local hard drive.
    Disk,
    /// CD/DVD.
    Cd,
    /// The BIOS setup screen.
    BiosSetup,
}

impl BootDevice {
    fn selector(self) -> u8 {
        match self {
            BootDevice::None => 0x0,
            BootDevice::Pxe => 0x1,
            BootDevice::Disk => 0x2,
            BootDevice::Cd => 0x5,
            BootDevice::BiosSetup => 0x6,
        }
    }

    fn from_selector(s: u8) -> Option<BootDevice> {
        Some(match s {
            0x0 => BootDevice::None,
            0x1 => BootDevice::Pxe,
            0x2 | 0x3 => BootDevice::Disk,
            0x5 => BootDevice::Cd,
            0x6 => BootDevice::BiosSetup,
            _ => return None,
        })
    }
}

/// The boot flags a BMC reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFlags {
    /// The forced device (`None` when the selector is one this client does not name).
    pub device: Option<BootDevice>,
    /// Whether the flags are valid (set and not yet consumed by a boot).
    pub valid: bool,
    /// Whether they apply to every boot rather than the next one only.
    pub persistent: bool,
}

const BOOT_FLAGS: u8 = 5;
const VALID: u8 = 0x80;
const PERSISTENT: u8 = 0x40;

impl Session {
    /// Forces `device` for the next boot, or for every boot if `persistent`.
    pub async fn set_boot_device(&mut self, device: BootDevice, persistent: bool) -> Result<()> {
        let flags = VALID | if persistent { PERSISTENT } else { 0 };
        let data = [BOOT_FLAGS, flags, device.selector() << 2, 0, 0, 0];
        self.command(NETFN_CHASSIS, 0x08, &data).await?;
        Ok(())
    }

    /// The boot flags now.
    pub async fn boot_flags(&mut self) -> Result<BootFlags> {
        let d = self
            .command(NETFN_CHASSIS, 0x09, &[BOOT_FLAGS, 0, 0])
            .await?;
        // version, parameter selector, then five bytes of boot flags
        if d.len() < 4 {
            return Err(IpmiError::Malformed(format!(
                "boot flags answer of {} bytes",
                d.len()
            )));
        }
        Ok(BootFlags {
            device: BootDevice::from_selector((d[3] >> 2) & 0x0f),
            valid: d[2] & VALID != 0,
            persistent: d[2] & PERSISTENT != 0,
        })
    }
}

/// Opens a session, sets the boot device if asked, and returns the boot flags afterwards.
pub async fn boot(target: &BmcTarget, set: Option<(BootDevice, bool)>) -> Result<BootFlags> {
    let mut s = Session::open(target).await?;
    let r = async {
        if let Some((device, persistent)) = set {
            s.set_boot_device(device, persistent).await?;
        }
        s.boot_flags().await
    }
    .await;
    s.close().await;
    r
}
