//! One managed device: how to reach it and which labels describe it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::{Address, SerialSettings};
use crate::redfish::CertFingerprint;

/// How the bastion reaches a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    /// An SSH server (switch CLI, router, Linux box); address is `host:port`.
    Ssh,
    /// A telnet server (legacy gear, terminal servers); address is `host:port`.
    Telnet,
    /// A local serial port; address is a device path such as `/dev/ttyUSB0`.
    Serial,
    /// IPMI v2 Serial-over-LAN on a BMC; address is `host:port` (usually port 623).
    IpmiSol,
    /// A Redfish BMC (power, boot, virtual media, firmware, event log; no session of its
    /// own); address is `https://host[:port]`.
    Redfish,
}

impl DeviceKind {
    /// Every kind, in the order they are listed in error messages.
    pub const ALL: [DeviceKind; 5] = [
        DeviceKind::Ssh,
        DeviceKind::Telnet,
        DeviceKind::Serial,
        DeviceKind::IpmiSol,
        DeviceKind::Redfish,
    ];

    /// The spelling used in the inventory file and in resource roles.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Ssh => "ssh",
            DeviceKind::Telnet => "telnet",
            DeviceKind::Serial => "serial",
            DeviceKind::IpmiSol => "ipmi-sol",
            DeviceKind::Redfish => "redfish",
        }
    }

    /// Whether the device is a shared console (serial, SOL) rather than a CLI session.
    pub fn is_console(self) -> bool {
        matches!(self, DeviceKind::Serial | DeviceKind::IpmiSol)
    }

    /// Whether the device is a BMC the `power` (and, where it can, `boot`, `media`...)
    /// commands reach.
    pub fn is_bmc(self) -> bool {
        matches!(self, DeviceKind::IpmiSol | DeviceKind::Redfish)
    }

    /// Whether the address is `host:port` or `https://host:port` (as opposed to a device
    /// path).
    pub fn is_network(self) -> bool {
        !matches!(self, DeviceKind::Serial)
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when a string names no [`DeviceKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?} (expected one of ssh, telnet, serial, ipmi-sol, redfish)")]
pub struct UnknownKind(pub String);

impl FromStr for DeviceKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// A device the bastion brokers access to, as declared in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Unique name, also the SSH host name admins use (`ssh -J bastion sw1`).
    pub name: String,
    /// How the device is reached.
    pub kind: DeviceKind,
    /// Where it is: `host:port` for network kinds, a tty or console-server port for
    /// serial consoles.
    pub address: Address,
    /// Free-form labels; they become policy resource roles `KEY:VALUE`.
    pub labels: BTreeMap<String, String>,
    /// Opaque reference to the device credential in the secrets store.
    pub credential: Option<String>,
    /// Pinned device host key, in OpenSSH public key format.
    pub host_key: Option<String>,
    /// Pinned TLS certificate of a Redfish BMC (`tls_fingerprint = "sha256:..."`); when
    /// unset, the certificate is learnt on first use and kept in the store.
    pub tls_fingerprint: Option<CertFingerprint>,
    /// Human description shown by `ssh bastion ls`.
    pub description: Option<String>,
    /// Also offer SHA-1 key exchange, `ssh-rsa` and CBC ciphers (old network gear).
    pub legacy_algorithms: bool,
    /// Serial line settings (`serial = "115200n81"`) of a console; 115200n81 when unset.
    pub serial: SerialSettings,
    /// Keep the console link open and logged even when nobody is attached.
    pub always_on: bool,
    /// Record what admins type on this device (`i` events); `None` follows
    /// `[recording] input`. Off for devices where secrets are typed at prompts.
    pub record_input: Option<bool>,
    /// Four eyes: a session starts only when someone allowed to `watch` observes it
    /// (`watch --observe`), and input pauses while nobody does.
    pub require_observer: bool,
    /// IPMI cipher suites to try for a BMC, in order (only 17 and 3 are accepted).
    pub cipher_suites: Vec<u8>,
    /// Deactivate a Serial-over-LAN session left active elsewhere (a stale one) to attach.
    pub sol_takeover: bool,
    /// The most sessions the bastion opens to the device at once (its vty lines); more
    /// wait for a free one.
    pub max_sessions: Option<usize>,
    /// The ports of the device's host a `forward` may reach (its web UI, say).
    pub forward_ports: ForwardPorts,
    /// Keep a logged-in SSH connection after a session and open the next session as a new
    /// channel on it (for devices that take several channels per connection).
    pub reuse_connection: bool,
}

/// Which ports of a device's host may be forwarded to (`forward_ports` in the inventory).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ForwardPorts {
    /// None (the default): only sessions, no TCP forwards.
    #[default]
    None,
    /// These ports.
    Some(Vec<u16>),
    /// Any port (`forward_ports = ["*"]`).
    Any,
}

impl ForwardPorts {
    /// Parses `[443, 8443]` or `["*"]`; the error names the bad entry.
    pub(crate) fn parse(list: &[toml::Value]) -> Result<ForwardPorts, String> {
        let mut ports = Vec::new();
        for v in list {
            match v {
                toml::Value::String(s) if s == "*" => return Ok(ForwardPorts::Any),
                toml::Value::Integer(n) if (1..=65535).contains(n) => ports.push(*n as u16),
                other => {
                    return Err(format!(
                        "forward_ports: {other} is not a port (1 to 65535) or \"*\""
                    ))
                }
            }
        }
        Ok(ForwardPorts::Some(ports))
    }

    /// Whether `port` may be forwarded to.
    pub fn allows(&self, port: u16) -> bool {
        match self {
            ForwardPorts::None => false,
            ForwardPorts::Some(p) => p.contains(&port),
            ForwardPorts::Any => true,
        }
    }
}

impl Device {
    /// The resource roles policy rules can match this device by.
    ///
    /// `kind:<kind>` is always present, followed by one `KEY:VALUE` per label in key order
    /// (the label key `kind` is reserved, so the two never clash).
    pub fn resource_roles(&self) -> Vec<String> {
        let mut roles = Vec::with_capacity(self.labels.len() + 1);
        roles.push(format!("kind:{}", self.kind));
        roles.extend(self.labels.iter().map(|(k, v)| format!("{k}:{v}")));
        roles
    }
}

/// Checks a device name: `[a-z0-9][a-z0-9._-]*`, at most 253 bytes, not `bastion`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !first_ok || !rest_ok || name.len() > 253 {
        return Err(format!(
            "invalid device name {name:?} (expected [a-z0-9][a-z0-9._-]*, at most 253 characters)"
        ));
    }
    if name == "bastion" {
        return Err("device name \"bastion\" is reserved for the bastion itself".to_string());
    }
    Ok(())
}

/// Checks a label key (`[a-z0-9][a-z0-9_.-]*`, not `kind`) and value (non-empty, no
/// whitespace, `,` or `&`, which the policy syntax uses as separators).
pub(crate) fn check_label(key: &str, value: &str) -> Result<(), String> {
    let key_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !key_ok {
        return Err(format!(
            "invalid label key {key:?} (expected [a-z0-9][a-z0-9._-]*)"
        ));
    }
    if key == "kind" {
        return Err(
            "label key \"kind\" is reserved: the resource role kind:<kind> comes from the device kind"
                .to_string(),
        );
    }
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == '&')
    {
        return Err(format!(
            "label {key:?}: invalid value {value:?} (must be non-empty without whitespace, ',' or '&')"
        ));
    }
    Ok(())
}
