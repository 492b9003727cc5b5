//! The Redfish backend: every capability, over `crate::redfish` (a connection, and a
//! SessionService session where offered, per call; the session is deleted at the end).

use std::sync::Arc;
use std::time::Duration;

use super::{
    Bmc, Boot, BootDevice, BootSetting, Capabilities, Capability, EventLog, Firmware, LogEntry,
    Media, MediaStatus, OnProgress, Power, PowerAction, PowerStatus, Result, TaskProgress,
};
use crate::redfish::{
    self as proto, BootPersistence, BootTarget, CertPins, Client, Endpoint, PowerState, ResetKind,
    System,
};

/// What the Redfish backend supports.
pub const REDFISH_CAPABILITIES: Capabilities = Capabilities {
    protocol: "Redfish",
    supported: &[
        Capability::Power,
        Capability::Boot,
        Capability::Media,
        Capability::Firmware,
        Capability::EventLog,
    ],
};

/// A BMC reached over Redfish.
#[derive(Clone)]
pub struct RedfishBmc {
    endpoint: Endpoint,
    system: Option<String>,
    pins: Arc<dyn CertPins>,
    /// How long a power cycle may wait for the system to read Off.
    pub power_wait: Duration,
    /// How often a firmware task is polled.
    pub task_poll: Duration,
}

impl std::fmt::Debug for RedfishBmc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishBmc")
            .field("endpoint", &self.endpoint)
            .field("system", &self.system)
            .finish()
    }
}

impl RedfishBmc {
    /// The BMC at `endpoint`, managing system `system` (`None`: its only one), learning
    /// or checking its certificate through `pins`.
    pub fn new(endpoint: Endpoint, system: Option<String>, pins: Arc<dyn CertPins>) -> RedfishBmc {
        RedfishBmc {
            endpoint,
            system,
            pins,
            power_wait: Duration::from_secs(60),
            task_poll: Duration::from_secs(2),
        }
    }

    async fn open(&self) -> proto::Result<(Client, System)> {
        let c = Client::connect(self.endpoint.clone(), self.pins.clone()).await?;
        match c.system(self.system.as_deref()).await {
            Ok(s) => Ok((c, s)),
            Err(e) => {
                finish(c, Ok(())).await?;
                Err(e)
            }
        }
    }
}

/// Closes `c` and returns `r`; a failure to close only matters when `r` succeeded.
async fn finish<T>(c: Client, r: proto::Result<T>) -> proto::Result<T> {
    let closed = c.close().await;
    let v = r?;
    closed?;
    Ok(v)
}

fn target_of(d: BootDevice) -> BootTarget {
    match d {
        BootDevice::Pxe => BootTarget::Pxe,
        BootDevice::Cd => BootTarget::Cd,
        BootDevice::Disk => BootTarget::Hdd,
        BootDevice::Bios => BootTarget::BiosSetup,
    }
}

#[async_trait::async_trait]
impl Power for RedfishBmc {
    async fn power_status(&self) -> Result<PowerStatus> {
        let (c, sys) = self.open().await?;
        let st = finish(c, Ok(sys.power.clone())).await?;
        Ok(match st {
            PowerState::On => PowerStatus::On,
            PowerState::Off => PowerStatus::Off,
            other => PowerStatus::Other(other.to_string()),
        })
    }

    async fn power(&self, action: PowerAction) -> Result<()> {
        let (c, sys) = self.open().await?;
        let r = match action {
            PowerAction::On => c.reset(&sys, ResetKind::On).await,
            PowerAction::Off => c.reset(&sys, ResetKind::ForceOff).await,
            PowerAction::Soft => c.reset(&sys, ResetKind::GracefulShutdown).await,
            PowerAction::Reset => c.reset(&sys, ResetKind::ForceRestart).await,
            PowerAction::Cycle => c.power_cycle(&sys, self.power_wait).await,
        };
        Ok(finish(c, r).await?)
    }
}

#[async_trait::async_trait]
impl Boot for RedfishBmc {
    async fn set_boot(&self, device: BootDevice, once: bool) -> Result<()> {
        let how = if once {
            BootPersistence::Once
        } else {
            BootPersistence::Continuous
        };
        let (c, sys) = self.open().await?;
        let r = c.set_boot(&sys, target_of(device), how).await;
        Ok(finish(c, r).await?)
    }

    async fn boot_setting(&self) -> Result<BootSetting> {
        let (c, sys) = self.open().await?;
        let b = finish(c, Ok(sys.boot.clone())).await?;
        let device = match b.target.as_deref() {
            Some("Pxe") => Some(BootDevice::Pxe),
            Some("Cd") => Some(BootDevice::Cd),
            Some("Hdd") => Some(BootDevice::Disk),
            Some("BiosSetup") => Some(BootDevice::Bios),
            _ => None,
        };
        let persistent = match b.enabled.as_deref() {
            Some("Continuous") => Some(true),
            Some("Once") => Some(false),
            _ => None,
        };
        Ok(BootSetting {
            device,
            persistent,
            detail: format!(
                "{} ({})",
                b.target.as_deref().unwrap_or("None"),
                b.enabled.as_deref().unwrap_or("Disabled")
            ),
        })
    }
}

#[async_trait::async_trait]
impl Media for RedfishBmc {
    async fn media_insert(&self, url: &str) -> Result<()> {
        let (c, sys) = self.open().await?;
        let r = c.media_insert(&sys, url).await;
        Ok(finish(c, r).await?)
    }

    async fn media_eject(&self) -> Result<()> {
        let (c, sys) = self.open().await?;
        let r = c.media_eject(&sys).await;
        Ok(finish(c, r).await?)
    }

    async fn media_status(&self) -> Result<MediaStatus> {
        let (c, sys) = self.open().await?;
        let r = c.media_status(&sys).await;
        Ok(finish(c, r).await?)
    }
}

#[async_trait::async_trait]
impl Firmware for RedfishBmc {
    async fn firmware_update(
        &self,
        url: &str,
        deadline: Duration,
        progress: &mut OnProgress<'_>,
    ) -> Result<TaskProgress> {
        let (c, sys) = self.open().await?;
        let r = async {
            match c
                .simple_update(url, std::slice::from_ref(&sys.path))
                .await?
            {
                Some(task) => {
                    c.follow_task(&task, deadline, self.task_poll, progress)
                        .await
                }
                None => Ok(TaskProgress {
                    state: "Completed".into(),
                    status: None,
                    percent: Some(100),
                    messages: vec!["the BMC finished the update without a task".into()],
                }),
            }
        }
        .await;
        Ok(finish(c, r).await?)
    }
}

#[async_trait::async_trait]
impl EventLog for RedfishBmc {
    async fn event_log(&self, n: usize) -> Result<Vec<LogEntry>> {
        let (c, sys) = self.open().await?;
        let r = c.event_log(&sys, n).await;
        Ok(finish(c, r).await?)
    }
}

impl Bmc for RedfishBmc {
    fn name(&self) -> &str {
        &self.endpoint.name
    }

    fn capabilities(&self) -> Capabilities {
        REDFISH_CAPABILITIES
    }
}
