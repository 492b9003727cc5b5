//! A recorder in its own task: encoding, hashing and writing the recording run beside the
//! session's forwarding instead of in front of it.
//!
//! The session hands each event to the queue before it forwards the bytes, so the
//! recording lags the admin by at most [`QUEUE_DEPTH`] waiting events plus the batch being
//! written. The size limit (`recording.max_size`) is also checked at the hand-off, on the
//! bytes handed so far, so nothing past the limit is shown however far the writer lags.
//! The first write error stops the recorder: every later hand-off reports it, and the
//! session closes; [`RecordingQueue::finish`] returns that error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Recorder, RecordingError, RecordingSummary, Result};

/// Events that may wait for the recorder task.
pub const QUEUE_DEPTH: usize = 32;

enum Op {
    Output(Bytes),
    Input(Bytes),
    Resize(u16, u16),
    Marker(String),
    Finish(String),
}

/// The recorder task of one session.
pub struct RecordingQueue {
    tx: mpsc::Sender<Op>,
    failure: Failure,
    budget: Arc<Budget>,
    task: JoinHandle<Result<RecordingSummary>>,
}

/// Why the recorder stopped, once it has (shared by its handles).
type Failure = std::sync::Arc<std::sync::OnceLock<String>>;

/// A handle that feeds the recorder task; cheap to clone.
#[derive(Clone)]
pub struct RecordingSender {
    tx: mpsc::Sender<Op>,
    failure: Failure,
    budget: Arc<Budget>,
}

/// The size limit as seen at the hand-off: bytes of output and input handed so far.
struct Budget {
    limit: Option<u64>,
    handed: AtomicU64,
}

impl RecordingQueue {
    /// Moves `recorder` into its own task.
    pub fn spawn(recorder: Recorder) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let failure = Failure::default();
        let seen = failure.clone();
        let budget = Arc::new(Budget {
            limit: recorder.limit(),
            handed: AtomicU64::new(0),
        });
        RecordingQueue {
            tx,
            failure,
            budget,
            task: tokio::spawn(async move {
                let r = run(recorder, rx).await;
                if let Err(e) = &r {
                    let _ = seen.set(e.to_string());
                }
                r
            }),
        }
    }

    /// A handle for another task (the admin input pump).
    pub fn sender(&self) -> RecordingSender {
        RecordingSender {
            tx: self.tx.clone(),
            failure: self.failure.clone(),
            budget: self.budget.clone(),
        }
    }

    /// Writes `end_marker`, seals the file and returns its summary, or the error that
    /// stopped the recorder.
    pub async fn finish(self, end_marker: &str) -> Result<RecordingSummary> {
        let _ = self.tx.send(Op::Finish(end_marker.to_owned())).await;
        drop(self.tx);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(RecordingError::Io {
                path: Default::default(),
                source: std::io::Error::other(format!("recorder task failed: {e}")),
            }),
        }
    }
}

impl RecordingSender {
    /// Whether the recorder has stopped (on an error, the size limit, or finished).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.failure.get().is_some()
    }

    /// Counts `n` more bytes against the size limit; `false` (and the recorder's
    /// failure set) once they would pass it.
    fn within_limit(&self, n: usize) -> bool {
        let Some(limit) = self.budget.limit else {
            return true;
        };
        let handed = self.budget.handed.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if handed > limit {
            let _ = self
                .failure
                .set(RecordingError::TooLarge { limit }.to_string());
            return false;
        }
        true
    }

    /// The error that stopped the recorder, once it is known.
    pub fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    async fn send(&self, op: Op) -> bool {
        self.tx.send(op).await.is_ok()
    }

    /// Records device output; `false` once the recorder has stopped on an error.
    pub async fn output(&self, bytes: Bytes) -> bool {
        self.within_limit(bytes.len()) && self.send(Op::Output(bytes)).await
    }

    /// Records admin input; `false` once the recorder has stopped on an error.
    pub async fn input(&self, bytes: Bytes) -> bool {
        self.within_limit(bytes.len()) && self.send(Op::Input(bytes)).await
    }

    /// Records a terminal resize; `false` once the recorder has stopped on an error.
    pub async fn resize(&self, cols: u16, rows: u16) -> bool {
        self.send(Op::Resize(cols, rows)).await
    }

    /// Records a marker; `false` once the recorder has stopped on an error.
    pub async fn marker(&self, label: impl Into<String>) -> bool {
        self.send(Op::Marker(label.into())).await
    }
}

/// The most events applied in one trip to the blocking pool.
const BATCH: usize = 64;

async fn run(recorder: Recorder, mut rx: mpsc::Receiver<Op>) -> Result<RecordingSummary> {
    let mut recorder = Some(recorder);
    let mut end = None;
    let mut batch = Vec::with_capacity(BATCH);
    while end.is_none() {
        let Some(op) = rx.recv().await else { break };
        batch.push(op);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // Encoding, hashing and the file write run off the async runtime, a batch of
        // what is waiting at a time: a slow disk holds this recorder, never a runtime thread.
        let mut r = recorder.take().ok_or(RecordingError::Closed)?;
        let ops = std::mem::take(&mut batch);
        let (r, result, finish) = blocking(move || {
            let mut finish = None;
            for op in ops {
                let res = match op {
                    Op::Output(b) => r.output(&b),
                    Op::Input(b) => r.input(&b),
                    Op::Resize(c, rows) => r.resize(c, rows),
                    Op::Marker(m) => r.marker(&m),
                    Op::Finish(m) => {
                        finish = Some(m);
                        break;
                    }
                };
                if res.is_err() {
                    return (r, res, None);
                }
            }
            (r, Ok(()), finish)
        })
        .await?;
        recorder = Some(r);
        // Dropping `rx` on return makes every later hand-off fail: the session closes.
        result?;
        end = finish;
    }
    drop(rx);
    let mut r = recorder.ok_or(RecordingError::Closed)?;
    blocking(move || {
        if let Some(m) = end {
            r.marker(&m)?;
        }
        r.finish()
    })
    .await?
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecordingError::Io {
            path: Default::default(),
            source: std::io::Error::other(format!("recorder task failed: {e}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Recording, RecordingHeader};

    fn header() -> RecordingHeader {
        RecordingHeader {
            width: 80,
            height: 24,
            title: "t".into(),
            term: None,
            timestamp: std::time::SystemTime::now(),
        }
    }

    #[tokio::test]
    async fn events_keep_their_order_and_the_summary_seals_them() {
        let dir = tempfile::tempdir().unwrap();
        let q = RecordingQueue::spawn(Recorder::create(dir.path(), "s1", header()).unwrap());
        let tx = q.sender();
        for i in 0..200 {
            assert!(tx.output(Bytes::from(format!("line {i}\r\n"))).await);
        }
        assert!(tx.input(Bytes::from_static(b"q")).await);
        assert!(tx.resize(100, 30).await);
        let sum = q.finish("session end: test").await.unwrap();
        assert_eq!(sum.bytes_in, 1);
        let rec = Recording::open(&sum.path).unwrap();
        let mut out = Vec::new();
        rec.cat(&mut out).unwrap();
        let expected: String = (0..200).map(|i| format!("line {i}\r\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let codes: Vec<_> = rec.events.iter().map(|e| e.code).collect();
        assert_eq!(codes.last(), Some(&'m'));
    }

    #[tokio::test]
    async fn a_write_error_stops_the_recorder_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::create(dir.path(), "s2", header()).unwrap();
        // /dev/full fails every write with ENOSPC, like a full disk.
        recorder.replace_file(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
        let q = RecordingQueue::spawn(recorder);
        let tx = q.sender();
        let mut refused = false;
        for _ in 0..(QUEUE_DEPTH * 2 + 2) {
            if !tx.output(Bytes::from_static(b"lost\r\n")).await {
                refused = true;
                break;
            }
        }
        assert!(refused, "hand-offs go on after the recorder failed");
        let err = q.finish("end").await.unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
    }
}
