//! Typed input as lines after editing, the way a shell or a device CLI's line editor would
//! have taken it.
//!
//! Keys: printable characters insert at the cursor (Tab counts as a space); Backspace/DEL
//! and Ctrl-H delete before it, Ctrl-D and Delete at it; Ctrl-U kills to the start, Ctrl-K
//! to the end, Ctrl-W the word before the cursor; Ctrl-A/Home, Ctrl-E/End, Ctrl-B/Left and
//! Ctrl-F/Right move it; Ctrl-C cancels the line; `\r` or `\n` ends it. Other escape
//! sequences (Up/Down history, function keys, bracketed-paste marks, Alt+key) are dropped,
//! as is an ESC alone at the end of an input event (the Esc key). Each character keeps its
//! time, so a line's time is that of its first remaining character.
//!
//! A line begun while the screen's cursor line asks for a password is never emitted.

use super::{Stream, MAX_LINE_CHARS};

#[derive(Default, Clone, Copy, PartialEq)]
enum Esc {
    #[default]
    None,
    /// After ESC.
    Start,
    /// After `ESC [`, collecting parameters.
    Csi,
    /// After `ESC O`.
    Ss3,
}

#[derive(Default)]
pub(super) struct LineEditor {
    buf: Vec<(char, f64)>,
    cursor: usize,
    esc: Esc,
    params: String,
    secret: bool,
}

impl LineEditor {
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Marks the line now being typed as an answer to a password prompt (or not).
    pub(super) fn set_secret(&mut self, secret: bool) {
        self.secret = secret;
    }

    pub(super) fn feed(&mut self, time: f64, text: &str, out: &mut Vec<(f64, Stream, String)>) {
        for c in text.chars() {
            self.key(time, c, out);
        }
        if self.esc == Esc::Start {
            // A lone Esc key press: nothing follows it in the same event.
            self.esc = Esc::None;
        }
    }

    /// The end of the recording: a line still being typed counts as typed.
    pub(super) fn flush(&mut self, out: &mut Vec<(f64, Stream, String)>) {
        self.end_line(out);
    }

    fn key(&mut self, time: f64, c: char, out: &mut Vec<(f64, Stream, String)>) {
        match self.esc {
            Esc::None => {}
            Esc::Start => {
                self.esc = match c {
                    '[' => Esc::Csi,
                    'O' => Esc::Ss3,
                    _ => Esc::None, // Alt+key: dropped.
                };
                self.params.clear();
                return;
            }
            Esc::Csi => {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    self.esc = Esc::None;
                    let params = std::mem::take(&mut self.params);
                    self.csi(&params, c);
                } else if self.params.len() < 16 {
                    self.params.push(c);
                }
                return;
            }
            Esc::Ss3 => {
                self.esc = Esc::None;
                self.csi("", c);
                return;
            }
        }
        match c {
            '\r' | '\n' => self.end_line(out),
            '\x1b' => self.esc = Esc::Start,
            '\x7f' | '\x08' => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.buf.remove(self.cursor);
                }
            }
            '\x15' => {
                self.buf.drain(..self.cursor);
                self.cursor = 0;
            }
            '\x0b' => self.buf.truncate(self.cursor),
            '\x17' => self.delete_word(),
            '\x03' => {
                self.buf.clear();
                self.cursor = 0;
            }
            '\x04' => self.delete_at_cursor(),
            '\x01' => self.cursor = 0,
            '\x05' => self.cursor = self.buf.len(),
            '\x02' => self.cursor = self.cursor.saturating_sub(1),
            '\x06' => self.cursor = (self.cursor + 1).min(self.buf.len()),
            '\t' => self.insert(' ', time, out),
            c if c < ' ' || ('\u{80}'..'\u{a0}').contains(&c) => {}
            c => self.insert(c, time, out),
        }
    }

    fn csi(&mut self, params: &str, fin: char) {
        match (params, fin) {
            ("", 'D') => self.cursor = self.cursor.saturating_sub(1),
            ("", 'C') => self.cursor = (self.cursor + 1).min(self.buf.len()),
            ("", 'H') | ("1" | "7", '~') => self.cursor = 0,
            ("", 'F') | ("4" | "8", '~') => self.cursor = self.buf.len(),
            ("3", '~') => self.delete_at_cursor(),
            _ => {}
        }
    }

    fn insert(&mut self, c: char, time: f64, out: &mut Vec<(f64, Stream, String)>) {
        if self.buf.len() >= MAX_LINE_CHARS {
            // A paste without line breaks: emit what we have and go on with a new line.
            self.end_line(out);
        }
        self.buf.insert(self.cursor, (c, time));
        self.cursor += 1;
    }

    fn delete_at_cursor(&mut self) {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
        }
    }

    fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.buf[start - 1].0 == ' ' {
            start -= 1;
        }
        while start > 0 && self.buf[start - 1].0 != ' ' {
            start -= 1;
        }
        self.buf.drain(start..self.cursor);
        self.cursor = start;
    }

    fn end_line(&mut self, out: &mut Vec<(f64, Stream, String)>) {
        let buf = std::mem::take(&mut self.buf);
        self.cursor = 0;
        let secret = std::mem::replace(&mut self.secret, false);
        let Some(&(_, time)) = buf.iter().find(|(c, _)| *c != ' ') else {
            return;
        };
        if secret {
            return;
        }
        let text: String = buf.iter().map(|(c, _)| *c).collect();
        let text = text.trim();
        if !text.is_empty() {
            out.push((time, Stream::Typed, text.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(keys: &[(f64, &str)]) -> Vec<(f64, String)> {
        let mut e = LineEditor::default();
        let mut out = Vec::new();
        for (t, k) in keys {
            e.feed(*t, k, &mut out);
        }
        e.flush(&mut out);
        out.into_iter().map(|(t, _, s)| (t, s)).collect()
    }

    fn texts(keys: &str) -> Vec<String> {
        lines(&[(0.0, keys)]).into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn editing_keys_shape_the_line() {
        assert_eq!(texts("reload im\x7f\x7fin 5\r"), ["reload in 5"]);
        assert_eq!(texts("wrong words\x15show run\r"), ["show run"]);
        assert_eq!(texts("show ip bgpp\x17bgp\r"), ["show ip bgp"]);
        assert_eq!(texts("write erase\x03show clock\n"), ["show clock"]);
        assert_eq!(texts("reload 5\x1b[Din \r"), ["reload in 5"]);
        assert_eq!(texts("in 5\x01reload \x05!\r"), ["reload in 5!"]);
        assert_eq!(texts("abcd\x1bOD\x1b[3~\r"), ["abc"]);
        assert_eq!(texts("ls\x1b[A\x1b[B\x1b[200~ -l\x1b[201~\r"), ["ls -l"]);
        assert_eq!(texts("sh\tver\r\r\n"), ["sh ver"]);
        assert_eq!(texts("\x1bb\x1b[1;5Cok\r"), ["ok"]);
    }

    #[test]
    fn a_line_takes_the_time_of_its_first_remaining_character() {
        let got = lines(&[
            (1.0, "x"),
            (2.0, "\x7f"),
            (3.0, "r"),
            (4.0, "eload"),
            (5.0, "\r"),
        ]);
        assert_eq!(got, [(3.0, "reload".to_string())]);
    }

    #[test]
    fn lone_escape_at_the_end_of_an_event_is_the_esc_key() {
        assert_eq!(
            lines(&[(0.0, "ihello\x1b"), (1.0, ":wq\r")]),
            [(0.0, "ihello:wq".to_string())]
        );
    }

    #[test]
    fn answers_to_password_prompts_are_never_emitted() {
        let mut e = LineEditor::default();
        let mut out = Vec::new();
        e.set_secret(true);
        e.feed(0.0, "hunter2\r", &mut out);
        e.feed(1.0, "show run\r", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2, "show run");
    }

    #[test]
    fn endless_paste_is_cut_into_bounded_lines() {
        let got = texts(&"a".repeat(MAX_LINE_CHARS * 2 + 5));
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|l| l.len() <= MAX_LINE_CHARS));
    }
}
