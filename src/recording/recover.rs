//! Sealing the recording of a session that a bastion crash left open: the file is a valid
//! prefix (every event was written as it came), perhaps with its last line cut short. That
//! line is dropped, a last marker says why the recording ends, and the summary (SHA-256 of
//! the file as it now is, bytes typed and shown) is what the session's end row seals.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Recording, RecordingError, RecordingSummary, Result};

/// Truncates `path` to its last complete line, appends the marker `marker` and returns the
/// summary of the file as it now is.
pub fn seal_abandoned(path: &Path, marker: &str) -> Result<RecordingSummary> {
    let io = |source| RecordingError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = std::fs::read(path).map_err(io)?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(keep);
    let rec = Recording::parse(&bytes, path)?;
    let time = rec.duration();
    let mut line =
        serde_json::to_vec(&(time, "m", marker)).map_err(|e| io(std::io::Error::other(e)))?;
    line.push(b'\n');
    bytes.extend_from_slice(&line);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    file.set_len(keep as u64).map_err(io)?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
    file.write_all(&line).map_err(io)?;
    file.sync_all().map_err(io)?;
    let count = |code: char| -> u64 {
        rec.events
            .iter()
            .filter(|e| e.code == code)
            .map(|e| e.data.len() as u64)
            .sum()
    };
    Ok(RecordingSummary {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes_out: count('o'),
        bytes_in: count('i'),
        events: rec.events.len() as u64 + 1,
        duration: Duration::from_secs_f64(time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Recorder, RecordingHeader};

    #[test]
    fn a_cut_recording_is_sealed_at_its_last_whole_line() {
        let d = tempfile::tempdir().unwrap();
        let header = RecordingHeader {
            width: 80,
            height: 24,
            title: "t".into(),
            term: None,
            timestamp: std::time::SystemTime::now(),
        };
        let mut r = Recorder::create(d.path(), "cut", header).unwrap();
        r.output(b"hello\r\n").unwrap();
        r.input(b"ls\r").unwrap();
        let path = r.path().to_path_buf();
        drop(r);
        // A crash in the middle of the next line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"[0.5, \"o\", \"half a li").unwrap();
        drop(f);
        let sum = seal_abandoned(&path, "session end: aborted (bastion restarted)").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(sum.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!((sum.bytes_out, sum.bytes_in), (7, 3));
        let rec = Recording::open(&path).unwrap();
        assert!(!rec.truncated);
        let last = rec.events.last().unwrap();
        assert_eq!(last.code, 'm');
        assert_eq!(last.data, b"session end: aborted (bastion restarted)");
    }
}
