//! Recordings on S3-compatible storage, for several nodes: each recording is written to
//! the local spool first (the recording directory, crash-safe as on one node) and shipped
//! to the bucket while the session runs ([`ship`]); any node reads any recording back,
//! from its own spool when it has the file, else from the bucket ([`fetch`]). When a node
//! is lost, the node that closes its sessions seals their recordings from the parts that
//! reached the bucket.
//!
//! Keys, under the configured prefix: `ID.cast.parts/OFFSET` (20 digits, the part's first
//! byte in the recording) and `ID.cast.manifest.json` (the seal: size, SHA-256, parts).
//! Concatenating the parts in name order gives the asciicast file.

mod config;
mod fetch;
mod manifest;
mod ship;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use object_store::path::Path as Key;
use object_store::ObjectStore;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::S3Config;
pub use manifest::Manifest;

use super::{FileRecordings, RecordingStore, Result, StoreError};
use crate::recording::{
    EventTap, RecordedEvent, Recorder, Recording, RecordingHeader, RecordingSummary,
};
use fetch::Shipped;
use ship::{Note, Shared, Upload};

/// The keys of one recording.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    id: String,
    base: String,
}

impl Keys {
    fn new(prefix: &str, id: &str) -> Keys {
        Keys {
            id: id.to_string(),
            base: format!("{prefix}{id}.cast"),
        }
    }
    fn manifest(&self) -> Key {
        Key::from(format!("{}.manifest.json", self.base))
    }
    fn parts_dir(&self) -> Key {
        Key::from(format!("{}.parts", self.base))
    }
    fn part(&self, offset: u64) -> Key {
        Key::from(format!("{}.parts/{offset:020}", self.base))
    }
}

/// Recordings spooled under a local directory and shipped to a bucket.
pub struct ObjectRecordings {
    local: FileRecordings,
    sh: Arc<Shared>,
}

/// Tells the recording's upload when the recorder sealed it.
struct ShipTap(mpsc::UnboundedSender<Note>);

impl EventTap for ShipTap {
    fn event(&mut self, _seq: u64, _event: &RecordedEvent) {}

    fn finished(&mut self, summary: &RecordingSummary) {
        let _ = self.0.send(Note::Sealed(summary.sha256.clone()));
    }
}

impl ObjectRecordings {
    /// Recordings spooled under `spool` and shipped as `cfg` says, written as `node`.
    pub fn open(cfg: &S3Config, spool: PathBuf, node: &str) -> Result<ObjectRecordings> {
        let s3 = cfg.client()?;
        Ok(ObjectRecordings {
            local: FileRecordings::new(spool.clone()),
            sh: Arc::new(Shared {
                s3: Arc::new(s3),
                prefix: cfg.key_prefix(),
                cfg: cfg.clone(),
                spool,
                node: node.to_string(),
                live: Mutex::new(HashSet::new()),
                tasks: TaskTracker::new(),
                stop: CancellationToken::new(),
                log_dir: Mutex::new(None),
            }),
        })
    }

    /// Seals, from what reached the bucket, the recording of a session another node was
    /// carrying when it was lost: the parts are copied into this node's spool, sealed
    /// with `marker` and shipped sealed.
    async fn seal_from_bucket(&self, id: &str, marker: &str) -> Result<RecordingSummary> {
        let keys = self.sh.keys(id);
        let bytes = match fetch::read(self.sh.s3.as_ref(), &keys).await? {
            Some(Shipped::Prefix(b)) if !b.is_empty() => b,
            Some(Shipped::Sealed(m, _)) => {
                return Err(StoreError::Refused(format!(
                    "recording {id} was already sealed by {}",
                    m.node
                )))
            }
            _ => {
                return Err(StoreError::Missing(format!(
                    "no part of recording {id} reached the object store"
                )))
            }
        };
        let path = PathBuf::from(self.local.location(id));
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::write(&path, &bytes).await?;
        let summary = self.local.seal_abandoned(id, marker).await?;
        Upload::new(keys, path, false)
            .seal(&self.sh, Some(&summary.sha256))
            .await?;
        Ok(summary)
    }
}

/// Ships the file at `path` (recording or console log `id`) while it is written; the
/// returned tap tells the upload when the file is sealed.
fn follow(sh: &Arc<Shared>, id: &str, path: &Path, keep: bool) -> Box<dyn EventTap> {
    sh.live.lock().expect("live set").insert(id.to_string());
    let (tx, rx) = mpsc::unbounded_channel();
    let up = Upload::new(sh.keys(id), path.to_path_buf(), keep);
    sh.tasks
        .spawn(ship::follow(sh.clone(), id.to_string(), up, rx));
    Box::new(ShipTap(tx))
}

/// Ships console log files (`consoles/NAME/FILE.NODE`) as they are written; the files stay
/// on this node, where they rotate.
#[derive(Clone)]
pub struct LogShipper(Arc<Shared>);

impl std::fmt::Debug for LogShipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogShipper({}{})", self.0.cfg.bucket, self.0.prefix)
    }
}

impl LogShipper {
    /// A tap for the log file at `path` of console `console`, shipping it as it grows.
    pub fn tap(&self, console: &str, path: &Path) -> Box<dyn EventTap> {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        follow(
            &self.0,
            &self.0.log_id(&format!("{console}/{stem}")),
            path,
            true,
        )
    }
}

impl Drop for ObjectRecordings {
    fn drop(&mut self) {
        self.sh.stop.cancel();
    }
}

#[async_trait]
impl RecordingStore for ObjectRecordings {
    async fn create(&self, id: &str, header: RecordingHeader) -> Result<Recorder> {
        // Live before the file exists, so the retry pass never takes it for a leftover.
        self.sh
            .live
            .lock()
            .expect("live set")
            .insert(id.to_string());
        let recorder = match self.local.create(id, header).await {
            Ok(r) => r,
            Err(e) => {
                self.sh.live.lock().expect("live set").remove(id);
                return Err(e);
            }
        };
        let tap = follow(&self.sh, id, recorder.path(), false);
        Ok(recorder.tapped(tap))
    }

    async fn open(&self, id: &str) -> Result<Recording> {
        let bytes = self.raw(id).await?;
        Recording::parse(&bytes, &PathBuf::from(self.location(id))).map_err(StoreError::from)
    }

    async fn raw(&self, id: &str) -> Result<Vec<u8>> {
        match self.local.raw(id).await {
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        match fetch::read(self.sh.s3.as_ref(), &self.sh.keys(id)).await? {
            Some(Shipped::Sealed(_, bytes)) => Ok(bytes),
            Some(Shipped::Prefix(mut bytes)) => {
                // Still running elsewhere (or lost): up to its last whole line.
                let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                bytes.truncate(keep);
                Ok(bytes)
            }
            None => Err(StoreError::Missing(format!(
                "recording {id} is neither in this node's spool nor in the object store"
            ))),
        }
    }

    fn location(&self, id: &str) -> String {
        self.local.location(id)
    }

    async fn seal_abandoned(&self, id: &str, marker: &str) -> Result<RecordingSummary> {
        if std::path::Path::new(&self.local.location(id)).exists() {
            // Left by this node's previous run: sealed here, shipped by the retry pass.
            return self.local.seal_abandoned(id, marker).await;
        }
        self.sh
            .live
            .lock()
            .expect("live set")
            .insert(id.to_string());
        let r = self.seal_from_bucket(id, marker).await;
        self.sh.live.lock().expect("live set").remove(id);
        r
    }

    fn start(&self) {
        self.sh.tasks.spawn(ship::retry_loop(self.sh.clone()));
    }

    async fn drain(&self, within: Duration) -> bool {
        self.sh.stop.cancel();
        self.sh.tasks.close();
        tokio::time::timeout(within, self.sh.tasks.wait())
            .await
            .is_ok()
    }

    async fn describe(&self) -> Result<String> {
        let prefix = Key::from(self.sh.prefix.trim_end_matches('/'));
        self.sh
            .s3
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| {
                fetch::failed(
                    &format!("s3://{}/{}", self.sh.cfg.bucket, self.sh.prefix),
                    e,
                )
            })?;
        let spool = self.sh.spool.clone();
        let waiting = tokio::task::spawn_blocking(move || ship::unshipped(&spool).len())
            .await
            .unwrap_or(0);
        Ok(format!(
            "s3://{}/{} at {}: reachable; {waiting} in the spool {} not shipped yet",
            self.sh.cfg.bucket,
            self.sh.prefix,
            self.sh.cfg.endpoint,
            self.sh.spool.display()
        ))
    }

    fn log_shipper(&self, log_dir: &Path) -> Option<LogShipper> {
        *self.sh.log_dir.lock().expect("log dir") = Some(log_dir.to_path_buf());
        Some(LogShipper(self.sh.clone()))
    }

    fn remote(&self) -> Option<String> {
        Some(format!("s3://{}/{}", self.sh.cfg.bucket, self.sh.prefix))
    }
}
