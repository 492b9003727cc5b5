//! Writing one session's recording as it happens.
//!
//! Every event is written and flushed to the file at once (one `write` per event; bulk
//! output arrives in chunks of up to an SSH packet, so this costs little), so a bastion
//! that crashes leaves a valid, playable prefix. The file's SHA-256 is computed as it is
//! written and returned by [`Recorder::finish`] for the audit log.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::text::Decoder;
use super::{EventTap, RecordedEvent, RecordingError, Result};

/// What the header line says about the session.
#[derive(Debug, Clone)]
pub struct RecordingHeader {
    /// Terminal width.
    pub width: u16,
    /// Terminal height.
    pub height: u16,
    /// Title, e.g. `alice@sw1`.
    pub title: String,
    /// The admin's `TERM`, if a terminal was requested.
    pub term: Option<String>,
    /// When the session started.
    pub timestamp: SystemTime,
}

/// A finished recording, for the audit log.
#[derive(Debug, Clone)]
pub struct RecordingSummary {
    /// The file.
    pub path: PathBuf,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// Device bytes recorded as output.
    pub bytes_out: u64,
    /// Admin bytes recorded as input.
    pub bytes_in: u64,
    /// Number of events.
    pub events: u64,
    /// Time from start to finish.
    pub duration: Duration,
}

/// How much recording is written between two write-behind steps.
const WRITE_BEHIND_STEP: u64 = 8 << 20;

/// Write-behind for bulk sessions: every [`WRITE_BEHIND_STEP`] the newest part of the file is
/// handed to the disk and the part before it, written by then, leaves the page cache. A
/// recording is written once and rarely read, so a session streaming gigabytes neither fills
/// memory with dirty pages nor evicts what the machine needs cached, and less of it is lost
/// if the host (not only the bastion) goes down. Best effort: the kernel may keep pages.
#[derive(Default)]
struct WriteBehind {
    written: u64,
    mark: u64,
}

impl WriteBehind {
    fn wrote(&mut self, file: &File, n: usize) {
        use std::os::fd::AsRawFd;
        self.written += n as u64;
        if self.written - self.mark < WRITE_BEHIND_STEP {
            return;
        }
        let fd = file.as_raw_fd();
        let from = self.mark.saturating_sub(WRITE_BEHIND_STEP);
        // DONTNEED starts writeback of dirty pages in the range and drops the clean ones:
        // the previous step (written back since) goes, the newest step starts its way out.
        // SAFETY: plain syscall on an open descriptor owned by `file`; no memory is passed.
        unsafe {
            libc::posix_fadvise(
                fd,
                from as libc::off_t,
                (self.written - from) as libc::off_t,
                libc::POSIX_FADV_DONTNEED,
            );
        }
        self.mark = self.written;
    }
}

/// Writes one recording.
pub struct Recorder {
    path: PathBuf,
    file: Option<File>,
    hash: Sha256,
    started: Instant,
    out: Decoder,
    inp: Decoder,
    line: Vec<u8>,
    behind: WriteBehind,
    /// The most bytes this recording may take on disk (`None`: no limit).
    limit: Option<u64>,
    /// Who else sees each event (the live search index, watchers).
    taps: Vec<Box<dyn EventTap>>,
    bytes_out: u64,
    bytes_in: u64,
    events: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Recorder {
    /// Creates `dir/<id>.cast` (an id like `2026-11-23/7f3a9c` gives a date folder) and
    /// writes the header.
    pub fn create(dir: &Path, id: &str, header: RecordingHeader) -> Result<Recorder> {
        let path = dir.join(format!("{id}.cast"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(&path)
                .map_err(io(&path))?
        };
        let mut env = HashMap::new();
        if let Some(t) = &header.term {
            env.insert("TERM".to_string(), t.clone());
        }
        let head = asciicast::Header {
            version: 2,
            width: header.width as u32,
            height: header.height as u32,
            timestamp: Some(
                header
                    .timestamp
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as f64)
                    .unwrap_or(0.0),
            ),
            duration: None,
            idle_time_limit: None,
            command: None,
            title: Some(header.title),
            env: Some(env),
        };
        let mut r = Recorder {
            path,
            file: Some(file),
            hash: Sha256::new(),
            started: Instant::now(),
            out: Decoder::default(),
            inp: Decoder::default(),
            line: Vec::with_capacity(64 * 1024),
            behind: WriteBehind::default(),
            limit: None,
            taps: Vec::new(),
            bytes_out: 0,
            bytes_in: 0,
            events: 0,
        };
        let mut line = serde_json::to_vec(&head).map_err(|e| RecordingError::Io {
            path: r.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        r.write_line(&line)?;
        Ok(r)
    }

    /// Caps the recording at `bytes` on disk: a write beyond it fails with
    /// [`RecordingError::TooLarge`] (the session then ends, it is never left unrecorded).
    pub fn limited(mut self, bytes: u64) -> Recorder {
        self.limit = Some(bytes);
        self
    }

    /// The size limit set with [`Recorder::limited`].
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Hands every event written from now on to `tap` as well.
    pub fn tapped(mut self, tap: Box<dyn EventTap>) -> Recorder {
        self.taps.push(tap);
        self
    }

    /// The recording file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the rest of the recording to `file` instead (tests: a failing disk).
    #[cfg(test)]
    pub(crate) fn replace_file(&mut self, file: std::fs::File) {
        self.file = Some(file);
    }

    fn write_line(&mut self, line: &[u8]) -> Result<()> {
        if let Some(limit) = self.limit {
            if self.behind.written + line.len() as u64 > limit {
                return Err(RecordingError::TooLarge { limit });
            }
        }
        let file = self.file.as_mut().ok_or(RecordingError::Closed)?;
        file.write_all(line).map_err(io(&self.path))?;
        self.hash.update(line);
        self.behind.wrote(file, line.len());
        Ok(())
    }

    fn event(&mut self, code: &str, data: &str) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let t = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let entry = match code {
            "o" => Some(asciicast::EventType::Output),
            "i" => Some(asciicast::EventType::Input),
            _ => None,
        };
        let written = match entry {
            Some(event_type) => serde_json::to_writer(
                &mut line,
                &asciicast::Entry {
                    time: t,
                    event_type,
                    event_data: data.to_string(),
                },
            ),
            // The crate has no `r`/`m` events: same shape, written directly.
            None => serde_json::to_writer(&mut line, &(t, code, data)),
        };
        written.map_err(|e| RecordingError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let r = self.write_line(&line);
        self.line = line;
        let seq = self.events;
        self.events += 1;
        if r.is_ok() && !self.taps.is_empty() {
            let code = code.chars().next().unwrap_or('m');
            let data = if code == 'o' || code == 'i' {
                super::text::to_bytes(data)
            } else {
                data.as_bytes().to_vec()
            };
            let event = RecordedEvent {
                time: t,
                code,
                data,
            };
            for tap in &mut self.taps {
                tap.event(seq, &event);
            }
        }
        r
    }

    /// Records device output.
    pub fn output(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes_out += bytes.len() as u64;
        let text = self.out.feed(bytes);
        self.event("o", &text)
    }

    /// Records admin input.
    pub fn input(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes_in += bytes.len() as u64;
        let text = self.inp.feed(bytes);
        self.event("i", &text)
    }

    /// Records a terminal resize.
    pub fn resize(&mut self, cols: u16, rows: u16) -> Result<()> {
        self.event("r", &format!("{cols}x{rows}"))
    }

    /// Records a marker (session start/end, policy decisions, power actions...).
    pub fn marker(&mut self, label: &str) -> Result<()> {
        self.event("m", label)
    }

    /// Writes what is held back, syncs the file and returns its summary.
    pub fn finish(mut self) -> Result<RecordingSummary> {
        let rest_out = self.out.finish();
        self.event("o", &rest_out)?;
        let rest_in = self.inp.finish();
        self.event("i", &rest_in)?;
        let file = self.file.take().ok_or(RecordingError::Closed)?;
        file.sync_all().map_err(io(&self.path))?;
        let summary = RecordingSummary {
            path: self.path.clone(),
            sha256: hex::encode(self.hash.clone().finalize()),
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            events: self.events,
            duration: self.started.elapsed(),
        };
        for tap in &mut self.taps {
            tap.finished(&summary);
        }
        Ok(summary)
    }
}
