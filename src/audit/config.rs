//! The `[audit]` section of the config file: where audit events are forwarded.

use serde::Deserialize;

use super::syslog::SyslogTarget;

/// Audit settings (`[audit]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Forward every event to this syslog receiver (`udp://host:port` or `tcp://host:port`).
    pub syslog: Option<SyslogTarget>,
}
