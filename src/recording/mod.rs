//! Session recordings in asciicast v2: written as the session runs, read back, replayed,
//! and turned into searchable lines ([`index`]).
//!
//! Events are `o` (output), `i` (input), `r` (resize, `COLSxROWS`) and `m` (marker). The
//! `asciicast` crate provides the header and the `i`/`o` entries; it knows no `r`/`m`
//! events, so those lines are written with serde_json in the same `[time, code, data]`
//! shape. Device bytes that are not UTF-8 are kept losslessly (see [`text`]).

mod feed;
pub mod index;
mod player;
mod queue;
mod reader;
mod recover;
mod tap;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
mod writer;

pub use feed::{
    last_screen, Feed, FeedEvent, FeedHandle, FeedInfo, FeedTap, LiveFeeds, ObserverSeat,
    FEED_DEPTH,
};
pub use index::{index_file, IndexedLine, Indexer, Stream};
pub use player::{play, PlayOptions};
pub use queue::{RecordingQueue, RecordingSender, QUEUE_DEPTH};
pub use reader::{for_display, had_terminal, RecordedEvent, Recording};
pub use recover::seal_abandoned;
pub use tap::EventTap;
pub use writer::{Recorder, RecordingHeader, RecordingSummary};

use std::path::PathBuf;

/// Errors of the recording module.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be created, written or read.
    #[error("{path}: {source}")]
    Io {
        /// The recording file.
        path: PathBuf,
        /// The I/O error (disk full, permission...).
        source: std::io::Error,
    },
    /// A line of the file is not a valid asciicast v2 line.
    #[error("{path} line {line}: {reason}")]
    Malformed {
        /// The recording file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The recorder was already finished.
    #[error("recording already closed")]
    Closed,
    /// The recording reached its size limit.
    #[error("the recording reached its limit of {limit} bytes (recording.max_size)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, RecordingError>;

#[cfg(test)]
mod tests;
