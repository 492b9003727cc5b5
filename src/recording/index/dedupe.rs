//! The dedupe rule: a line whose text is identical to one emitted from the same stream less
//! than the window earlier (session time) is dropped; once the window has passed since that
//! emission it is emitted again, so a line repeated all session long is found about once
//! per window. This keeps full-screen redraws (top refreshing, vi repainting) from
//! flooding the index while every distinct line stays findable.
//!
//! Memory is bounded: past [`MAX_ENTRIES`] remembered lines, those older than the window are
//! forgotten, and if all are recent, all are (the next repeat is then emitted once more).

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};

use super::Stream;

/// Remembered lines before old ones are forgotten.
const MAX_ENTRIES: usize = 16_384;

pub(super) struct Dedupe {
    window_ms: u64,
    last: FxHashMap<u64, u64>,
}

impl Dedupe {
    pub(super) fn new(window_ms: u64) -> Dedupe {
        Dedupe {
            window_ms,
            last: FxHashMap::default(),
        }
    }

    /// Whether `text` at `at_ms` is to be emitted (and, if so, remembers it).
    pub(super) fn admit(&mut self, stream: Stream, text: &str, at_ms: u64) -> bool {
        if text.is_empty() {
            return false;
        }
        let mut h = FxHasher::default();
        stream.hash(&mut h);
        text.hash(&mut h);
        let key = h.finish();
        if let Some(&seen) = self.last.get(&key) {
            if at_ms.saturating_sub(seen) < self.window_ms {
                return false;
            }
        }
        if self.last.len() >= MAX_ENTRIES {
            let window = self.window_ms;
            self.last.retain(|_, t| at_ms.saturating_sub(*t) < window);
            if self.last.len() >= MAX_ENTRIES {
                self.last.clear();
            }
        }
        self.last.insert(key, at_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_inside_the_window_are_dropped_and_come_back_after_it() {
        let mut d = Dedupe::new(30_000);
        assert!(d.admit(Stream::Shown, "Tasks: 1 total", 0));
        assert!(!d.admit(Stream::Shown, "Tasks: 1 total", 3_000));
        assert!(!d.admit(Stream::Shown, "Tasks: 1 total", 29_999));
        assert!(d.admit(Stream::Shown, "Tasks: 1 total", 30_000));
        // Another stream is another line.
        assert!(d.admit(Stream::Typed, "Tasks: 1 total", 30_001));
        assert!(!d.admit(Stream::Shown, "", 0));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut d = Dedupe::new(30_000);
        for i in 0..(MAX_ENTRIES * 3) {
            assert!(d.admit(Stream::Shown, &format!("line {i}"), i as u64));
        }
        assert!(d.last.len() <= MAX_ENTRIES);
    }
}
