//! A device's lines: switches take 5 to 16 sessions at once (vty lines), so the bastion
//! opens at most `max_sessions` sessions to a device at a time, and the next ones wait for
//! a free line instead of being dropped by the device mid-handshake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::inventory::Device;

/// A device's line count and its slots.
type Slots = (usize, Arc<Semaphore>);

/// The line slots of every device that limits them; cheap to clone.
#[derive(Clone, Default)]
pub struct Lines {
    devices: Arc<Mutex<HashMap<String, Slots>>>,
}

/// A line of a device, held for a session's length; `None` inside for unlimited devices.
pub struct Line(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

/// What asking for a line gave.
pub enum Take {
    /// A line is held.
    Got(Line),
    /// Every line is in use (their number): wait on the future for one.
    Busy(
        usize,
        std::pin::Pin<Box<dyn std::future::Future<Output = Line> + Send>>,
    ),
}

impl Lines {
    fn slots(&self, device: &Device, n: usize) -> Arc<Semaphore> {
        let mut map = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry(device.name.clone())
            .or_insert_with(|| (n, Arc::new(Semaphore::new(n))));
        // A changed `max_sessions` takes effect for the sessions that start after it.
        if entry.0 != n {
            *entry = (n, Arc::new(Semaphore::new(n)));
        }
        entry.1.clone()
    }

    /// A line of `device`: at once if one is free (or the device has no limit).
    pub fn take(&self, device: &Device) -> Take {
        let Some(n) = device.max_sessions else {
            return Take::Got(Line(None));
        };
        let slots = self.slots(device, n);
        match slots.clone().try_acquire_owned() {
            Ok(p) => Take::Got(Line(Some(p))),
            Err(_) => Take::Busy(
                n,
                Box::pin(async move { Line(slots.acquire_owned().await.ok()) }),
            ),
        }
    }
}
