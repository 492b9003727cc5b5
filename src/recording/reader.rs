//! Reading a recording back: the header and every event, with the original bytes.
//!
//! A last line cut short (a crash while writing) is tolerated and reported; a malformed
//! line anywhere else is an error naming its line number.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::text::to_bytes;
use super::{RecordingError, Result};

/// One event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Seconds since the start.
    pub time: f64,
    /// `o`, `i`, `r` or `m`.
    pub code: char,
    /// The original bytes (for `r`/`m`, the UTF-8 text).
    pub data: Vec<u8>,
}

/// A parsed recording.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The file.
    pub path: PathBuf,
    /// The header.
    pub header: asciicast::Header,
    /// Every event in order.
    pub events: Vec<RecordedEvent>,
    /// Whether the last line was cut short (the session did not end cleanly).
    pub truncated: bool,
}

impl Recording {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Recording> {
        let text = std::fs::read(path).map_err(|source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Recording::parse(&text, path)
    }

    /// Parses recording bytes; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Recording> {
        let bad = |line: usize, reason: String| RecordingError::Malformed {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let text = String::from_utf8_lossy(bytes);
        let ends_clean = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let Some(first) = lines.first() else {
            return Err(bad(1, "empty file, no asciicast header".into()));
        };
        let header: asciicast::Header = serde_json::from_str(first)
            .map_err(|e| bad(1, format!("not an asciicast v2 header: {e}")))?;
        if header.version != 2 {
            return Err(bad(
                1,
                format!("asciicast version {} (only 2 is supported)", header.version),
            ));
        }
        let mut events = Vec::new();
        let mut truncated = false;
        for (i, line) in lines.iter().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let last = i + 1 == lines.len();
            match parse_event(line) {
                Ok(ev) => events.push(ev),
                Err(_) if last && !ends_clean => truncated = true,
                Err(reason) => return Err(bad(i + 1, reason)),
            }
        }
        Ok(Recording {
            path: path.to_path_buf(),
            header,
            events,
            truncated,
        })
    }

    /// Writes the output (`o` events) only, byte-exact.
    pub fn cat(&self, w: &mut dyn Write) -> Result<()> {
        for ev in self.events.iter().filter(|e| e.code == 'o') {
            w.write_all(&ev.data).map_err(|source| RecordingError::Io {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// What the admin typed (`i` events), in order, as one byte string.
    pub fn typed(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter(|e| e.code == 'i')
            .flat_map(|e| e.data.iter().copied())
            .collect()
    }

    /// Time of the last event.
    pub fn duration(&self) -> f64 {
        self.events.last().map(|e| e.time).unwrap_or(0.0)
    }

    /// Whether the session had a terminal (its header names the admin's `TERM`). Output
    /// of one without is shown with [`super::text::crlf`].
    pub fn had_terminal(&self) -> bool {
        had_terminal(&self.header)
    }
}

/// Whether a recording with this header had a terminal (`env.TERM`).
pub fn had_terminal(header: &asciicast::Header) -> bool {
    header.env.as_ref().is_some_and(|e| e.contains_key("TERM"))
}

/// The recording file `bytes` as a player should show it: unchanged when the session had
/// a terminal; else every output event's bare line feeds as CR LF (see
/// [`super::text::crlf`]). The file itself, and what its SHA-256 seals, stay as written.
pub fn for_display(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    let Some(head) = lines.next() else {
        return std::borrow::Cow::Borrowed(bytes);
    };
    let terminal = serde_json::from_slice::<asciicast::Header>(head.trim_ascii_end())
        .map(|h| had_terminal(&h))
        .unwrap_or(true);
    if terminal {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    out.extend_from_slice(head);
    for line in lines {
        let event = std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str::<(f64, String, String)>(l.trim_end()).ok());
        match event {
            Some((t, code, data)) if code == "o" => {
                let data = super::text::crlf_str(&data);
                serde_json::to_writer(&mut out, &(t, code, data)).expect("an event serializes");
                out.push(b'\n');
            }
            _ => out.extend_from_slice(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn parse_event(line: &str) -> std::result::Result<RecordedEvent, String> {
    let v: (f64, String, String) =
        serde_json::from_str(line).map_err(|e| format!("not an event [time, code, data]: {e}"))?;
    let code = match v.1.as_str() {
        "o" => 'o',
        "i" => 'i',
        "r" => 'r',
        "m" => 'm',
        other => return Err(format!("unknown event code {other:?}")),
    };
    if !(v.0.is_finite() && v.0 >= 0.0) {
        return Err(format!("bad event time {}", v.0));
    }
    let data = if code == 'o' || code == 'i' {
        to_bytes(&v.2)
    } else {
        v.2.into_bytes()
    };
    Ok(RecordedEvent {
        time: v.0,
        code,
        data,
    })
}
