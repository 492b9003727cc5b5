//! A small telnet (RFC 854) codec and option negotiator for the telnet connector.
//!
//! The decoder turns the device's byte stream into data (IAC IAC unescaped,
//! CR NUL turned into CR) and protocol items; [`escape`] does the reverse for
//! keystrokes. [`Negotiator`] answers option requests without loops (RFC 1143
//! style states). For a CLI it accepts only ECHO and SGA from the device and NAWS, TTYPE
//! and SGA for itself; for an RFC 2217 console port it accepts BINARY, SGA and ECHO from
//! the port and BINARY, SGA and COM-PORT-OPTION for itself (see [`super::rfc2217`]).
//! Everything else is refused.

use bytes::{BufMut, Bytes, BytesMut};

/// Interpret As Command.
pub(crate) const IAC: u8 = 255;
pub(crate) const DONT: u8 = 254;
pub(crate) const DO: u8 = 253;
pub(crate) const WONT: u8 = 252;
pub(crate) const WILL: u8 = 251;
/// Subnegotiation begin.
pub(crate) const SB: u8 = 250;
/// Subnegotiation end.
pub(crate) const SE: u8 = 240;
/// Option: 8-bit binary transmission (RFC 856).
pub(crate) const OPT_BINARY: u8 = 0;
/// Option: the device echoes.
pub(crate) const OPT_ECHO: u8 = 1;
/// Option: suppress go-ahead.
pub(crate) const OPT_SGA: u8 = 3;
/// Option: terminal type (RFC 1091).
pub(crate) const OPT_TTYPE: u8 = 24;
/// Option: negotiate about window size (RFC 1073).
pub(crate) const OPT_NAWS: u8 = 31;
/// Option: serial port control (RFC 2217).
pub(crate) const OPT_COM_PORT: u8 = 44;
const TTYPE_IS: u8 = 0;
const TTYPE_SEND: u8 = 1;
/// Longest subnegotiation kept; longer ones are cut (they are ignored anyway).
const MAX_SB: usize = 256;

/// One decoded unit of the device's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Plain data bytes.
    Data(Bytes),
    /// `IAC <WILL|WONT|DO|DONT> <option>`.
    Negotiate(u8, u8),
    /// `IAC SB <option> <payload> IAC SE`, payload unescaped.
    Sub(u8, Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Cr,
    Iac,
    Verb(u8),
    SbOption,
    Sb,
    SbIac,
}

/// Incremental telnet decoder; feed it any split of the stream.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    sb_option: u8,
    sb: Vec<u8>,
    /// The peer sends in binary mode: CR NUL is data, not a bare carriage return.
    binary: bool,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Decoder {
            state: State::Data,
            sb_option: 0,
            sb: Vec::new(),
            binary: false,
        }
    }

    /// Switches CR NUL handling off (peer in binary mode, RFC 856) or back on.
    pub(crate) fn set_binary(&mut self, binary: bool) {
        self.binary = binary;
    }

    /// Decodes `input`, appending items to `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<Item>) {
        let mut data = BytesMut::with_capacity(input.len());
        for &b in input {
            match self.state {
                State::Data | State::Cr => {
                    let after_cr = self.state == State::Cr;
                    self.state = State::Data;
                    match b {
                        IAC => self.state = State::Iac,
                        0 if after_cr && !self.binary => {}
                        b'\r' => {
                            data.put_u8(b);
                            self.state = State::Cr;
                        }
                        _ => data.put_u8(b),
                    }
                }
                State::Iac => {
                    self.state = State::Data;
                    match b {
                        IAC => data.put_u8(IAC),
                        WILL | WONT | DO | DONT => self.state = State::Verb(b),
                        SB => self.state = State::SbOption,
                        // NOP, GA, AYT, DM, ...: no effect on a client.
                        _ => {}
                    }
                }
                State::Verb(verb) => {
                    flush(&mut data, out);
                    out.push(Item::Negotiate(verb, b));
                    self.state = State::Data;
                }
                State::SbOption => {
                    self.sb_option = b;
                    self.sb.clear();
                    self.state = State::Sb;
                }
                State::Sb => match b {
                    IAC => self.state = State::SbIac,
                    _ if self.sb.len() < MAX_SB => self.sb.push(b),
                    _ => {}
                },
                State::SbIac => match b {
                    SE => {
                        flush(&mut data, out);
                        out.push(Item::Sub(self.sb_option, std::mem::take(&mut self.sb)));
                        self.state = State::Data;
                    }
                    IAC => {
                        if self.sb.len() < MAX_SB {
                            self.sb.push(IAC);
                        }
                        self.state = State::Sb;
                    }
                    _ => self.state = State::Sb,
                },
            }
        }
        flush(&mut data, out);
    }
}

fn flush(data: &mut BytesMut, out: &mut Vec<Item>) {
    if !data.is_empty() {
        out.push(Item::Data(data.split().freeze()));
    }
}

/// Escapes keystrokes for the wire: IAC doubled and, unless we send in binary mode, a CR
/// not followed by LF sent as CR NUL (RFC 854's rule for a bare carriage return).
pub(crate) fn escape(input: &[u8], binary: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(input.len() + 8);
    for (i, &b) in input.iter().enumerate() {
        match b {
            IAC => out.put_slice(&[IAC, IAC]),
            b'\r' if !binary && input.get(i + 1) != Some(&b'\n') => out.put_slice(b"\r\0"),
            _ => out.put_u8(b),
        }
    }
    out.freeze()
}

/// RFC 1143 option state of one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Q {
    #[default]
    No,
    WantYes,
    Yes,
}

/// Option negotiation state of a telnet client.
/// What RFC 2217 adds to the negotiation of a console port (the `rfc2217` connector
/// implements it), so this codec needs no knowledge of serial settings.
pub(crate) trait ComPortOption: Send + std::fmt::Debug {
    /// The requests that set the line, sent once the port agreed to COM-PORT-OPTION.
    fn request(&mut self) -> Vec<u8>;
    /// Checks one reply of the console server.
    fn reply(&mut self, payload: &[u8]);
    /// The request that holds (`on`) or releases a serial break.
    fn break_request(&self, on: bool) -> Vec<u8>;
}

#[derive(Debug)]
pub(crate) struct Negotiator {
    /// Options we perform (answers to DO / DONT).
    local: [Q; 256],
    /// Options the device performs (answers to WILL / WONT).
    remote: [Q; 256],
    term: String,
    size: (u16, u16),
    /// Set for an RFC 2217 console port: the line settings to ask for.
    com_port: Option<Box<dyn ComPortOption>>,
}

impl Negotiator {
    pub(crate) fn new(term: &str, cols: u32, rows: u32) -> Self {
        Negotiator {
            local: [Q::No; 256],
            remote: [Q::No; 256],
            term: term.to_owned(),
            size: (clamp(cols), clamp(rows)),
            com_port: None,
        }
    }

    /// A negotiator for an RFC 2217 console port that will ask for `port`'s line settings.
    pub(crate) fn com_port(port: Box<dyn ComPortOption>) -> Self {
        Negotiator {
            com_port: Some(port),
            ..Negotiator::new("unknown", 80, 24)
        }
    }

    /// Opening offers: we would like to send our window size and want the device
    /// to echo and suppress go-ahead (usual character-at-a-time mode).
    pub(crate) fn start(&mut self, naws: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if self.com_port.is_some() {
            // A console port: 8-bit clean both ways, no go-ahead, and serial control.
            for opt in [OPT_BINARY, OPT_SGA, OPT_COM_PORT] {
                self.local[opt as usize] = Q::WantYes;
                out.extend([IAC, WILL, opt]);
            }
            for opt in [OPT_BINARY, OPT_SGA] {
                self.remote[opt as usize] = Q::WantYes;
                out.extend([IAC, DO, opt]);
            }
            return out;
        }
        if naws {
            self.local[OPT_NAWS as usize] = Q::WantYes;
            out.extend([IAC, WILL, OPT_NAWS]);
        }
        for opt in [OPT_SGA, OPT_ECHO] {
            self.remote[opt as usize] = Q::WantYes;
            out.extend([IAC, DO, opt]);
        }
        out
    }

    fn accept_local(&self, opt: u8) -> bool {
        if self.com_port.is_some() {
            matches!(opt, OPT_BINARY | OPT_SGA | OPT_COM_PORT)
        } else {
            matches!(opt, OPT_NAWS | OPT_TTYPE | OPT_SGA)
        }
    }

    fn accept_remote(&self, opt: u8) -> bool {
        if self.com_port.is_some() {
            matches!(opt, OPT_BINARY | OPT_SGA | OPT_ECHO)
        } else {
            matches!(opt, OPT_ECHO | OPT_SGA)
        }
    }

    /// Whether we send in binary mode (keystrokes need no CR NUL).
    pub(crate) fn local_binary(&self) -> bool {
        self.local[OPT_BINARY as usize] == Q::Yes
    }

    /// Whether the peer sends in binary mode.
    pub(crate) fn remote_binary(&self) -> bool {
        self.remote[OPT_BINARY as usize] == Q::Yes
    }

    /// The bytes that hold (`on`) or release a serial break, when the port agreed to
    /// RFC 2217; empty otherwise.
    pub(crate) fn break_bytes(&self, on: bool) -> Vec<u8> {
        match &self.com_port {
            Some(port) if self.local[OPT_COM_PORT as usize] == Q::Yes => port.break_request(on),
            _ => Vec::new(),
        }
    }

    /// Answers one negotiation from the device; returns the bytes to send back.
    pub(crate) fn negotiate(&mut self, verb: u8, opt: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let i = opt as usize;
        match verb {
            DO => match self.local[i] {
                Q::Yes => {}
                Q::WantYes => {
                    self.local[i] = Q::Yes;
                    self.enabled_local(opt, &mut out);
                }
                Q::No if self.accept_local(opt) => {
                    self.local[i] = Q::Yes;
                    out.extend([IAC, WILL, opt]);
                    self.enabled_local(opt, &mut out);
                }
                Q::No => out.extend([IAC, WONT, opt]),
            },
            DONT => {
                if self.local[i] == Q::Yes {
                    out.extend([IAC, WONT, opt]);
                }
                self.local[i] = Q::No;
            }
            WILL => match self.remote[i] {
                Q::Yes => {}
                Q::WantYes => self.remote[i] = Q::Yes,
                Q::No if self.accept_remote(opt) => {
                    self.remote[i] = Q::Yes;
                    out.extend([IAC, DO, opt]);
                }
                Q::No => out.extend([IAC, DONT, opt]),
            },
            WONT => {
                if self.remote[i] == Q::Yes {
                    out.extend([IAC, DONT, opt]);
                }
                self.remote[i] = Q::No;
            }
            _ => {}
        }
        out
    }

    fn enabled_local(&mut self, opt: u8, out: &mut Vec<u8>) {
        match (opt, &mut self.com_port) {
            (OPT_NAWS, _) => out.extend(self.naws_bytes()),
            (OPT_COM_PORT, Some(port)) => out.extend(port.request()),
            _ => {}
        }
    }

    /// Answers a subnegotiation (only `TTYPE SEND` needs one); RFC 2217 replies from a
    /// console port are checked against what was asked.
    pub(crate) fn subnegotiate(&mut self, opt: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if opt == OPT_COM_PORT {
            if let Some(port) = &mut self.com_port {
                port.reply(payload);
            }
            return out;
        }
        if opt == OPT_TTYPE
            && payload.first() == Some(&TTYPE_SEND)
            && self.local[OPT_TTYPE as usize] == Q::Yes
        {
            out.extend([IAC, SB, OPT_TTYPE, TTYPE_IS]);
            out.extend(self.term.bytes().filter(|&b| b != IAC));
            out.extend([IAC, SE]);
        }
        out
    }

    /// Records a new window size; returns the NAWS update if NAWS is on.
    pub(crate) fn resize(&mut self, cols: u32, rows: u32) -> Vec<u8> {
        self.size = (clamp(cols), clamp(rows));
        if self.local[OPT_NAWS as usize] == Q::Yes {
            self.naws_bytes()
        } else {
            Vec::new()
        }
    }

    fn naws_bytes(&self) -> Vec<u8> {
        let mut out = vec![IAC, SB, OPT_NAWS];
        let (w, h) = self.size;
        for b in w.to_be_bytes().into_iter().chain(h.to_be_bytes()) {
            out.push(b);
            if b == IAC {
                out.push(IAC);
            }
        }
        out.extend([IAC, SE]);
        out
    }
}

fn clamp(v: u32) -> u16 {
    v.min(u16::MAX as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_split_anywhere() {
        let wire = [
            b'a', IAC, IAC, b'\r', 0, IAC, DO, OPT_NAWS, IAC, SB, 24, 1, IAC, SE, b'z',
        ];
        for split in 0..wire.len() {
            let mut d = Decoder::new();
            let mut items = Vec::new();
            d.decode(&wire[..split], &mut items);
            d.decode(&wire[split..], &mut items);
            let mut data = Vec::new();
            let mut proto = Vec::new();
            for it in items {
                match it {
                    Item::Data(b) => data.extend_from_slice(&b),
                    other => proto.push(other),
                }
            }
            assert_eq!(data, [b'a', IAC, b'\r', b'z'], "split at {split}");
            assert_eq!(
                proto,
                [Item::Negotiate(DO, OPT_NAWS), Item::Sub(24, vec![1])]
            );
        }
    }

    #[test]
    fn escapes_iac_and_bare_cr() {
        assert_eq!(
            &escape(&[1, IAC, b'\r', b'\r', b'\n'], false)[..],
            [1, IAC, IAC, b'\r', 0, b'\r', b'\n']
        );
        assert_eq!(&escape(&[IAC, b'\r'], true)[..], [IAC, IAC, b'\r']);
        let mut d = Decoder::new();
        d.set_binary(true);
        let mut items = Vec::new();
        d.decode(b"a\r\0b", &mut items);
        assert_eq!(items, [Item::Data(Bytes::from_static(b"a\r\0b"))]);
    }

    #[test]
    fn refuses_unknown_options_without_loops() {
        let mut n = Negotiator::new("xterm", 80, 24);
        assert_eq!(n.negotiate(DO, 39), [IAC, WONT, 39]);
        assert_eq!(n.negotiate(WILL, 200), [IAC, DONT, 200]);
        assert!(n.negotiate(DONT, 39).is_empty());
        assert!(n.negotiate(WONT, 200).is_empty());
        assert_eq!(n.negotiate(WILL, OPT_ECHO), [IAC, DO, OPT_ECHO]);
        assert!(n.negotiate(WILL, OPT_ECHO).is_empty());
        assert_eq!(n.negotiate(DO, OPT_ECHO), [IAC, WONT, OPT_ECHO]);
    }

    #[test]
    fn naws_escapes_255() {
        let mut n = Negotiator::new("xterm", 255, 24);
        let _ = n.start(true);
        assert_eq!(
            n.negotiate(DO, OPT_NAWS),
            [IAC, SB, OPT_NAWS, 0, IAC, IAC, 0, 24, IAC, SE]
        );
        assert_eq!(n.resize(80, 40), [IAC, SB, OPT_NAWS, 0, 80, 0, 40, IAC, SE]);
    }
}
