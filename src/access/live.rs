//! The sessions running now, with what they depend on (a grant, a certificate), so that
//! revoking either ends them within seconds, with a reason the admin is shown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::identity::Identity;

struct Entry {
    user: String,
    grant: Option<i64>,
    serial: u64,
    key_id: String,
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

#[derive(Default)]
struct Inner {
    entries: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
}

/// Registry of live sessions; cheap to clone.
#[derive(Clone, Default)]
pub struct LiveSessions {
    inner: Arc<Inner>,
}

/// One registered session; dropping it unregisters the session.
pub struct LiveSession {
    id: u64,
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
    owner: LiveSessions,
}

impl LiveSessions {
    /// Registers a session of `id` (depending on `grant`, if it was authorized by one),
    /// ended by `parent` (bastion shutdown) or by [`LiveSessions::end_grant`] /
    /// [`LiveSessions::end_where`].
    pub fn register(
        &self,
        id: &Identity,
        grant: Option<i64>,
        parent: &CancellationToken,
    ) -> LiveSession {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let token = parent.child_token();
        let reason = Arc::new(Mutex::new(None));
        self.lock().insert(
            n,
            Entry {
                user: id.user.clone(),
                grant,
                serial: id.serial,
                key_id: id.key_id.clone(),
                token: token.clone(),
                reason: reason.clone(),
            },
        );
        LiveSession {
            id: n,
            token,
            reason,
            owner: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the sessions that depend on grant `grant`; returns how many.
    pub fn end_grant(&self, grant: i64, reason: &str) -> usize {
        self.end_matching(|e| e.grant == Some(grant), reason)
    }

    /// Ends the sessions whose certificate `(serial, key id)` `revoked` says is revoked,
    /// with the reason it returns; returns how many.
    pub fn end_where(&self, revoked: impl Fn(u64, &str) -> Option<String>) -> usize {
        let mut n = 0;
        for e in self.lock().values() {
            if e.token.is_cancelled() {
                continue;
            }
            if let Some(why) = revoked(e.serial, &e.key_id) {
                end(e, &why);
                tracing::warn!(user = %e.user, "{why}");
                n += 1;
            }
        }
        n
    }

    fn end_matching(&self, pred: impl Fn(&Entry) -> bool, reason: &str) -> usize {
        let mut n = 0;
        for e in self.lock().values() {
            if !e.token.is_cancelled() && pred(e) {
                end(e, reason);
                n += 1;
            }
        }
        n
    }

    /// The grants the running sessions depend on, each once.
    pub fn grants(&self) -> Vec<i64> {
        let mut g: Vec<i64> = self
            .lock()
            .values()
            .filter(|e| !e.token.is_cancelled())
            .filter_map(|e| e.grant)
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// Sessions registered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a session ended by the revocation of grant `n` tells its admin (on every node).
pub fn revoked_reason(n: i64, by: &str, note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        None => format!("access grant #{n} revoked by {by}"),
        Some(note) => format!("access grant #{n} revoked by {by}: {note}"),
    }
}

fn end(e: &Entry, reason: &str) {
    *e.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    e.token.cancel();
}

impl LiveSession {
    /// Cancelled when the session must end (shutdown, revoked grant or certificate).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Ends this session from elsewhere (an observer), with `reason` shown to the admin.
    pub fn ender(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        let (token, why) = (self.token.clone(), self.reason.clone());
        Arc::new(move |reason: &str| {
            *why.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
            token.cancel();
        })
    }

    /// Why the session was ended from outside; `None` for a bastion shutdown.
    pub fn ended_because(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.owner.lock().remove(&self.id);
    }
}
