//! Broker tests over in-memory fake links (see `testing` for why that is enough).

mod alerts;
mod defaults;
mod flow;
mod link;
mod sharing;

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::connect::LinkControl;
use crate::recording::Recording;

pub(super) fn opts() -> BrokerOptions {
    BrokerOptions {
        ring_bytes: 64 * 1024,
        log_max_bytes: 1024 * 1024,
        log_keep: 3,
        attach_queue_bytes: 256 * 1024,
        input_buffer: 64 * 1024,
        idle_grace: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        backoff_reset_after: Duration::from_secs(60),
        ship_logs: None,
    }
}

pub(super) fn user(name: &str, can_write: bool, can_force: bool) -> Attacher {
    Attacher {
        user: name.into(),
        can_write,
        can_force,
    }
}

/// An attachment plus what it has received but not yet matched.
pub(super) struct Term {
    pub(super) att: Attachment,
    buf: String,
}

impl Term {
    pub(super) fn new(att: Attachment) -> Self {
        Term {
            att,
            buf: String::new(),
        }
    }

    /// Reads until `needle` shows up; returns everything up to and including it.
    pub(super) async fn expect(&mut self, needle: &str) -> String {
        loop {
            if let Some(i) = self.buf.find(needle) {
                let end = i + needle.len();
                let seen = self.buf[..end].to_string();
                self.buf.drain(..end);
                return seen;
            }
            match tokio::time::timeout(Duration::from_secs(5), self.att.output.recv()).await {
                Ok(Some(b)) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                Ok(None) => panic!("{}: output ended, saw {:?}", self.att.user(), self.buf),
                Err(_) => panic!(
                    "{}: no {needle:?} within 5 s, saw {:?}",
                    self.att.user(),
                    self.buf
                ),
            }
        }
    }

    /// Everything that arrives within 150 ms.
    pub(super) async fn quiet(&mut self) -> String {
        while let Ok(Some(b)) =
            tokio::time::timeout(Duration::from_millis(150), self.att.output.recv()).await
        {
            self.buf.push_str(&String::from_utf8_lossy(&b));
        }
        std::mem::take(&mut self.buf)
    }
}

pub(super) async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

pub(super) fn output_of(path: &std::path::Path) -> (Vec<u8>, Vec<String>) {
    let rec = Recording::open(path).unwrap();
    let mut out = Vec::new();
    rec.cat(&mut out).unwrap();
    let markers = rec
        .events
        .iter()
        .filter(|e| e.code == 'm')
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    (out, markers)
}

pub(super) fn data(b: &str) -> Option<LinkControl> {
    Some(LinkControl::Data(Bytes::copy_from_slice(b.as_bytes())))
}
