//! A small decoder of the SFTP (version 3) packets the audit follows: a framer that cuts
//! a byte stream into packets, refusing any longer than [`MAX_PACKET`], and the few
//! packet bodies it reads (OPEN, READ, WRITE, CLOSE from the client; HANDLE, DATA, STATUS
//! from the server). Malformed input is an error, never a panic.

use bytes::{Buf, Bytes, BytesMut};

/// The longest packet accepted (OpenSSH's sftp-server takes 256 KiB).
pub const MAX_PACKET: usize = 256 * 1024 + 1024;

pub const SSH_FXP_INIT: u8 = 1;
pub const SSH_FXP_VERSION: u8 = 2;
pub const SSH_FXP_OPEN: u8 = 3;
pub const SSH_FXP_CLOSE: u8 = 4;
pub const SSH_FXP_READ: u8 = 5;
pub const SSH_FXP_WRITE: u8 = 6;
pub const SSH_FXP_LSTAT: u8 = 7;
pub const SSH_FXP_FSTAT: u8 = 8;
pub const SSH_FXP_SETSTAT: u8 = 9;
pub const SSH_FXP_FSETSTAT: u8 = 10;
pub const SSH_FXP_OPENDIR: u8 = 11;
pub const SSH_FXP_READDIR: u8 = 12;
pub const SSH_FXP_REMOVE: u8 = 13;
pub const SSH_FXP_MKDIR: u8 = 14;
pub const SSH_FXP_RMDIR: u8 = 15;
pub const SSH_FXP_REALPATH: u8 = 16;
pub const SSH_FXP_STAT: u8 = 17;
pub const SSH_FXP_RENAME: u8 = 18;
pub const SSH_FXP_READLINK: u8 = 19;
pub const SSH_FXP_SYMLINK: u8 = 20;
pub const SSH_FXP_STATUS: u8 = 101;
pub const SSH_FXP_HANDLE: u8 = 102;
pub const SSH_FXP_DATA: u8 = 103;
pub const SSH_FXP_NAME: u8 = 104;
pub const SSH_FXP_EXTENDED: u8 = 200;
/// `pflags` of OPEN.
pub const SSH_FXF_READ: u32 = 0x01;
pub const SSH_FXF_WRITE: u32 = 0x02;
pub const SSH_FXF_APPEND: u32 = 0x04;
pub const SSH_FXF_CREAT: u32 = 0x08;
pub const SSH_FXF_TRUNC: u32 = 0x10;
/// STATUS codes.
pub const SSH_FX_PERMISSION_DENIED: u32 = 3;
pub const SSH_FX_OP_UNSUPPORTED: u32 = 8;

/// A malformed SFTP stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A packet longer than [`MAX_PACKET`] (or of length 0).
    #[error("SFTP packet of {0} bytes (at most {MAX_PACKET})")]
    Length(usize),
    /// A packet body shorter than its fields.
    #[error("truncated SFTP packet of type {0}")]
    Truncated(u8),
}

/// One whole packet: its type and the body after the type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The whole packet as it came, length included.
    pub raw: Bytes,
    /// `SSH_FXP_*`.
    pub kind: u8,
    /// The bytes after the type.
    pub body: Bytes,
}

/// Cuts one direction of the stream into packets.
#[derive(Debug, Default)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    /// Adds bytes that arrived.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, `Ok(None)` until one is there.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len == 0 || len > MAX_PACKET {
            return Err(WireError::Length(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let raw = self.buf.split_to(4 + len).freeze();
        let kind = raw[4];
        let body = raw.slice(5..);
        Ok(Some(Packet { raw, kind, body }))
    }
}

/// Reads the fields of a packet body in order.
pub struct Fields {
    kind: u8,
    body: Bytes,
}

impl Fields {
    /// The fields of `p`.
    pub fn of(p: &Packet) -> Fields {
        Fields {
            kind: p.kind,
            body: p.body.clone(),
        }
    }

    /// A `uint32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        if self.body.remaining() < 4 {
            return Err(WireError::Truncated(self.kind));
        }
        Ok(self.body.get_u32())
    }

    /// A `uint64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        if self.body.remaining() < 8 {
            return Err(WireError::Truncated(self.kind));
        }
        Ok(self.body.get_u64())
    }

    /// A `string`.
    pub fn string(&mut self) -> Result<Bytes, WireError> {
        let len = self.u32()? as usize;
        if self.body.remaining() < len {
            return Err(WireError::Truncated(self.kind));
        }
        Ok(self.body.split_to(len))
    }
}

impl Packet {
    /// The request id a packet other than INIT/VERSION starts with.
    pub fn id(&self) -> Option<u32> {
        if matches!(self.kind, SSH_FXP_INIT | SSH_FXP_VERSION) {
            return None;
        }
        Fields::of(self).u32().ok()
    }
}

/// A REALPATH request for `path` as request `id`.
pub fn realpath(id: u32, path: &[u8]) -> Bytes {
    let mut body = vec![SSH_FXP_REALPATH];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&(path.len() as u32).to_be_bytes());
    body.extend_from_slice(path);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.into()
}

/// A STATUS packet for request `id`.
pub fn status(id: u32, code: u32, message: &str) -> Bytes {
    let mut body = Vec::with_capacity(32 + message.len());
    body.push(SSH_FXP_STATUS);
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&code.to_be_bytes());
    for s in [message.as_bytes(), b"en"] {
        body.extend_from_slice(&(s.len() as u32).to_be_bytes());
        body.extend_from_slice(s);
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn packets_split_anywhere_come_out_whole() {
        let mut stream = frame(SSH_FXP_CLOSE, b"\0\0\0\x07\0\0\0\x01h");
        stream.extend(frame(SSH_FXP_READ, b"abc"));
        for cut in 0..stream.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                f.push(part);
                while let Some(p) = f.next_packet().unwrap() {
                    got.push(p.kind);
                }
            }
            assert_eq!(got, vec![SSH_FXP_CLOSE, SSH_FXP_READ], "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_or_empty_packet_is_an_error() {
        let mut f = Framer::default();
        f.push(&((MAX_PACKET + 1) as u32).to_be_bytes());
        assert_eq!(f.next_packet(), Err(WireError::Length(MAX_PACKET + 1)));
        let mut f = Framer::default();
        f.push(&[0, 0, 0, 0]);
        assert_eq!(f.next_packet(), Err(WireError::Length(0)));
    }

    #[test]
    fn a_status_packet_reads_back() {
        let mut f = Framer::default();
        f.push(&status(9, SSH_FX_PERMISSION_DENIED, "no"));
        let p = f.next_packet().unwrap().unwrap();
        let mut r = Fields::of(&p);
        assert_eq!(p.kind, SSH_FXP_STATUS);
        assert_eq!((r.u32(), r.u32()), (Ok(9), Ok(SSH_FX_PERMISSION_DENIED)));
        assert_eq!(r.string().unwrap().as_ref(), b"no");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut f = Framer::default();
            for c in &chunks {
                f.push(c);
                while let Ok(Some(p)) = f.next_packet() {
                    let mut r = Fields::of(&p);
                    let _ = (r.u32(), r.string(), r.u64(), r.string());
                }
            }
        }
    }
}
