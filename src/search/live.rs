//! The index kept while sessions run: each recording's events, tapped as they are written,
//! go through a bounded queue to one worker thread that renders them into lines
//! ([`Indexer`]) and adds them to the index file every [`FLUSH_EVERY`].
//!
//! Off the session's path: the tap only tries to queue ([`LiveTap`]); when the queue is
//! full (a slow disk, a flood of output) that session's live indexing stops, with a warning
//! and the `search_index_dropped` metric, and the worker indexes its whole recording from
//! the file once it ends. A failing index (disk full, a broken file) is logged and counted
//! the same way; sessions go on. Lines are searchable within [`FLUSH_EVERY`] of being
//! finished on the screen (or typed).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::runtime::Handle;

use super::{sqlite, Hit, IndexedLine, Query, Result, SearchError, SessionInfo, SharedIndex};
use crate::metrics::Metrics;
use crate::recording::{index_file, EventTap, Indexer, RecordedEvent};

/// Events that may wait for the index worker, over all sessions.
pub const QUEUE_DEPTH: usize = 8192;

/// How often lines waiting in the worker are added to the index.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Lines added to the index per transaction when a whole recording is indexed.
pub const FILE_BATCH: usize = 2000;

/// Opens (creating) the index file for writing: WAL, so searches read beside the writer.
pub fn open_index(path: &Path) -> Result<Connection> {
    let db = |what| move |source| SearchError::Database { what, source };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path).map_err(db("opening the search index"))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(db("setting the search index's busy timeout"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db("setting the search index's journal mode"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db("setting the search index's sync mode"))?;
    sqlite::migrate(&conn)?;
    Ok(conn)
}

/// Indexes the recording at `path` as session `info`, replacing what the index held for
/// it; the number of lines.
pub fn reindex_file(conn: &mut Connection, info: &SessionInfo, path: &Path) -> Result<usize> {
    sqlite::delete_session(conn, &info.id)?;
    index_into(path, |lines| sqlite::add_lines(conn, info, lines))
}

/// [`reindex_file`] into the shared index, from a thread that may block (not a runtime's
/// worker): `rt` runs the database calls.
fn reindex_shared(
    index: &dyn SharedIndex,
    rt: &Handle,
    info: &SessionInfo,
    path: &Path,
) -> Result<usize> {
    rt.block_on(index.delete_session(&info.id))?;
    index_into(path, |lines| rt.block_on(index.add_lines(info, lines)))
}

/// The lines of the recording at `path`, batch by batch, into `add`; the number of lines.
/// The first error of `add` stops it.
fn index_into(path: &Path, mut add: impl FnMut(&[IndexedLine]) -> Result<()>) -> Result<usize> {
    let mut failed = None;
    let n = index_file(path, FILE_BATCH, &mut |lines| {
        if let Err(e) = add(&lines) {
            failed = Some(e);
            return Err(crate::recording::RecordingError::Closed);
        }
        Ok(())
    });
    match (n, failed) {
        (_, Some(e)) => Err(e),
        (Ok(n), None) => Ok(n),
        (Err(e), None) => Err(SearchError::Recording(e.to_string())),
    }
}

/// Where lines are added (by the live worker and `oobgate reindex`): this node's index
/// file, or the index all nodes share, whose calls `Handle` runs (from a thread that may
/// block).
pub enum Sink {
    /// The index file, open for writing.
    File(Connection),
    /// The shared index.
    Shared(Arc<dyn SharedIndex>, Handle),
}

impl Sink {
    fn add_lines(&mut self, info: &SessionInfo, lines: &[IndexedLine]) -> Result<()> {
        match self {
            Sink::File(conn) => sqlite::add_lines(conn, info, lines),
            Sink::Shared(index, rt) => rt.block_on(index.add_lines(info, lines)),
        }
    }

    /// Indexes the recording at `path` as session `info`, replacing what the index held
    /// for it; the number of lines.
    pub fn reindex(&mut self, info: &SessionInfo, path: &Path) -> Result<usize> {
        match self {
            Sink::File(conn) => reindex_file(conn, info, path),
            Sink::Shared(index, rt) => reindex_shared(index.as_ref(), rt, info, path),
        }
    }
}

/// Where searches read.
#[derive(Clone)]
pub enum Reader {
    /// The index file, opened read-only beside the worker (WAL).
    File(PathBuf),
    /// The index on the shared store.
    Shared(Arc<dyn SharedIndex>),
}

impl Reader {
    /// Every device (or console) the index has sessions of.
    pub async fn devices(&self) -> Result<Vec<String>> {
        match self {
            Reader::Shared(shared) => shared.devices().await,
            Reader::File(path) => {
                let path = path.clone();
                blocking(move || super::devices(&super::open_reader(&path)?)).await
            }
        }
    }

    /// The newest hits of `query` among sessions on the `allowed` devices.
    pub async fn query(&self, query: Query, allowed: HashSet<String>) -> Result<Vec<Hit>> {
        match self {
            Reader::Shared(shared) => {
                let allowed: Vec<String> = allowed.into_iter().collect();
                shared.query(&query, &allowed).await
            }
            Reader::File(path) => {
                let path = path.clone();
                blocking(move || {
                    let conn = super::open_reader(&path)?;
                    super::search(&conn, &query, &mut |s| allowed.contains(&s.device))
                })
                .await
            }
        }
    }
}

/// `f` on the runtime's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SearchError::Recording(format!("the search task failed: {e}")))?
}

/// One tapped session, shared by its tap and the worker.
struct Tag {
    key: u64,
    info: SessionInfo,
    path: PathBuf,
    size: (u16, u16),
    /// The session had a terminal.
    terminal: bool,
    /// Events were lost: the recording is indexed from the file at the end instead.
    lost: AtomicBool,
}

enum Msg {
    Event(Arc<Tag>, RecordedEvent),
    End(Arc<Tag>),
}

/// The live index: hands out taps, owns the worker thread.
#[derive(Clone)]
pub struct LiveIndex {
    tx: SyncSender<Msg>,
    /// Ends that found the queue full, collected by the worker on its next round.
    late: Arc<Mutex<Vec<Arc<Tag>>>>,
    next: Arc<AtomicU64>,
    reader: Reader,
    metrics: Metrics,
}

impl LiveIndex {
    /// Opens the index at `path` and starts its worker thread.
    pub fn start(path: &Path, metrics: Metrics) -> Result<LiveIndex> {
        LiveIndex::start_with(path, metrics, QUEUE_DEPTH)
    }

    /// [`LiveIndex::start`] with a queue of `depth` events.
    pub fn start_with(path: &Path, metrics: Metrics, depth: usize) -> Result<LiveIndex> {
        let sink = Sink::File(open_index(path)?);
        LiveIndex::spawn(sink, Reader::File(path.to_path_buf()), metrics, depth)
    }

    /// The live index on the index several nodes share; the caller's runtime runs its
    /// database calls.
    pub fn start_shared(index: Arc<dyn SharedIndex>, metrics: Metrics) -> Result<LiveIndex> {
        let rt = Handle::try_current().map_err(|e| {
            SearchError::Recording(format!("the shared index needs a runtime: {e}"))
        })?;
        let sink = Sink::Shared(index.clone(), rt);
        LiveIndex::spawn(sink, Reader::Shared(index), metrics, QUEUE_DEPTH)
    }

    fn spawn(sink: Sink, reader: Reader, metrics: Metrics, depth: usize) -> Result<LiveIndex> {
        let (tx, rx) = sync_channel(depth);
        let late = Arc::new(Mutex::new(Vec::new()));
        let worker = Worker {
            sink,
            sessions: HashMap::new(),
            late: late.clone(),
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name("search-index".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| SearchError::Recording(format!("cannot start the index worker: {e}")))?;
        Ok(LiveIndex {
            tx,
            late,
            next: Arc::new(AtomicU64::new(1)),
            reader,
            metrics,
        })
    }

    /// Where searches read.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// A tap for the recording of `info` at `path`, on a `cols` x `rows` screen; without
    /// a `terminal` (no pty) output's bare line feeds start new lines.
    pub fn tap(
        &self,
        info: SessionInfo,
        path: &Path,
        (cols, rows): (u16, u16),
        terminal: bool,
    ) -> LiveTap {
        LiveTap {
            tag: Arc::new(Tag {
                key: self.next.fetch_add(1, Ordering::Relaxed),
                info,
                path: path.to_path_buf(),
                size: (cols, rows),
                terminal,
                lost: AtomicBool::new(false),
            }),
            index: self.clone(),
        }
    }
}

/// The tap of one recording; its end (drop) ends the session's live indexing.
pub struct LiveTap {
    tag: Arc<Tag>,
    index: LiveIndex,
}

impl EventTap for LiveTap {
    fn event(&mut self, _seq: u64, event: &RecordedEvent) {
        if self.tag.lost.load(Ordering::Relaxed) {
            return;
        }
        let msg = Msg::Event(self.tag.clone(), event.clone());
        if let Err(e) = self.index.tx.try_send(msg) {
            self.tag.lost.store(true, Ordering::Relaxed);
            self.index.metrics.search_index_dropped();
            let why = match e {
                TrySendError::Full(_) => "the index queue is full",
                TrySendError::Disconnected(_) => "the index worker has stopped",
            };
            tracing::warn!(session = %self.tag.info.id, reason = why,
                "live search indexing of this session stops; its recording is indexed when it ends");
        }
    }
}

impl Drop for LiveTap {
    fn drop(&mut self) {
        if let Err(TrySendError::Full(_)) = self.index.tx.try_send(Msg::End(self.tag.clone())) {
            if let Ok(mut late) = self.index.late.lock() {
                late.push(self.tag.clone());
            }
        }
    }
}

struct Live {
    tag: Arc<Tag>,
    indexer: Indexer,
    pending: Vec<IndexedLine>,
}

struct Worker {
    sink: Sink,
    sessions: HashMap<u64, Live>,
    late: Arc<Mutex<Vec<Arc<Tag>>>>,
    metrics: Metrics,
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut last_flush = Instant::now();
        loop {
            let wait = FLUSH_EVERY.saturating_sub(last_flush.elapsed());
            match rx.recv_timeout(wait) {
                Ok(Msg::Event(tag, ev)) => self.event(tag, ev),
                Ok(Msg::End(tag)) => self.end(tag),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let late: Vec<_> = self
                .late
                .lock()
                .map(|mut l| std::mem::take(&mut *l))
                .unwrap_or_default();
            for tag in late {
                self.end(tag);
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                self.flush();
                last_flush = Instant::now();
            }
        }
        self.flush();
    }

    fn event(&mut self, tag: Arc<Tag>, ev: RecordedEvent) {
        if tag.lost.load(Ordering::Relaxed) {
            return;
        }
        let live = self.sessions.entry(tag.key).or_insert_with(|| Live {
            indexer: Indexer::new(tag.size.0, tag.size.1).with_terminal(tag.terminal),
            tag: tag.clone(),
            pending: Vec::new(),
        });
        let lines = live.indexer.feed(&ev);
        live.pending.extend(lines);
    }

    fn end(&mut self, tag: Arc<Tag>) {
        let live = self.sessions.remove(&tag.key);
        if tag.lost.load(Ordering::Relaxed) {
            if let Err(e) = self.sink.reindex(&tag.info, &tag.path) {
                self.failed(&tag.info.id, &e);
            }
            return;
        }
        let Some(mut live) = live else { return };
        let rest = live.indexer.finish();
        live.pending.extend(rest);
        if let Err(e) = self.sink.add_lines(&live.tag.info, &live.pending) {
            self.failed(&live.tag.info.id, &e);
        }
    }

    fn flush(&mut self) {
        let mut failures = Vec::new();
        for live in self.sessions.values_mut() {
            if live.pending.is_empty() {
                continue;
            }
            let lines = std::mem::take(&mut live.pending);
            if let Err(e) = self.sink.add_lines(&live.tag.info, &lines) {
                failures.push((live.tag.info.id.clone(), e));
            }
        }
        for (id, e) in failures {
            self.failed(&id, &e);
        }
    }

    fn failed(&self, session: &str, e: &SearchError) {
        self.metrics.search_index_dropped();
        tracing::warn!(session, error = %e, "search index not updated; `oobgate reindex` rebuilds it");
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
