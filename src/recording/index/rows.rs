//! What the indexer remembers about each row of a screen: when its first character was
//! printed and which text was already emitted for it, and how rows become lines.
//!
//! Rules (see the module header of `index`): on the primary screen a logical line (soft-
//! wrapped rows joined) is emitted when a newline finishes it; a row that leaves the screen
//! (scrolled off, deleted, cleared) is emitted if its text differs from what was emitted
//! for it, which covers lines redrawn after their newline and lines never finished. Rows
//! of a wrapped line leaving the screen one by one are joined in a carry.

use std::hash::{Hash, Hasher};

use avt::Line;
use rustc_hash::FxHasher;

use super::{Stream, MAX_LINE_CHARS};

/// One visible row.
#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    /// Seconds at which its first character was printed (NaN: none yet).
    pub time: f64,
    /// Hash of the text last emitted for it (0: none).
    pub emitted: u64,
}

impl Row {
    pub const FRESH: Row = Row {
        time: f64::NAN,
        emitted: 0,
    };
}

/// A row read before an operation removes it from the screen.
pub(super) struct Gone {
    pub row: usize,
    pub text: String,
    pub wrapped: bool,
}

/// The start of a wrapped line whose first rows have already left the screen.
struct Carry {
    time: f64,
    text: String,
}

/// Row states of one screen and the lines they produce.
pub(super) struct Rows {
    pub rows: Vec<Row>,
    carry: Option<Carry>,
}

pub(super) fn text_hash(text: &str) -> u64 {
    let mut h = FxHasher::default();
    text.hash(&mut h);
    h.finish() | 1
}

pub(super) fn row_text(line: &Line) -> String {
    line.chars().collect()
}

pub(super) fn is_blank(line: &Line) -> bool {
    line.cells().iter().all(|c| c.char() == ' ')
}

/// Pushes `text` (already trimmed) as shown lines, cut into pieces of at most
/// [`MAX_LINE_CHARS`] characters.
pub(super) fn emit(out: &mut Vec<(f64, Stream, String)>, time: f64, text: String) {
    if text.is_empty() {
        return;
    }
    if text.len() <= MAX_LINE_CHARS {
        out.push((time, Stream::Shown, text));
        return;
    }
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(MAX_LINE_CHARS) {
        let piece: String = piece.iter().collect();
        let piece = piece.trim();
        if !piece.is_empty() {
            out.push((time, Stream::Shown, piece.to_string()));
        }
    }
}

impl Rows {
    pub fn new(rows: usize) -> Rows {
        Rows {
            rows: vec![Row::FRESH; rows],
            carry: None,
        }
    }

    pub fn reset(&mut self, rows: usize) {
        self.rows = vec![Row::FRESH; rows];
        self.carry = None;
    }

    pub fn has_carry(&self) -> bool {
        self.carry.is_some()
    }

    /// Notes that a character was printed on `row` at `now`.
    #[inline]
    pub fn printed(&mut self, row: usize, now: f64) {
        if let Some(r) = self.rows.get_mut(row) {
            if r.time.is_nan() {
                r.time = now;
            }
        }
    }

    /// A row whose text was erased (and never emitted) starts its time anew.
    pub fn erased(&mut self, row: usize) {
        if let Some(r) = self.rows.get_mut(row) {
            if r.emitted == 0 {
                r.time = f64::NAN;
            }
        }
    }

    /// A newline left `row`: emits the logical line it ends unless it was emitted before.
    pub fn finished(
        &mut self,
        lines: &[&Line],
        row: usize,
        top: usize,
        now: f64,
        out: &mut Vec<(f64, Stream, String)>,
    ) {
        if row >= lines.len() || row >= self.rows.len() {
            return;
        }
        let mut start = row;
        while start > 0 && lines[start - 1].is_wrapped() {
            start -= 1;
        }
        let mut end = row;
        while end + 1 < lines.len() && lines[end].is_wrapped() {
            end += 1;
        }
        if self.rows[end].emitted != 0 {
            return;
        }
        let (mut time, mut text) = match (&self.carry, start == top) {
            (Some(c), true) => (c.time, c.text.clone()),
            _ => (f64::NAN, String::new()),
        };
        for (line, state) in lines[start..=end].iter().zip(&self.rows[start..=end]) {
            text.extend(line.chars());
            if time.is_nan() {
                time = state.time;
            }
        }
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let h = text_hash(text);
        for r in &mut self.rows[start..=end] {
            r.emitted = h;
        }
        emit(
            out,
            if time.is_nan() { now } else { time },
            text.to_string(),
        );
    }

    /// A row leaves the screen. `joins_next`: its text continues in the row that takes its
    /// place (a wrapped row scrolled off the top).
    pub fn gone(
        &mut self,
        state: Row,
        text: &str,
        joins_next: bool,
        now: f64,
        out: &mut Vec<(f64, Stream, String)>,
    ) {
        let (mut time, mut full) = match self.carry.take() {
            Some(c) => (c.time, c.text),
            None => (f64::NAN, String::new()),
        };
        if time.is_nan() {
            time = state.time;
        }
        full.push_str(text);
        if joins_next && full.len() < MAX_LINE_CHARS {
            self.carry = Some(Carry { time, text: full });
            return;
        }
        let trimmed = full.trim_end();
        if trimmed.is_empty() || text_hash(trimmed) == state.emitted {
            return;
        }
        emit(
            out,
            if time.is_nan() { now } else { time },
            trimmed.to_string(),
        );
    }

    /// Emits a pending carry as a line of its own (before the screen is rebuilt).
    pub fn flush_carry(&mut self, now: f64, out: &mut Vec<(f64, Stream, String)>) {
        if let Some(c) = self.carry.take() {
            let time = if c.time.is_nan() { now } else { c.time };
            emit(out, time, c.text.trim_end().to_string());
        }
    }

    /// Rows `range.start..range.start+n` left (their texts in `gone`); the rest move up.
    pub fn scroll_up(
        &mut self,
        range: std::ops::Range<usize>,
        n: usize,
        gone: &[Gone],
        now: f64,
        out: &mut Vec<(f64, Stream, String)>,
    ) {
        let range = range.start..range.end.min(self.rows.len());
        let n = n.min(range.len());
        for row in range.start..range.start + n {
            if let Some(g) = gone.iter().find(|g| g.row == row) {
                self.gone(self.rows[row], &g.text, g.wrapped, now, out);
            }
        }
        self.rows
            .copy_within(range.start + n..range.end, range.start);
        self.rows[range.end - n..range.end].fill(Row::FRESH);
    }

    /// Rows at the bottom of `range` left (their texts in `gone`); the rest move down.
    pub fn scroll_down(
        &mut self,
        range: std::ops::Range<usize>,
        n: usize,
        gone: &[Gone],
        now: f64,
        out: &mut Vec<(f64, Stream, String)>,
    ) {
        let range = range.start..range.end.min(self.rows.len());
        let n = n.min(range.len());
        for row in range.end - n..range.end {
            if let Some(g) = gone.iter().find(|g| g.row == row) {
                self.gone(self.rows[row], &g.text, false, now, out);
            }
        }
        self.rows
            .copy_within(range.start..range.end - n, range.start + n);
        self.rows[range.start..range.start + n].fill(Row::FRESH);
    }

    /// Rows cleared in place (their texts in `gone`, top to bottom).
    pub fn cleared(&mut self, gone: &[Gone], now: f64, out: &mut Vec<(f64, Stream, String)>) {
        for g in gone {
            if g.row < self.rows.len() {
                let state = std::mem::replace(&mut self.rows[g.row], Row::FRESH);
                self.gone(state, &g.text, g.wrapped, now, out);
            }
        }
        self.flush_carry(now, out);
    }
}

/// The logical lines of `lines` (soft-wrapped rows joined): row range and trimmed text.
pub(super) fn logical_lines(lines: &[&Line]) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        text.extend(line.chars());
        if !line.is_wrapped() || i + 1 == lines.len() {
            out.push((start..i + 1, text.trim_end().to_string()));
            text.clear();
            start = i + 1;
        }
    }
    out
}
