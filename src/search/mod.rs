//! Full-text search over what sessions showed and what admins typed.
//!
//! Lines come from [`crate::recording::index`]; this module stores and queries them behind
//! one small trait, [`TextIndex`], so the embedded store (SQLite FTS5, [`sqlite`]) and a
//! later PostgreSQL full-text backend answer the same [`Query`] the same way:
//!
//! - the query text is one phrase, matched case-insensitively on word boundaries
//!   (`reload in 5` finds those three words in that order); nothing in it is an operator,
//!   so quotes, `*`, `NEAR`, `OR`, `-`, `:` or parentheses typed by a user are words or
//!   separators, never syntax;
//! - filters: user, device, lines at or after a time, one stream (`typed` or `shown`);
//! - the caller's `allowed` decision (policy: may this person replay that session?) is
//!   applied to each session before the limit counts its hits, so hits from sessions the
//!   caller may not see neither show nor take the place of ones they may;
//! - newest first: sessions by start time, within a session the latest moment first.

pub mod live;
mod reader;
pub mod shared;
mod snippet;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod test_data;

use std::ops::Range;
use std::time::SystemTime;

pub use crate::recording::{IndexedLine, Stream};
pub use live::{open_index, reindex_file, LiveIndex, LiveTap, Reader, Sink};
pub use reader::{devices, open_reader, search};
pub use shared::SharedIndex;
pub use sqlite::SqliteIndex;

/// Most hits one query returns.
pub const MAX_LIMIT: usize = 1000;

/// Errors of the search module.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The database refused an operation.
    #[error("search index: {what}: {source}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// The database error.
        source: rusqlite::Error,
    },
    /// The shared index (PostgreSQL) refused an operation or did not answer.
    #[error("search index (shared store): {what}: {why}")]
    Shared {
        /// What was being done.
        what: &'static str,
        /// The database's answer.
        why: String,
    },
    /// A recording could not be read for indexing.
    #[error("search index: {0}")]
    Recording(String),
    /// The query has nothing to search for.
    #[error("the search text {0:?} has no letters or digits to look for")]
    EmptyQuery(String),
    /// The limit is outside 1..=MAX_LIMIT.
    #[error("a search returns 1 to {MAX_LIMIT} hits, not {0}")]
    BadLimit(usize),
    /// A session has more lines than the index can number.
    #[error("session {session} has reached the search index's limit of {limit} lines; later lines are not indexed")]
    SessionFull {
        /// The session id.
        session: String,
        /// Lines per session the index holds.
        limit: u64,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, SearchError>;

/// What the index knows about a session (for filters and for showing hits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id, e.g. `2026-11-23/7f3a9c0d12ab`.
    pub id: String,
    /// The admin's user name.
    pub user: String,
    /// The device (or console) name.
    pub device: String,
    /// When the session started.
    pub started_at: SystemTime,
}

/// A search.
#[derive(Debug, Clone)]
pub struct Query {
    /// The phrase to look for, exactly as the user typed it.
    pub text: String,
    /// Only sessions of this user.
    pub user: Option<String>,
    /// Only sessions on this device.
    pub device: Option<String>,
    /// Only lines that appeared at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines of this stream.
    pub stream: Option<Stream>,
    /// At most this many hits (1..=[`MAX_LIMIT`]).
    pub limit: usize,
}

impl Query {
    /// A query for `text` with no filters and a limit of 50.
    pub fn new(text: impl Into<String>) -> Query {
        Query {
            text: text.into(),
            user: None,
            device: None,
            since: None,
            stream: None,
            limit: 50,
        }
    }
}

/// A part of a line around the match, with the matched words marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The text (a window of the line, `…` where it was cut).
    pub text: String,
    /// Byte ranges of `text` that matched.
    pub matches: Vec<Range<usize>>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The session it belongs to.
    pub session: SessionInfo,
    /// Shown or typed.
    pub stream: Stream,
    /// Milliseconds from the session's start (where the player should jump).
    pub offset_ms: u64,
    /// The whole line.
    pub line: String,
    /// The match in context.
    pub snippet: Snippet,
}

/// Whether the caller may see hits of a session (the policy's `replay` decision).
pub type Allowed<'a> = dyn FnMut(&SessionInfo) -> bool + 'a;

/// A full-text index of session lines.
pub trait TextIndex {
    /// Creates the schema or brings it up to date; safe to run every start.
    fn migrate(&mut self) -> Result<()>;

    /// Adds lines of one session (registered on first use) in one transaction.
    fn add_lines(&mut self, session: &SessionInfo, lines: &[IndexedLine]) -> Result<()>;

    /// Removes a session and its lines; whether it was there.
    fn delete_session(&mut self, session: &str) -> Result<bool>;

    /// The newest hits of `query` among sessions `allowed` accepts.
    fn query(&mut self, query: &Query, allowed: &mut Allowed<'_>) -> Result<Vec<Hit>>;
}

/// The query text as a single FTS5 phrase: wrapped in double quotes, inner quotes doubled.
/// Inside a phrase FTS5 has no operators, so the user's text can never be syntax.
pub fn phrase(text: &str) -> Result<String> {
    if !text.chars().any(char::is_alphanumeric) {
        return Err(SearchError::EmptyQuery(text.to_string()));
    }
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(format!("\"{}\"", cleaned.replace('"', "\"\"")))
}

#[cfg(test)]
mod tests;
