//! The last few KiB of what a console printed, kept in memory for new attachers.
//!
//! Memory grows with output up to the capacity and no further, so an always-on console
//! that never printed anything costs almost nothing. The ring is written by the console
//! task and read by attachments (`replay_last`) under a short, leaf-level lock that is
//! never held across an await.

use std::collections::VecDeque;

use bytes::Bytes;

/// A byte ring holding at most `capacity` bytes: the newest output.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: VecDeque<u8>,
    capacity: usize,
}

impl Ring {
    /// An empty ring; no memory is reserved until output arrives.
    pub(crate) fn new(capacity: usize) -> Self {
        Ring {
            buf: VecDeque::new(),
            capacity,
        }
    }

    /// Appends output, forgetting the oldest bytes beyond the capacity.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let bytes = if bytes.len() > self.capacity {
            &bytes[bytes.len() - self.capacity..]
        } else {
            bytes
        };
        let excess = (self.buf.len() + bytes.len()).saturating_sub(self.capacity);
        self.buf.drain(..excess);
        self.buf.extend(bytes);
    }

    /// Everything held, oldest first.
    pub(crate) fn snapshot(&self) -> Bytes {
        let (a, b) = self.buf.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        Bytes::from(v)
    }

    /// The last `n` lines held (the unfinished last line counts as one).
    pub(crate) fn last_lines(&self, n: usize) -> Bytes {
        let all = self.snapshot();
        if n == 0 {
            return Bytes::new();
        }
        let search_end = if all.ends_with(b"\n") {
            all.len() - 1
        } else {
            all.len()
        };
        let mut seen = 0;
        let mut start = 0;
        for (i, b) in all[..search_end].iter().enumerate().rev() {
            if *b == b'\n' {
                seen += 1;
                if seen == n {
                    start = i + 1;
                    break;
                }
            }
        }
        all.slice(start..)
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }
}

/// Locks a shared ring (a panic elsewhere never makes it unusable).
pub(super) fn lock(ring: &std::sync::Mutex<Ring>) -> std::sync::MutexGuard<'_, Ring> {
    ring.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_bytes() {
        let mut r = Ring::new(8);
        r.push(b"hello ");
        r.push(b"world");
        assert_eq!(&r.snapshot()[..], b"lo world");
        assert_eq!(r.len(), 8);
        r.push(b"0123456789ABC");
        assert_eq!(&r.snapshot()[..], b"56789ABC");
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        let mut r = Ring::new(1024);
        r.push(b"a\r\nb\r\nc\r\n");
        assert_eq!(&r.last_lines(2)[..], b"b\r\nc\r\n");
        r.push(b"prompt> ");
        assert_eq!(&r.last_lines(2)[..], b"c\r\nprompt> ");
        assert_eq!(&r.last_lines(20)[..], b"a\r\nb\r\nc\r\nprompt> ");
        assert!(r.last_lines(0).is_empty());
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut r = Ring::new(0);
        r.push(b"abc");
        assert!(r.snapshot().is_empty());
    }
}
