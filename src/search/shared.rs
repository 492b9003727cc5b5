//! The index several nodes share (PostgreSQL full text, implemented by the store): every
//! node adds the lines of the sessions it carries, and a search on any node finds the
//! sessions of all of them.
//!
//! The same words as the embedded index: a line is indexed as its runs of letters and
//! digits, lowercased ([`words`]), and the query's phrase the same way, so `reload in 5`
//! finds those words in that order, case-insensitively, whatever punctuation or operators
//! the user typed, and nothing the user types is query syntax.

use async_trait::async_trait;

use super::snippet::snippet;
use super::{Hit, IndexedLine, Query, Result, SessionInfo, Stream};

/// Words of a line past which the shared index does not look (PostgreSQL keeps word
/// positions up to 16383 for phrase matching).
pub const MAX_WORDS: usize = 16_000;

/// A full-text index on the shared store.
#[async_trait]
pub trait SharedIndex: Send + Sync {
    /// Adds lines of one session (registered on first use) in one transaction.
    async fn add_lines(&self, session: &SessionInfo, lines: &[IndexedLine]) -> Result<()>;

    /// Removes a session and its lines; whether it was there.
    async fn delete_session(&self, session: &str) -> Result<bool>;

    /// Every device (or console) the index has sessions of.
    async fn devices(&self) -> Result<Vec<String>>;

    /// The newest hits of `query` among sessions on `devices` (those the caller may see).
    async fn query(&self, query: &Query, devices: &[String]) -> Result<Vec<Hit>>;
}

/// The words of `text` as the shared index keeps them: runs of letters and digits,
/// lowercased, one space between, at most [`MAX_WORDS`].
pub fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A hit of `query` on `line` of `session`, its snippet marked.
pub fn hit(
    session: SessionInfo,
    stream: Stream,
    offset_ms: u64,
    line: String,
    query: &Query,
) -> Hit {
    Hit {
        snippet: snippet(&line, &query.text),
        session,
        stream,
        offset_ms,
        line,
    }
}

/// A line's text as kept beside its words: control characters (NUL among them, which
/// PostgreSQL text cannot hold) as spaces.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letter_and_digit_runs_lowercased() {
        assert_eq!(
            words("%BGP-5-ADJCHANGE: neighbor 10.0.0.1 Up"),
            "bgp 5 adjchange neighbor 10 0 0 1 up"
        );
        assert_eq!(words("  «Ünïcode» (ok)  "), "ünïcode ok");
        assert_eq!(words("\"*\" OR -- :"), "or");
        assert_eq!(
            words("a ".repeat(MAX_WORDS + 5).as_str()).len(),
            MAX_WORDS * 2 - 1
        );
        assert_eq!(printable("a\0b\x1b[1m"), "a b [1m");
    }
}
