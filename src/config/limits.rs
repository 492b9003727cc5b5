//! Resource and time limits (`[limits]`): read straight from the file, every key with its
//! default; `Config::load` checks the values.

use std::time::Duration;

use serde::Deserialize;

/// Resource and time limits (`[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Concurrent client connections; more are refused at accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Longest a session may last.
    #[serde(default = "default_max_session", with = "humantime_serde")]
    pub max_session: Duration,
    /// A connection idle this long is closed.
    #[serde(default = "default_idle", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often policy, inventory and revocation files are checked for changes.
    #[serde(default = "default_reload", with = "humantime_serde")]
    pub reload_interval: Duration,
    /// How long before a session's deadline the admin is warned.
    #[serde(default = "default_warning", with = "humantime_serde")]
    pub deadline_warning: Duration,
    /// A session whose admin stops reading its output for this long is closed.
    #[serde(default = "default_stall", with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// How long a session waits for a free line of a device at its `max_sessions`.
    #[serde(default = "default_line_wait", with = "humantime_serde")]
    pub line_wait: Duration,
    /// Unauthenticated connections at once, from everywhere (a pool apart from
    /// `max_connections`, so they never take the places of admins who logged in).
    #[serde(default = "default_unauthenticated")]
    pub max_unauthenticated: usize,
    /// Unauthenticated connections at once from one address.
    #[serde(default = "default_unauthenticated_per_source")]
    pub max_unauthenticated_per_source: usize,
    /// An address whose connections ended this many times without a login in the last
    /// minute is refused until the count drops.
    #[serde(default = "default_failures_per_source")]
    pub max_failures_per_source_per_minute: usize,
    /// The most bytes one file may move in a transfer (SFTP); no limit by default.
    #[serde(default = "default_max_transfer")]
    pub max_transfer: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: default_max_connections(),
            max_session: default_max_session(),
            idle_timeout: default_idle(),
            reload_interval: default_reload(),
            deadline_warning: default_warning(),
            stall_timeout: default_stall(),
            line_wait: default_line_wait(),
            max_unauthenticated: default_unauthenticated(),
            max_unauthenticated_per_source: default_unauthenticated_per_source(),
            max_failures_per_source_per_minute: default_failures_per_source(),
            max_transfer: default_max_transfer(),
        }
    }
}

fn default_max_transfer() -> u64 {
    u64::MAX
}
fn default_max_connections() -> usize {
    512
}
fn default_max_session() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_idle() -> Duration {
    Duration::from_secs(3600)
}
fn default_warning() -> Duration {
    Duration::from_secs(300)
}
fn default_line_wait() -> Duration {
    Duration::from_secs(60)
}
fn default_unauthenticated() -> usize {
    100
}
fn default_unauthenticated_per_source() -> usize {
    10
}
fn default_failures_per_source() -> usize {
    30
}
fn default_stall() -> Duration {
    Duration::from_secs(120)
}
fn default_reload() -> Duration {
    Duration::from_secs(2)
}
