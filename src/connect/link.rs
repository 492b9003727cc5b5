//! The running connection to a device: two bounded channels and the events on them.
//!
//! Both directions hold at most [`LINK_BUFFER`] messages. A backend only reads from
//! the device when it can hand the bytes on, so an admin who stops reading makes the
//! device wait (TCP and SSH window flow control do the rest) instead of growing
//! memory; likewise admin input waits while the device is not accepting it.

use std::fmt;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Capacity, in messages, of each direction of a [`Link`]. A data message holds at
/// most one SSH packet or one socket read (32 KiB), so a link buffers at most about
/// 1 MiB per direction on the bastion side.
pub const LINK_BUFFER: usize = 32;

/// Something the device side produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Terminal output / stdout bytes.
    Data(Bytes),
    /// Stderr bytes (SSH extended data); telnet has none.
    Stderr(Bytes),
    /// The device will send no more data (SSH EOF).
    Eof,
    /// The remote command exited with this status.
    ExitStatus(u32),
    /// The remote command was killed by this signal (name without `SIG`).
    ExitSignal(String),
    /// The link is over; always the last event.
    Closed(EndReason),
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The device closed the session in an orderly way.
    DeviceClosed,
    /// The bastion side asked to close (`LinkControl::Close` or dropped sender).
    LocalClose,
    /// The connection broke (reset, disconnect, protocol error).
    Lost(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::DeviceClosed => f.write_str("device closed the session"),
            EndReason::LocalClose => f.write_str("closed by the bastion"),
            EndReason::Lost(why) => write!(f, "connection to device lost: {why}"),
        }
    }
}

/// Something the bastion asks of the device side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkControl {
    /// Keystrokes / stdin bytes.
    Data(Bytes),
    /// The admin's terminal changed size.
    Resize {
        /// New width in columns.
        cols: u32,
        /// New height in rows.
        rows: u32,
    },
    /// Deliver a signal (name without `SIG`, e.g. `INT`). Telnet can only send
    /// `INT`, as its Interrupt Process command; other signals are ignored there.
    Signal(String),
    /// No more input (SSH EOF, TCP half-close for telnet).
    Eof,
    /// Send a serial break (serial backends; others ignore it).
    Break,
    /// Tear the link down.
    Close,
}

/// A running link to a device. Dropping `control` closes it; dropping `events`
/// closes it at the next device output.
#[derive(Debug)]
pub struct Link {
    /// Device output, ending with exactly one [`LinkEvent::Closed`].
    pub events: mpsc::Receiver<LinkEvent>,
    /// Input and control for the device.
    pub control: mpsc::Sender<LinkControl>,
}

/// The backend's side of a [`Link`].
pub(crate) struct LinkEnds {
    pub(crate) events: mpsc::Sender<LinkEvent>,
    pub(crate) control: mpsc::Receiver<LinkControl>,
}

impl Link {
    /// A connected pair: the [`Link`] for the caller and the ends for a backend.
    pub(crate) fn pair() -> (Link, LinkEnds) {
        let (ev_tx, ev_rx) = mpsc::channel(LINK_BUFFER);
        let (ctl_tx, ctl_rx) = mpsc::channel(LINK_BUFFER);
        (
            Link {
                events: ev_rx,
                control: ctl_tx,
            },
            LinkEnds {
                events: ev_tx,
                control: ctl_rx,
            },
        )
    }
}
