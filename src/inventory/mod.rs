//! Inventory: the devices the bastion brokers access to.
//!
//! The inventory is its own TOML file (referenced from the main config) holding one
//! `[[device]]` table per device:
//!
//! ```toml
//! [[device]]
//! name = "sw1"
//! kind = "ssh"                      # ssh | telnet | serial | ipmi-sol | redfish
//! address = "192.0.2.11:22"         # host:port, /dev/ttyUSB0 for serial, https://host:port for redfish
//! labels = { site = "ams1", type = "switch" }
//! credential = "secret/data/devices/sw1"
//! host_key = "ssh-ed25519 AAAA..."
//! description = "Access switch, rack 12"
//!
//! [[require_observer]]              # four eyes on every device with all these labels
//! labels = { tier = "core" }
//! ```
//!
//! Every error names the file, the line and the device, so an operator can fix the file
//! without guessing. Labels become policy resource roles (see [`Device::resource_roles`]).

mod address;
mod device;
mod error;
#[cfg(test)]
mod tests;

pub use address::{Address, HostPort, SerialSettings};
pub use device::{Device, DeviceKind, ForwardPorts, UnknownKind};
pub use error::{InventoryError, Result};

pub(crate) use device::check_name;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// The validated set of devices, keyed and iterated by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    devices: BTreeMap<String, Device>,
}

/// The file as written, before validation; spans let errors point at lines.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    device: Vec<Spanned<RawDevice>>,
    /// `[[require_observer]] labels = {...}`: four eyes on every device holding all of
    /// these labels (besides the devices marked one by one).
    #[serde(default)]
    require_observer: Vec<Spanned<RawSelector>>,
}

/// Devices chosen by labels: every device holding all of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    labels: Option<Spanned<BTreeMap<String, String>>>,
    credential: Option<String>,
    host_key: Option<String>,
    tls_fingerprint: Option<Spanned<String>>,
    description: Option<String>,
    #[serde(default)]
    legacy_algorithms: bool,
    serial: Option<String>,
    #[serde(default)]
    always_on: bool,
    record_input: Option<bool>,
    #[serde(default)]
    require_observer: bool,
    cipher_suites: Option<Vec<u8>>,
    #[serde(default)]
    sol_takeover: bool,
    max_sessions: Option<usize>,
    forward_ports: Option<Vec<toml::Value>>,
    #[serde(default)]
    reuse_connection: bool,
}

impl Inventory {
    /// Reads and validates the inventory file at `path`.
    pub fn load(path: &Path) -> Result<Inventory> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Inventory::parse(&text, path)
    }

    /// Parses and validates inventory `text`; `origin` is the file name used in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Inventory> {
        let at = |offset: Option<usize>, reason: String| InventoryError::Invalid {
            path: origin.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            reason,
        };
        let raw: RawInventory = toml::from_str(text).map_err(|e| {
            at(
                e.span().map(|s| s.start),
                e.message().trim_end().replace('\n', "; "),
            )
        })?;

        let mut devices: BTreeMap<String, Device> = BTreeMap::new();
        let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
        for (index, table) in raw.device.into_iter().enumerate() {
            let table_start = table.span().start;
            let (device, name_at) =
                parse_device(table.into_inner(), index, table_start, &at, &first_line)?;
            first_line.insert(device.name.clone(), line_of(text, name_at));
            devices.insert(device.name.clone(), device);
        }
        for sel in raw.require_observer {
            let start = sel.span().start;
            let labels = sel.into_inner().labels;
            if labels.is_empty() {
                let why = "[[require_observer]] needs labels (devices are marked one by one with require_observer = true)";
                return Err(at(Some(start), why.into()));
            }
            for d in devices.values_mut() {
                if labels.iter().all(|(k, v)| d.labels.get(k) == Some(v)) {
                    d.require_observer = true;
                }
            }
        }
        Ok(Inventory { devices })
    }

    /// Builds an inventory from already-validated devices (tests, tools).
    ///
    /// Later devices replace earlier ones with the same name.
    pub fn from_devices(devices: impl IntoIterator<Item = Device>) -> Inventory {
        Inventory {
            devices: devices.into_iter().map(|d| (d.name.clone(), d)).collect(),
        }
    }

    /// The device called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Device> {
        self.devices.get(name)
    }

    /// All devices, sorted by name.
    pub fn devices(&self) -> impl Iterator<Item = &Device> + '_ {
        self.devices.values()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the inventory has no devices.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

/// One `[[device]]` table, validated, and the offset of its name; `at` builds an error
/// for an offset, `first_line` holds the names already seen.
fn parse_device(
    raw: RawDevice,
    index: usize,
    table_start: usize,
    at: &dyn Fn(Option<usize>, String) -> InventoryError,
    first_line: &BTreeMap<String, usize>,
) -> Result<(Device, usize)> {
    let Some(name) = raw.name else {
        return Err(at(
            Some(table_start),
            format!("device #{}: missing name", index + 1),
        ));
    };
    let name_at = name.span().start;
    let name = name.into_inner();
    device::check_name(&name).map_err(|r| at(Some(name_at), r))?;
    if let Some(first) = first_line.get(&name) {
        return Err(at(
            Some(name_at),
            format!("duplicate device name {name:?} (first defined on line {first})"),
        ));
    }
    let ctx = |reason: String| format!("device {name:?}: {reason}");

    let Some(kind) = raw.kind else {
        return Err(at(Some(name_at), ctx("missing kind".into())));
    };
    let kind_at = kind.span().start;
    let kind: DeviceKind = kind
        .into_inner()
        .parse()
        .map_err(|e: UnknownKind| at(Some(kind_at), ctx(e.to_string())))?;

    let Some(address) = raw.address else {
        return Err(at(Some(name_at), ctx("missing address".into())));
    };
    let address_at = address.span().start;
    let address =
        Address::parse(kind, &address.into_inner()).map_err(|r| at(Some(address_at), ctx(r)))?;

    let (labels_at, labels) = match raw.labels {
        Some(labels) => (labels.span().start, labels.into_inner()),
        None => (name_at, BTreeMap::new()),
    };
    for (key, value) in &labels {
        device::check_label(key, value).map_err(|r| at(Some(labels_at), ctx(r)))?;
    }

    for (field, value) in [("credential", &raw.credential), ("host_key", &raw.host_key)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(at(Some(name_at), ctx(format!("{field} is empty"))));
        }
    }

    let tls_fingerprint = tls_fingerprint(raw.tls_fingerprint, kind, at, &ctx)?;
    if kind == DeviceKind::Redfish && raw.credential.is_none() {
        return Err(at(
            Some(name_at),
            ctx("a redfish BMC needs a credential (the BMC login in the secrets store)".into()),
        ));
    }

    let serial = match &raw.serial {
        Some(line) => line
            .parse::<SerialSettings>()
            .map_err(|r| at(Some(name_at), ctx(format!("serial: {r}"))))?,
        None => SerialSettings::default(),
    };

    if raw.max_sessions == Some(0) {
        return Err(at(
            Some(name_at),
            ctx("max_sessions must be at least 1".into()),
        ));
    }
    let max_sessions = raw.max_sessions;
    if raw.reuse_connection && kind != DeviceKind::Ssh {
        return Err(at(
            Some(name_at),
            ctx(format!(
                "reuse_connection applies to kind = \"ssh\" devices only, not {:?}",
                kind.as_str()
            )),
        ));
    }
    let forward_ports = match &raw.forward_ports {
        None => ForwardPorts::None,
        Some(list) => ForwardPorts::parse(list).map_err(|r| at(Some(name_at), ctx(r)))?,
    };
    let cipher_suites = match raw.cipher_suites {
        Some(ids) => {
            crate::ipmi::BmcTarget::parse_suites(&ids)
                .map_err(|e| at(Some(name_at), ctx(format!("cipher_suites: {e}"))))?;
            ids
        }
        None => vec![17, 3],
    };

    Ok((
        Device {
            name,
            kind,
            address,
            labels,
            credential: raw.credential,
            host_key: raw.host_key,
            tls_fingerprint,
            description: raw.description,
            legacy_algorithms: raw.legacy_algorithms,
            serial,
            always_on: raw.always_on,
            record_input: raw.record_input,
            require_observer: raw.require_observer,
            cipher_suites,
            sol_takeover: raw.sol_takeover,
            max_sessions,
            forward_ports,
            reuse_connection: raw.reuse_connection,
        },
        name_at,
    ))
}

/// The `tls_fingerprint` of a device of `kind`, parsed; only a redfish BMC has one.
fn tls_fingerprint(
    raw: Option<Spanned<String>>,
    kind: DeviceKind,
    at: &dyn Fn(Option<usize>, String) -> InventoryError,
    ctx: &dyn Fn(String) -> String,
) -> Result<Option<crate::redfish::CertFingerprint>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let offset = raw.span().start;
    if kind != DeviceKind::Redfish {
        return Err(at(
            Some(offset),
            ctx(format!(
                "tls_fingerprint applies to kind = \"redfish\" devices only, not {:?}",
                kind.as_str()
            )),
        ));
    }
    raw.into_inner()
        .parse()
        .map(Some)
        .map_err(|e| at(Some(offset), ctx(format!("tls_fingerprint: {e}"))))
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
