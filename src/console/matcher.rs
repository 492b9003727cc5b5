//! Alert matching on one console's output, as it arrives.
//!
//! Output is cut into lines (`\n`); escape sequences (CSI, OSC, charset and other short escapes) and
//! other control bytes are dropped, so a line split over several link reads, or coloured
//! by the device, still matches. A line longer than [`MAX_LINE`] is matched in pieces of
//! that size, so memory per console stays bounded whatever the device prints.
//!
//! Each rule fires at most once per hold-off; matches inside it are counted and reported
//! with the next firing. A rule with `count` above 1 fires when that many matches fall
//! within `within`.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::alert::{AlertOn, AlertRule};

/// Longest line kept before it is matched as is.
pub(crate) const MAX_LINE: usize = 4096;
/// Longest matched line carried by a firing (in characters).
pub(crate) const SHOWN_LINE: usize = 240;

/// One firing of a rule on a console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// The rule's name.
    pub rule: String,
    /// The matched line (cut to [`SHOWN_LINE`] characters) or what happened.
    pub line: String,
    /// Matches since the previous firing that the hold-off held back.
    pub suppressed: u64,
}

struct RuleState {
    rule: AlertRule,
    last_fired: Option<Instant>,
    suppressed: u64,
    /// Times of recent matches (at most `count`), for `count`/`within`.
    hits: VecDeque<Instant>,
}

/// Where the escape-sequence filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    Text,
    /// After ESC.
    Start,
    /// After `ESC` and intermediate bytes (`ESC ( B`), up to the final byte.
    Intermediate,
    /// Inside `ESC [ ...` up to its final byte.
    Csi,
    /// Inside `ESC ] ...` up to BEL or `ESC \`.
    Osc,
    /// ESC seen inside an OSC.
    OscEscape,
}

/// The alert state of one console.
pub(crate) struct AlertMatcher {
    rules: Vec<RuleState>,
    line: Vec<u8>,
    esc: Esc,
    watches_output: bool,
}

impl AlertMatcher {
    /// A matcher running `rules`.
    pub(crate) fn new(rules: Vec<AlertRule>) -> Self {
        let watches_output = rules.iter().any(|r| r.on == AlertOn::Output);
        AlertMatcher {
            rules: rules
                .into_iter()
                .map(|rule| RuleState {
                    rule,
                    last_fired: None,
                    suppressed: 0,
                    hits: VecDeque::new(),
                })
                .collect(),
            line: Vec::new(),
            esc: Esc::Text,
            watches_output,
        }
    }

    /// Feeds console output; returns the rules that fire.
    pub(crate) fn output(&mut self, bytes: &[u8], now: Instant) -> Vec<Firing> {
        let mut fired = Vec::new();
        if !self.watches_output {
            return fired;
        }
        for &b in bytes {
            if let Some(b) = self.filter(b) {
                if b == b'\n' {
                    self.end_line(now, &mut fired);
                } else {
                    self.line.push(b);
                    if self.line.len() >= MAX_LINE {
                        self.end_line(now, &mut fired);
                    }
                }
            }
        }
        fired
    }

    /// The link came back up after it was lost; returns the rules that fire.
    pub(crate) fn reconnected(&mut self, now: Instant) -> Vec<Firing> {
        let mut fired = Vec::new();
        for st in &mut self.rules {
            if st.rule.on == AlertOn::Reconnects {
                let what = if st.rule.count > 1 {
                    format!(
                        "link reconnected {} times within {}",
                        st.rule.count,
                        humantime::format_duration(st.rule.within)
                    )
                } else {
                    "link reconnected".to_string()
                };
                fired.extend(st.hit(what, now));
            }
        }
        fired
    }

    /// Passes a byte on when it belongs to the text of a line.
    fn filter(&mut self, b: u8) -> Option<u8> {
        const ESC: u8 = 0x1b;
        self.esc = match (self.esc, b) {
            (Esc::Text, ESC) => Esc::Start,
            (Esc::Text, b'\n' | b'\t') | (Esc::Text, 0x20..) => return Some(b),
            (Esc::Text, _) => Esc::Text, // CR, BEL, backspace...
            (Esc::Start, b'[') => Esc::Csi,
            (Esc::Start, b']') => Esc::Osc,
            (Esc::Start, 0x20..=0x2f) | (Esc::Intermediate, 0x20..=0x2f) => Esc::Intermediate,
            (Esc::Start, _) | (Esc::Intermediate, _) => Esc::Text,
            (Esc::Csi, 0x40..=0x7e) => Esc::Text,
            (Esc::Csi, _) => Esc::Csi,
            (Esc::Osc, 0x07) => Esc::Text,
            (Esc::Osc, ESC) => Esc::OscEscape,
            (Esc::Osc, _) => Esc::Osc,
            (Esc::OscEscape, b'\\') => Esc::Text,
            (Esc::OscEscape, _) => Esc::Osc,
        };
        None
    }

    fn end_line(&mut self, now: Instant, fired: &mut Vec<Firing>) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        for st in &mut self.rules {
            let hit = st.rule.regex.as_ref().is_some_and(|re| re.is_match(&text));
            if hit {
                fired.extend(st.hit(cut(&text), now));
            }
        }
    }
}

impl RuleState {
    /// One match at `now`: fires unless `count` is not reached yet or the hold-off holds.
    fn hit(&mut self, line: String, now: Instant) -> Option<Firing> {
        if self.rule.count > 1 {
            self.hits.push_back(now);
            while self.hits.len() > self.rule.count as usize
                || self
                    .hits
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.rule.within)
            {
                self.hits.pop_front();
            }
            if self.hits.len() < self.rule.count as usize {
                return None;
            }
            self.hits.clear();
        }
        if let Some(last) = self.last_fired {
            if now.duration_since(last) < self.rule.holdoff {
                self.suppressed += 1;
                return None;
            }
        }
        self.last_fired = Some(now);
        Some(Firing {
            rule: self.rule.name.clone(),
            line,
            suppressed: std::mem::take(&mut self.suppressed),
        })
    }
}

/// `text` trimmed and cut to [`SHOWN_LINE`] characters.
fn cut(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(SHOWN_LINE) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
