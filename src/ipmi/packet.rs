//! IPMI over LAN wire formats, as pure functions: the RMCP header, the IPMI 1.5 and 2.0
//! (RMCP+) session wrappers, and IPMI request/response messages with their checksums.
//! Decoders take any bytes and return an error, never panic.

use super::IpmiError;

/// RMCP header for IPMI: version 6, reserved, sequence 0xFF (no RMCP ack), class IPMI.
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Authentication type byte that marks an RMCP+ (IPMI v2.0) session header.
pub const AUTH_RMCP_PLUS: u8 = 0x06;
/// Largest datagram accepted (an IPMI LAN packet is far smaller).
pub const MAX_DATAGRAM: usize = 1024;

/// RMCP+ payload types.
pub mod payload {
    /// An IPMI message.
    pub const IPMI: u8 = 0x00;
    /// Serial-over-LAN data.
    pub const SOL: u8 = 0x01;
    /// RMCP+ Open Session Request.
    pub const OPEN_REQ: u8 = 0x10;
    /// RMCP+ Open Session Response.
    pub const OPEN_RESP: u8 = 0x11;
    /// RAKP Message 1.
    pub const RAKP1: u8 = 0x12;
    /// RAKP Message 2.
    pub const RAKP2: u8 = 0x13;
    /// RAKP Message 3.
    pub const RAKP3: u8 = 0x14;
    /// RAKP Message 4.
    pub const RAKP4: u8 = 0x15;
}

fn short(what: &str, need: usize, got: usize) -> IpmiError {
    IpmiError::Malformed(format!("{what}: need {need} bytes, got {got}"))
}

/// Two's-complement checksum: the byte that makes the sum of `data` and it zero.
pub fn checksum(data: &[u8]) -> u8 {
    data.iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// An IPMI request as carried in a LAN packet (BMC at 0x20, us at 0x81, LUN 0).
pub fn encode_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x20, netfn << 2];
    m.push(checksum(&m));
    let start = m.len();
    m.extend([0x81, rq_seq << 2, cmd]);
    m.extend_from_slice(data);
    let c = checksum(&m[start..]);
    m.push(c);
    m
}

/// A decoded IPMI response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Network function (odd: a response).
    pub netfn: u8,
    /// Sequence number of the request it answers.
    pub rq_seq: u8,
    /// Command.
    pub cmd: u8,
    /// Completion code (0 = success).
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

/// Decodes an IPMI response message, checking both checksums.
pub fn decode_response(m: &[u8]) -> Result<Response, IpmiError> {
    if m.len() < 8 {
        return Err(short("IPMI response", 8, m.len()));
    }
    if checksum(&m[..2]) != m[2] {
        return Err(IpmiError::Malformed("IPMI response header checksum".into()));
    }
    let body = &m[3..m.len() - 1];
    if checksum(body) != m[m.len() - 1] {
        return Err(IpmiError::Malformed("IPMI response data checksum".into()));
    }
    Ok(Response {
        netfn: m[1] >> 2,
        rq_seq: m[4] >> 2,
        cmd: m[5],
        completion: m[6],
        data: m[7..m.len() - 1].to_vec(),
    })
}

/// An IPMI 1.5 packet without authentication (pre-session commands).
pub fn encode_v15(message: &[u8]) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.push(0x00); // authentication type: none
    p.extend([0u8; 8]); // session sequence, session id
    p.push(message.len() as u8);
    p.extend_from_slice(message);
    p
}

/// The IPMI message inside an IPMI 1.5 packet without authentication.
pub fn decode_v15(p: &[u8]) -> Result<&[u8], IpmiError> {
    check_rmcp(p)?;
    if p.len() < 14 {
        return Err(short("IPMI 1.5 packet", 14, p.len()));
    }
    if p[4] != 0x00 {
        return Err(IpmiError::Malformed(format!(
            "IPMI 1.5 packet with authentication type {:#04x}",
            p[4]
        )));
    }
    let len = p[13] as usize;
    p.get(14..14 + len)
        .ok_or_else(|| short("IPMI 1.5 message", 14 + len, p.len()))
}

fn check_rmcp(p: &[u8]) -> Result<(), IpmiError> {
    if p.len() > MAX_DATAGRAM {
        return Err(IpmiError::Malformed(format!("{} byte datagram", p.len())));
    }
    if p.len() < 4 || p[0] != 0x06 || p[3] & 0x1F != 0x07 {
        return Err(IpmiError::Malformed("not an RMCP IPMI packet".into()));
    }
    Ok(())
}

/// The fields of an RMCP+ session header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V20<'a> {
    /// Payload type (low 6 bits).
    pub payload_type: u8,
    /// Payload is encrypted.
    pub encrypted: bool,
    /// Packet carries an integrity trailer.
    pub authenticated: bool,
    /// Session id (the receiver's).
    pub session_id: u32,
    /// Session sequence number.
    pub seq: u32,
    /// The payload as sent (still encrypted if `encrypted`).
    pub payload: &'a [u8],
    /// Bytes covered by the integrity code: from the auth type byte to the next header.
    pub signed: &'a [u8],
    /// The integrity code (empty when not authenticated).
    pub auth_code: &'a [u8],
}

/// Computes a packet's integrity code from its signed bytes.
pub type MacFn<'a> = dyn Fn(&[u8]) -> Vec<u8> + 'a;

/// Encodes an RMCP+ packet. With `mac`, the packet gets the integrity trailer: pad, pad
/// length, next header, and the code `mac` computes over the signed bytes.
pub fn encode_v20(
    payload_type: u8,
    encrypted: bool,
    session_id: u32,
    seq: u32,
    payload: &[u8],
    mac: Option<&MacFn<'_>>,
) -> Vec<u8> {
    let mut p = RMCP_HEADER.to_vec();
    p.push(AUTH_RMCP_PLUS);
    let mut t = payload_type & 0x3F;
    if encrypted {
        t |= 0x80;
    }
    if mac.is_some() {
        t |= 0x40;
    }
    p.push(t);
    p.extend(session_id.to_le_bytes());
    p.extend(seq.to_le_bytes());
    p.extend((payload.len() as u16).to_le_bytes());
    p.extend_from_slice(payload);
    if let Some(mac) = mac {
        // Pad so that auth type .. next header is a multiple of 4.
        let covered = p.len() - 4 + 2;
        let pad = (4 - covered % 4) % 4;
        p.extend(std::iter::repeat_n(0xFF, pad));
        p.push(pad as u8);
        p.push(0x07);
        let code = mac(&p[4..]);
        p.extend(code);
    }
    p
}

/// Decodes an RMCP+ packet; `code_len` is the integrity code length of the session.
pub fn decode_v20(p: &[u8], code_len: usize) -> Result<V20<'_>, IpmiError> {
    check_rmcp(p)?;
    if p.len() < 16 {
        return Err(short("RMCP+ packet", 16, p.len()));
    }
    if p[4] != AUTH_RMCP_PLUS {
        return Err(IpmiError::Malformed(format!(
            "authentication type {:#04x}, expected RMCP+",
            p[4]
        )));
    }
    let t = p[5];
    let (payload_type, encrypted, authenticated) = (t & 0x3F, t & 0x80 != 0, t & 0x40 != 0);
    if payload_type == 0x02 {
        return Err(IpmiError::Malformed(
            "OEM payloads are not supported".into(),
        ));
    }
    let session_id = u32::from_le_bytes([p[6], p[7], p[8], p[9]]);
    let seq = u32::from_le_bytes([p[10], p[11], p[12], p[13]]);
    let len = u16::from_le_bytes([p[14], p[15]]) as usize;
    let end = 16 + len;
    let payload = p
        .get(16..end)
        .ok_or_else(|| short("RMCP+ payload", end, p.len()))?;
    let (signed, auth_code) = if authenticated {
        if p.len() < end + 2 + code_len {
            return Err(short("RMCP+ trailer", end + 2 + code_len, p.len()));
        }
        let code_at = p.len() - code_len;
        // pad length and next header precede the code
        let pad_len = p[code_at - 2] as usize;
        if p[code_at - 1] != 0x07 || end + pad_len + 2 != code_at {
            return Err(IpmiError::Malformed("RMCP+ integrity trailer".into()));
        }
        (&p[4..code_at], &p[code_at..])
    } else {
        (&[][..], &[][..])
    };
    Ok(V20 {
        payload_type,
        encrypted,
        authenticated,
        session_id,
        seq,
        payload,
        signed,
        auth_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_and_response_round_trip_with_checksums() {
        let r = encode_request(0x06, 0x38, 5, &[0x8E, 0x04]);
        assert_eq!(&r[..3], [0x20, 0x18, 0xC8]);
        assert_eq!(checksum(&r[3..]), 0);
        // A response to it, built by hand.
        let mut m = vec![0x81, 0x1C];
        m.push(checksum(&m));
        let body = [0x20, 5 << 2, 0x38, 0x00, 0x01, 0x80];
        m.extend(body);
        m.push(checksum(&body));
        let resp = decode_response(&m).unwrap();
        assert_eq!(
            (resp.netfn, resp.rq_seq, resp.cmd, resp.completion),
            (0x07, 5, 0x38, 0)
        );
        assert_eq!(resp.data, [0x01, 0x80]);
        let mut bad = m.clone();
        bad[5] ^= 1;
        assert!(decode_response(&bad).is_err());
    }

    #[test]
    fn v20_trailer_round_trips_and_is_checked() {
        let mac = |b: &[u8]| vec![b.len() as u8; 12];
        let p = encode_v20(payload::IPMI, true, 0xA1B2C3D4, 7, &[1, 2, 3], Some(&mac));
        let v = decode_v20(&p, 12).unwrap();
        assert!(v.encrypted && v.authenticated);
        assert_eq!(
            (v.session_id, v.seq, v.payload),
            (0xA1B2C3D4, 7, &[1u8, 2, 3][..])
        );
        assert_eq!(v.signed.len() % 4, 0);
        assert_eq!(v.auth_code, mac(v.signed).as_slice());
        assert!(decode_v20(&p[..p.len() - 3], 12).is_err());
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = decode_v20(&bytes, 12);
            let _ = decode_v20(&bytes, 16);
            let _ = decode_v15(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn truncated_or_extended_valid_packets_never_panic(cut in 0usize..60, extra in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let mac = |_: &[u8]| vec![0u8; 16];
            let mut p = encode_v20(payload::SOL, false, 1, 2, &[9; 20], Some(&mac));
            p.truncate(p.len().saturating_sub(cut));
            let _ = decode_v20(&p, 16);
            p.extend(&extra);
            let _ = decode_v20(&p, 16);
            let mut v = encode_v15(&encode_request(0, 1, 1, &extra[..extra.len().min(40)]));
            v.truncate(v.len().saturating_sub(cut));
            if let Ok(m) = decode_v15(&v) {
                let _ = decode_response(m);
            }
        }
    }
}
