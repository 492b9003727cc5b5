//! Text extraction for search: a recording's events become searchable lines, each with the
//! moment it appeared and the stream it came from.
//!
//! - **shown**: device output rendered through a terminal emulator (`avt`, asciinema's own),
//!   so colour escapes, cursor movement, `\r` overwrites and line editing leave the words a
//!   person saw on the screen. A line is emitted when it is finished (the cursor leaves it
//!   with a newline), when it leaves the screen (scrolled off, cleared) if it changed since,
//!   and at the end, with the time its first character was printed ([`screen`]).
//! - **typed**: the admin's keystrokes as lines after editing (backspace, Ctrl-U, Ctrl-W,
//!   Ctrl-C, cursor keys), ended by `\r` or `\n` ([`typed`]).
//!
//! Alternate-screen programs (vi, less, top) redraw constantly; their rows are taken only
//! when they leave the screen (scrolled off, cleared, deleted) or the program leaves the
//! alternate screen. On both streams a line identical to one emitted from the same stream
//! less than [`DEDUPE_WINDOW_MS`] earlier (session time) is not emitted again ([`dedupe`]).
//! Typed lines answering a password prompt on the screen are never emitted.
//!
//! [`Indexer`] is incremental, for the live session pipeline; [`index_file`] indexes a whole
//! recording (for reindexing old ones).

mod dedupe;
mod fast;
mod rows;
mod screen;
mod tracker;
mod typed;

use std::path::Path;

use super::reader::{RecordedEvent, Recording};
use super::Result;
use dedupe::Dedupe;
use screen::OutputScreen;
use typed::LineEditor;

/// Identical lines of one stream closer together than this (session time) are emitted once.
pub const DEDUPE_WINDOW_MS: u64 = 30_000;

/// Longest line emitted; longer text (output without newlines) is cut into pieces this long.
pub const MAX_LINE_CHARS: usize = 4096;

/// Terminal size used when a recording's header gives none.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Which side of the session a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// What the device printed, as the screen showed it.
    Shown,
    /// What the admin typed, after line editing.
    Typed,
}

impl Stream {
    /// `shown` or `typed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Shown => "shown",
            Stream::Typed => "typed",
        }
    }
}

/// One searchable line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedLine {
    /// Milliseconds from the start of the recording to the line's first character.
    pub offset_ms: u64,
    /// Where it comes from.
    pub stream: Stream,
    /// The text, trailing blanks trimmed.
    pub text: String,
}

/// Turns a stream of recording events into searchable lines, as they come.
pub struct Indexer {
    screen: OutputScreen,
    editor: LineEditor,
    dedupe: Dedupe,
    raw: Vec<(f64, Stream, String)>,
    out_utf8: Utf8Stream,
    in_utf8: Utf8Stream,
    /// The session had no terminal: output's bare line feeds are shown as CR LF.
    no_terminal: bool,
}

impl Indexer {
    /// An indexer for a terminal of `cols` x `rows` (zero means unknown: 80x24).
    pub fn new(cols: u16, rows: u16) -> Indexer {
        let (cols, rows) = if cols == 0 || rows == 0 {
            DEFAULT_SIZE
        } else {
            (cols, rows)
        };
        Indexer {
            screen: OutputScreen::new(cols as usize, rows as usize),
            editor: LineEditor::default(),
            dedupe: Dedupe::new(DEDUPE_WINDOW_MS),
            raw: Vec::new(),
            out_utf8: Utf8Stream::default(),
            in_utf8: Utf8Stream::default(),
            no_terminal: false,
        }
    }

    /// The session had a terminal (`true`, the default) or not: then output's bare line
    /// feeds start new lines, as the admin's terminal showed them.
    pub fn with_terminal(mut self, terminal: bool) -> Indexer {
        self.no_terminal = !terminal;
        self
    }

    /// An indexer sized like the recording's header.
    pub fn for_header(header: &asciicast::Header) -> Indexer {
        let clamp = |v: u32| v.min(u16::MAX as u32) as u16;
        Indexer::new(clamp(header.width), clamp(header.height))
            .with_terminal(super::had_terminal(header))
    }

    /// Feeds one recorded event; returns the lines it completed.
    pub fn feed(&mut self, event: &RecordedEvent) -> Vec<IndexedLine> {
        match event.code {
            'o' => self.output(event.time, &event.data),
            'i' => self.input(event.time, &event.data),
            'r' => match parse_size(&event.data) {
                Some((cols, rows)) => self.resize(event.time, cols, rows),
                None => {
                    tracing::debug!(data = %String::from_utf8_lossy(&event.data), "resize event ignored: not COLSxROWS");
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    }

    /// Device output at `time` seconds.
    pub fn output(&mut self, time: f64, bytes: &[u8]) -> Vec<IndexedLine> {
        let text = self.out_utf8.decode(bytes);
        let text = match self.no_terminal {
            true => super::text::crlf_str(&text),
            false => std::borrow::Cow::Borrowed(text.as_ref()),
        };
        self.screen.feed(time, &text, &mut self.raw);
        self.drain()
    }

    /// Admin input at `time` seconds.
    pub fn input(&mut self, time: f64, bytes: &[u8]) -> Vec<IndexedLine> {
        let text = self.in_utf8.decode(bytes);
        if self.editor.is_empty() {
            self.editor.set_secret(self.screen.asks_for_secret());
        }
        self.editor.feed(time, &text, &mut self.raw);
        self.drain()
    }

    /// A terminal resize at `time` seconds (a zero size is ignored).
    pub fn resize(&mut self, time: f64, cols: u16, rows: u16) -> Vec<IndexedLine> {
        if cols > 0 && rows > 0 {
            self.screen
                .resize(time, cols as usize, rows as usize, &mut self.raw);
        }
        self.drain()
    }

    /// The end of the recording: whatever is still on the screen or being typed.
    pub fn finish(mut self) -> Vec<IndexedLine> {
        let rest = self.out_utf8.finish();
        let time = self.screen.last_time();
        if !rest.is_empty() {
            self.screen.feed(time, &rest, &mut self.raw);
        }
        self.screen.flush(&mut self.raw);
        self.editor.flush(&mut self.raw);
        self.drain()
    }

    fn drain(&mut self) -> Vec<IndexedLine> {
        let mut out = Vec::with_capacity(self.raw.len());
        for (time, stream, text) in self.raw.drain(..) {
            let offset_ms = to_ms(time);
            if self.dedupe.admit(stream, &text, offset_ms) {
                out.push(IndexedLine {
                    offset_ms,
                    stream,
                    text,
                });
            }
        }
        out
    }
}

/// Indexes a whole recording file, handing the lines to `sink` in batches of about `batch`.
/// Returns the number of lines.
pub fn index_file(
    path: &Path,
    batch: usize,
    sink: &mut dyn FnMut(Vec<IndexedLine>) -> Result<()>,
) -> Result<usize> {
    let recording = Recording::open(path)?;
    index_recording(&recording, batch, sink)
}

/// Indexes a parsed recording, like [`index_file`].
pub fn index_recording(
    recording: &Recording,
    batch: usize,
    sink: &mut dyn FnMut(Vec<IndexedLine>) -> Result<()>,
) -> Result<usize> {
    let batch = batch.max(1);
    let mut indexer = Indexer::for_header(&recording.header);
    let mut pending = Vec::new();
    let mut total = 0;
    for event in &recording.events {
        pending.extend(indexer.feed(event));
        if pending.len() >= batch {
            total += pending.len();
            sink(std::mem::take(&mut pending))?;
        }
    }
    pending.extend(indexer.finish());
    total += pending.len();
    if !pending.is_empty() {
        sink(pending)?;
    }
    Ok(total)
}

fn to_ms(time: f64) -> u64 {
    if time.is_finite() && time > 0.0 {
        (time * 1000.0).round().min(u64::MAX as f64) as u64
    } else {
        0
    }
}

fn parse_size(data: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(data).ok()?;
    let (cols, rows) = text.trim().split_once('x')?;
    Some((cols.parse().ok()?, rows.parse().ok()?))
}

/// Incremental lossy UTF-8 decoding: a sequence split across two events is joined, bytes
/// that are not UTF-8 become U+FFFD.
#[derive(Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn decode(&mut self, bytes: &[u8]) -> String {
        let joined;
        let input: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(bytes);
            joined = buf;
            &joined
        };
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    return out;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                        None => {
                            self.pending = bad.to_vec();
                            return out;
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

#[cfg(test)]
mod tests;
