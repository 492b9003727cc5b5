//! Power and boot of a computer system: `ComputerSystem.Reset` (with the allowable reset
//! types respected, and power cycle as ForceOff-then-On where `PowerCycle` is not offered)
//! and the boot source override.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::client::Client;
use super::system::{BootOverride, PowerState, System};
use super::{RedfishError, Result};

/// A power action, as a Redfish `ResetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// `On`.
    On,
    /// `ForceOff`.
    ForceOff,
    /// `GracefulShutdown`.
    GracefulShutdown,
    /// `ForceRestart`.
    ForceRestart,
    /// `PowerCycle`.
    PowerCycle,
}

impl ResetKind {
    /// The `ResetType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetKind::On => "On",
            ResetKind::ForceOff => "ForceOff",
            ResetKind::GracefulShutdown => "GracefulShutdown",
            ResetKind::ForceRestart => "ForceRestart",
            ResetKind::PowerCycle => "PowerCycle",
        }
    }
}

/// A boot source override target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootTarget {
    /// Network boot.
    Pxe,
    /// The (virtual) CD/DVD.
    Cd,
    /// The local disk.
    Hdd,
    /// The firmware setup screen.
    BiosSetup,
}

impl BootTarget {
    /// The `BootSourceOverrideTarget` value.
    pub fn as_str(self) -> &'static str {
        match self {
            BootTarget::Pxe => "Pxe",
            BootTarget::Cd => "Cd",
            BootTarget::Hdd => "Hdd",
            BootTarget::BiosSetup => "BiosSetup",
        }
    }
}

/// How long a boot override lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPersistence {
    /// The next boot only.
    Once,
    /// Every boot until changed.
    Continuous,
}

impl BootPersistence {
    /// The `BootSourceOverrideEnabled` value.
    pub fn as_str(self) -> &'static str {
        match self {
            BootPersistence::Once => "Once",
            BootPersistence::Continuous => "Continuous",
        }
    }
}

/// The PATCH body that sets a boot override.
pub(crate) fn boot_override_body(target: BootTarget, how: BootPersistence) -> serde_json::Value {
    json!({ "Boot": {
        "BootSourceOverrideTarget": target.as_str(),
        "BootSourceOverrideEnabled": how.as_str(),
    }})
}

/// How often a state change is polled for.
const POLL: Duration = Duration::from_millis(250);

impl Client {
    /// The power state of `sys` now.
    pub async fn power_state(&self, sys: &System) -> Result<PowerState> {
        Ok(self.system_at(&sys.path).await?.power)
    }

    /// Asks for `kind`, refusing what the BMC does not list as allowed. The BMC may take
    /// a while to carry it out: [`Client::wait_power`] waits for the result.
    pub async fn reset(&self, sys: &System, kind: ResetKind) -> Result<()> {
        let target = sys.reset_target.as_deref().ok_or_else(|| {
            self.unsupported(&format!(
                "system {} offers no ComputerSystem.Reset action",
                sys.id
            ))
        })?;
        if !sys.reset_types.is_empty() && !sys.reset_types.iter().any(|t| t == kind.as_str()) {
            return Err(self.unsupported(&format!(
                "system {} does not allow ResetType {} (it allows {})",
                sys.id,
                kind.as_str(),
                sys.reset_types.join(", ")
            )));
        }
        let body = json!({ "ResetType": kind.as_str() });
        self.t.send(Method::POST, target, Some(&body)).await?;
        Ok(())
    }

    /// Power cycle: `PowerCycle` where the BMC lists it, otherwise ForceOff, a wait (up
    /// to `deadline`) until the system reads Off, then On.
    pub async fn power_cycle(&self, sys: &System, deadline: Duration) -> Result<()> {
        if sys.reset_types.iter().any(|t| t == "PowerCycle") {
            return self.reset(sys, ResetKind::PowerCycle).await;
        }
        self.reset(sys, ResetKind::ForceOff).await?;
        self.wait_power(sys, &PowerState::Off, deadline).await?;
        self.reset(sys, ResetKind::On).await
    }

    /// Waits until `sys` reads `want`, polling; fails at `deadline` naming the last state.
    pub async fn wait_power(
        &self,
        sys: &System,
        want: &PowerState,
        deadline: Duration,
    ) -> Result<()> {
        let end = Instant::now() + deadline;
        loop {
            let now = self.power_state(sys).await?;
            if &now == want {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(RedfishError::PowerTimeout {
                    bmc: self.bmc().to_string(),
                    system: sys.id.clone(),
                    want: want.to_string(),
                    seconds: deadline.as_secs_f64(),
                    last: now.to_string(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sets the boot override of `sys`, refusing a target the BMC does not list.
    pub async fn set_boot(
        &self,
        sys: &System,
        target: BootTarget,
        how: BootPersistence,
    ) -> Result<()> {
        let allowed = &sys.boot.allowed;
        if !allowed.is_empty() && !allowed.iter().any(|t| t == target.as_str()) {
            return Err(self.unsupported(&format!(
                "system {} does not offer boot target {} (it offers {})",
                sys.id,
                target.as_str(),
                allowed.join(", ")
            )));
        }
        let body = boot_override_body(target, how);
        self.t.send(Method::PATCH, &sys.path, Some(&body)).await?;
        Ok(())
    }

    /// The boot override of `sys` now.
    pub async fn boot(&self, sys: &System) -> Result<BootOverride> {
        Ok(self.system_at(&sys.path).await?.boot)
    }
}
