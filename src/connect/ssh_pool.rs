//! Idle, logged-in SSH connections of devices with `reuse_connection = true`: a session
//! that ends cleanly hands its connection back, the next session to that device opens a
//! new channel on it instead of a new login. Each connection carries one session at a
//! time, so one that dies fails only its own session; idle ones are closed after
//! [`IDLE`] (they hold one of the device's lines).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::ssh_conn::DeviceConn;

/// How long an idle connection is kept.
pub const IDLE: Duration = Duration::from_secs(60);

/// Idle connections by device name, each with the time it went idle.
type Idle = HashMap<String, Vec<(DeviceConn, Instant)>>;

/// The pool; cheap to clone.
#[derive(Clone, Default)]
pub struct Pool {
    idle: Arc<Mutex<Idle>>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a live idle connection to `device` waits.
    pub fn has(&self, device: &str) -> bool {
        self.lock().get(device).is_some_and(|l| {
            l.iter()
                .any(|(c, since)| c.is_open() && since.elapsed() < IDLE)
        })
    }

    /// A live idle connection to `device`, if there is one.
    pub fn take(&self, device: &str) -> Option<DeviceConn> {
        let mut idle = self.lock();
        let list = idle.get_mut(device)?;
        while let Some((conn, since)) = list.pop() {
            if conn.is_open() && since.elapsed() < IDLE {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for the next session to its device.
    pub fn put(&self, conn: DeviceConn) {
        let device = conn.device().to_string();
        self.lock()
            .entry(device.clone())
            .or_default()
            .push((conn, Instant::now()));
        let pool = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(IDLE).await;
            pool.prune(&device);
        });
    }

    fn prune(&self, device: &str) {
        let stale: Vec<DeviceConn> = {
            let mut idle = self.lock();
            let Some(list) = idle.get_mut(device) else {
                return;
            };
            let (keep, stale): (Vec<_>, Vec<_>) = list
                .drain(..)
                .partition(|(c, since)| c.is_open() && since.elapsed() < IDLE);
            *list = keep;
            stale.into_iter().map(|(c, _)| c).collect()
        };
        drop(stale); // each disconnects on drop
    }
}
