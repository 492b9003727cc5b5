//! What the broker is told (console specs, options, who attaches) and what it reports.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::connect::{self, Link};

/// A boxed, sendable future (what the factories in [`ConsoleSpec`] return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens a fresh link to the console device each time it is called. It captures the
/// connector, target and credential, so the broker never sees them.
pub type OpenFn = Arc<dyn Fn() -> BoxFuture<'static, connect::Result<Link>> + Send + Sync>;

/// Sends a serial break to the console device (on the link currently open).
pub type BreakFn = Arc<dyn Fn() -> BoxFuture<'static, connect::Result<()>> + Send + Sync>;

/// One console device as the broker sees it.
#[derive(Clone)]
pub struct ConsoleSpec {
    /// Console name: the attach name and the log folder (`[A-Za-z0-9._-]`, no leading dot).
    pub name: String,
    /// Keep the link up (and logged) even when nobody is attached.
    pub always_on: bool,
    /// Opens a fresh link to the device.
    pub open: OpenFn,
    /// Sends a serial break, when the backend can; `None` makes `send_break` an error.
    pub send_break: Option<BreakFn>,
    /// Alert rules run on the console's output and link (see `[[alert]]`).
    pub alerts: Vec<super::AlertRule>,
}

impl fmt::Debug for ConsoleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSpec")
            .field("name", &self.name)
            .field("always_on", &self.always_on)
            .field("send_break", &self.send_break.is_some())
            .field("alerts", &self.alerts.len())
            .finish_non_exhaustive()
    }
}

/// Tuning of the broker; [`Default`] gives production values.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Bytes of recent output kept in memory and sent to each new attacher.
    pub ring_bytes: usize,
    /// A log file is rotated once it reaches this size.
    pub log_max_bytes: u64,
    /// Log files kept per console, the current one included; older ones are deleted.
    pub log_keep: usize,
    /// Output bytes queued per attached user before theirs is dropped (skipped).
    pub attach_queue_bytes: usize,
    /// Input bytes held for a device that is not accepting them before more is dropped.
    pub input_buffer: usize,
    /// How long a non-always-on console keeps its link after the last detach.
    pub idle_grace: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (the delay doubles up to this).
    pub backoff_max: Duration,
    /// A link up at least this long resets the delay to `backoff_initial` when it drops.
    pub backoff_reset_after: Duration,
    /// Ships each log file beyond this node as it is written (`[recording.s3]`).
    pub ship_logs: Option<crate::store::objects::LogShipper>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            ring_bytes: 64 * 1024,
            log_max_bytes: 16 * 1024 * 1024,
            log_keep: 8,
            attach_queue_bytes: 1024 * 1024,
            input_buffer: 256 * 1024,
            idle_grace: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            backoff_reset_after: Duration::from_secs(60),
            ship_logs: None,
        }
    }
}

/// Who is attaching and what they may do (decided by policy before attaching).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attacher {
    /// User name shown to the others.
    pub user: String,
    /// May hold the write lock (type into the console, send a break).
    pub can_write: bool,
    /// May take the write lock from its holder (implies nothing without `can_write`).
    pub can_force: bool,
}

/// State of a console's device link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Nobody needs the link (non-always-on console, no attacher).
    Idle,
    /// A link is being opened (or a reconnect is waiting out its backoff).
    Connecting,
    /// The link is up.
    Up,
    /// The link is down for this reason; a reconnect is scheduled if it is needed.
    Down(String),
}

impl LinkState {
    /// The state without its reason: `idle`, `connecting`, `up` or `down`.
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Idle => "idle",
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Down(_) => "down",
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Idle => f.write_str("idle"),
            LinkState::Connecting => f.write_str("connecting"),
            LinkState::Up => f.write_str("up"),
            LinkState::Down(why) => write!(f, "down: {why}"),
        }
    }
}

/// One attached user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedUser {
    /// User name.
    pub user: String,
    /// Whether this attachment holds the write lock.
    pub writer: bool,
}

/// A console as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleStatus {
    /// Console name.
    pub name: String,
    /// Whether the link is kept up with nobody attached.
    pub always_on: bool,
    /// State of the device link.
    pub link: LinkState,
    /// Attached users, in attach order.
    pub attached: Vec<AttachedUser>,
    /// Output bytes logged since the console was registered.
    pub bytes_logged: u64,
    /// The attachment holding the write lock (its id inside the console), if any.
    pub writer: Option<u64>,
}
