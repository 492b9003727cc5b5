//! One SSH connection to a device past its handshake (TCP, key exchange, host key check),
//! which can run while the admin's own login to the bastion is still under way; the login
//! and the session channel come later ([`super::ssh_channel`]), once the session is
//! recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::Handle;
use russh::Disconnect;

use super::ssh_handler::DeviceHandler;
use super::Target;

/// A device connection past its handshake (and, once used, its login).
pub struct DeviceConn {
    pub(super) target: Target,
    pub(super) handle: Option<Handle<DeviceHandler>>,
    pub(super) disconnect: Arc<Mutex<Option<String>>>,
    /// Whether the login is done (a connection that carried a session before).
    pub(super) authed: bool,
    pub(super) setup_timeout: Duration,
}

impl DeviceConn {
    pub(super) fn new(
        target: Target,
        handle: Handle<DeviceHandler>,
        disconnect: Arc<Mutex<Option<String>>>,
        setup_timeout: Duration,
    ) -> DeviceConn {
        DeviceConn {
            target,
            handle: Some(handle),
            disconnect,
            authed: false,
            setup_timeout,
        }
    }

    /// The device this connection is to.
    pub fn device(&self) -> &str {
        &self.target.name
    }

    /// Whether the connection is still up.
    pub(super) fn is_open(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_closed())
    }

    /// Ends the connection politely.
    pub(super) async fn close(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h
                .disconnect(Disconnect::ByApplication, "session ended", "en")
                .await;
        }
    }
}

impl Drop for DeviceConn {
    fn drop(&mut self) {
        // A connection dropped unused (its session never started) is disconnected too.
        if let Some(h) = self.handle.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = h
                        .disconnect(Disconnect::ByApplication, "not used", "en")
                        .await;
                });
            }
        }
    }
}
