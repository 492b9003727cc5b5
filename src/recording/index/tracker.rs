//! The `avt` observer that follows rows through every terminal operation: it reads rows
//! that an operation is about to remove (scrolling, deleting, clearing, leaving the
//! alternate screen, reset), moves row states when the screen scrolls, and emits lines by
//! the rules of [`super::rows`].
//!
//! `avt` tells which rows an operation dirtied but not the scroll margins, so the tracker
//! keeps its own copy of the few modes that decide scrolling and plain printing (margins,
//! autowrap, insert mode, character sets, tab stops), following `avt`'s semantics. A
//! scroll it did not foresee is still taken into account; the text of rows it removed is
//! then recovered from `avt`'s eviction callback where there is one (primary screen).

use std::ops::Range;

use avt::parser::{AnsiMode, DecMode, EdScope, Function};
use avt::{Charset, Line, Observation, Observer, Operation, ScreenKind, Terminal};

use super::rows::{is_blank, logical_lines, row_text, Gone, Row, Rows};
use super::Stream;

/// The modes that decide where output lands.
#[derive(Clone, Debug)]
pub(super) struct Modes {
    pub top: usize,
    pub bottom: usize,
    pub autowrap: bool,
    pub insert: bool,
    pub charsets_ascii: [bool; 2],
    pub active_charset: usize,
    pub tabs_default: bool,
}

impl Modes {
    fn new(rows: usize) -> Modes {
        Modes {
            top: 0,
            bottom: rows - 1,
            autowrap: true,
            insert: false,
            charsets_ascii: [true, true],
            active_charset: 0,
            tabs_default: true,
        }
    }

    fn soft_reset(&mut self, rows: usize) {
        self.top = 0;
        self.bottom = rows - 1;
        self.insert = false;
        self.charsets_ascii = [true, true];
        self.active_charset = 0;
    }
}

/// What an operation is expected to do to rows, decided before it runs.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Nothing,
    /// Scroll up (`true`) or down `n` rows of the region, if `avt` reports it did.
    Scroll {
        up: bool,
        n: usize,
    },
    /// Rows read into `gone` are cleared in place.
    Clear,
    /// The alternate screen is left: every row read into `gone` leaves.
    LeaveAlternate,
    /// Hard reset: every row of both screens leaves.
    Reset,
    /// Resize: rows are matched again afterwards.
    Resize,
}

pub(super) struct Tracker {
    pub now: f64,
    /// Lines finished now were emitted already (the fast path's, shown to the emulator
    /// late): they are marked, not emitted again.
    pub silent: bool,
    pub rows: usize,
    pub modes: Modes,
    pub primary: Rows,
    pub alternate: Rows,
    pub out: Vec<(f64, Stream, String)>,
    expect: Expect,
    gone: Vec<Gone>,
    gone_primary: Vec<Gone>,
    dirty_calls: usize,
    first_dirty: Range<usize>,
    /// Row states of rows removed by a scroll nobody foresaw, waiting for their text.
    orphans: Vec<Row>,
    before_resize: Vec<(String, Row)>,
    before_kind: ScreenKind,
}

impl Tracker {
    pub fn new(rows: usize) -> Tracker {
        Tracker {
            now: 0.0,
            silent: false,
            rows,
            modes: Modes::new(rows),
            primary: Rows::new(rows),
            alternate: Rows::new(rows),
            out: Vec::new(),
            expect: Expect::Nothing,
            gone: Vec::new(),
            gone_primary: Vec::new(),
            dirty_calls: 0,
            first_dirty: 0..0,
            orphans: Vec::new(),
            before_resize: Vec::new(),
            before_kind: ScreenKind::Primary,
        }
    }

    fn active(&mut self, term: &Terminal) -> &mut Rows {
        match term.active_screen_kind() {
            ScreenKind::Primary => &mut self.primary,
            ScreenKind::Alternate => &mut self.alternate,
        }
    }

    fn active_out(&mut self, term: &Terminal) -> (&mut Rows, &mut Vec<(f64, Stream, String)>) {
        match term.active_screen_kind() {
            ScreenKind::Primary => (&mut self.primary, &mut self.out),
            ScreenKind::Alternate => (&mut self.alternate, &mut self.out),
        }
    }

    fn read(&mut self, term: &Terminal, rows: Range<usize>) {
        let screen = term.screen();
        for row in rows {
            if let Some(line) = screen.line(row) {
                self.gone.push(Gone {
                    row,
                    text: row_text(line),
                    wrapped: line.is_wrapped(),
                });
            }
        }
    }

    fn region(&self) -> Range<usize> {
        self.modes.top..(self.modes.bottom + 1).min(self.rows)
    }

    /// Rows `Il`/`Dl` act on: from the cursor to the bottom margin (or screen end).
    fn line_region(&self, row: usize) -> Range<usize> {
        if row <= self.modes.bottom {
            row..self.modes.bottom + 1
        } else {
            row..self.rows
        }
    }

    fn before_function(&mut self, term: &Terminal, f: &Function) {
        let cursor = term.cursor();
        let (cols, _) = term.size();
        self.expect = match f {
            Function::Print(c) => {
                if cursor.col == 0 && *c != ' ' {
                    self.print_at_line_start(term, cursor.row);
                }
                let wraps = self.modes.autowrap && cursor.col + 1 >= cols;
                self.before_down(term, wraps && cursor.row == self.modes.bottom)
            }
            Function::Lf | Function::Nel => {
                if term.active_screen_kind() == ScreenKind::Primary {
                    self.finish_line(term, cursor.row);
                }
                self.before_down(term, cursor.row == self.modes.bottom)
            }
            Function::Ri => {
                if cursor.row == self.modes.top {
                    self.read(term, self.modes.bottom..self.modes.bottom + 1);
                }
                Expect::Scroll { up: false, n: 1 }
            }
            Function::Su(n) | Function::Dl(n) => {
                let n = (*n).max(1) as usize;
                let range = match f {
                    Function::Su(_) => self.region(),
                    _ => self.line_region(cursor.row),
                };
                self.read(term, range.start..(range.start + n).min(range.end));
                Expect::Scroll { up: true, n }
            }
            Function::Sd(n) | Function::Il(n) => {
                let n = (*n).max(1) as usize;
                let range = match f {
                    Function::Sd(_) => self.region(),
                    _ => self.line_region(cursor.row),
                };
                self.read(
                    term,
                    range.end.saturating_sub(n).max(range.start)..range.end,
                );
                Expect::Scroll { up: false, n }
            }
            Function::Ed(scope) => {
                let rows = match scope {
                    EdScope::All => 0..self.rows,
                    EdScope::Below => cursor.row + 1..self.rows,
                    EdScope::Above => 0..cursor.row,
                    EdScope::SavedLines => 0..0,
                };
                self.read(term, rows);
                Expect::Clear
            }
            Function::Decrst(modes) if term.active_screen_kind() == ScreenKind::Alternate => {
                if modes.as_slice().iter().any(|m| {
                    matches!(
                        m,
                        DecMode::AltScreenBuffer | DecMode::SaveCursorAltScreenBuffer
                    )
                }) {
                    self.read(term, 0..self.rows);
                    Expect::LeaveAlternate
                } else {
                    Expect::Nothing
                }
            }
            Function::Ris => {
                self.read(term, 0..self.rows);
                if term.active_screen_kind() == ScreenKind::Alternate {
                    self.gone_primary = read_lines(term.primary_screen().visible_lines());
                }
                Expect::Reset
            }
            _ => Expect::Nothing,
        };
    }

    /// The cursor moves down a row; at the bottom margin the region's top row leaves.
    fn before_down(&mut self, term: &Terminal, scrolls: bool) -> Expect {
        if scrolls {
            self.read(term, self.modes.top..self.modes.top + 1);
        }
        Expect::Scroll { up: true, n: 1 }
    }

    /// A character printed at column 0 over a row that looks blank starts that row anew
    /// (text erased with spaces, as pagers do for their `--More--`).
    fn print_at_line_start(&mut self, term: &Terminal, row: usize) {
        let rows = self.active(term);
        let state = rows.rows.get(row).copied().unwrap_or(Row::FRESH);
        if !state.time.is_nan() && state.emitted == 0 {
            if let Some(line) = term.screen().line(row) {
                if is_blank(line) {
                    self.active(term).erased(row);
                }
            }
        }
    }

    fn finish_line(&mut self, term: &Terminal, row: usize) {
        let lines: Vec<&Line> = term.screen().visible_lines().collect();
        let top = self.modes.top;
        let now = self.now;
        let mut discard = Vec::new();
        let out = if self.silent {
            &mut discard
        } else {
            &mut self.out
        };
        self.primary.finished(&lines, row, top, now, out);
    }

    fn after_function(&mut self, term: &Terminal, f: &Function, before: ScreenKind) {
        let expect = std::mem::replace(&mut self.expect, Expect::Nothing);
        let gone = std::mem::take(&mut self.gone);
        let now = self.now;
        match expect {
            Expect::Scroll { up, n } => self.after_scroll(term, f, up, n, &gone),
            Expect::Clear => {
                let (rows, out) = self.active_out(term);
                rows.cleared(&gone, now, out);
                self.after_edit(term);
            }
            Expect::LeaveAlternate => {
                self.alternate.cleared(&gone, now, &mut self.out);
                self.alternate.reset(self.rows);
            }
            Expect::Reset => {
                let gone_primary = std::mem::take(&mut self.gone_primary);
                if before == ScreenKind::Alternate {
                    self.alternate.cleared(&gone, now, &mut self.out);
                    self.primary.cleared(&gone_primary, now, &mut self.out);
                } else {
                    self.primary.cleared(&gone, now, &mut self.out);
                }
                self.primary.reset(self.rows);
                self.alternate.reset(self.rows);
                self.modes = Modes::new(self.rows);
            }
            Expect::Nothing | Expect::Resize => self.after_other(term, f, before),
        }
        self.gone = gone;
        self.gone.clear();
    }

    fn after_scroll(&mut self, term: &Terminal, f: &Function, up: bool, n: usize, gone: &[Gone]) {
        let printed = matches!(f, Function::Print(_));
        let scrolled = if printed {
            self.dirty_calls >= 2
        } else {
            self.dirty_calls >= 1
        };
        let now = self.now;
        if scrolled {
            let range = self.first_dirty.clone();
            if matches!(f, Function::Su(_) | Function::Sd(_)) {
                self.modes.top = range.start;
                self.modes.bottom = range.end.saturating_sub(1);
            }
            let foreseen = gone.iter().any(|g| g.row == range.start);
            if !foreseen
                && up
                && range.start == 0
                && term.active_screen_kind() == ScreenKind::Primary
            {
                let k = n.min(range.len());
                self.orphans = self.primary.rows[..k].to_vec();
            }
            let (rows, out) = self.active_out(term);
            if up {
                rows.scroll_up(range, n, gone, now, out);
            } else {
                rows.scroll_down(range, n, gone, now, out);
            }
        }
        if printed {
            let row = term.cursor().row;
            self.active(term).printed(row, now);
        }
    }

    /// Erasing leaves a blank cursor row: its time starts anew.
    fn after_edit(&mut self, term: &Terminal) {
        let row = term.cursor().row;
        if term.screen().line(row).is_some_and(is_blank) {
            self.active(term).erased(row);
        }
    }

    fn after_other(&mut self, term: &Terminal, f: &Function, before: ScreenKind) {
        let rows = self.rows;
        match f {
            Function::El(_) | Function::Ech(_) | Function::Dch(_) => self.after_edit(term),
            Function::Rep(_) => {
                let (row, now) = (term.cursor().row, self.now);
                self.active(term).printed(row, now);
            }
            Function::Decset(m) | Function::Decrst(m) => {
                let on = matches!(f, Function::Decset(_));
                if m.as_slice().contains(&DecMode::AutoWrap) {
                    self.modes.autowrap = on;
                }
                if before == ScreenKind::Primary
                    && term.active_screen_kind() == ScreenKind::Alternate
                {
                    self.alternate.reset(rows);
                }
            }
            Function::Sm(m) | Function::Rm(m) if m.as_slice().contains(&AnsiMode::Insert) => {
                self.modes.insert = matches!(f, Function::Sm(_));
            }
            Function::Decstbm(top, bottom) => {
                let top = (*top).max(1) as usize - 1;
                let bottom = if *bottom == 0 { rows } else { *bottom as usize } - 1;
                if top < bottom && bottom < rows {
                    self.modes.top = top;
                    self.modes.bottom = bottom;
                }
            }
            Function::Decstr => self.modes.soft_reset(rows),
            Function::Gzd4(c) => self.modes.charsets_ascii[0] = *c == Charset::Ascii,
            Function::G1d4(c) => self.modes.charsets_ascii[1] = *c == Charset::Ascii,
            Function::So => self.modes.active_charset = 1,
            Function::Si => self.modes.active_charset = 0,
            Function::Hts | Function::Tbc(_) | Function::Ctc(_) => self.modes.tabs_default = false,
            _ => {}
        }
    }

    fn before_resize(&mut self, term: &Terminal) {
        let now = self.now;
        self.primary.flush_carry(now, &mut self.out);
        self.alternate.flush_carry(now, &mut self.out);
        let lines: Vec<&Line> = term.primary_screen().visible_lines().collect();
        self.before_resize = logical_lines(&lines)
            .into_iter()
            .map(|(range, text)| {
                let states = &self.primary.rows[range.start.min(self.primary.rows.len())
                    ..range.end.min(self.primary.rows.len())];
                let time = states.iter().map(|r| r.time).find(|t| !t.is_nan());
                let emitted = states.last().map(|r| r.emitted).unwrap_or(0);
                let row = Row {
                    time: time.unwrap_or(f64::NAN),
                    emitted,
                };
                (text, row)
            })
            .collect();
        if term.active_screen_kind() == ScreenKind::Alternate {
            self.read(term, 0..self.rows);
        }
        self.expect = Expect::Resize;
    }

    /// After a resize, the primary screen's lines are matched to the old ones from the
    /// bottom up (reflow keeps a logical line's text); lines no longer visible left.
    fn after_resize(&mut self, term: &Terminal, rows: usize) {
        let now = self.now;
        self.rows = rows;
        self.modes.top = 0;
        self.modes.bottom = rows - 1;
        let old = std::mem::take(&mut self.before_resize);
        let lines: Vec<&Line> = term.primary_screen().visible_lines().collect();
        let new = logical_lines(&lines);
        self.primary.reset(rows);
        let used = |v: &[(Range<usize>, String)]| {
            v.iter().rposition(|l| !l.1.is_empty()).map_or(0, |p| p + 1)
        };
        let old_used = old
            .iter()
            .rposition(|l| !l.0.is_empty())
            .map_or(0, |p| p + 1);
        let mut i = old_used;
        let mut j = used(&new);
        while i > 0 && j > 0 && old[i - 1].0 == new[j - 1].1 {
            for r in new[j - 1].0.clone().filter(|r| *r < rows) {
                self.primary.rows[r] = old[i - 1].1;
            }
            i -= 1;
            j -= 1;
        }
        for (text, state) in &old[..i] {
            self.primary.gone(*state, text, false, now, &mut self.out);
        }
        for (range, text) in &new[..j] {
            if !text.is_empty() {
                for r in range.clone().filter(|r| *r < rows) {
                    self.primary.rows[r].time = now;
                }
            }
        }
        let gone = std::mem::take(&mut self.gone);
        if term.active_screen_kind() == ScreenKind::Alternate {
            let mut kept = std::mem::take(&mut self.alternate.rows);
            let cut: Vec<Gone> = gone.into_iter().filter(|g| g.row >= rows).collect();
            for g in &cut {
                let state = kept.get(g.row).copied().unwrap_or(Row::FRESH);
                self.alternate
                    .gone(state, &g.text, false, now, &mut self.out);
            }
            kept.resize(rows, Row::FRESH);
            self.alternate.rows = kept;
        } else {
            self.alternate.reset(rows);
        }
        self.expect = Expect::Nothing;
    }
}

fn read_lines<'a>(lines: impl Iterator<Item = &'a Line>) -> Vec<Gone> {
    lines
        .enumerate()
        .map(|(row, line)| Gone {
            row,
            text: row_text(line),
            wrapped: line.is_wrapped(),
        })
        .collect()
}

impl Observer for Tracker {
    type Output = ();

    #[inline]
    fn before(&mut self, context: &mut Observation<'_>, operation: &Operation) {
        self.dirty_calls = 0;
        self.orphans.clear();
        let term = context.terminal();
        match operation {
            Operation::Function(f) => self.before_function(term, f),
            Operation::Resize { .. } => self.before_resize(term),
        }
        self.before_kind = term.active_screen_kind();
    }

    #[inline]
    fn dirty(&mut self, rows: Range<usize>) {
        if self.dirty_calls == 0 {
            self.first_dirty = rows;
        }
        self.dirty_calls += 1;
    }

    #[inline]
    fn after(&mut self, context: &mut Observation<'_>, operation: &Operation) {
        let term = context.terminal();
        let before = self.before_kind;
        match operation {
            Operation::Function(f) => self.after_function(term, f, before),
            Operation::Resize { rows, .. } => self.after_resize(term, (*rows).max(1)),
        }
    }

    fn evicted(&mut self, _context: &mut Observation<'_>, line: &Line) {
        if self.orphans.is_empty() {
            return;
        }
        let state = self.orphans.remove(0);
        let now = self.now;
        let text = row_text(line);
        self.primary
            .gone(state, &text, line.is_wrapped(), now, &mut self.out);
    }

    fn end(&mut self, _context: &mut Observation<'_>) {}
}
