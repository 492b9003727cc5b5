//! Device output through the terminal emulator: the `avt` terminal, the row tracker that
//! turns its rows into lines, and the plain-text fast path around both.

use avt::{ScreenKind, Terminal};

use super::fast::{ground_after, plain_line, tail_start};
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
        let (_, rows) = self.term.size();
        let cut = tail_start(bytes, rows);
        let mut pos = 0;
        let mut slow_from = 0;
        while pos < cut {
            let end = match memchr::memchr(b'\n', &bytes[pos..cut]) {
                Some(i) => pos + i + 1,
                None => cut,
            };
            let line = &bytes[pos..end];
            let plain = line.len() >= 2 && line[line.len() - 2] == b'\r';
            let fast = if self.ready && plain {
                plain_line(&line[..line.len() - 2], self.term.size().0)
            } else {
                None
            };
            match fast {
                Some(rendered) => {
                    emit(&mut self.tracker.out, self.tracker.now, rendered);
                    slow_from = end;
                }
                None => {
                    // Through the emulator, one line at a time so the fast path resumes
                    // as soon as the terminal is back in its plain state.
                    self.slow(&text[slow_from..end]);
                    slow_from = end;
                }
            }
            pos = end;
        }
        self.slow(&text[slow_from..]);
        out.append(&mut self.tracker.out);
    }

    fn slow(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
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
        self.term.resize_with(cols, rows, &mut self.tracker);
        self.ready = self.fast_ready();
        out.append(&mut self.tracker.out);
    }

    /// The end: every row still on the screen leaves it (the primary screen's too when a
    /// full-screen program is still running).
    pub fn flush(&mut self, out: &mut Vec<(f64, Stream, String)>) {
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
    pub fn asks_for_secret(&self) -> bool {
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
