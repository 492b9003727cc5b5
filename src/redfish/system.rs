//! A computer system as the BMC describes it: its power state and boot override.

use std::fmt;

/// A computer system as the BMC describes it.
#[derive(Debug, Clone)]
pub struct System {
    /// Its `Id`.
    pub id: String,
    /// Its `Name`.
    pub name: Option<String>,
    /// Its resource path.
    pub path: String,
    /// The power state now.
    pub power: PowerState,
    /// The boot override now.
    pub boot: BootOverride,
    /// `ResetType` values the BMC lists (empty when it lists none).
    pub reset_types: Vec<String>,
    pub(crate) reset_target: Option<String>,
    pub(crate) media: Option<String>,
    pub(crate) managers: Vec<String>,
}

/// A system's `PowerState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerState {
    /// Powered on.
    On,
    /// Powered off.
    Off,
    /// Going on.
    PoweringOn,
    /// Going off.
    PoweringOff,
    /// Anything else the BMC says (`Paused`...), or `Unknown` when it says nothing.
    Other(String),
}

impl PowerState {
    pub(crate) fn parse(s: Option<&str>) -> PowerState {
        match s {
            Some("On") => PowerState::On,
            Some("Off") => PowerState::Off,
            Some("PoweringOn") => PowerState::PoweringOn,
            Some("PoweringOff") => PowerState::PoweringOff,
            Some(other) => PowerState::Other(other.to_string()),
            None => PowerState::Other("Unknown".into()),
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerState::On => f.write_str("on"),
            PowerState::Off => f.write_str("off"),
            PowerState::PoweringOn => f.write_str("powering on"),
            PowerState::PoweringOff => f.write_str("powering off"),
            PowerState::Other(s) => f.write_str(s),
        }
    }
}

/// A system's boot override, as the BMC reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOverride {
    /// `BootSourceOverrideTarget` (`Pxe`, `Cd`, `Hdd`, `BiosSetup`, `None`...).
    pub target: Option<String>,
    /// `BootSourceOverrideEnabled` (`Once`, `Continuous`, `Disabled`).
    pub enabled: Option<String>,
    /// The targets the BMC lists as allowed (empty when it lists none).
    pub allowed: Vec<String>,
}
