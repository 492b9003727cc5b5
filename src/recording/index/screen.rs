//! Device output through the terminal emulator: the `avt` terminal, the row tracker that
//! turns its rows into lines, and the plain-text fast path around both.

use std::collections::VecDeque;

use avt::{ScreenKind, Terminal};

use super::fast::{ground_after, plain_line};
use super::rows::{emit, is_blank, row_text, Gone};
use super::tracker::Tracker;
use super::Stream;

pub(super) struct OutputScreen {
    term: Terminal,
    tracker: Tracker,
    /// The emulator's parser is known to be between escape sequences.
    ground: bool,
    /// The fast path may be taken (cached after each emulator feed).
    ready: bool,
    /// The last screenful of fast-path lines (time, original text with its `\r\n`), already
    /// emitted, not yet shown to the emulator.
    deferred: VecDeque<(f64, String)>,
}

impl OutputScreen {
    pub fn new(cols: usize, rows: usize) -> OutputScreen {
        let (cols, rows) = (cols.max(1), rows.max(1));
        let term = Terminal::new(cols, rows).expect("a terminal of at least 1x1 is valid");
        let mut screen = OutputScreen {
            term,
            tracker: Tracker::new(rows),
            ground: true,
            ready: false,
            deferred: VecDeque::new(),
        };
        screen.ready = screen.fast_ready();
        screen
    }

    pub fn last_time(&self) -> f64 {
        self.tracker.now
    }

    /// Output text at `time` seconds; completed lines go to `out`.
    pub fn feed(&mut self, time: f64, text: &str, out: &mut Vec<(f64, Stream, String)>) {
        if time.is_finite() && time >= self.tracker.now {
            self.tracker.now = time;
        }
        let bytes = text.as_bytes();
        let (cols, rows) = self.term.size();
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &bytes[pos..]) {
            let end = pos + i + 1;
            let line = &bytes[pos..end];
            let fast = match self.ready && line.len() >= 2 && line[line.len() - 2] == b'\r' {
                true => plain_line(&line[..line.len() - 2], cols),
                false => None,
            };
            match fast {
                Some(rendered) => {
                    emit(&mut self.tracker.out, self.tracker.now, rendered);
                    if self.deferred.len() == rows {
                        self.deferred.pop_front();
                    }
                    self.deferred
                        .push_back((self.tracker.now, text[pos..end].to_string()));
                }
                // Through the emulator, one line at a time so the fast path resumes as soon
                // as the terminal is back in its plain state.
                None => self.slow(&text[pos..end]),
            }
            pos = end;
        }
        self.slow(&text[pos..]);
        out.append(&mut self.tracker.out);
    }

    /// Shows the emulator the fast-path lines it has not seen (without emitting them again).
    fn catch_up(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let now = self.tracker.now;
        self.tracker.silent = true;
        for (time, text) in std::mem::take(&mut self.deferred) {
            self.tracker.now = time;
            self.term.feed_with(text.as_str(), &mut self.tracker);
        }
        self.tracker.silent = false;
        self.tracker.now = now;
    }

    fn slow(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.catch_up();
        self.term.feed_with(text, &mut self.tracker);
        self.ground = ground_after(text, self.ground);
        self.ready = self.fast_ready();
    }

    /// Whether a plain line printed now would only land on the bottom row and scroll up.
    fn fast_ready(&self) -> bool {
        let (_, rows) = self.term.size();
        let cursor = self.term.cursor();
        let m = &self.tracker.modes;
        self.ground
            && self.term.active_screen_kind() == ScreenKind::Primary
            && cursor.col == 0
            && cursor.row + 1 == rows
            && m.top == 0
            && m.bottom + 1 == rows
            && m.autowrap
            && !m.insert
            && m.charsets_ascii[m.active_charset]
            && m.tabs_default
            && !self.tracker.primary.has_carry()
            && self.term.screen().line(rows - 1).is_some_and(is_blank)
    }

    pub fn resize(
        &mut self,
        time: f64,
        cols: usize,
        rows: usize,
        out: &mut Vec<(f64, Stream, String)>,
    ) {
        if time.is_finite() && time >= self.tracker.now {
            self.tracker.now = time;
        }
        self.catch_up();
        self.term.resize_with(cols, rows, &mut self.tracker);
        self.ready = self.fast_ready();
        out.append(&mut self.tracker.out);
    }

    /// The end: every row still on the screen leaves it (the primary screen's too when a
    /// full-screen program is still running).
    pub fn flush(&mut self, out: &mut Vec<(f64, Stream, String)>) {
        self.catch_up();
        out.append(&mut self.tracker.out);
        let now = self.tracker.now;
        let gone = read_all(self.term.screen().visible_lines());
        match self.term.active_screen_kind() {
            ScreenKind::Primary => self.tracker.primary.cleared(&gone, now, out),
            ScreenKind::Alternate => {
                self.tracker.alternate.cleared(&gone, now, out);
                let primary = read_all(self.term.primary_screen().visible_lines());
                self.tracker.primary.cleared(&primary, now, out);
            }
        }
    }

    /// Whether the line the cursor is on asks for a password or similar secret.
    pub fn asks_for_secret(&mut self) -> bool {
        self.catch_up();
        let row = self.term.cursor().row;
        let Some(line) = self.term.screen().line(row) else {
            return false;
        };
        let text = row_text(line).trim_end().to_lowercase();
        let prompt = text.ends_with(':') || text.ends_with('>') || text.ends_with('?');
        prompt
            && [
                "password",
                "passphrase",
                "passcode",
                "secret",
                "pin:",
                "token",
            ]
            .iter()
            .any(|w| text.contains(w))
    }
}

fn read_all<'a>(lines: impl Iterator<Item = &'a avt::Line>) -> Vec<Gone> {
    lines
        .enumerate()
        .map(|(row, line)| Gone {
            row,
            text: row_text(line),
            wrapped: line.is_wrapped(),
        })
        .collect()
}
