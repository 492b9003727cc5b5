//! Four eyes: a session on a device marked `require_observer` (a device session or a
//! console attach) starts only once someone allowed to `watch` observes it (`ssh -t bastion
//! watch --observe ID`), and holds the admin's input whenever nobody does.

use russh::server::Msg;
use russh::Channel;

use super::guard::{Guard, Stop, Tick};
use super::Start;

/// Four eyes: tells the admin the session waits for an observer and waits for one (or
/// for the session's end: deadline, revocation, shutdown).
pub(super) async fn wait_for_observer(
    guard: &mut Guard,
    channel: &Channel<Msg>,
    start: &Start,
) -> Result<(), Stop> {
    let mut observers = guard.observers();
    if *observers.borrow_and_update() > 0 {
        return Ok(());
    }
    let note = format!(
        "oobgate: {} requires an observer; waiting for someone allowed to watch to join with: ssh -t bastion watch --observe {}\r\n",
        guard.device().name,
        guard.session_id()
    );
    notice(channel, start, note).await;
    loop {
        tokio::select! {
            changed = observers.changed() => {
                if changed.is_err() {
                    return Err(Stop::quiet("no observer joined", false));
                }
                if *observers.borrow_and_update() > 0 {
                    notice(channel, start, "oobgate: observed; starting\r\n".into()).await;
                    return Ok(());
                }
            }
            t = guard.tick() => {
                if let Tick::Stop(stop) = t {
                    return Err(stop);
                }
            }
        }
    }
}

/// A line from the bastion to the admin: on the terminal, or on stderr without one.
pub(super) async fn notice(channel: &Channel<Msg>, start: &Start, note: String) {
    if start.pty.is_some() {
        let _ = channel.data_bytes(note.into_bytes()).await;
    } else {
        let _ = channel.extended_data_bytes(1, note.into_bytes()).await;
    }
}

/// The observer count of a four-eyes session.
pub(super) type Observers = tokio::sync::watch::Receiver<usize>;

/// Whether input may go through now: no four eyes, or someone observes.
pub(super) fn open(observers: &Option<Observers>) -> bool {
    observers.as_ref().is_none_or(|o| *o.borrow() > 0)
}

/// Whether the admin was last told the session is observed (it starts observed: it
/// waited for an observer).
pub(super) struct Told(bool);

impl Default for Told {
    fn default() -> Told {
        Told(true)
    }
}

impl Told {
    /// The observer count became `n`: what to tell the admin, if it turned.
    pub(super) fn turned(&mut self, n: usize) -> Option<&'static str> {
        if (n > 0) == self.0 {
            return None;
        }
        self.0 = n > 0;
        Some(if self.0 {
            "observed again: input resumes"
        } else {
            "input paused: nobody observes this session; it resumes when an observer joins"
        })
    }
}

/// The next change of the observer count (never, without four eyes or once it is gone).
pub(super) async fn changed(observers: &mut Option<Observers>) -> usize {
    if let Some(o) = observers {
        if o.changed().await.is_ok() {
            return *o.borrow_and_update();
        }
    }
    std::future::pending().await
}
