//! Running recordings others may watch: each session's recorder is tapped by a
//! [`FeedTap`] that broadcasts every event as it is written, and [`LiveFeeds`] lists the
//! sessions running now, so a watcher can find one, read its file so far and follow the
//! broadcast from the next event on.
//!
//! Broadcasting never waits: a watcher too slow to keep up misses events and is told how
//! many ([`tokio::sync::broadcast`]'s lag). The session's end closes the broadcast: the
//! tap goes with the sealed recorder and the [`FeedHandle`] with the session.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::{EventTap, RecordedEvent, Recording, RecordingSender};

/// Events a watcher may fall behind before it misses some.
pub const FEED_DEPTH: usize = 1024;

/// One event of a running recording: its number and the event.
pub type FeedEvent = Arc<(u64, RecordedEvent)>;

/// The tap that broadcasts a recording's events.
pub struct FeedTap {
    tx: broadcast::Sender<FeedEvent>,
}

impl FeedTap {
    /// A tap and the sender watchers subscribe through.
    pub fn new() -> (FeedTap, broadcast::Sender<FeedEvent>) {
        let (tx, _) = broadcast::channel(FEED_DEPTH);
        (FeedTap { tx: tx.clone() }, tx)
    }
}

impl EventTap for FeedTap {
    fn event(&mut self, seq: u64, event: &RecordedEvent) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new((seq, event.clone())));
        }
    }
}

/// A running session as watchers see it.
#[derive(Clone)]
pub struct Feed {
    /// Session id.
    pub session: String,
    /// The admin.
    pub user: String,
    /// The device (or console).
    pub device: String,
    /// The recording file (complete up to the last event broadcast).
    pub path: PathBuf,
    /// Terminal size at the start.
    pub size: (u16, u16),
    /// Adds markers to the session's recording.
    pub recorder: RecordingSender,
    /// Ends the session, with the reason the admin is shown.
    pub end: Arc<dyn Fn(&str) + Send + Sync>,
    observers: Arc<tokio::sync::watch::Sender<usize>>,
    tx: broadcast::Sender<FeedEvent>,
}

/// What a feed says about its session.
pub struct FeedInfo {
    /// Session id.
    pub session: String,
    /// The admin.
    pub user: String,
    /// The device (or console).
    pub device: String,
    /// The recording file.
    pub path: PathBuf,
    /// Terminal size at the start.
    pub size: (u16, u16),
}

/// An observer's seat (`watch --observe`): counted while held.
pub struct ObserverSeat {
    observers: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Drop for ObserverSeat {
    fn drop(&mut self) {
        self.observers.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Feed {
    /// A feed of the session; `tx` is the one [`FeedTap::new`] returned.
    pub fn new(
        about: FeedInfo,
        recorder: RecordingSender,
        end: Arc<dyn Fn(&str) + Send + Sync>,
        tx: broadcast::Sender<FeedEvent>,
    ) -> Feed {
        let FeedInfo {
            session,
            user,
            device,
            path,
            size,
        } = about;
        Feed {
            session,
            user,
            device,
            path,
            size,
            recorder,
            end,
            observers: Arc::new(tokio::sync::watch::Sender::new(0)),
            tx,
        }
    }

    /// Takes an observer's seat until it is dropped.
    pub fn observe(&self) -> ObserverSeat {
        self.observers.send_modify(|n| *n += 1);
        ObserverSeat {
            observers: self.observers.clone(),
        }
    }

    /// The number of observers, as it changes.
    pub fn observers(&self) -> tokio::sync::watch::Receiver<usize> {
        self.observers.subscribe()
    }

    /// Events from now on; closed when the session has ended (this handle is used up, so
    /// it does not hold the broadcast open).
    pub fn follow(self) -> broadcast::Receiver<FeedEvent> {
        self.tx.subscribe()
    }
}

type Registry = Arc<Mutex<HashMap<String, Feed>>>;

/// The sessions running now that can be watched; cheap to clone.
#[derive(Clone, Default)]
pub struct LiveFeeds {
    feeds: Registry,
}

/// Keeps a feed listed; dropping it (the session's end) removes it.
pub struct FeedHandle {
    feeds: Registry,
    session: String,
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        if let Ok(mut f) = self.feeds.lock() {
            f.remove(&self.session);
        }
    }
}

impl LiveFeeds {
    /// Lists `feed` until the handle is dropped.
    pub fn register(&self, feed: Feed) -> FeedHandle {
        let session = feed.session.clone();
        if let Ok(mut f) = self.feeds.lock() {
            f.insert(session.clone(), feed);
        }
        FeedHandle {
            feeds: self.feeds.clone(),
            session,
        }
    }

    /// Every running session, oldest id first.
    pub fn list(&self) -> Vec<Feed> {
        let Ok(feeds) = self.feeds.lock() else {
            return Vec::new();
        };
        let mut all: Vec<Feed> = feeds.values().cloned().collect();
        all.sort_by(|a, b| a.session.cmp(&b.session));
        all
    }

    /// The running session `id`, or the only one whose id starts with `id`.
    pub fn find(&self, id: &str) -> Option<Feed> {
        let feeds = self.feeds.lock().ok()?;
        if let Some(f) = feeds.get(id) {
            return Some(f.clone());
        }
        let mut found = feeds.values().filter(|f| f.session.starts_with(id));
        match (found.next(), found.next()) {
            (Some(f), None) if !id.is_empty() => Some(f.clone()),
            _ => None,
        }
    }
}

/// The screen at the end of `rec` (started on a `size` terminal, resized as it says), as
/// the escape sequences that draw it on a clear terminal of that size. A size of one row
/// or column (a client that asked for a terminal without having one) is taken as 80x24.
pub fn last_screen(rec: &Recording, size: (u16, u16)) -> Vec<u8> {
    let (cols, rows) = match size {
        (c, r) if c > 1 && r > 1 => (c as usize, r as usize),
        _ => (80, 24),
    };
    let Ok(mut vt) = avt::Terminal::new(cols, rows) else {
        return Vec::new();
    };
    let terminal = rec.had_terminal();
    for e in &rec.events {
        match e.code {
            'o' if terminal => vt.feed(String::from_utf8_lossy(&e.data).as_ref()),
            'o' => vt.feed(String::from_utf8_lossy(&super::text::crlf(&e.data)).as_ref()),
            'r' => {
                let size = std::str::from_utf8(&e.data)
                    .ok()
                    .and_then(|s| s.split_once('x'))
                    .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)));
                if let Some((c, r)) = size.filter(|&(c, r): &(usize, usize)| c > 0 && r > 0) {
                    vt.resize(c, r);
                }
            }
            _ => {}
        }
    }
    let mut screen = b"\x1b[H\x1b[2J".to_vec();
    screen.extend_from_slice(vt.dump().as_bytes());
    screen
}
