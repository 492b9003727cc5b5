//! The session guard: what every kind of session needs, in one place, for device
//! sessions and console attaches alike.
//!
//! It opens the recording (no recording, no session), registers the session as live (so
//! revoking its grant or its certificate, or shutting down, ends it), writes the ledger
//! row and `session.start`, and then tells the session's loop, through [`Guard::tick`],
//! when to warn about the deadline and when to stop: deadline reached, idle too long,
//! ended from outside. [`Guard::finish`] seals the recording and writes the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{ledger, Result, Start};
use crate::access::{grant_label, AccessRequest, LiveSession};
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::metrics::LiveSessionMetric;
use crate::recording::{
    Feed, FeedHandle, FeedInfo, FeedTap, RecordingError, RecordingHeader, RecordingQueue,
    RecordingSender,
};
use crate::store::SessionEnd;

/// When bytes last went either way, for the idle timeout; shared with the input pump.
pub struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Counts bytes typed by the admin.
    pub fn typed(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    /// Counts bytes shown to the admin.
    pub fn shown(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Why a session stops, and what the admin is told.
#[derive(Debug, Clone)]
pub struct Stop {
    /// The reason recorded in the ledger (`deadline reached`, `client disconnected`...).
    pub reason: String,
    /// A line shown to the admin before the channel closes.
    pub notice: Option<String>,
    /// Whether it ended normally (the admin or the device closed it).
    pub clean: bool,
}

impl Stop {
    /// A stop with `reason` and nothing to tell.
    pub fn quiet(reason: impl Into<String>, clean: bool) -> Stop {
        Stop {
            reason: reason.into(),
            notice: None,
            clean,
        }
    }
}

/// What [`Guard::tick`] reports.
#[derive(Debug, Clone)]
pub enum Tick {
    /// Show this warning to the admin (it is already in the recording).
    Warn(String),
    /// End the session.
    Stop(Stop),
}

/// How the session ended, for [`Guard::finish`].
#[derive(Debug, Default)]
pub struct Ending {
    /// The device command's exit status, if any.
    pub exit_status: Option<u32>,
}

/// One session's guard.
pub struct Guard {
    bastion: Arc<Bastion>,
    id: Identity,
    device: Device,
    session_id: String,
    deadline: SystemTime,
    /// The grant that allowed the session: its number and whether it is break-glass.
    grant: Option<(i64, bool)>,
    deadline_at: tokio::time::Instant,
    warn_at: Option<tokio::time::Instant>,
    idle_limit: Option<Duration>,
    activity: Arc<Activity>,
    live: LiveSession,
    queue: RecordingQueue,
    rec: RecordingSender,
    /// When the session was asked for (its setup time ends at [`Guard::begin`]).
    opened: tokio::time::Instant,
    counted: Option<LiveSessionMetric>,
    /// Lists the session for watchers until it ends.
    feed: FeedHandle,
    /// How many observe it (`watch --observe`).
    observers: tokio::sync::watch::Receiver<usize>,
}

impl Guard {
    /// Opens the recording (with `marker` first, and the grant that allowed the session)
    /// and registers the session as live. Nothing is in the ledger until [`Guard::begin`].
    pub async fn open(
        bastion: &Arc<Bastion>,
        id: &Identity,
        device: &Device,
        start: &Start,
        marker: String,
        grant: Option<&AccessRequest>,
    ) -> Result<Guard> {
        let opened = tokio::time::Instant::now();
        let session_id = new_session_id();
        let deadline = deadline(bastion, id, grant);
        let (width, height) = recorded_size(start);
        let header = RecordingHeader {
            width,
            height,
            title: format!("{}@{}", id.user, device.name),
            term: start.term(),
            timestamp: SystemTime::now(),
        };
        let size = (width, height);
        let recorder = open_recording(bastion, &session_id, id, device, header).await?;
        let path = recorder.path().to_path_buf();
        let (feed_tap, feed_tx) = FeedTap::new();
        let recorder = recorder.tapped(Box::new(feed_tap));
        let queue = RecordingQueue::spawn(recorder.limited(bastion.config.recording.max_size));
        let rec = queue.sender();
        let mut markers = vec![marker];
        if let Some(g) = grant {
            markers.push(format!("access by {}", grant_label(g)));
        }
        let queue = write_markers(bastion, queue, &rec, markers).await?;
        let live = bastion
            .live
            .register(id, grant.map(|g| g.id), &bastion.shutdown);
        let about = FeedInfo {
            session: session_id.clone(),
            user: id.user.clone(),
            device: device.name.clone(),
            path,
            size,
        };
        let listed = Feed::new(about, rec.clone(), live.ender(), feed_tx);
        let observers = listed.observers();
        let feed = bastion.feeds.register(listed);
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let now = tokio::time::Instant::now();
        let warn_before = bastion.config.limits.deadline_warning;
        Ok(Guard {
            bastion: bastion.clone(),
            id: id.clone(),
            device: device.clone(),
            session_id,
            deadline,
            grant: grant.map(|g| (g.id, g.breakglass)),
            deadline_at: now + left.min(Duration::from_secs(100 * 365 * 86400)),
            warn_at: (!warn_before.is_zero()).then(|| now + left.saturating_sub(warn_before)),
            idle_limit: bastion.config.access.idle_timeout(&id.roles),
            activity: Arc::new(Activity::new()),
            live,
            queue,
            rec,
            opened,
            counted: None,
            feed,
            observers,
        })
    }

    /// The session has started: its ledger row and `session.start` event (`action` is
    /// what was authorized, `detail` adds to the event).
    pub async fn begin(&mut self, action: &str, mut detail: serde_json::Value) {
        let metrics = &self.bastion.metrics;
        let kind = self.device.kind.as_str();
        metrics.session_setup(kind, self.opened.elapsed());
        self.counted = Some(metrics.session_live(kind));
        if let Some(map) = detail.as_object_mut() {
            map.insert(
                "deadline".into(),
                json!(crate::audit::rfc3339(self.deadline)),
            );
            map.insert("grant".into(), json!(self.grant.map(|g| g.0)));
            map.insert("breakglass".into(), json!(self.grant.is_some_and(|g| g.1)));
        }
        ledger::started(
            &self.bastion,
            &self.id,
            &self.device,
            &self.session_id,
            action,
            detail,
        )
        .await;
    }

    /// The session could not start: `session.fail` with `error`, and the recording
    /// sealed with it as its last marker.
    pub async fn fail(self, action: &str, error: &str) {
        let event = crate::audit::Event::new("session.fail")
            .user(&self.id.user)
            .source(self.id.source.to_string())
            .device(&self.device.name)
            .action(action)
            .outcome("error")
            .detail(json!({ "session": self.session_id, "error": error }));
        self.bastion.audit(event).await;
        drop(self.rec);
        let _ = self.queue.finish(&format!("session failed: {error}")).await;
    }

    /// The session id (also the recording's name).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// How many observe the session, as it changes (`watch --observe`).
    pub fn observers(&self) -> tokio::sync::watch::Receiver<usize> {
        self.observers.clone()
    }

    /// The device of the session.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A handle that feeds the session's recording.
    pub fn recorder(&self) -> RecordingSender {
        self.rec.clone()
    }

    /// How long a write to the admin may wait for their window before the session ends.
    pub fn stall_limit(&self) -> Duration {
        self.bastion.config.limits.stall_timeout
    }

    /// The activity counters (shared with the input pump).
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Waits for the next thing the session must act on. Cancel-safe: the loops select
    /// on it beside their own work.
    pub async fn tick(&mut self) -> Tick {
        loop {
            let idle_check = self
                .idle_limit
                .map(|l| tokio::time::Instant::now() + l.saturating_sub(self.activity.idle_for()));
            let wake = [Some(self.deadline_at), self.warn_at, idle_check]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.deadline_at);
            tokio::select! {
                _ = self.live.token().cancelled() => return Tick::Stop(self.ended_from_outside()),
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= self.deadline_at {
                return Tick::Stop(Stop {
                    reason: "deadline reached".into(),
                    notice: Some("session deadline reached (end of your access grant, certificate or maximum session length); closing".into()),
                    clean: false,
                });
            }
            if let Some(limit) = self.idle_limit.filter(|l| self.activity.idle_for() >= *l) {
                return Tick::Stop(Stop {
                    reason: "idle timeout".into(),
                    notice: Some(format!(
                        "session idle for {}; closing (access.session_idle)",
                        humantime::format_duration(limit)
                    )),
                    clean: false,
                });
            }
            if self.warn_at.is_some_and(|w| now >= w) {
                self.warn_at = None;
                let left = self.deadline_at.saturating_duration_since(now);
                let note = format!(
                    "this session ends in about {} min, at {} (end of your access grant, certificate or maximum session length)",
                    left.as_secs().div_ceil(60).max(1),
                    crate::audit::rfc3339(self.deadline)
                );
                let _ = self.rec.marker(format!("[oobgate: {note}]")).await;
                return Tick::Warn(note);
            }
        }
    }

    fn ended_from_outside(&self) -> Stop {
        match self.live.ended_because() {
            Some(why) => Stop {
                notice: Some(format!("{why}; closing")),
                reason: why,
                clean: false,
            },
            None => Stop {
                reason: "bastion shutdown".into(),
                notice: Some("the bastion is shutting down; closing".into()),
                clean: false,
            },
        }
    }

    /// Seals the recording (with `stop`'s reason as its last marker) and writes the end;
    /// returns why the recording could not be sealed, if it could not.
    pub async fn finish(self, stop: &Stop, ending: Ending) -> Option<String> {
        let Guard {
            bastion,
            id,
            device,
            session_id,
            activity,
            live,
            queue,
            rec,
            counted,
            feed,
            ..
        } = self;
        drop(rec);
        drop(counted);
        let recording = queue.finish(&format!("session end: {}", stop.reason)).await;
        // Watchers see the end once the last event is in the file.
        drop(feed);
        let (sha, rec_err) = match recording {
            Ok(summary) => {
                bastion
                    .metrics
                    .recorded(summary.bytes_in, summary.bytes_out);
                (Some(summary.sha256), None)
            }
            Err(e) => {
                bastion.metrics.recording_failed();
                (None, Some(e.to_string()))
            }
        };
        let end = SessionEnd {
            exit_status: ending.exit_status.map(i64::from),
            bytes_in: activity.bytes_in.load(Ordering::Relaxed),
            bytes_out: activity.bytes_out.load(Ordering::Relaxed),
            recording_sha256: sha,
            end_reason: stop.reason.clone(),
        };
        ledger::ended(
            &bastion,
            &id,
            &device,
            &session_id,
            &end,
            stop.clean,
            rec_err.clone(),
        )
        .await;
        drop(live);
        rec_err
    }
}

/// Writes the first markers; a recording that fails them ends the session before it starts.
async fn write_markers(
    bastion: &Bastion,
    queue: RecordingQueue,
    rec: &RecordingSender,
    markers: Vec<String>,
) -> Result<RecordingQueue> {
    for m in markers {
        if !rec.marker(m).await {
            let e = queue
                .finish("")
                .await
                .err()
                .unwrap_or(RecordingError::Closed);
            bastion.metrics.recording_failed();
            return Err(e.into());
        }
    }
    Ok(queue)
}

/// The terminal size recorded. A client asking for a terminal without having one sends
/// 0x0: recorded as 80x24, the size players, the index and watchers then use.
fn recorded_size(start: &Start) -> (u16, u16) {
    match start.size() {
        (0, _) | (_, 0) => (80, 24),
        (cols, rows) => (
            cols.clamp(1, u16::MAX as u32) as u16,
            rows.clamp(1, u16::MAX as u32) as u16,
        ),
    }
}

/// Creates the session's recording, tapped by the live search index when there is one.
async fn open_recording(
    bastion: &Bastion,
    session_id: &str,
    id: &Identity,
    device: &Device,
    header: RecordingHeader,
) -> Result<crate::recording::Recorder> {
    let (width, height, started_at) = (header.width, header.height, header.timestamp);
    let terminal = header.term.is_some();
    let recorder = bastion
        .stores
        .recordings
        .create(session_id, header)
        .await
        .inspect_err(|_| bastion.metrics.recording_failed())?;
    let Some(index) = &bastion.search else {
        return Ok(recorder);
    };
    let info = crate::search::SessionInfo {
        id: session_id.to_string(),
        user: id.user.clone(),
        device: device.name.clone(),
        started_at,
    };
    let tap = index.tap(info, recorder.path(), (width, height), terminal);
    Ok(recorder.tapped(Box::new(tap)))
}

/// The earliest of the grant's end (when a grant allowed the session), the certificate's
/// expiry and the configured maximum session length.
fn deadline(bastion: &Bastion, id: &Identity, grant: Option<&AccessRequest>) -> SystemTime {
    let now = SystemTime::now();
    let max = now
        .checked_add(bastion.config.limits.max_session)
        .unwrap_or(now);
    [id.valid_before, grant.and_then(|g| g.grant_end)]
        .into_iter()
        .flatten()
        .fold(max, |a, b| a.min(b))
}

/// `YYYY-MM-DD/` + 12 random hex digits: also the recording's relative path.
fn new_session_id() -> String {
    let day = time::OffsetDateTime::now_utc().date();
    let r: u64 = rand::random();
    format!("{day}/{:012x}", r & 0xffff_ffff_ffff)
}
