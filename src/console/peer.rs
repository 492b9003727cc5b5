//! One attached user as the console task sees it, and the queue their output goes on.
//!
//! Each attachment has its own queue, bounded in bytes (serial reads are often a few
//! bytes each, so a bound in messages would say little). The console task only ever
//! `try_send`s into it: when the budget is spent, that user's output is dropped and
//! counted, and once they have caught up they are told how much they missed. A user
//! who stops reading therefore costs at most their budget of `Bytes` (shared with the
//! other readers and the ring) and never slows the console or anyone else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::spec::Attacher;

/// Messages an output queue holds at most, whatever their size.
const QUEUE_MESSAGES: usize = 4096;

/// Formats a broker notice as its own line on a raw terminal.
pub(crate) fn notice(text: &str) -> Bytes {
    Bytes::from(format!("\r\n[console: {text}]\r\n"))
}

/// An attached user's output: the backlog, then live output and `[console: ...]`
/// notices. Ends (`None`) when the console stops or the user is detached.
#[derive(Debug)]
pub struct ConsoleOutput {
    rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

impl ConsoleOutput {
    /// The next piece of output; `None` once the console has let this user go.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let b = self.rx.recv().await?;
        self.queued.fetch_sub(b.len(), Ordering::AcqRel);
        Some(b)
    }

    /// The next piece of output if one is queued now.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let b = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(b.len(), Ordering::AcqRel);
        Some(b)
    }

    /// Bytes waiting to be read.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// An output that is already closed (what `Attachment::take_output` leaves).
    pub(crate) fn closed() -> Self {
        let (_, rx) = mpsc::channel(1);
        ConsoleOutput {
            rx,
            queued: Arc::default(),
        }
    }
}

/// An attached user.
pub(crate) struct Peer {
    /// Who they are and what they may do.
    pub(crate) who: Attacher,
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    budget: usize,
    /// Bytes dropped since their queue last had room.
    skipped: u64,
    /// Whether they were told that their input is dropped (read-only).
    pub(crate) told_read_only: bool,
    /// Whether they were told that their input is dropped (link down).
    pub(crate) told_link_down: bool,
}

/// Result of handing a message to a peer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued, or dropped and counted because the queue is full.
    Kept,
    /// The attachment is gone (its output was dropped).
    Gone,
}

impl Peer {
    /// A peer whose queue holds up to `budget` bytes; returns the reading end too.
    pub(crate) fn new(who: Attacher, budget: usize) -> (Peer, ConsoleOutput) {
        let (tx, rx) = mpsc::channel(QUEUE_MESSAGES);
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Peer {
                who,
                tx,
                queued: queued.clone(),
                budget,
                skipped: 0,
                told_read_only: false,
                told_link_down: false,
            },
            ConsoleOutput { rx, queued },
        )
    }

    /// Queues `msg` if it fits the budget (an empty queue takes any one message).
    fn try_queue(&mut self, msg: Bytes) -> Result<(), TrySendError<Bytes>> {
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued + msg.len() > self.budget {
            return Err(TrySendError::Full(msg));
        }
        let len = msg.len();
        self.tx.try_send(msg)?;
        self.queued.fetch_add(len, Ordering::AcqRel);
        Ok(())
    }

    /// Queues `msg` without waiting; a full queue drops it and counts the bytes.
    pub(crate) fn deliver(&mut self, msg: Bytes) -> Delivery {
        if self.skipped > 0 {
            let note = notice(&format!(
                "{} bytes skipped, you were too slow",
                self.skipped
            ));
            match self.try_queue(note) {
                Ok(()) => self.skipped = 0,
                Err(TrySendError::Full(_)) => {
                    self.skipped += msg.len() as u64;
                    return Delivery::Kept;
                }
                Err(TrySendError::Closed(_)) => return Delivery::Gone,
            }
        }
        match self.try_queue(msg) {
            Ok(()) => Delivery::Kept,
            Err(TrySendError::Full(m)) => {
                self.skipped += m.len() as u64;
                Delivery::Kept
            }
            Err(TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    /// Queues a broker notice (see [`notice`]).
    pub(crate) fn tell(&mut self, text: &str) -> Delivery {
        self.deliver(notice(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Attacher {
        Attacher {
            user: "alice".into(),
            can_write: false,
            can_force: false,
        }
    }

    #[test]
    fn full_queue_drops_and_reports_later() {
        let chunk = Bytes::from(vec![b'x'; 20]);
        let (mut p, mut rx) = Peer::new(who(), 64);
        for _ in 0..5 {
            assert_eq!(p.deliver(chunk.clone()), Delivery::Kept);
        }
        assert_eq!(rx.queued_bytes(), 60, "three fit, two were skipped");
        for _ in 0..3 {
            assert_eq!(rx.try_recv().unwrap(), chunk);
        }
        assert!(rx.try_recv().is_none());
        assert_eq!(rx.queued_bytes(), 0);
        assert_eq!(p.deliver(Bytes::from_static(b"5")), Delivery::Kept);
        let note = rx.try_recv().unwrap();
        assert_eq!(
            note,
            "\r\n[console: 40 bytes skipped, you were too slow]\r\n"
        );
        assert_eq!(rx.try_recv().unwrap(), "5");
        drop(rx);
        assert_eq!(p.deliver(Bytes::from_static(b"6")), Delivery::Gone);
    }

    #[test]
    fn one_oversized_message_still_goes_to_an_empty_queue() {
        let (mut p, mut rx) = Peer::new(who(), 4);
        assert_eq!(p.deliver(Bytes::from_static(b"backlog")), Delivery::Kept);
        assert_eq!(rx.try_recv().unwrap(), "backlog");
    }
}
