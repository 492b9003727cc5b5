//! The closed set of actions policy rules grant or deny.

use std::fmt;
use std::str::FromStr;

/// Something a user may do on a device or on the bastion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Open an interactive session to a device (`ssh -J bastion sw1`).
    Connect,
    /// Watch a shared console without typing.
    ConsoleRead,
    /// Type into a shared console (take the writer seat when free).
    ConsoleWrite,
    /// Take the writer seat of a shared console from its current holder.
    ConsoleForce,
    /// Query chassis power state.
    PowerStatus,
    /// Power on, off, cycle or reset a chassis.
    PowerControl,
    /// Set a server's boot device override (`boot`).
    BootControl,
    /// Insert, eject or show a server's virtual media (`media`).
    MediaControl,
    /// Update a server's firmware through its BMC (`firmware update`).
    FirmwareUpdate,
    /// Read a BMC's event log (`bmc-log`).
    BmcLog,
    /// Write files to a device over SFTP (`sftp -J`, `scp -J`).
    FileUpload,
    /// Read files from a device over SFTP (`sftp -J`, `scp -J`).
    FileDownload,
    /// Forward TCP to a device.
    Forward,
    /// Ask for time-bound access to a device.
    Request,
    /// Approve other users' access requests for a device.
    Approve,
    /// Replay recorded sessions.
    Replay,
    /// Watch a running session live, read-only.
    Watch,
    /// Search and read the audit log (on the `bastion` object).
    Audit,
}

impl Action {
    /// Every action, in documentation order.
    pub const ALL: [Action; 18] = [
        Action::Connect,
        Action::ConsoleRead,
        Action::ConsoleWrite,
        Action::ConsoleForce,
        Action::PowerStatus,
        Action::PowerControl,
        Action::BootControl,
        Action::MediaControl,
        Action::FirmwareUpdate,
        Action::BmcLog,
        Action::FileUpload,
        Action::FileDownload,
        Action::Forward,
        Action::Request,
        Action::Approve,
        Action::Replay,
        Action::Watch,
        Action::Audit,
    ];

    /// The spelling used in policy files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::ConsoleRead => "console.read",
            Action::ConsoleWrite => "console.write",
            Action::ConsoleForce => "console.force",
            Action::PowerStatus => "power.status",
            Action::PowerControl => "power.control",
            Action::BootControl => "boot.control",
            Action::MediaControl => "media.control",
            Action::FirmwareUpdate => "firmware.update",
            Action::BmcLog => "bmc.log",
            Action::FileUpload => "file.upload",
            Action::FileDownload => "file.download",
            Action::Forward => "forward",
            Action::Request => "request",
            Action::Approve => "approve",
            Action::Replay => "replay",
            Action::Watch => "watch",
            Action::Audit => "audit",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string names no [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_action() {
        for a in Action::ALL {
            assert_eq!(a.to_string().parse::<Action>(), Ok(a));
        }
        assert_eq!(
            "conect".parse::<Action>(),
            Err(UnknownAction("conect".into()))
        );
    }
}
