//! The snippet of a hit: a window of the line around the matched phrase, the phrase marked.
//!
//! Computed here from the line's text rather than by FTS5's `snippet()`, which evaluates
//! the whole query again for every hit. Words are runs of letters and digits compared
//! case-insensitively, as the index's tokenizer splits them; a line in which the phrase is
//! not found that way (diacritics folded by the index) gets its start and no mark.

use std::ops::Range;

use super::Snippet;

/// Lines up to this many bytes are shown whole.
const WHOLE_LINE: usize = 160;
/// Bytes kept before and after the match in longer lines.
const BEFORE: usize = 60;
const AFTER: usize = 100;

fn words(text: &str) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s..i, text[s..i].to_lowercase()));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s..text.len(), text[s..].to_lowercase()));
    }
    out
}

/// Where the words of `phrase` appear in `line`, in order, as one byte range.
fn find(line: &str, phrase: &str) -> Option<Range<usize>> {
    let want: Vec<String> = words(phrase).into_iter().map(|(_, w)| w).collect();
    if want.is_empty() {
        return None;
    }
    let have = words(line);
    have.windows(want.len())
        .find(|w| w.iter().zip(&want).all(|((_, a), b)| a == b))
        .map(|w| w[0].0.start..w[w.len() - 1].0.end)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The snippet of `line` for `phrase`.
pub(super) fn snippet(line: &str, phrase: &str) -> Snippet {
    let found = find(line, phrase);
    if line.len() <= WHOLE_LINE {
        return Snippet {
            text: line.to_string(),
            matches: found.into_iter().collect(),
        };
    }
    let m = found.clone().unwrap_or(0..0);
    let from = floor_boundary(line, m.start.saturating_sub(BEFORE));
    let to = floor_boundary(line, (m.end + AFTER).min(line.len()));
    let mut text = String::new();
    if from > 0 {
        text.push('…');
    }
    let shift = text.len();
    text.push_str(&line[from..to]);
    if to < line.len() {
        text.push('…');
    }
    let matches = found
        .map(|m| m.start - from + shift..m.end - from + shift)
        .into_iter()
        .collect();
    Snippet { text, matches }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &Snippet) -> Vec<&str> {
        s.matches.iter().map(|r| &s.text[r.clone()]).collect()
    }

    #[test]
    fn the_phrase_is_marked_case_insensitively_on_word_boundaries() {
        let s = snippet("sw1# RELOAD  in 5 (reload in 50)", "reload in 5");
        assert_eq!(marked(&s), ["RELOAD  in 5"]);
        let s = snippet("Reload scheduled in 5 minutes", "reload in 5");
        assert!(s.matches.is_empty());
        assert_eq!(s.text, "Reload scheduled in 5 minutes");
    }

    #[test]
    fn long_lines_are_cut_around_the_match() {
        let line = format!(
            "{}%BGP-5-ADJCHANGE: neighbor down{}",
            "x ".repeat(200),
            " y".repeat(200)
        );
        let s = snippet(&line, "%BGP-5-ADJCHANGE");
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert!(s.text.len() < 200);
        assert_eq!(marked(&s), ["BGP-5-ADJCHANGE"]);
        let wide = "é".repeat(300);
        let s = snippet(&wide, "nothing");
        assert!(s.text.ends_with('…') && s.matches.is_empty());
    }
}
