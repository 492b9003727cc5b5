//! Bytes to asciicast text and back, losslessly.
//!
//! asciicast event data is UTF-8 text, but devices print arbitrary bytes. Output is decoded
//! as UTF-8; a multi-byte sequence split across two reads is held back until its end
//! arrives. Each byte that is not part of valid UTF-8 is written as the private-use
//! character U+F0000 + byte (U+F0000..=U+F00FF); a genuine character from that range is
//! written as its four UTF-8 bytes escaped the same way. Reading maps every U+F00xx back to
//! byte xx, so the original bytes are recovered exactly, while players show the escaped
//! bytes as unknown glyphs rather than failing.

/// First code point of the escape range.
const ESCAPE_BASE: u32 = 0xF0000;

fn is_escape(c: char) -> bool {
    (ESCAPE_BASE..=ESCAPE_BASE + 0xFF).contains(&(c as u32))
}

fn push_escaped(out: &mut String, b: u8) {
    out.push(char::from_u32(ESCAPE_BASE + b as u32).expect("valid private-use code point"));
}

fn push_valid(out: &mut String, s: &str) {
    // Characters of the escape range start with byte 0xF3; most text has none.
    if !s.as_bytes().contains(&0xF3) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if is_escape(c) {
            let mut buf = [0u8; 4];
            for &b in c.encode_utf8(&mut buf).as_bytes() {
                push_escaped(out, b);
            }
        } else {
            out.push(c);
        }
    }
}

/// Incremental decoder for one byte stream (output or input).
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// Decodes `input`, keeping an incomplete trailing UTF-8 sequence for the next call.
    pub fn feed(&mut self, input: &[u8]) -> String {
        let joined;
        let mut rest: &[u8] = if self.pending.is_empty() {
            input
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(input);
            joined = buf;
            &joined
        };
        let mut out = String::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    push_valid(&mut out, s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    push_valid(&mut out, std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            for &b in &bad[..n] {
                                push_escaped(&mut out, b);
                            }
                            rest = &bad[n..];
                        }
                        None => {
                            // An incomplete sequence at the end: wait for the rest.
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Whatever is held back, escaped (at the end of the stream).
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        for b in std::mem::take(&mut self.pending) {
            push_escaped(&mut out, b);
        }
        out
    }
}

/// The original bytes of recorded event text.
pub fn to_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if is_escape(c) {
            out.push((c as u32 - ESCAPE_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// `bytes` with each line feed not already after a carriage return turned into CR LF: how
/// a terminal shows the output of a command run without one (no pty, so no `onlcr`), as
/// the admin's own terminal showed it.
pub fn crlf(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare = |i: usize| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
    if !(0..bytes.len()).any(bare) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for (i, &b) in bytes.iter().enumerate() {
        if bare(i) {
            out.push(b'\r');
        }
        out.push(b);
    }
    std::borrow::Cow::Owned(out)
}

/// [`crlf`] for text.
pub fn crlf_str(text: &str) -> std::borrow::Cow<'_, str> {
    match crlf(text.as_bytes()) {
        std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(text),
        // Only ASCII CRs were added before ASCII LFs: still UTF-8.
        std::borrow::Cow::Owned(v) => {
            std::borrow::Cow::Owned(String::from_utf8(v).expect("CR added before LF"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_multibyte_sequences_stay_whole() {
        let s = "grüße €";
        let bytes = s.as_bytes();
        let mut d = Decoder::default();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&d.feed(std::slice::from_ref(b)));
        }
        out.push_str(&d.finish());
        assert_eq!(out, s);
    }

    #[test]
    fn arbitrary_bytes_round_trip_exactly() {
        let mut input: Vec<u8> = (0u8..=255).collect();
        input.extend_from_slice("\u{F0041} ok \u{F00FF}".as_bytes());
        input.extend_from_slice(&[0xE2, 0x82]); // truncated euro sign at the end
        let mut d = Decoder::default();
        let mut text = String::new();
        for chunk in input.chunks(7) {
            text.push_str(&d.feed(chunk));
        }
        text.push_str(&d.finish());
        assert!(serde_json::to_string(&text).is_ok());
        assert_eq!(to_bytes(&text), input);
    }
}
