//! Test doubles: an in-memory device behind a link factory.
//!
//! The console tests drive the broker through fake links made straight from `Link`
//! channels. That is enough here: the broker only ever sees a `Link`, and the real
//! device peers (sshd, telnet, serial) are covered by the connectors' own tests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::connect::{ConnectError, EndReason, Link, LinkControl, LinkEvent, LINK_BUFFER};

use super::spec::{BoxFuture, ConsoleSpec, OpenFn};

/// The device end of one fake link.
pub(crate) struct FakeDevice {
    pub(crate) events: mpsc::Sender<LinkEvent>,
    pub(crate) control: mpsc::Receiver<LinkControl>,
}

impl FakeDevice {
    /// The device prints `text`.
    pub(crate) async fn print(&self, text: impl AsRef<[u8]>) {
        self.events
            .send(LinkEvent::Data(Bytes::copy_from_slice(text.as_ref())))
            .await
            .expect("console reads its link");
    }

    /// The next control message from the console (5 s limit).
    pub(crate) async fn next_control(&mut self) -> Option<LinkControl> {
        tokio::time::timeout(Duration::from_secs(5), self.control.recv())
            .await
            .expect("console sends control within 5 s")
    }

    /// The link breaks.
    pub(crate) async fn lose(self, why: &str) {
        let _ = self
            .events
            .send(LinkEvent::Closed(EndReason::Lost(why.into())))
            .await;
    }
}

/// A link factory whose links end in [`FakeDevice`]s handed to the test.
pub(crate) struct FakeFactory {
    /// Open attempts so far.
    pub(crate) attempts: Arc<AtomicUsize>,
    /// While set, every open fails.
    pub(crate) fail: Arc<AtomicBool>,
    /// When each open was attempted.
    opened_at: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
    devices: mpsc::UnboundedReceiver<FakeDevice>,
    open: OpenFn,
}

impl FakeFactory {
    pub(crate) fn new() -> Self {
        let attempts = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let (tx, devices) = mpsc::unbounded_channel();
        let opened_at = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, f, at) = (attempts.clone(), fail.clone(), opened_at.clone());
        let open: OpenFn = Arc::new(
            move || -> BoxFuture<'static, crate::connect::Result<Link>> {
                at.lock().unwrap().push(tokio::time::Instant::now());
                a.fetch_add(1, Ordering::SeqCst);
                let failing = f.load(Ordering::SeqCst);
                let tx = tx.clone();
                Box::pin(async move {
                    if failing {
                        return Err(ConnectError::Unreachable {
                            device: "fake".into(),
                            address: "fake:0".into(),
                            message: "no route to host".into(),
                        });
                    }
                    let (ev_tx, ev_rx) = mpsc::channel(LINK_BUFFER);
                    let (ctl_tx, ctl_rx) = mpsc::channel(LINK_BUFFER);
                    let _ = tx.send(FakeDevice {
                        events: ev_tx,
                        control: ctl_rx,
                    });
                    Ok(Link {
                        events: ev_rx,
                        control: ctl_tx,
                    })
                })
            },
        );
        FakeFactory {
            attempts,
            fail,
            opened_at,
            devices,
            open,
        }
    }

    /// A spec for console `name` opening links from this factory.
    pub(crate) fn spec(&self, name: &str, always_on: bool) -> ConsoleSpec {
        ConsoleSpec {
            name: name.into(),
            always_on,
            open: self.open.clone(),
            alerts: Vec::new(),
            send_break: None,
        }
    }

    /// The device end of the next link opened (5 s limit).
    pub(crate) async fn device(&mut self) -> FakeDevice {
        tokio::time::timeout(Duration::from_secs(5), self.devices.recv())
            .await
            .expect("a link is opened within 5 s")
            .expect("factory alive")
    }

    /// Open attempts so far.
    pub(crate) fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// The time between each open attempt and the next.
    pub(crate) fn gaps(&self) -> Vec<Duration> {
        let at = self.opened_at.lock().unwrap();
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }
}
