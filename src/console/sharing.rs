//! Sharing one console: attach and detach, the single write lock, and whose input counts.
//!
//! The first attacher allowed to write gets the lock if it is free; everyone else is
//! read-only and their input is dropped (they are told once). The lock moves by
//! request (granted when free, otherwise the holder is asked), by force (only for
//! attachers with `can_force`; the holder is told and demoted), by release, or when the
//! holder detaches. Every change is announced to all attached users and marked in the
//! continuous log.

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::actor::Console;
use super::peer::{ConsoleOutput, Peer};
use super::protocol::PeerId;
use super::protocol::WriteRequest;
use super::ring::lock;
use super::spec::{Attacher, BreakFn};
use super::{ConsoleError, Result};

impl Console {
    /// A new attachment: backlog first, then a greeting; the others are told.
    pub(super) fn attach(
        &mut self,
        who: Attacher,
        reply: oneshot::Sender<(PeerId, ConsoleOutput)>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let user = who.user.clone();
        let takes_lock = who.can_write && self.writer.is_none();
        let mode = if takes_lock {
            "with write access"
        } else {
            "read-only"
        };
        let (mut peer, rx) = Peer::new(who, self.opts.attach_queue_bytes);
        let backlog = lock(&self.ring).snapshot();
        if !backlog.is_empty() {
            let _ = peer.deliver(backlog);
        }
        let _ = peer.tell(&format!(
            "attached to {} {mode}, link {}; Ctrl-] ? for help",
            self.name, self.link_state
        ));
        self.tell_all(&format!("{user} joined, {mode}"));
        self.peers.insert(id, peer);
        if takes_lock {
            self.writer = Some(id);
        }
        self.log.marker(&format!("attach {user}, {mode}"));
        self.idle_deadline = None;
        if !self.has_link_or_opener() {
            self.schedule_open(std::time::Duration::ZERO);
        }
        self.publish();
        if reply.send((id, rx)).is_err() {
            self.detach(id); // the caller gave up waiting
        }
    }

    /// Removes an attachment; frees the write lock if it held it.
    pub(super) fn detach(&mut self, id: PeerId) {
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        let user = peer.who.user;
        self.log.marker(&format!("detach {user}"));
        if self.writer == Some(id) {
            self.writer = None;
            self.tell_all(&format!("{user} left, write access is free"));
        } else {
            self.tell_all(&format!("{user} left"));
        }
        if self.peers.is_empty() && !self.always_on {
            self.idle_deadline = Some(Instant::now() + self.opts.idle_grace);
        }
        self.publish();
    }

    /// Keystrokes: queued for the link if `id` holds the write lock, dropped otherwise.
    pub(super) fn input(&mut self, id: PeerId, bytes: Bytes) {
        let is_writer = self.writer == Some(id);
        let link_up = self.control.is_some();
        let full = self.pending_bytes + bytes.len() > self.opts.input_buffer;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !is_writer {
            if !peer.told_read_only {
                peer.told_read_only = true;
                let _ = peer.tell(if peer.who.can_write {
                    "read-only, Ctrl-] t to ask for write"
                } else {
                    "read-only, your input is dropped"
                });
            }
            return;
        }
        if !link_up {
            if !peer.told_link_down {
                peer.told_link_down = true;
                let _ = peer.tell("link is down, your input is dropped");
            }
            return;
        }
        if full {
            if !self.told_input_full {
                self.told_input_full = true;
                let _ = peer.tell("the device is not taking input, some was dropped");
            }
            return;
        }
        self.pending_bytes += bytes.len();
        self.pending_input.push_back(bytes);
    }

    fn user(&self, id: PeerId) -> Result<&Attacher> {
        self.peers
            .get(&id)
            .map(|p| &p.who)
            .ok_or_else(|| ConsoleError::Gone(self.name.clone()))
    }

    fn not_permitted(&self, user: &str, action: &'static str) -> ConsoleError {
        ConsoleError::NotPermitted {
            user: user.to_string(),
            action,
            console: self.name.clone(),
        }
    }

    /// Gives `id` the write lock and announces it.
    fn grant(&mut self, id: PeerId, how: &str) {
        self.writer = Some(id);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.told_read_only = false;
        let user = peer.who.user.clone();
        self.log.marker(&format!("write lock {how} {user}"));
        self.tell_all(&format!("{user} has write access"));
        self.publish();
    }

    /// `Ctrl-] t`: the lock if it is free, otherwise its holder is asked.
    pub(super) fn request_write(&mut self, id: PeerId) -> Result<WriteRequest> {
        let who = self.user(id)?.clone();
        if !who.can_write {
            return Err(self.not_permitted(&who.user, "write"));
        }
        match self.writer {
            Some(w) if w == id => Ok(WriteRequest::AlreadyHeld),
            Some(holder) => match self.peers.get_mut(&holder) {
                Some(holder) => {
                    let _ = holder.tell(&format!(
                        "{} asks for write access, Ctrl-] r to release it",
                        who.user
                    ));
                    Ok(WriteRequest::Asked {
                        holder: holder.who.user.clone(),
                    })
                }
                None => {
                    self.grant(id, "granted to");
                    Ok(WriteRequest::Granted)
                }
            },
            None => {
                self.grant(id, "granted to");
                Ok(WriteRequest::Granted)
            }
        }
    }

    /// `Ctrl-] T`: takes the lock; the previous holder is told and demoted.
    pub(super) fn force_write(&mut self, id: PeerId) -> Result<()> {
        let who = self.user(id)?.clone();
        if !(who.can_write && who.can_force) {
            return Err(self.not_permitted(&who.user, "force write"));
        }
        match self.writer {
            Some(w) if w == id => return Ok(()),
            Some(prev) => {
                if let Some(prev) = self.peers.get_mut(&prev) {
                    prev.told_read_only = false;
                    let _ = prev.tell(&format!(
                        "{} took write access from you, you are read-only now",
                        who.user
                    ));
                }
                self.grant(id, "forced by");
            }
            None => self.grant(id, "granted to"),
        }
        Ok(())
    }

    /// `Ctrl-] r`: gives the lock up.
    pub(super) fn release_write(&mut self, id: PeerId) -> Result<()> {
        let user = self.user(id)?.user.clone();
        if self.writer != Some(id) {
            return Err(ConsoleError::NotWriter(self.name.clone()));
        }
        self.writer = None;
        self.log.marker(&format!("write lock released by {user}"));
        self.tell_all(&format!("{user} released write access"));
        self.publish();
        Ok(())
    }

    /// `Ctrl-] b`: only the writer, only on an up link, only if the backend can.
    pub(super) fn break_allowed(&mut self, id: PeerId) -> Result<BreakFn> {
        let user = self.user(id)?.user.clone();
        if self.writer != Some(id) {
            return Err(ConsoleError::NotWriter(self.name.clone()));
        }
        let Some(send_break) = self.send_break.clone() else {
            return Err(ConsoleError::BreakUnsupported);
        };
        if self.control.is_none() {
            return Err(ConsoleError::LinkDown(self.name.clone()));
        }
        self.log.marker(&format!("break sent by {user}"));
        self.tell_all(&format!("{user} sent a break"));
        Ok(send_break)
    }
}
