//! The registry of consoles: register, list, attach, shut down.
//!
//! The broker itself holds no console state: each console is a task (see `actor`),
//! and the broker keeps, per name, the channels to reach it, the watch on its status
//! and its ring. The name map sits behind a plain mutex that is only held to look a
//! name up or insert one, never across an await.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::actor::Console;
use super::alert_sink::{ConsoleAlert, ALERT_QUEUE};
use super::attachment::Attachment;
use super::log::ConsoleLog;
use super::protocol::{Cmd, PeerId};
use super::ring::Ring;
use super::spec::{Attacher, BrokerOptions, ConsoleSpec, ConsoleStatus, LinkState};
use super::{ConsoleError, Result};

/// Mailbox size of a console task (input and lock requests; output never goes here).
const MAILBOX: usize = 64;

/// How the broker reaches one console task.
#[derive(Clone)]
struct Handle {
    cmds: mpsc::Sender<Cmd>,
    detaches: mpsc::UnboundedSender<PeerId>,
    status: watch::Receiver<ConsoleStatus>,
    ring: Arc<Mutex<Ring>>,
}

struct Inner {
    log_dir: PathBuf,
    opts: BrokerOptions,
    consoles: Mutex<BTreeMap<String, Handle>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    alert_tx: mpsc::Sender<ConsoleAlert>,
    alert_rx: Mutex<Option<mpsc::Receiver<ConsoleAlert>>>,
}

/// The console broker. Cloning is cheap; all clones share the same consoles.
#[derive(Clone)]
pub struct ConsoleBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConsoleBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleBroker")
            .field("log_dir", &self.inner.log_dir)
            .finish_non_exhaustive()
    }
}

/// Console names become folder names: keep them plain.
fn check_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(ConsoleError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 128 {
        return bad("must be 1 to 128 characters");
    }
    if name.starts_with('.') {
        return bad("must not start with a dot");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

impl ConsoleBroker {
    /// A broker logging under `log_dir/<console>/`.
    pub fn new(log_dir: PathBuf, opts: BrokerOptions) -> Self {
        let (alert_tx, alert_rx) = mpsc::channel(ALERT_QUEUE);
        ConsoleBroker {
            inner: Arc::new(Inner {
                log_dir,
                opts,
                consoles: Mutex::new(BTreeMap::new()),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                alert_tx,
                alert_rx: Mutex::new(Some(alert_rx)),
            }),
        }
    }

    fn consoles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Handle>> {
        self.inner
            .consoles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a console and starts its task (an always-on console connects at once).
    /// Must be called within a Tokio runtime. Fails on a bad or duplicate name, after
    /// shutdown, or when the log folder cannot be created.
    pub fn register(&self, spec: ConsoleSpec) -> Result<()> {
        check_name(&spec.name)?;
        let name = spec.name.clone();
        if self.inner.cancel.is_cancelled() {
            return Err(ConsoleError::Gone(name));
        }
        let mut consoles = self.consoles();
        if consoles.contains_key(&name) {
            return Err(ConsoleError::Duplicate(name));
        }
        let opts = self.inner.opts.clone();
        let log = ConsoleLog::open(
            &self.inner.log_dir,
            &name,
            opts.log_max_bytes,
            opts.log_keep,
        )?
        .shipped_by(opts.ship_logs.clone());
        let ring = Arc::new(Mutex::new(Ring::new(opts.ring_bytes)));
        let (status_tx, status_rx) = watch::channel(ConsoleStatus {
            name: name.clone(),
            always_on: spec.always_on,
            link: LinkState::Idle,
            attached: Vec::new(),
            bytes_logged: 0,
            writer: None,
        });
        let (cmd_tx, cmd_rx) = mpsc::channel(MAILBOX);
        let (det_tx, det_rx) = mpsc::unbounded_channel();
        let alerts = self.inner.alert_tx.clone();
        let console = Console::new(spec, opts, log, ring.clone(), status_tx, alerts);
        self.inner
            .tasks
            .spawn(console.run(cmd_rx, det_rx, self.inner.cancel.clone()));
        consoles.insert(
            name,
            Handle {
                cmds: cmd_tx,
                detaches: det_tx,
                status: status_rx,
                ring,
            },
        );
        Ok(())
    }

    /// The consoles' alert firings (see [`forward_alerts`](super::forward_alerts)); the
    /// first call takes them, later calls get `None`.
    pub fn take_alerts(&self) -> Option<mpsc::Receiver<ConsoleAlert>> {
        self.inner
            .alert_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Every console's status, by name.
    pub fn list(&self) -> Vec<ConsoleStatus> {
        self.consoles()
            .values()
            .map(|h| h.status.borrow().clone())
            .collect()
    }

    /// One console's status.
    pub fn status(&self, name: &str) -> Option<ConsoleStatus> {
        self.consoles().get(name).map(|h| h.status.borrow().clone())
    }

    /// Attaches `who` to console `name`. The caller has already checked policy;
    /// `who` says whether they may write and force.
    pub async fn attach(&self, name: &str, who: Attacher) -> Result<Attachment> {
        let handle = self
            .consoles()
            .get(name)
            .cloned()
            .ok_or_else(|| ConsoleError::UnknownConsole(name.to_string()))?;
        let gone = || ConsoleError::Gone(name.to_string());
        let user = who.user.clone();
        let (tx, rx) = oneshot::channel();
        handle
            .cmds
            .send(Cmd::Attach { who, reply: tx })
            .await
            .map_err(|_| gone())?;
        let (id, output) = rx.await.map_err(|_| gone())?;
        Ok(Attachment::new(
            output,
            name.to_string(),
            user,
            id,
            handle.cmds,
            handle.detaches,
            handle.ring,
            handle.status,
        ))
    }

    /// Tells everyone attached to console `name` `text` (it shows in their sessions and
    /// their recordings) and marks the continuous log with it.
    pub async fn announce(&self, name: &str, text: &str) -> Result<()> {
        let handle = self
            .consoles()
            .get(name)
            .cloned()
            .ok_or_else(|| ConsoleError::UnknownConsole(name.to_string()))?;
        handle
            .cmds
            .send(Cmd::Announce {
                text: text.to_string(),
            })
            .await
            .map_err(|_| ConsoleError::Gone(name.to_string()))
    }

    /// Stops every console: attached users are told, links closed, logs finished.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.consoles().clear();
    }
}
