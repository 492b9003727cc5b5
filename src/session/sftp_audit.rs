//! Follows the SFTP packets of a transfer session per handle: OPEN (checked against
//! `file.upload`/`file.download`), WRITE and READ/DATA (bytes counted and hashed, capped
//! at `limits.max_transfer`), CLOSE; each file ends as one [`Done`]: ok, refused, or
//! interrupted when the session ends with it still open.

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::sftp_wire::*;
use super::transfer::Allowed;

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
    /// The path the client opened.
    pub path: String,
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
    /// Answer the client with this instead.
    pub reply: Option<Bytes>,
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
            path: self.path,
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
    device: String,
    allowed: Allowed,
    max: u64,
    opening: HashMap<u32, (String, Dir)>,
    reading: HashMap<u32, Bytes>,
    closing: HashMap<u32, Bytes>,
    files: HashMap<Bytes, File>,
}

impl Tracker {
    /// A tracker for a session on `device` allowed `allowed`, `max` bytes a file.
    pub fn new(device: &str, allowed: Allowed, max: u64) -> Tracker {
        Tracker {
            device: device.to_string(),
            allowed,
            max,
            opening: HashMap::new(),
            reading: HashMap::new(),
            closing: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// A packet from the client.
    pub fn client(&mut self, p: &Packet) -> Result<Step, WireError> {
        let mut f = Fields::of(p);
        match p.kind {
            SSH_FXP_OPEN => {
                let id = f.u32()?;
                let path = String::from_utf8_lossy(&f.string()?).into_owned();
                let flags = f.u32()?;
                let dir = if flags & SSH_FXF_WRITE != 0 {
                    Dir::Upload
                } else {
                    Dir::Download
                };
                let ok = match dir {
                    Dir::Upload => self.allowed.upload,
                    Dir::Download => self.allowed.download,
                };
                if !ok {
                    let why = format!("{} is not allowed on {}", dir.action(), self.device);
                    let file = File {
                        path,
                        dir,
                        bytes: 0,
                        hash: Sha256::new(),
                    };
                    return Ok(Step {
                        reply: Some(status(
                            id,
                            SSH_FX_PERMISSION_DENIED,
                            &format!("oobgate: {why}"),
                        )),
                        done: vec![file.done("refused", Some(why))],
                        ..Default::default()
                    });
                }
                self.opening.insert(id, (path, dir));
            }
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
