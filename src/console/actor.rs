//! The console task: the one owner of a console's link, log, ring and attached users.
//!
//! It waits on its mailbox, the link's events, the result of a pending link open, the
//! device accepting queued input, and the idle timer, and reacts to whichever comes
//! first. It never awaits anything slow: links are opened by a short-lived opener task
//! that reports back, output reaches attached users with `try_send` only (see `peer`),
//! and a serial break is run by the attachment that asked for it.
//!
//! Link lifecycle: a link is *wanted* when the console is always-on or someone is
//! attached. A wanted console without a link opens one, first at once, then after each
//! failure or drop with a delay doubling from `backoff_initial` to `backoff_max`; a link
//! that stayed up for `backoff_reset_after` resets the delay. An unwanted link is closed
//! `idle_grace` after the last detach.

use std::collections::{BTreeMap, VecDeque};
use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::SendError, OwnedPermit};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connect::{self, Link, LinkControl, LinkEvent};

use super::alert_sink::ConsoleAlert;
use super::log::ConsoleLog;
use super::matcher::{AlertMatcher, Firing};
use super::peer::{Delivery, Peer};
use super::protocol::{Cmd, PeerId};
use super::ring::{lock, Ring};
use super::spec::{AttachedUser, BreakFn, BrokerOptions, ConsoleSpec, ConsoleStatus, LinkState};

/// A finished link open: the opener's generation and its result.
type Opened = (u64, connect::Result<Link>);

/// All state of one console; lives inside its task.
pub(crate) struct Console {
    pub(super) name: String,
    pub(super) always_on: bool,
    open: super::spec::OpenFn,
    pub(super) send_break: Option<BreakFn>,
    pub(super) opts: BrokerOptions,
    pub(super) ring: Arc<Mutex<Ring>>,
    pub(super) log: ConsoleLog,
    pub(super) peers: BTreeMap<PeerId, Peer>,
    pub(super) next_id: PeerId,
    /// The attachment holding the write lock.
    pub(super) writer: Option<PeerId>,
    events: Option<mpsc::Receiver<LinkEvent>>,
    pub(super) control: Option<mpsc::Sender<LinkControl>>,
    up_since: Option<Instant>,
    pub(super) link_state: LinkState,
    pub(super) opener: Option<JoinHandle<()>>,
    open_tx: mpsc::Sender<Opened>,
    open_rx: mpsc::Receiver<Opened>,
    /// Bumped for every open attempt; results of older attempts are discarded.
    generation: u64,
    /// Delay before the next reconnect.
    backoff: Duration,
    pub(super) idle_deadline: Option<Instant>,
    /// Writer input not yet accepted by the link, and its size.
    pub(super) pending_input: VecDeque<Bytes>,
    pub(super) pending_bytes: usize,
    /// The writer was told input is being dropped; cleared once the queue drains.
    pub(super) told_input_full: bool,
    status: watch::Sender<ConsoleStatus>,
    /// The alert rules' state, and where firings go (never awaited).
    matcher: AlertMatcher,
    alerts: mpsc::Sender<ConsoleAlert>,
    /// Alerts are being dropped (the queue is full); warned once until one gets through.
    alerts_dropping: bool,
}

/// Locks the ring; a poisoned lock still holds valid bytes.
impl Console {
    /// State for `spec`; nothing runs until [`Console::run`].
    pub(crate) fn new(
        spec: ConsoleSpec,
        opts: BrokerOptions,
        log: ConsoleLog,
        ring: Arc<Mutex<Ring>>,
        status: watch::Sender<ConsoleStatus>,
        alerts: mpsc::Sender<ConsoleAlert>,
    ) -> Self {
        let (open_tx, open_rx) = mpsc::channel(2);
        Console {
            name: spec.name,
            always_on: spec.always_on,
            open: spec.open,
            send_break: spec.send_break,
            backoff: opts.backoff_initial,
            opts,
            ring,
            log,
            peers: BTreeMap::new(),
            next_id: 1,
            writer: None,
            events: None,
            control: None,
            up_since: None,
            link_state: LinkState::Idle,
            opener: None,
            open_tx,
            open_rx,
            generation: 0,
            idle_deadline: None,
            pending_input: VecDeque::new(),
            pending_bytes: 0,
            told_input_full: false,
            status,
            matcher: AlertMatcher::new(spec.alerts),
            alerts,
            alerts_dropping: false,
        }
    }

    /// Runs the console until the broker shuts down or every handle is gone.
    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Cmd>,
        mut detaches: mpsc::UnboundedReceiver<PeerId>,
        cancel: CancellationToken,
    ) {
        self.log.marker("console registered");
        if self.always_on {
            self.schedule_open(Duration::ZERO);
        }
        self.publish();
        loop {
            let idle = self.idle_deadline;
            tokio::select! {
                _ = cancel.cancelled() => break,
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd),
                    None => break,
                },
                Some(id) = detaches.recv() => self.detach(id),
                ev = next_event(&mut self.events) => self.on_event(ev),
                Some((generation, res)) = self.open_rx.recv() => self.on_opened(generation, res),
                permit = reserve(self.control.clone()), if !self.pending_input.is_empty() => {
                    match permit {
                        Ok(permit) => {
                            if let Some(bytes) = self.pending_input.pop_front() {
                                self.pending_bytes -= bytes.len();
                                permit.send(LinkControl::Data(bytes));
                            }
                            if self.pending_input.is_empty() {
                                self.told_input_full = false;
                            }
                        }
                        Err(_) => {
                            self.pending_input.clear();
                            self.pending_bytes = 0;
                        }
                    }
                }
                _ = sleep_until(idle), if idle.is_some() => self.on_idle(),
            }
        }
        self.stop();
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Attach { who, reply } => self.attach(who, reply),
            Cmd::Input { id, bytes } => self.input(id, bytes),
            Cmd::RequestWrite { id, reply } => {
                let _ = reply.send(self.request_write(id));
            }
            Cmd::ForceWrite { id, reply } => {
                let _ = reply.send(self.force_write(id));
            }
            Cmd::ReleaseWrite { id, reply } => {
                let _ = reply.send(self.release_write(id));
            }
            Cmd::Break { id, reply } => {
                let _ = reply.send(self.break_allowed(id));
            }
            Cmd::Who { reply } => {
                let _ = reply.send(self.who());
            }
            Cmd::Announce { text } => {
                self.log.marker(&text);
                // Kept in the backlog too: who attaches next reads it (a takeover, say).
                lock(&self.ring).push(&super::peer::notice(&text));
                self.tell_all(&text);
            }
            Cmd::Detach { id, reply } => {
                self.detach(id);
                let _ = reply.send(());
            }
        }
    }

    fn on_event(&mut self, ev: Option<LinkEvent>) {
        match ev {
            Some(LinkEvent::Data(bytes)) | Some(LinkEvent::Stderr(bytes)) => self.on_output(bytes),
            Some(LinkEvent::Eof)
            | Some(LinkEvent::ExitStatus(_))
            | Some(LinkEvent::ExitSignal(_)) => {}
            Some(LinkEvent::Closed(reason)) => self.link_lost(reason.to_string()),
            None => self.link_lost("link ended without saying why".into()),
        }
    }

    /// Console output: ring, log, then every attached user (never waiting on them).
    fn on_output(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        lock(&self.ring).push(&bytes);
        self.log.output(&bytes);
        let fired = self.matcher.output(&bytes, Instant::now());
        self.fire(fired);
        self.broadcast(bytes);
        let logged = self.log.bytes_logged();
        self.status.send_modify(|s| s.bytes_logged = logged);
    }

    /// Marks the log with each firing and queues it for the audit log and the webhook.
    fn fire(&mut self, fired: Vec<Firing>) {
        for firing in fired {
            let alert = ConsoleAlert {
                console: self.name.clone(),
                firing,
            };
            self.log.marker(&alert.marker());
            match self.alerts.try_send(alert) {
                Ok(()) => self.alerts_dropping = false,
                Err(_) if self.alerts_dropping => {}
                Err(_) => {
                    self.alerts_dropping = true;
                    tracing::warn!(console = %self.name, "alert queue full or stopped: alerts dropped (still in the console log)");
                }
            }
        }
    }

    /// Hands `msg` to every attached user; those who are gone are detached.
    pub(super) fn broadcast(&mut self, msg: Bytes) {
        let gone: Vec<PeerId> = self
            .peers
            .iter_mut()
            .filter_map(|(id, p)| (p.deliver(msg.clone()) == Delivery::Gone).then_some(*id))
            .collect();
        for id in gone {
            self.detach(id);
        }
    }

    /// Tells every attached user `text` as a notice.
    pub(super) fn tell_all(&mut self, text: &str) {
        self.broadcast(super::peer::notice(text));
    }

    /// Whether a link is needed now.
    pub(super) fn wanted(&self) -> bool {
        self.always_on || !self.peers.is_empty()
    }

    /// Whether a link is up or being opened.
    pub(super) fn has_link_or_opener(&self) -> bool {
        self.events.is_some() || self.opener.is_some()
    }

    /// Starts an opener task that waits `delay` and then opens a link.
    pub(super) fn schedule_open(&mut self, delay: Duration) {
        if let Some(old) = self.opener.take() {
            old.abort();
        }
        self.generation += 1;
        let generation = self.generation;
        let open = self.open.clone();
        let tx = self.open_tx.clone();
        self.opener = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let res = open().await;
            let _ = tx.send((generation, res)).await;
        }));
        if !matches!(self.link_state, LinkState::Down(_)) {
            self.set_state(LinkState::Connecting);
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.opts.backoff_max);
        delay
    }

    fn on_opened(&mut self, generation: u64, res: connect::Result<Link>) {
        if generation != self.generation {
            return; // a stale attempt; dropping its link closes it
        }
        self.opener = None;
        match res {
            Ok(link) => {
                if matches!(self.link_state, LinkState::Down(_)) {
                    let fired = self.matcher.reconnected(Instant::now());
                    self.fire(fired);
                }
                self.events = Some(link.events);
                self.control = Some(link.control);
                self.up_since = Some(Instant::now());
                for p in self.peers.values_mut() {
                    p.told_link_down = false;
                }
                self.log.marker("link up");
                self.tell_all("link up");
                self.set_state(LinkState::Up);
            }
            Err(e) => {
                let reason = e.to_string();
                if self.link_state != LinkState::Down(reason.clone()) {
                    self.log.marker(&format!("link open failed: {reason}"));
                    self.tell_all(&format!("link down: {reason}, reconnecting"));
                }
                if self.wanted() {
                    self.set_state(LinkState::Down(reason));
                    let delay = self.next_backoff();
                    self.schedule_open(delay);
                } else {
                    self.set_state(LinkState::Idle);
                }
            }
        }
    }

    fn drop_link(&mut self) {
        if let Some(ctl) = self.control.take() {
            let _ = ctl.try_send(LinkControl::Close);
        }
        self.events = None;
        self.pending_input.clear();
        self.pending_bytes = 0;
        if let Some(since) = self.up_since.take() {
            if since.elapsed() >= self.opts.backoff_reset_after {
                self.backoff = self.opts.backoff_initial;
            }
        }
    }

    fn link_lost(&mut self, reason: String) {
        self.drop_link();
        self.log.marker(&format!("link down: {reason}"));
        if self.wanted() {
            self.tell_all(&format!("link down: {reason}, reconnecting"));
            self.set_state(LinkState::Down(reason));
            let delay = self.next_backoff();
            self.schedule_open(delay);
        } else {
            self.set_state(LinkState::Idle);
        }
    }

    fn on_idle(&mut self) {
        self.idle_deadline = None;
        if self.wanted() {
            return;
        }
        if let Some(opener) = self.opener.take() {
            opener.abort();
            self.generation += 1;
        }
        if self.events.is_some() {
            self.drop_link();
            self.log.marker("link closed: nobody attached");
        }
        self.backoff = self.opts.backoff_initial;
        self.set_state(LinkState::Idle);
    }

    /// Shutdown: tell everyone, close the link, finish the log.
    fn stop(&mut self) {
        if let Some(opener) = self.opener.take() {
            opener.abort();
        }
        self.tell_all("console shut down by the bastion");
        self.peers.clear();
        self.writer = None;
        self.drop_link();
        self.log.marker("console stopped");
        self.log.close();
        self.set_state(LinkState::Idle);
    }

    pub(super) fn set_state(&mut self, state: LinkState) {
        self.link_state = state;
        self.publish();
    }

    /// The attached users in attach order.
    pub(super) fn who(&self) -> Vec<AttachedUser> {
        self.peers
            .iter()
            .map(|(id, p)| AttachedUser {
                user: p.who.user.clone(),
                writer: self.writer == Some(*id),
            })
            .collect()
    }

    /// Publishes the status `list` reads.
    pub(super) fn publish(&self) {
        self.status.send_replace(ConsoleStatus {
            name: self.name.clone(),
            always_on: self.always_on,
            link: self.link_state.clone(),
            attached: self.who(),
            bytes_logged: self.log.bytes_logged(),
            writer: self.writer,
        });
    }
}

async fn next_event(events: &mut Option<mpsc::Receiver<LinkEvent>>) -> Option<LinkEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => pending().await,
    }
}

async fn reserve(
    control: Option<mpsc::Sender<LinkControl>>,
) -> Result<OwnedPermit<LinkControl>, SendError<()>> {
    match control {
        Some(tx) => tx.reserve_owned().await,
        None => pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => pending().await,
    }
}
