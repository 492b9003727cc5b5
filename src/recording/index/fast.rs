//! The plain-text fast path: bulk output (a `cat` of a log, `show tech-support`) is mostly
//! complete lines of printable ASCII, maybe coloured, ending in `\r\n`. When the terminal
//! is in its plain scrolling state (see `OutputScreen::fast_ready`), such a line would only
//! be printed on the bottom row and scrolled up, so its text is the line without its colour
//! sequences (tabs expanded to the default stops) and it is emitted at once. The emulator
//! gets the last screenful of such lines later, just before it is next needed, so its
//! screen is exactly as if it had seen everything.
//!
//! The emulator's parser state is not visible from outside; [`ground_after`] tells from the
//! text fed whether it ended between escape sequences, conservatively.

/// Rendered text of `line` (without its `\r\n`) if it is plain: printable ASCII, tabs
/// (only in lines that fit one row) and complete SGR sequences (colours and attributes,
/// which change no text). Trailing blanks are trimmed.
pub(super) fn plain_line(line: &[u8], cols: usize) -> Option<String> {
    let mut simple = true;
    for &b in line {
        if b == b'\t' || b == 0x1b {
            simple = false;
        } else if !(0x20..=0x7e).contains(&b) {
            return None;
        }
    }
    if simple {
        let text = std::str::from_utf8(line).ok()?;
        return Some(text.trim_end().to_string());
    }
    let tabs = line.contains(&b'\t');
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            0x1b => i = skip_sgr(line, i)?,
            b'\t' => {
                let next = (out.len() / 8 + 1) * 8;
                if next >= cols {
                    return None;
                }
                while out.len() < next {
                    out.push(' ');
                }
                i += 1;
            }
            b => {
                out.push(b as char);
                i += 1;
            }
        }
        if tabs && out.len() > cols {
            return None;
        }
    }
    Some(out.trim_end().to_string())
}

/// The index after the SGR sequence (`ESC [ params m`) starting at `i`, if it is one.
fn skip_sgr(line: &[u8], i: usize) -> Option<usize> {
    if line.get(i + 1) != Some(&b'[') {
        return None;
    }
    let mut j = i + 2;
    while j < line.len() && matches!(line[j], b'0'..=b'9' | b';' | b':') {
        j += 1;
    }
    (line.get(j) == Some(&b'm')).then_some(j + 1)
}

/// Whether the parser is between sequences after `text`, given whether it was before.
/// Only the last ESC (or C1 introducer) matters: it starts a new sequence from any state.
pub(super) fn ground_after(text: &str, was_ground: bool) -> bool {
    let bytes = text.as_bytes();
    let esc = memchr::memrchr(0x1b, bytes);
    let c1 = last_c1(bytes);
    let start = match (esc, c1) {
        (None, None) => return was_ground,
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
    };
    let rest = &bytes[start..];
    if rest.iter().any(|&b| b == 0x18 || b == 0x1a) {
        return true; // CAN / SUB abort any sequence.
    }
    if rest[0] == 0x1b {
        after_escape(&rest[1..])
    } else {
        // C1 as UTF-8: 0xC2 then 0x80..=0x9F.
        match rest.get(1) {
            Some(0x9b) => csi_complete(&rest[2..]),
            Some(0x9d) => rest[2..].contains(&0x07),
            Some(0x90 | 0x98 | 0x9e | 0x9f) => false,
            _ => true,
        }
    }
}

fn last_c1(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    while let Some(p) = memchr::memrchr(0xc2, &bytes[..end]) {
        if bytes.get(p + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) {
            return Some(p);
        }
        end = p;
    }
    None
}

fn after_escape(rest: &[u8]) -> bool {
    match rest.first() {
        None => false,
        Some(b'[') => csi_complete(&rest[1..]),
        Some(b']') => rest[1..].contains(&0x07),
        Some(b'P' | b'X' | b'^' | b'_') => false,
        Some(0x20..=0x2f) => rest[1..]
            .iter()
            .find(|b| !(0x20..=0x2f).contains(*b))
            .is_some_and(|b| (0x30..=0x7e).contains(b)),
        Some(_) => true,
    }
}

fn csi_complete(rest: &[u8]) -> bool {
    rest.iter()
        .filter(|b| **b >= 0x20)
        .find(|b| !(0x20..=0x3f).contains(*b))
        .is_some_and(|b| (0x40..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_and_tabs() {
        assert_eq!(plain_line(b"Gi0/1  up  ", 80).as_deref(), Some("Gi0/1  up"));
        assert_eq!(plain_line(b"a\tb", 80).as_deref(), Some("a       b"));
        assert_eq!(
            plain_line(b"\x1b[1mx\x1b[0;32mgreen\x1b[m", 80).as_deref(),
            Some("xgreen")
        );
        assert_eq!(plain_line(b"\x1b[2Kx", 80), None);
        assert_eq!(plain_line(b"\x1b[1", 80), None);
        assert_eq!(plain_line("caf\u{e9}".as_bytes(), 80), None);
        assert_eq!(plain_line(b"abcdefghij\tx", 12), None);
        assert_eq!(plain_line(&[b'x'; 200], 80).map(|s| s.len()), Some(200));
    }

    #[test]
    fn parser_ground_state_is_judged_conservatively() {
        assert!(ground_after("plain", true));
        assert!(!ground_after("plain", false));
        assert!(ground_after("\x1b[01;32mroot\x1b[0m:~# ", false));
        assert!(!ground_after("x\x1b[01;3", true));
        assert!(!ground_after("x\x1b", true));
        assert!(!ground_after("\x1b]0;title", true));
        assert!(ground_after("\x1b]0;title\x07$ ", false));
        assert!(ground_after("\x1b]0;title\x1b\\$ ", false));
        assert!(!ground_after("\x1bPq#0", true));
        assert!(ground_after("\x1b(B", false));
        assert!(!ground_after("\x1b(", true));
        assert!(ground_after("\x1b[12\x18", false));
        assert!(!ground_after("\u{9b}12", true));
        assert!(ground_after("\u{9b}12m", false));
    }
}
