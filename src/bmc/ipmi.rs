//! The IPMI backend: chassis power and the boot device through `crate::ipmi` (a session per
//! call); virtual media, firmware and the event log are not supported by IPMI here.

use std::time::Duration;

use super::{
    Bmc, BmcError, Boot, BootDevice, BootSetting, Capabilities, Capability, EventLog, Firmware,
    LogEntry, Media, MediaStatus, OnProgress, Power, PowerAction, PowerStatus, Result,
    TaskProgress,
};
use crate::ipmi::{self as proto, BmcTarget};

/// What the IPMI backend supports.
pub const IPMI_CAPABILITIES: Capabilities = Capabilities {
    protocol: "IPMI",
    supported: &[Capability::Power, Capability::Boot],
};

/// A BMC reached over IPMI v2.0 (lanplus).
#[derive(Debug, Clone)]
pub struct IpmiBmc {
    target: BmcTarget,
}

impl IpmiBmc {
    /// The BMC at `target`.
    pub fn new(target: BmcTarget) -> IpmiBmc {
        IpmiBmc { target }
    }

    fn unsupported(&self, capability: Capability) -> BmcError {
        BmcError::Unsupported {
            bmc: self.target.name.clone(),
            capability,
            protocol: IPMI_CAPABILITIES.protocol,
        }
    }
}

fn to_ipmi(d: BootDevice) -> proto::BootDevice {
    match d {
        BootDevice::Pxe => proto::BootDevice::Pxe,
        BootDevice::Cd => proto::BootDevice::Cd,
        BootDevice::Disk => proto::BootDevice::Disk,
        BootDevice::Bios => proto::BootDevice::BiosSetup,
    }
}

#[async_trait::async_trait]
impl Power for IpmiBmc {
    async fn power_status(&self) -> Result<PowerStatus> {
        let on = proto::chassis(&self.target, None).await?;
        Ok(if on {
            PowerStatus::On
        } else {
            PowerStatus::Off
        })
    }

    async fn power(&self, action: PowerAction) -> Result<()> {
        proto::chassis(&self.target, Some(action)).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Boot for IpmiBmc {
    async fn set_boot(&self, device: BootDevice, once: bool) -> Result<()> {
        proto::boot(&self.target, Some((to_ipmi(device), !once))).await?;
        Ok(())
    }

    async fn boot_setting(&self) -> Result<BootSetting> {
        let f = proto::boot(&self.target, None).await?;
        let device = match f.device {
            Some(proto::BootDevice::Pxe) => Some(BootDevice::Pxe),
            Some(proto::BootDevice::Cd) => Some(BootDevice::Cd),
            Some(proto::BootDevice::Disk) => Some(BootDevice::Disk),
            Some(proto::BootDevice::BiosSetup) => Some(BootDevice::Bios),
            Some(proto::BootDevice::None) | None => None,
        };
        let shown = device.map_or("none".to_string(), |d| d.to_string());
        Ok(BootSetting {
            device,
            persistent: Some(f.persistent),
            detail: format!(
                "{shown} ({})",
                if f.persistent {
                    "every boot"
                } else {
                    "next boot"
                }
            ),
        })
    }
}

#[async_trait::async_trait]
impl Media for IpmiBmc {
    async fn media_insert(&self, _url: &str) -> Result<()> {
        Err(self.unsupported(Capability::Media))
    }

    async fn media_eject(&self) -> Result<()> {
        Err(self.unsupported(Capability::Media))
    }

    async fn media_status(&self) -> Result<MediaStatus> {
        Err(self.unsupported(Capability::Media))
    }
}

#[async_trait::async_trait]
impl Firmware for IpmiBmc {
    async fn firmware_update(
        &self,
        _url: &str,
        _deadline: Duration,
        _progress: &mut OnProgress<'_>,
    ) -> Result<TaskProgress> {
        Err(self.unsupported(Capability::Firmware))
    }
}

#[async_trait::async_trait]
impl EventLog for IpmiBmc {
    async fn event_log(&self, _n: usize) -> Result<Vec<LogEntry>> {
        Err(self.unsupported(Capability::EventLog))
    }
}

impl Bmc for IpmiBmc {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn capabilities(&self) -> Capabilities {
        IPMI_CAPABILITIES
    }
}
