//! The in-band escape: `Ctrl-]` followed by a letter, conserver style.
//!
//! The session layer runs every keystroke of an attached user through an
//! [`EscapeParser`] and gets back plain data for the console and commands for the
//! broker. `Ctrl-]` (0x1d) is chosen because OpenSSH's own escapes start with `~` at
//! the beginning of a line and are handled by the client before anything reaches us:
//! the two never meet. `Ctrl-] Ctrl-]` sends one literal 0x1d.
//!
//! The parser is a pure state machine: an escape split across reads (`Ctrl-]` at the
//! end of one, the letter at the start of the next) is recognised.

use bytes::Bytes;

/// The escape byte, `Ctrl-]`.
pub const ESCAPE_BYTE: u8 = 0x1d;

/// Help text shown for `Ctrl-] ?` (lines end in CRLF, ready for a raw terminal).
pub const ESCAPE_HELP: &str = "\r\n[console escapes: Ctrl-] followed by]\r\n\
    \x20 ?   this help\r\n\
    \x20 w   who is attached, and who writes\r\n\
    \x20 t   ask for write access (granted if free)\r\n\
    \x20 T f force write access (if you may)\r\n\
    \x20 r   release write access\r\n\
    \x20 b   send a serial break\r\n\
    \x20 l   replay the last 20 lines\r\n\
    \x20 d   detach\r\n\
    \x20 Ctrl-]  send a literal Ctrl-]\r\n";

/// Lines replayed by `Ctrl-] l`.
pub const REPLAY_LINES: usize = 20;

/// A command typed after `Ctrl-]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeCmd {
    /// `?`: show [`ESCAPE_HELP`].
    Help,
    /// `w`: who is attached.
    Who,
    /// `t`: ask for the write lock.
    RequestWrite,
    /// `T` or `f`: take the write lock from its holder.
    ForceWrite,
    /// `r`: release the write lock.
    ReleaseWrite,
    /// `b`: send a serial break.
    Break,
    /// `l`: replay the last this-many lines.
    Replay(usize),
    /// `d`: detach from the console.
    Detach,
    /// Any other byte after `Ctrl-]` (shown as "unknown escape", never sent on).
    Unknown(u8),
}

/// What a feed of keystrokes turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapeItem {
    /// Bytes for the console.
    Data(Bytes),
    /// A command for the broker.
    Command(EscapeCmd),
}

/// Splits keystrokes into data and escape commands; keeps state across feeds.
#[derive(Debug, Default, Clone)]
pub struct EscapeParser {
    /// The last byte fed was an unconsumed `Ctrl-]`.
    pending: bool,
}

impl EscapeParser {
    /// A parser in its initial state.
    pub fn new() -> Self {
        EscapeParser::default()
    }

    /// Whether a `Ctrl-]` is waiting for its letter.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Parses `input`; data runs come out as few, contiguous [`EscapeItem::Data`] items.
    pub fn feed(&mut self, input: &[u8]) -> Vec<EscapeItem> {
        let mut items = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for &b in input {
            if self.pending {
                self.pending = false;
                let cmd = match b {
                    ESCAPE_BYTE => {
                        data.push(ESCAPE_BYTE);
                        continue;
                    }
                    b'?' => EscapeCmd::Help,
                    b'w' => EscapeCmd::Who,
                    b't' => EscapeCmd::RequestWrite,
                    b'T' | b'f' => EscapeCmd::ForceWrite,
                    b'r' => EscapeCmd::ReleaseWrite,
                    b'b' => EscapeCmd::Break,
                    b'l' => EscapeCmd::Replay(REPLAY_LINES),
                    b'd' => EscapeCmd::Detach,
                    other => EscapeCmd::Unknown(other),
                };
                if !data.is_empty() {
                    items.push(EscapeItem::Data(Bytes::from(std::mem::take(&mut data))));
                }
                items.push(EscapeItem::Command(cmd));
            } else if b == ESCAPE_BYTE {
                self.pending = true;
            } else {
                data.push(b);
            }
        }
        if !data.is_empty() {
            items.push(EscapeItem::Data(Bytes::from(data)));
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(b: &[u8]) -> EscapeItem {
        EscapeItem::Data(Bytes::copy_from_slice(b))
    }

    fn cmd(c: EscapeCmd) -> EscapeItem {
        EscapeItem::Command(c)
    }

    #[test]
    fn plain_data_passes_through_including_openssh_tilde_escapes() {
        let mut p = EscapeParser::new();
        assert_eq!(p.feed(b"show run\r\n~.~?"), vec![data(b"show run\r\n~.~?")]);
        assert!(p.feed(b"").is_empty());
    }

    #[test]
    fn every_letter_maps_to_its_command() {
        let cases: &[(u8, EscapeCmd)] = &[
            (b'?', EscapeCmd::Help),
            (b'w', EscapeCmd::Who),
            (b't', EscapeCmd::RequestWrite),
            (b'T', EscapeCmd::ForceWrite),
            (b'f', EscapeCmd::ForceWrite),
            (b'r', EscapeCmd::ReleaseWrite),
            (b'b', EscapeCmd::Break),
            (b'l', EscapeCmd::Replay(20)),
            (b'd', EscapeCmd::Detach),
            (b'x', EscapeCmd::Unknown(b'x')),
        ];
        for (letter, want) in cases {
            let mut p = EscapeParser::new();
            assert_eq!(
                p.feed(&[ESCAPE_BYTE, *letter]),
                vec![cmd(*want)],
                "{letter}"
            );
        }
    }

    #[test]
    fn commands_split_the_data_around_them() {
        let mut p = EscapeParser::new();
        assert_eq!(
            p.feed(b"ab\x1dwcd\x1ddef"),
            vec![
                data(b"ab"),
                cmd(EscapeCmd::Who),
                data(b"cd"),
                cmd(EscapeCmd::Detach),
                data(b"ef"),
            ]
        );
    }

    #[test]
    fn escape_split_across_feeds() {
        let mut p = EscapeParser::new();
        assert_eq!(p.feed(b"abc\x1d"), vec![data(b"abc")]);
        assert!(p.is_pending());
        assert_eq!(
            p.feed(b"tz"),
            vec![cmd(EscapeCmd::RequestWrite), data(b"z")]
        );
        assert!(!p.is_pending());
        assert!(p.feed(b"\x1d").is_empty());
        assert_eq!(p.feed(b"\x1d"), vec![data(b"\x1d")]);
    }

    #[test]
    fn double_escape_is_a_literal_ctrl_bracket() {
        let mut p = EscapeParser::new();
        assert_eq!(p.feed(b"a\x1d\x1db"), vec![data(b"a\x1db")]);
        assert_eq!(
            p.feed(b"\x1d\x1d\x1d\x1d\x1dr"),
            vec![data(b"\x1d\x1d"), cmd(EscapeCmd::ReleaseWrite)]
        );
    }
}
