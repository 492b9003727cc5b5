//! Where session recordings are kept. [`FileRecordings`] keeps them as files under the
//! recording directory (`DATE/ID.cast`); creating and reading files runs on the blocking
//! pool, never on a runtime thread.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Result, StoreError};
use crate::recording::{Recorder, Recording, RecordingHeader, RecordingSummary};

/// Session recordings.
#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Creates the recording of session `id` and writes its header.
    async fn create(&self, id: &str, header: RecordingHeader) -> Result<Recorder>;
    /// Reads the recording of session `id` back, whole.
    async fn open(&self, id: &str) -> Result<Recording>;
    /// The recording of session `id` as stored, byte for byte (what its sealed SHA-256
    /// covers).
    async fn raw(&self, id: &str) -> Result<Vec<u8>>;
    /// Where the recording of session `id` is, as the sessions table shows it.
    fn location(&self, id: &str) -> String;
    /// Seals the recording of session `id`, left unfinished by a bastion that stopped
    /// abruptly, with `marker` as its last event; returns its summary.
    async fn seal_abandoned(&self, id: &str, marker: &str) -> Result<RecordingSummary>;
    /// Starts what runs in the background while the bastion serves (shipping what an
    /// earlier run left in the spool). Nothing for local files.
    fn start(&self) {}
    /// Waits, at most `within`, for the recordings sealed so far to reach their final
    /// place; false when some did not (they stay in the spool for the next start).
    async fn drain(&self, _within: std::time::Duration) -> bool {
        true
    }
    /// What ships the console logs written under `log_dir` beyond this node, if anything.
    fn log_shipper(&self, _log_dir: &std::path::Path) -> Option<super::objects::LogShipper> {
        None
    }
    /// Where recordings go beyond this node (`s3://bucket/prefix`), if anywhere.
    fn remote(&self) -> Option<String> {
        None
    }
    /// Where recordings are and whether that answers, for `oobgate status`.
    async fn describe(&self) -> Result<String>;
}

/// Recordings as asciicast files under one directory.
#[derive(Debug, Clone)]
pub struct FileRecordings {
    dir: PathBuf,
}

impl FileRecordings {
    /// Recordings under `dir` (created on first use).
    pub fn new(dir: PathBuf) -> FileRecordings {
        FileRecordings { dir }
    }

    fn path(&self, id: &str) -> Result<PathBuf> {
        // Session ids are `DATE/HEX`; anything that could leave the directory is refused.
        let plain = !id.is_empty()
            && id.split('/').all(|part| {
                !part.is_empty()
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        if !plain {
            return Err(StoreError::Refused(format!("{id:?} is not a session id")));
        }
        Ok(self.dir.join(format!("{id}.cast")))
    }
}

/// Runs `f` on the blocking pool (file work never runs on a runtime thread).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
}

#[async_trait]
impl RecordingStore for FileRecordings {
    async fn create(&self, id: &str, header: RecordingHeader) -> Result<Recorder> {
        self.path(id)?;
        let (dir, id) = (self.dir.clone(), id.to_string());
        blocking(move || Ok(Recorder::create(&dir, &id, header)?)).await
    }

    async fn open(&self, id: &str) -> Result<Recording> {
        let path = self.path(id)?;
        blocking(move || Ok(Recording::open(&path)?)).await
    }

    async fn raw(&self, id: &str) -> Result<Vec<u8>> {
        let path = self.path(id)?;
        blocking(move || Ok(std::fs::read(&path)?)).await
    }

    fn location(&self, id: &str) -> String {
        self.dir.join(format!("{id}.cast")).display().to_string()
    }

    async fn describe(&self) -> Result<String> {
        Ok(format!("{} (files on this node)", self.dir.display()))
    }

    async fn seal_abandoned(&self, id: &str, marker: &str) -> Result<RecordingSummary> {
        let path = self.path(id)?;
        let marker = marker.to_string();
        blocking(move || Ok(crate::recording::seal_abandoned(&path, &marker)?)).await
    }
}
