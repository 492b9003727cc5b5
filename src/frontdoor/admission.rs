//! Who gets in before authentication, as sshd's `MaxStartups` and `PerSourcePenalties`
//! do it: a source address may hold only so many unauthenticated connections, an address
//! whose connections keep ending without a login (a flood, a scanner, a guesser) is
//! refused for a while, and all unauthenticated connections together have a pool of their
//! own, so a flood of them never takes the places of admins who have logged
//! in (those count against `limits.max_connections`, taken at authentication).
//!
//! Pre-authentication noise (refused logins, timeouts, refused connections) from one
//! address is audited in full up to [`NOISE_ROWS`] events a minute; the rest is counted
//! and written as one `auth.noise` row per address and minute, so nobody can grow the
//! audit log by megabytes a minute from outside.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// Pre-authentication events audited in full per address and minute.
pub const NOISE_ROWS: u32 = 20;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Source {
    unauthenticated: usize,
    /// When its connections ended without a login, within the last minute.
    failed: VecDeque<Instant>,
    noise_since: Option<Instant>,
    noise_rows: u32,
    suppressed: u64,
}

/// Why a connection is refused at accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This address holds its share of unauthenticated connections.
    PerSource(usize),
    /// Too many of this address's connections ended without a login in the last minute.
    Rate(usize),
    /// All unauthenticated places are taken.
    Full(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::PerSource(n) => write!(
                f,
                "{n} unauthenticated connections from this address already (limits.max_unauthenticated_per_source)"
            ),
            Refusal::Rate(n) => write!(
                f,
                "{n} connections from this address ended without a login in the last minute (limits.max_failures_per_source_per_minute)"
            ),
            Refusal::Full(n) => write!(
                f,
                "{n} unauthenticated connections already (limits.max_unauthenticated)"
            ),
        }
    }
}

/// The admission state of the front door.
pub struct Admission {
    sources: Mutex<HashMap<IpAddr, Source>>,
    unauthenticated: Arc<Semaphore>,
    authenticated: Arc<Semaphore>,
    per_source: usize,
    per_minute: usize,
    pool: usize,
    /// How long noise is counted before its `auth.noise` row (a minute).
    interval: Duration,
}

/// An unauthenticated connection's place; dropping it frees the place (and, if the
/// connection never logged in, counts a failure against its address).
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    permit: Option<OwnedSemaphorePermit>,
}

impl Ticket {
    /// The connection logged in: its unauthenticated place is free again.
    pub fn logged_in(&mut self) {
        if self.permit.take().is_some() {
            self.admission.release(self.ip, false);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.permit.take().is_some() {
            self.admission.release(self.ip, true);
        }
    }
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: &Limits) -> Arc<Admission> {
        Self::with_interval(limits, MINUTE)
    }

    fn with_interval(limits: &Limits, interval: Duration) -> Arc<Admission> {
        Arc::new(Admission {
            sources: Mutex::new(HashMap::new()),
            unauthenticated: Arc::new(Semaphore::new(limits.max_unauthenticated)),
            authenticated: Arc::new(Semaphore::new(limits.max_connections)),
            per_source: limits.max_unauthenticated_per_source,
            per_minute: limits.max_failures_per_source_per_minute,
            pool: limits.max_unauthenticated,
            interval,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Source>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let now = Instant::now();
        let mut sources = self.lock();
        let s = sources.entry(ip).or_default();
        while s
            .failed
            .front()
            .is_some_and(|t| now.duration_since(*t) > MINUTE)
        {
            s.failed.pop_front();
        }
        if s.failed.len() >= self.per_minute {
            return Err(Refusal::Rate(self.per_minute));
        }
        if s.unauthenticated >= self.per_source {
            return Err(Refusal::PerSource(self.per_source));
        }
        let permit = self
            .unauthenticated
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Full(self.pool))?;
        s.unauthenticated += 1;
        Ok(Ticket {
            admission: self.clone(),
            ip,
            permit: Some(permit),
        })
    }

    fn release(&self, ip: IpAddr, failed: bool) {
        let mut sources = self.lock();
        if let Some(s) = sources.get_mut(&ip) {
            s.unauthenticated = s.unauthenticated.saturating_sub(1);
            if failed {
                s.failed.push_back(Instant::now());
            }
        }
    }

    /// An authenticated connection's place among `limits.max_connections`, if one is free.
    pub fn authenticated(&self) -> Option<OwnedSemaphorePermit> {
        self.authenticated.clone().try_acquire_owned().ok()
    }

    /// Whether a pre-authentication event from `ip` is audited in full (else it is
    /// counted for the address's next `auth.noise` row).
    pub fn note_noise(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut sources = self.lock();
        let s = sources.entry(ip).or_default();
        if s.noise_since
            .is_none_or(|t| now.duration_since(t) > self.interval && s.suppressed == 0)
        {
            s.noise_since = Some(now);
            s.noise_rows = 0;
        }
        if s.noise_rows < NOISE_ROWS {
            s.noise_rows += 1;
            true
        } else {
            s.suppressed += 1;
            false
        }
    }

    /// The addresses whose suppressed noise is a minute old, with how much there was;
    /// forgets addresses with nothing left to track.
    pub fn take_noise(&self) -> Vec<(IpAddr, u64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut sources = self.lock();
        for (ip, s) in sources.iter_mut() {
            let due = s
                .noise_since
                .is_some_and(|t| now.duration_since(t) >= self.interval);
            if due && s.suppressed > 0 {
                out.push((*ip, s.suppressed));
                s.suppressed = 0;
                s.noise_since = Some(now);
                s.noise_rows = NOISE_ROWS;
            }
        }
        sources.retain(|_, s| {
            s.unauthenticated > 0
                || s.suppressed > 0
                || s.failed
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= MINUTE)
                || s.noise_since
                    .is_some_and(|t| now.duration_since(t) <= self.interval)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_source: usize, per_minute: usize, pool: usize) -> Limits {
        let mut l = crate::config::Config::parse(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"d\"\npolicy_dir = \".\"\ninventory = \"Cargo.toml\"\n",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("x.toml").as_path(),
        )
        .unwrap()
        .limits;
        l.max_unauthenticated_per_source = per_source;
        l.max_failures_per_source_per_minute = per_minute;
        l.max_unauthenticated = pool;
        l
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let a = Admission::new(&limits(2, 100, 3));
        let flood: IpAddr = "192.0.2.66".parse().unwrap();
        let admin: IpAddr = "192.0.2.10".parse().unwrap();
        let t1 = a.admit(flood).unwrap();
        let _t2 = a.admit(flood).unwrap();
        assert_eq!(a.admit(flood).err(), Some(Refusal::PerSource(2)));
        // Another address still gets in; the pool is the last limit.
        let _t3 = a.admit(admin).unwrap();
        assert_eq!(a.admit(admin).err(), Some(Refusal::Full(3)));
        drop(t1);
        assert!(a.admit(flood).is_ok());
    }

    #[test]
    fn an_address_that_never_logs_in_is_refused_for_a_while() {
        let a = Admission::new(&limits(100, 3, 100));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        // Logins that succeed cost nothing: automation may open as many as it likes.
        for _ in 0..10 {
            a.admit(ip).unwrap().logged_in();
        }
        for _ in 0..3 {
            drop(a.admit(ip).unwrap());
        }
        assert_eq!(a.admit(ip).err(), Some(Refusal::Rate(3)));
        assert!(a.admit("192.0.2.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn noise_beyond_the_first_rows_is_counted_not_written() {
        let a = Admission::new(&limits(10, 100, 10));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let written = (0..50).filter(|_| a.note_noise(ip)).count();
        assert_eq!(written, NOISE_ROWS as usize);
        // Not a minute old yet: nothing to summarize.
        assert!(a.take_noise().is_empty());
        // An interval later, one summary of the 45 left out; then nothing again.
        let a = Admission::with_interval(&limits(10, 100, 10), Duration::from_millis(50));
        let written = (0..50).filter(|_| a.note_noise(ip)).count();
        assert_eq!(written, NOISE_ROWS as usize);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(a.take_noise(), vec![(ip, 50 - NOISE_ROWS as u64)]);
        assert!(a.take_noise().is_empty());
        // Still noisy: counted again, not written.
        assert!(!a.note_noise(ip));
    }
}
