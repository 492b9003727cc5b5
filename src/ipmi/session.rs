//! An RMCP+ session over UDP: channel capabilities, Open Session, RAKP 1-4 with both of the
//! BMC's proofs checked, privilege, then authenticated and encrypted IPMI commands with
//! sequence numbers, retransmission and timeouts.

use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::crypto::{Keys, Rakp, Suite};
use super::packet::{self, payload};
use super::{BmcTarget, IpmiError, Result};

const NETFN_APP: u8 = 0x06;
const CMD_AUTH_CAPS: u8 = 0x38;
const CMD_SET_PRIVILEGE: u8 = 0x3B;
const CMD_CLOSE: u8 = 0x3C;
/// Requested role: administrator, name-only lookup.
const ROLE: u8 = 0x14;

/// An authenticated, encrypted session with a BMC.
pub struct Session {
    wire: Wire,
    suite: Suite,
    keys: Keys,
    /// The BMC's id for this session (sent in our packets).
    bmc_sid: u32,
    /// Our id for this session (the BMC puts it in its packets).
    our_sid: u32,
    seq: u32,
    rq_seq: u8,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("bmc", &self.wire.bmc)
            .field("suite", &self.suite.id())
            .finish_non_exhaustive()
    }
}

struct Wire {
    sock: UdpSocket,
    bmc: String,
    timeout: Duration,
    retries: u32,
}

impl Wire {
    /// Sends `packet` (rebuilt by `make` for each try) until `accept` takes an answer.
    async fn exchange<T>(
        &self,
        what: &'static str,
        mut make: impl FnMut() -> Vec<u8>,
        mut accept: impl FnMut(&[u8]) -> Option<Result<T>>,
    ) -> Result<T> {
        let mut buf = vec![0u8; packet::MAX_DATAGRAM + 1];
        for _ in 0..=self.retries {
            self.sock
                .send(&make())
                .await
                .map_err(|e| self.unreachable(e))?;
            let until = Instant::now() + self.timeout;
            loop {
                let n = match tokio::time::timeout_at(until, self.sock.recv(&mut buf)).await {
                    Err(_) => break,
                    // ICMP port unreachable on loopback: nobody listens.
                    Ok(Err(e)) => return Err(self.unreachable(e)),
                    Ok(Ok(n)) => n,
                };
                if let Some(r) = accept(&buf[..n]) {
                    return r;
                }
            }
        }
        Err(IpmiError::Timeout {
            bmc: self.bmc.clone(),
            what,
            seconds: self.timeout.as_secs_f64() * f64::from(self.retries + 1),
        })
    }

    fn unreachable(&self, e: std::io::Error) -> IpmiError {
        IpmiError::Unreachable {
            bmc: self.bmc.clone(),
            message: e.to_string(),
        }
    }
}

/// What the BMC answered to Open Session.
enum Opened {
    Ok { bmc_sid: u32 },
    Refused(u8),
}

impl Session {
    /// Opens a session with the first suite of `t.suites` the BMC accepts.
    pub async fn open(t: &BmcTarget) -> Result<Session> {
        if t.suites.is_empty() {
            return Err(IpmiError::Config("no cipher suite configured".into()));
        }
        let unreachable = |e: std::io::Error| IpmiError::Unreachable {
            bmc: t.name.clone(),
            message: e.to_string(),
        };
        let sock = UdpSocket::bind(if t.address.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        })
        .await
        .map_err(unreachable)?;
        sock.connect(&t.address).await.map_err(unreachable)?;
        let wire = Wire {
            sock,
            bmc: t.name.clone(),
            timeout: t.timeout,
            retries: t.retries,
        };
        capabilities(&wire).await?;
        let mut refused = Vec::new();
        for &suite in &t.suites {
            let our_sid: u32 = rand::random::<u32>() | 1;
            match open_session(&wire, suite, our_sid).await? {
                Opened::Ok { bmc_sid } => {
                    let (keys, bmc_sid) = handshake(&wire, t, suite, our_sid, bmc_sid).await?;
                    let mut s = Session {
                        wire,
                        suite,
                        keys,
                        bmc_sid,
                        our_sid,
                        seq: 0,
                        rq_seq: 0,
                    };
                    s.command(NETFN_APP, CMD_SET_PRIVILEGE, &[0x04]).await?;
                    tracing::info!(bmc = %s.wire.bmc, suite = suite.id(), "IPMI session open");
                    return Ok(s);
                }
                Opened::Refused(status) => {
                    refused.push(format!("{} ({})", suite.id(), status_text(status)))
                }
            }
        }
        Err(IpmiError::NoSuite {
            bmc: t.name.clone(),
            refused: refused.join(", "),
        })
    }

    /// The cipher suite in use.
    pub fn suite(&self) -> u8 {
        self.suite.id()
    }

    /// Sends an IPMI request and returns the response data (completion code checked).
    pub async fn command(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>> {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let rq_seq = self.rq_seq;
        let message = packet::encode_request(netfn, cmd, rq_seq, data);
        let resp = self
            .send_payload(payload::IPMI, &message, |p| {
                packet::decode_response(p)
                    .ok()
                    .filter(|r| r.rq_seq == rq_seq && r.cmd == cmd && r.netfn == netfn | 1)
            })
            .await?;
        if resp.completion != 0 {
            return Err(IpmiError::Completion {
                bmc: self.wire.bmc.clone(),
                cmd,
                code: resp.completion,
            });
        }
        Ok(resp.data)
    }

    /// Sends one payload (a new session sequence number per try) and waits for the answer
    /// `accept` recognises among the BMC's authenticated, decrypted packets.
    pub(crate) async fn send_payload<T>(
        &mut self,
        ptype: u8,
        body: &[u8],
        accept: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<T> {
        let Session {
            wire,
            suite,
            keys,
            bmc_sid,
            our_sid,
            seq,
            ..
        } = self;
        wire.exchange(
            "IPMI request",
            || seal(keys, *bmc_sid, seq, ptype, body),
            |p| open(keys, *suite, *our_sid, &wire.bmc, p, ptype).and_then(|b| accept(&b).map(Ok)),
        )
        .await
    }

    /// An authenticated, encrypted packet carrying `body`.
    pub(crate) fn seal(&mut self, ptype: u8, body: &[u8]) -> Vec<u8> {
        seal(&self.keys, self.bmc_sid, &mut self.seq, ptype, body)
    }

    /// The decrypted payload of a packet for this session of type `ptype`, if it is one
    /// and its integrity code is right.
    pub(crate) fn open_packet(&self, p: &[u8], ptype: u8) -> Option<Vec<u8>> {
        open(
            &self.keys,
            self.suite,
            self.our_sid,
            &self.wire.bmc,
            p,
            ptype,
        )
    }

    /// Sends an already sealed packet.
    pub(crate) async fn send_raw(&self, p: &[u8]) -> std::io::Result<()> {
        self.wire.sock.send(p).await.map(|_| ())
    }

    /// Receives one datagram.
    pub(crate) async fn recv_raw(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.wire.sock.recv(buf).await
    }

    /// A sealed IPMI request that nobody waits for (keepalives).
    pub(crate) fn seal_request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let m = packet::encode_request(netfn, cmd, self.rq_seq, data);
        self.seal(payload::IPMI, &m)
    }

    /// The BMC's id of this session.
    pub(crate) fn bmc_session_id(&self) -> u32 {
        self.bmc_sid
    }

    /// The BMC's name, for messages.
    pub(crate) fn bmc(&self) -> &str {
        &self.wire.bmc
    }

    /// Closes the session at the BMC (best effort).
    pub async fn close(mut self) {
        let sid = self.bmc_sid.to_le_bytes();
        self.wire.retries = 0;
        let _ = self.command(NETFN_APP, CMD_CLOSE, &sid).await;
    }
}

/// An authenticated, encrypted packet carrying `body`, with the next sequence number.
fn seal(keys: &Keys, bmc_sid: u32, seq: &mut u32, ptype: u8, body: &[u8]) -> Vec<u8> {
    *seq = seq.wrapping_add(1).max(1);
    let enc = keys.encrypt(body, rand::random());
    packet::encode_v20(
        ptype,
        true,
        bmc_sid,
        *seq,
        &enc,
        Some(&|b: &[u8]| keys.mac(b)),
    )
}

/// The decrypted payload of packet `p` if it is of type `ptype`, for session `our_sid`, and
/// its integrity code is right.
fn open(
    keys: &Keys,
    suite: Suite,
    our_sid: u32,
    bmc: &str,
    p: &[u8],
    ptype: u8,
) -> Option<Vec<u8>> {
    let v = packet::decode_v20(p, suite.code_len()).ok()?;
    if v.payload_type != ptype || v.session_id != our_sid || !v.authenticated {
        return None;
    }
    if !keys.verify(v.signed, v.auth_code) {
        tracing::warn!(bmc, "IPMI packet with a bad integrity code dropped");
        return None;
    }
    if v.encrypted {
        keys.decrypt(v.payload).ok()
    } else {
        Some(v.payload.to_vec())
    }
}

async fn capabilities(wire: &Wire) -> Result<()> {
    let req = packet::encode_request(NETFN_APP, CMD_AUTH_CAPS, 0, &[0x8E, 0x04]);
    let data = wire
        .exchange(
            "channel authentication capabilities",
            || packet::encode_v15(&req),
            |p| {
                let m = packet::decode_v15(p).ok()?;
                let r = packet::decode_response(m).ok()?;
                (r.cmd == CMD_AUTH_CAPS).then_some(Ok(r))
            },
        )
        .await?;
    if data.completion != 0 || data.data.len() < 4 || data.data[3] & 0x02 == 0 {
        return Err(IpmiError::Protocol {
            bmc: wire.bmc.clone(),
            message: "the BMC does not offer IPMI v2.0 (RMCP+) sessions".into(),
        });
    }
    Ok(())
}

fn algorithm_payloads(suite: Suite) -> Vec<u8> {
    let (a, i, c) = suite.algorithms();
    let mut v = Vec::new();
    for (kind, alg) in [(0u8, a), (1, i), (2, c)] {
        v.extend([kind, 0, 0, 8, alg, 0, 0, 0]);
    }
    v
}

async fn open_session(wire: &Wire, suite: Suite, our_sid: u32) -> Result<Opened> {
    let tag: u8 = rand::random();
    let want = algorithm_payloads(suite);
    let mut body = vec![tag, 0x04, 0, 0];
    body.extend(our_sid.to_le_bytes());
    body.extend(&want);
    wire.exchange(
        "open session",
        || packet::encode_v20(payload::OPEN_REQ, false, 0, 0, &body, None),
        |p| {
            let (status, b) = handshake_reply(p, payload::OPEN_RESP, tag)?;
            if status != 0 {
                return Some(Ok(Opened::Refused(status)));
            }
            if b.len() < 36 || u32::from_le_bytes([b[4], b[5], b[6], b[7]]) != our_sid {
                return Some(Err(IpmiError::Malformed("open session response".into())));
            }
            // The BMC must echo exactly the algorithms asked for, never weaker ones.
            if b[12..36] != want[..] {
                return Some(Err(IpmiError::Protocol {
                    bmc: wire.bmc.clone(),
                    message: format!(
                        "the BMC answered cipher suite {} with other algorithms; refused",
                        suite.id()
                    ),
                }));
            }
            let bmc_sid = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            Some(Ok(Opened::Ok { bmc_sid }))
        },
    )
    .await
}

/// RAKP 1-4. The exchange is not idempotent at the BMC (a RAKP 3 sent again after a lost
/// RAKP 4 is ignored), so a timeout restarts it from a fresh Open Session.
async fn handshake(
    wire: &Wire,
    t: &BmcTarget,
    suite: Suite,
    our_sid: u32,
    bmc_sid: u32,
) -> Result<(Keys, u32)> {
    let mut bmc_sid = bmc_sid;
    let mut restarts = 0;
    loop {
        match rakp(wire, t, suite, our_sid, bmc_sid).await {
            Err(IpmiError::Timeout { .. }) if restarts < wire.retries => {
                restarts += 1;
                tracing::debug!(bmc = %wire.bmc, "RAKP exchange lost; starting again");
                match open_session(wire, suite, our_sid).await? {
                    Opened::Ok { bmc_sid: sid } => bmc_sid = sid,
                    Opened::Refused(status) => {
                        return Err(IpmiError::Protocol {
                            bmc: wire.bmc.clone(),
                            message: format!("session refused on retry: {}", status_text(status)),
                        })
                    }
                }
            }
            r => return r.map(|k| (k, bmc_sid)),
        }
    }
}

async fn rakp(
    wire: &Wire,
    t: &BmcTarget,
    suite: Suite,
    our_sid: u32,
    bmc_sid: u32,
) -> Result<Keys> {
    let user = t.username.as_bytes();
    if user.len() > 16 {
        return Err(IpmiError::Config(format!(
            "BMC user name of {} bytes (at most 16)",
            user.len()
        )));
    }
    let mut kuid = Zeroizing::new(t.password.as_bytes().to_vec());
    if kuid.len() > 20 {
        return Err(IpmiError::Config(
            "BMC password longer than 20 bytes".into(),
        ));
    }
    kuid.resize(20, 0);
    let rm: [u8; 16] = rand::random();
    let tag: u8 = rand::random();
    let mut r1 = vec![tag, 0, 0, 0];
    r1.extend(bmc_sid.to_le_bytes());
    r1.extend(rm);
    r1.extend([ROLE, 0, 0, user.len() as u8]);
    r1.extend(user);
    // What is known before RAKP 2; its random number and GUID fill in the rest.
    let rakp = Rakp {
        suite,
        kuid: &kuid,
        our_sid,
        bmc_sid,
        rm,
        rc: [0; 16],
        guid: [0; 16],
        role: ROLE,
        user,
    };
    let auth_failed = || IpmiError::AuthFailed {
        bmc: t.name.clone(),
    };
    let (rc, guid) = wire
        .exchange(
            "RAKP 2",
            || packet::encode_v20(payload::RAKP1, false, 0, 0, &r1, None),
            |p| {
                let (status, b) = handshake_reply(p, payload::RAKP2, tag)?;
                if status != 0 {
                    return Some(Err(auth_failed()));
                }
                if b.len() < 40 + suite.hash_len() {
                    return Some(Err(IpmiError::Malformed("RAKP 2".into())));
                }
                let rc: [u8; 16] = b[8..24].try_into().expect("16");
                let guid: [u8; 16] = b[24..40].try_into().expect("16");
                let code = &b[40..40 + suite.hash_len()];
                let rakp = Rakp {
                    rc,
                    guid,
                    ..rakp.clone()
                };
                // A wrong password shows here: the BMC's proof does not match ours.
                if !rakp.verify_rakp2(code) {
                    return Some(Err(auth_failed()));
                }
                Some(Ok((rc, guid)))
            },
        )
        .await?;
    let rakp = Rakp { rc, guid, ..rakp };
    let sik = rakp.sik();
    let proof = rakp.rakp3_code();
    let tag3: u8 = rand::random();
    let mut r3 = vec![tag3, 0, 0, 0];
    r3.extend(bmc_sid.to_le_bytes());
    r3.extend(&proof);
    wire.exchange(
        "RAKP 4",
        || packet::encode_v20(payload::RAKP3, false, 0, 0, &r3, None),
        |p| {
            let (status, b) = handshake_reply(p, payload::RAKP4, tag3)?;
            if status != 0 {
                return Some(Err(auth_failed()));
            }
            if b.len() < 8 + suite.icv_len() {
                return Some(Err(IpmiError::Malformed("RAKP 4".into())));
            }
            let icv = &b[8..8 + suite.icv_len()];
            if !rakp.verify_rakp4(&sik, icv) {
                return Some(Err(auth_failed()));
            }
            Some(Ok(()))
        },
    )
    .await?;
    Ok(Keys::derive(suite, &sik))
}

/// An unauthenticated handshake answer of type `ptype` to our message tagged `tag`: its
/// status code and whole payload, or `None` when the packet is something else.
fn handshake_reply(p: &[u8], ptype: u8, tag: u8) -> Option<(u8, &[u8])> {
    let v = packet::decode_v20(p, 0).ok()?;
    let b = v.payload;
    (v.payload_type == ptype && b.len() >= 2 && b[0] == tag).then_some((b[1], b))
}

fn status_text(code: u8) -> &'static str {
    match code {
        0x01 => "insufficient resources",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match",
        _ => "refused",
    }
}
