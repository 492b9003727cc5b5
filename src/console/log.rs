//! The continuous console log: every byte a console prints, rotated and capped on disk.
//!
//! Files are asciicast v2 recordings (`o` events for output, `m` markers for link
//! up/down, attach/detach and write-lock changes) under `log_dir/<console>/`, named
//! `YYYYmmddTHHMMSSZ-NNNNNN.cast` so that name order is age order. A file is rotated
//! once it reaches `max_bytes` (it may pass it by at most one event, i.e. one link read
//! of output); only the newest `keep` files are kept. Disk use per console is therefore
//! about `keep * (max_bytes + one event)`.
//!
//! A log that cannot be written (disk full, permissions) is reported once and retried
//! at the next rotation point; it never stops the console itself.

use std::path::{Path, PathBuf};

use crate::recording::{Recorder, RecordingError, RecordingHeader};
use crate::store::objects::LogShipper;

use super::Result;

/// Appends to the current log file of one console and rotates it.
pub(crate) struct ConsoleLog {
    dir: PathBuf,
    name: String,
    max_bytes: u64,
    keep: usize,
    current: Option<Recorder>,
    seq: u32,
    /// Output bytes logged since creation.
    bytes_logged: u64,
    /// Whether the last failure was already reported (avoids a warning per byte).
    failing: bool,
    /// Ships each file beyond this node as it is written.
    ship: Option<LogShipper>,
}

impl ConsoleLog {
    /// Creates `log_dir/<name>/`, prunes old files and opens a new log file.
    pub(crate) fn open(log_dir: &Path, name: &str, max_bytes: u64, keep: usize) -> Result<Self> {
        let mut log = ConsoleLog {
            dir: log_dir.join(name),
            name: name.to_string(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            current: None,
            seq: 0,
            bytes_logged: 0,
            failing: false,
            ship: None,
        };
        log.rotate()?;
        Ok(log)
    }

    /// Ships every file from now on with `ship` (the current one from its start).
    pub(crate) fn shipped_by(mut self, ship: Option<LogShipper>) -> Self {
        self.ship = ship;
        if let Some(ship) = &self.ship {
            if let Some(rec) = self.current.take() {
                let tap = ship.tap(&self.name, rec.path());
                self.current = Some(rec.tapped(tap));
            }
        }
        self
    }

    /// Output bytes logged since the log was opened.
    pub(crate) fn bytes_logged(&self) -> u64 {
        self.bytes_logged
    }

    /// The file being written, if any.
    #[cfg(test)]
    pub(crate) fn current_path(&self) -> Option<PathBuf> {
        self.current.as_ref().map(|r| r.path().to_path_buf())
    }

    /// Logs console output.
    pub(crate) fn output(&mut self, bytes: &[u8]) {
        self.bytes_logged += bytes.len() as u64;
        self.write(|r| r.output(bytes));
    }

    /// Logs a marker (`link up`, `attach alice`, ...).
    pub(crate) fn marker(&mut self, label: &str) {
        self.write(|r| r.marker(label));
    }

    /// Finishes the current file (syncs it); later writes start a new one.
    pub(crate) fn close(&mut self) {
        if let Some(r) = self.current.take() {
            if let Err(e) = r.finish() {
                tracing::warn!(console = %self.name, error = %e, "closing console log");
            }
        }
    }

    fn write(&mut self, f: impl FnOnce(&mut Recorder) -> crate::recording::Result<()>) {
        if self.current.is_none() {
            if let Err(e) = self.rotate() {
                self.report(&e);
                return;
            }
        }
        let Some(rec) = self.current.as_mut() else {
            return;
        };
        let res = f(rec).and_then(|()| {
            std::fs::metadata(rec.path())
                .map(|m| m.len())
                .map_err(|source| RecordingError::Io {
                    path: rec.path().to_path_buf(),
                    source,
                })
        });
        match res {
            Ok(size) if size >= self.max_bytes => {
                if let Err(e) = self.rotate() {
                    self.report(&e);
                }
            }
            Ok(_) => self.failing = false,
            Err(e) => {
                self.report(&e);
                // Drop the broken file; the next write tries a fresh one.
                self.current = None;
            }
        }
    }

    fn report(&mut self, e: &dyn std::fmt::Display) {
        if !self.failing {
            tracing::warn!(console = %self.name, error = %e, "console log not written");
            self.failing = true;
        }
    }

    /// Closes the current file, opens the next one and deletes the oldest files.
    fn rotate(&mut self) -> Result<()> {
        self.close();
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_else(|_| "00000000T000000Z".into());
        let header = || RecordingHeader {
            width: 80,
            height: 24,
            title: format!("console {}", self.name),
            term: None,
            timestamp: std::time::SystemTime::now(),
        };
        let rec = loop {
            self.seq = self.seq.wrapping_add(1) % 1_000_000;
            let id = format!("{stamp}-{:06}", self.seq);
            match Recorder::create(&self.dir, &id, header()) {
                Ok(r) => break r,
                // Same second, same sequence number (a restart): try the next one.
                Err(RecordingError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.current = Some(match &self.ship {
            Some(ship) => {
                let tap = ship.tap(&self.name, rec.path());
                rec.tapped(tap)
            }
            None => rec,
        });
        self.prune();
        Ok(())
    }

    /// Deletes all but the newest `keep` log files.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cast"))
            .collect();
        files.sort();
        let excess = files.len().saturating_sub(self.keep);
        for old in &files[..excess] {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(console = %self.name, file = %old.display(), error = %e,
                    "cannot delete old console log");
            }
            // The mark that it was shipped, if it was.
            let _ = std::fs::remove_file(old.with_extension("cast.stored"));
        }
    }
}

impl Drop for ConsoleLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The log files of a console, oldest first.
#[cfg(test)]
pub(crate) fn log_files(log_dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(log_dir.join(name))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "cast"));
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Recording;

    #[test]
    fn rotation_keeps_at_most_keep_files_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let max = 4096;
        let mut log = ConsoleLog::open(dir.path(), "c1", max, 3).unwrap();
        let chunk = vec![b'x'; 300];
        for _ in 0..400 {
            log.output(&chunk);
        }
        log.marker("end");
        let last = log.current_path().unwrap();
        drop(log);
        let files = log_files(dir.path(), "c1");
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files.last().unwrap(), &last);
        for f in &files {
            let size = std::fs::metadata(f).unwrap().len();
            // At most one event (a 300-byte chunk plus its JSON framing) past the cap.
            assert!(size < max + 400, "{} is {size} bytes", f.display());
            let rec = Recording::open(f).unwrap();
            assert!(!rec.truncated);
        }
        let rec = Recording::open(&last).unwrap();
        assert_eq!(rec.events.last().unwrap().data, b"end");
    }

    #[test]
    fn reopening_prunes_and_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let mut log = ConsoleLog::open(dir.path(), "c2", 1 << 20, 2).unwrap();
            log.output(b"boot\r\n");
        }
        let files = log_files(dir.path(), "c2");
        assert_eq!(files.len(), 2);
        for f in files {
            let mut out = Vec::new();
            Recording::open(&f).unwrap().cat(&mut out).unwrap();
            assert_eq!(out, b"boot\r\n");
        }
    }
}
