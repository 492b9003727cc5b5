//! Follows the SFTP packets of a transfer session per handle: OPEN (once the relay has
//! checked its path), WRITE and READ/DATA (bytes counted and hashed, capped at
//! `limits.max_transfer`), CLOSE; each file ends as one [`Done`]: ok, refused, or
//! interrupted when the session ends with it still open. It also knows which request ids
//! are with the device, so the relay's own requests never reuse one.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::sftp_wire::*;

/// Which way a file moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// To the device (`file.upload`).
    Upload,
    /// From the device (`file.download`).
    Download,
}

impl Dir {
    /// The audit event kind and policy action.
    pub fn action(self) -> &'static str {
        match self {
            Dir::Upload => "file.upload",
            Dir::Download => "file.download",
        }
    }
}

/// One file's transfer, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// What the client asked: `open`, or a change (`remove`, `rename`, ...) or look
    /// (`stat`, ...) that was refused.
    pub op: &'static str,
    /// The file's path (as resolved on the device, when it was).
    pub path: String,
    /// The second path of a rename, hard link or symbolic link (the new name).
    pub to: Option<String>,
    /// Upload or download.
    pub dir: Dir,
    /// Bytes that passed.
    pub bytes: u64,
    /// SHA-256 (hex) of those bytes, in the order they passed.
    pub sha256: String,
    /// `ok`, `interrupted` or `refused`.
    pub result: &'static str,
    /// Why, when refused.
    pub reason: Option<String>,
}

/// What to do with one packet.
#[derive(Debug, Default)]
pub struct Step {
    /// Pass it on.
    pub forward: bool,
    /// Files that ended.
    pub done: Vec<Done>,
    /// End the session (a file went over `limits.max_transfer`).
    pub cut: bool,
}

impl Step {
    fn forward() -> Step {
        Step {
            forward: true,
            ..Default::default()
        }
    }
}

struct File {
    path: String,
    dir: Dir,
    bytes: u64,
    hash: Sha256,
}

impl File {
    fn done(self, result: &'static str, reason: Option<String>) -> Done {
        Done {
            op: "open",
            path: self.path,
            to: None,
            dir: self.dir,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
            result,
            reason,
        }
    }
}

/// The state of one transfer session.
pub struct Tracker {
    max: u64,
    /// Request ids sent to the device and not answered yet.
    pending: HashSet<u32>,
    next_own: u32,
    opening: HashMap<u32, (String, Dir)>,
    reading: HashMap<u32, Bytes>,
    closing: HashMap<u32, Bytes>,
    /// Allowed changes (remove, rename, ...) waiting for the device's STATUS.
    changing: HashMap<u32, Done>,
    files: HashMap<Bytes, File>,
}

impl Tracker {
    /// A tracker capping each file at `max` bytes.
    pub fn new(max: u64) -> Tracker {
        Tracker {
            max,
            pending: HashSet::new(),
            next_own: 0xffff_0000,
            opening: HashMap::new(),
            reading: HashMap::new(),
            closing: HashMap::new(),
            changing: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// A request the relay refused: what it was, its path, and why.
    pub fn refused(op: &'static str, path: &str, dir: Dir, why: String) -> Done {
        Done {
            op,
            path: path.to_string(),
            to: None,
            dir,
            bytes: 0,
            sha256: hex::encode(Sha256::digest(b"")),
            result: "refused",
            reason: Some(why),
        }
    }

    /// An OPEN whose path `path` (resolved) was allowed, about to be relayed.
    pub fn open(&mut self, id: u32, path: String, dir: Dir) {
        self.opening.insert(id, (path, dir));
    }

    /// An allowed change `op` of `paths` (resolved) about to be relayed as request `id`:
    /// audited when the device answers.
    pub fn change(&mut self, id: u32, op: &'static str, paths: &[String]) {
        let done = Done {
            op,
            path: paths.first().cloned().unwrap_or_default(),
            to: paths.get(1).cloned(),
            dir: Dir::Upload,
            bytes: 0,
            sha256: hex::encode(Sha256::digest(b"")),
            result: "ok",
            reason: None,
        };
        self.changing.insert(id, done);
    }

    /// The path of the file open as `handle`, if one is.
    pub fn file_of(&self, handle: &[u8]) -> Option<&str> {
        self.files.get(handle).map(|f| f.path.as_str())
    }

    /// A client request `p` is being relayed to the device.
    pub fn sent(&mut self, p: &Packet) {
        if let Some(id) = p.id() {
            self.pending.insert(id);
        }
    }

    /// An id for the relay's own request that no request with the device has.
    pub fn own_id(&mut self) -> u32 {
        while self.pending.contains(&self.next_own) {
            self.next_own = self.next_own.wrapping_add(1);
        }
        let id = self.next_own;
        self.next_own = self.next_own.wrapping_add(1);
        id
    }

    /// A packet from the client that names no path (the relay checked the others).
    pub fn client(&mut self, p: &Packet) -> Result<Step, WireError> {
        let mut f = Fields::of(p);
        match p.kind {
            SSH_FXP_WRITE => {
                let _id = f.u32()?;
                let handle = f.string()?;
                let _offset = f.u64()?;
                let data = f.string()?;
                return Ok(self.passed(&handle, &data));
            }
            SSH_FXP_READ => {
                let id = f.u32()?;
                self.reading.insert(id, f.string()?);
            }
            SSH_FXP_CLOSE => {
                let id = f.u32()?;
                self.closing.insert(id, f.string()?);
            }
            _ => {}
        }
        Ok(Step::forward())
    }

    /// A packet from the device.
    pub fn server(&mut self, p: &Packet) -> Result<Step, WireError> {
        if let Some(id) = p.id() {
            self.pending.remove(&id);
        }
        let mut f = Fields::of(p);
        match p.kind {
            SSH_FXP_HANDLE => {
                let id = f.u32()?;
                let handle = f.string()?;
                if let Some((path, dir)) = self.opening.remove(&id) {
                    let hash = Sha256::new();
                    let file = File {
                        path,
                        dir,
                        bytes: 0,
                        hash,
                    };
                    self.files.insert(handle, file);
                }
            }
            SSH_FXP_DATA => {
                let id = f.u32()?;
                let data = f.string()?;
                if let Some(handle) = self.reading.remove(&id) {
                    return Ok(self.passed(&handle, &data));
                }
            }
            SSH_FXP_STATUS => {
                let id = f.u32()?;
                self.opening.remove(&id);
                self.reading.remove(&id);
                if let Some(mut done) = self.changing.remove(&id) {
                    let code = f.u32()?;
                    if code != 0 {
                        let message = f.string().unwrap_or_default();
                        done.result = "failed";
                        done.reason = Some(String::from_utf8_lossy(&message).into_owned());
                    }
                    let mut step = Step::forward();
                    step.done.push(done);
                    return Ok(step);
                }
                if let Some(handle) = self.closing.remove(&id) {
                    if let Some(file) = self.files.remove(&handle) {
                        let mut step = Step::forward();
                        step.done.push(file.done("ok", None));
                        return Ok(step);
                    }
                }
            }
            _ => {}
        }
        Ok(Step::forward())
    }

    /// Bytes of the file open as `handle` passed; over the cap the session is cut.
    fn passed(&mut self, handle: &Bytes, data: &[u8]) -> Step {
        let Some(file) = self.files.get_mut(handle) else {
            return Step::forward();
        };
        if file.bytes.saturating_add(data.len() as u64) > self.max {
            let file = self.files.remove(handle).expect("present");
            let why = format!("over limits.max_transfer ({} bytes)", self.max);
            return Step {
                done: vec![file.done("refused", Some(why))],
                cut: true,
                ..Default::default()
            };
        }
        file.bytes += data.len() as u64;
        file.hash.update(data);
        Step::forward()
    }

    /// The session ended: files still open were interrupted.
    pub fn end(&mut self) -> Vec<Done> {
        self.files
            .drain()
            .map(|(_, f)| f.done("interrupted", None))
            .collect()
    }
}

#[cfg(test)]
#[path = "sftp_audit_tests.rs"]
mod tests;
