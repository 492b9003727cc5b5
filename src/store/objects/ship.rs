//! Shipping recordings from the local spool to the bucket. While a session runs, its new
//! bytes go up as parts (`ID.cast.parts/OFFSET`) once they reach `part_size` or
//! `part_interval` after the previous part; when the recording is sealed the rest follows
//! and a manifest (`ID.cast.manifest.json`) seals it with the SHA-256 the audit chain
//! holds. Only then is the spool copy deleted (or marked shipped, with `keep_local`). A
//! recording that could not be shipped stays in the spool and is retried every minute and
//! after a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fetch::{self, failed};
use super::manifest::Manifest;
use super::{Keys, S3Config};
use crate::store::recordings::blocking;
use crate::store::{Result, StoreError};

/// What every upload of this node shares.
pub(super) struct Shared {
    pub s3: Arc<dyn ObjectStore>,
    pub cfg: S3Config,
    pub prefix: String,
    pub spool: PathBuf,
    pub node: String,
    /// Recordings being written or sealed here: the retry pass leaves them alone.
    pub live: Mutex<HashSet<String>>,
    pub tasks: TaskTracker,
    pub stop: CancellationToken,
    /// Where console logs are written, once a console log is shipped.
    pub log_dir: Mutex<Option<PathBuf>>,
}

impl Shared {
    /// The id of console log `console_stem` (`NAME/FILE`) in the bucket: the node's name
    /// is part of it, so two nodes that carried one console in turn never write one key.
    pub fn log_id(&self, console_stem: &str) -> String {
        format!("consoles/{console_stem}.{}", self.node)
    }

    pub fn keys(&self, id: &str) -> Keys {
        Keys::new(&self.prefix, id)
    }
}

/// What the recorder tells the upload of its recording.
pub(super) enum Note {
    /// Sealed, with this SHA-256.
    Sealed(String),
}

/// The marker beside a spool file the bucket holds (with `keep_local`).
fn shipped_marker(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".stored");
    PathBuf::from(p)
}

/// One recording's upload: the parts shipped so far and the hash of their bytes.
pub(super) struct Upload {
    keys: Keys,
    path: PathBuf,
    /// Keep the spool file once shipped (console logs, which rotate on their own).
    keep: bool,
    shipped: u64,
    hash: Sha256,
    parts: Vec<(u64, u64)>,
    last: Instant,
}

async fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let path = path.to_path_buf();
    blocking(move || {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&path)?;
        let mut buf = vec![0; len as usize];
        f.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    })
    .await
}

impl Upload {
    pub fn new(keys: Keys, path: PathBuf, keep: bool) -> Upload {
        Upload {
            keys,
            path,
            keep,
            shipped: 0,
            hash: Sha256::new(),
            parts: Vec::new(),
            last: Instant::now(),
        }
    }

    /// Ships the file's new bytes when a part is due (`all`: every byte now), in parts of
    /// at most `part_size`.
    pub async fn push(&mut self, sh: &Shared, all: bool) -> Result<()> {
        loop {
            let len = tokio::fs::metadata(&self.path).await?.len();
            let pending = len.saturating_sub(self.shipped);
            let due =
                all || pending >= sh.cfg.part_size || self.last.elapsed() >= sh.cfg.part_interval;
            if pending == 0 || !due {
                return Ok(());
            }
            let n = pending.min(sh.cfg.part_size);
            let bytes = read_range(&self.path, self.shipped, n).await?;
            let key = self.keys.part(self.shipped);
            self.hash.update(&bytes);
            sh.s3
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(|e| failed(key.as_ref(), e))?;
            self.parts.push((self.shipped, n));
            self.shipped += n;
            self.last = Instant::now();
        }
    }

    /// Ships the rest and seals the recording with its manifest; `sealed`, when given, is
    /// the SHA-256 the audit chain holds and must be what was shipped. Then the spool copy
    /// goes (or is marked shipped).
    pub async fn seal(mut self, sh: &Shared, sealed: Option<&str>) -> Result<Manifest> {
        self.push(sh, true).await?;
        let sha256 = hex::encode(self.hash.clone().finalize());
        if sealed.is_some_and(|s| s != sha256) {
            return Err(StoreError::Refused(format!(
                "{}: the bytes shipped do not have the sealed SHA-256; the spool copy is kept",
                self.path.display()
            )));
        }
        let m = Manifest {
            id: self.keys.id.clone(),
            size: self.shipped,
            sha256,
            parts: self.parts.clone(),
            node: sh.node.clone(),
        };
        let key = self.keys.manifest();
        sh.s3
            .put(&key, PutPayload::from(m.to_bytes()))
            .await
            .map_err(|e| failed(key.as_ref(), e))?;
        // Parts an earlier attempt left and the manifest does not name: best effort.
        if let Ok(all) = fetch::parts(sh.s3.as_ref(), &self.keys).await {
            for part in all.iter().filter(|p| !m.parts.contains(p)) {
                let _ = sh.s3.delete(&self.keys.part(part.0)).await;
            }
        }
        shipped_locally(sh, &self.path, self.keep).await?;
        Ok(m)
    }
}

/// The bucket confirmed the recording at `path`: its spool copy goes, or is marked.
async fn shipped_locally(sh: &Shared, path: &Path, keep: bool) -> Result<()> {
    if keep || sh.cfg.keep_local {
        tokio::fs::write(shipped_marker(path), b"").await?;
    } else {
        tokio::fs::remove_file(path).await?;
    }
    Ok(())
}

/// Follows the recording `id` of `up` while it is written: ships its parts
/// as they are due, and seals it when the recorder says so. A recorder gone without
/// sealing (a failed session) leaves its file to the retry pass.
pub(super) async fn follow(
    sh: Arc<Shared>,
    id: String,
    up: Upload,
    mut notes: mpsc::UnboundedReceiver<Note>,
) {
    let mut up = up;
    let mut tick = tokio::time::interval(sh.cfg.part_interval.min(Duration::from_millis(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let note = tokio::select! {
            n = notes.recv() => Some(n),
            _ = tick.tick() => None,
        };
        match note {
            None => match up.push(&sh, false).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(session = %id, "shipping the recording again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(session = %id, error = %e, "cannot ship the recording's latest part; the spool keeps it");
                }
                Err(_) => {}
            },
            Some(Some(Note::Sealed(sha))) => {
                match up.seal(&sh, Some(&sha)).await {
                    Ok(m) => {
                        tracing::info!(session = %id, bytes = m.size, parts = m.parts.len(), "recording shipped and sealed in the object store")
                    }
                    Err(e) => {
                        tracing::error!(session = %id, error = %e, "cannot ship the sealed recording; the spool keeps it and it is retried")
                    }
                }
                break;
            }
            Some(None) => {
                let _ = up.push(&sh, true).await;
                break;
            }
        }
    }
    sh.live.lock().expect("live set").remove(&id);
}

/// Recordings in the spool the bucket does not hold yet: (id, path).
pub(super) fn unshipped(spool: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(days) = std::fs::read_dir(spool) else {
        return out;
    };
    for day in days.flatten() {
        let Ok(files) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            let (Some(day), Some(stem)) = (
                day.file_name().to_str().map(str::to_string),
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".cast"))
                    .map(str::to_string),
            ) else {
                continue;
            };
            if !shipped_marker(&path).exists() {
                out.push((format!("{day}/{stem}"), path));
            }
        }
    }
    out.sort();
    out
}

/// Ships every recording the spool holds and the bucket does not, but those being written
/// here; returns how many were shipped.
pub(super) async fn retry(sh: &Shared) -> usize {
    let spool = sh.spool.clone();
    let logs = sh.log_dir.lock().expect("log dir").clone();
    let log_id = |id: &str| sh.log_id(id);
    let files = tokio::task::spawn_blocking(move || {
        let mut files: Vec<_> = unshipped(&spool)
            .into_iter()
            .map(|(id, p)| (id, p, false))
            .collect();
        if let Some(dir) = logs {
            let logs = unshipped(&dir).into_iter();
            files.extend(logs.map(|(id, p)| (id, p, true)));
        }
        files
    })
    .await
    .unwrap_or_default();
    let mut shipped = 0;
    for (id, path, keep) in files {
        let id = if keep { log_id(&id) } else { id };
        if sh.stop.is_cancelled() {
            break;
        }
        if !sh.live.lock().expect("live set").insert(id.clone()) {
            continue;
        }
        match ship_whole(sh, &id, &path, keep).await {
            Ok(()) => shipped += 1,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "cannot ship a recording from the spool yet; retried later")
            }
        }
        sh.live.lock().expect("live set").remove(&id);
    }
    shipped
}

/// Ships one finished recording whole, unless the bucket already holds it sealed.
async fn ship_whole(sh: &Shared, id: &str, path: &Path, keep: bool) -> Result<()> {
    let keys = sh.keys(id);
    if let Some(m) = fetch::manifest(sh.s3.as_ref(), &keys).await? {
        let p = path.to_path_buf();
        let local = blocking(move || Ok(Sha256::digest(std::fs::read(&p)?))).await?;
        if hex::encode(local) == m.sha256 {
            return shipped_locally(sh, path, keep).await;
        }
        // Another node sealed it from what reached the bucket (this node was taken for
        // lost); the local copy, perhaps a little longer, is kept aside, never deleted.
        let aside = path.with_extension("cast.unsealed");
        tokio::fs::rename(path, &aside).await?;
        tracing::warn!(session = %id, sealed_by = %m.node, kept = %aside.display(), "another node sealed this recording from the object store; the local copy is kept aside");
        return Ok(());
    }
    let m = Upload::new(keys, path.to_path_buf(), keep)
        .seal(sh, None)
        .await?;
    tracing::info!(session = %id, bytes = m.size, "recording shipped from the spool and sealed in the object store");
    Ok(())
}

/// Retries the spool at start and every minute until the bastion stops.
pub(super) async fn retry_loop(sh: Arc<Shared>) {
    loop {
        retry(&sh).await;
        tokio::select! {
            _ = sh.stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}
