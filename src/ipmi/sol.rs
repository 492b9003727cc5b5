//! Serial-over-LAN (payload type 1) on an RMCP+ session: payload activation (with the
//! "already active" case), packet sequence numbers, acks, nacks and partial acceptance,
//! retransmission, break, keepalive, and deactivation on close. Both directions are
//! encrypted and authenticated like every other packet of the session.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::packet::{self, payload};
use super::{IpmiError, Result, Session};

const NETFN_APP: u8 = 0x06;
const CMD_ACTIVATE: u8 = 0x48;
const CMD_DEACTIVATE: u8 = 0x49;
const CMD_DEVICE_ID: u8 = 0x01;
const CMD_PAYLOAD_INSTANCE_INFO: u8 = 0x4B;
/// Completion code: the payload is already active in another session.
const ALREADY_ACTIVE: u8 = 0x80;
/// Operation bit: generate a serial break.
const OP_BREAK: u8 = 0x10;
/// Status bit (from the BMC): the packet was not accepted, send it again later.
const ST_NACK: u8 = 0x40;
/// Status bit (from the BMC): SOL is being deactivated.
const ST_DEACTIVATING: u8 = 0x10;

/// SOL settings.
#[derive(Debug, Clone)]
pub struct SolOptions {
    /// Deactivate a SOL payload left active by another (stale) session, then activate.
    pub deactivate_stale: bool,
    /// Wait for an ack before sending a packet again.
    pub retransmit_after: Duration,
    /// Sends of one packet before the link counts as lost.
    pub max_sends: u32,
    /// Keepalive interval; the BMC is counted lost after three without any answer.
    pub keepalive: Duration,
}

impl Default for SolOptions {
    fn default() -> Self {
        SolOptions {
            deactivate_stale: false,
            retransmit_after: Duration::from_millis(500),
            max_sends: 10,
            keepalive: Duration::from_secs(10),
        }
    }
}

/// Activate Payload data: SOL, instance 1, encrypted and authenticated, serial alerts
/// deferred.
const ACTIVATE_SOL: [u8; 6] = [payload::SOL, 1, 0xC4, 0, 0, 0];
/// Deactivate Payload data: SOL, instance 1.
const DEACTIVATE_SOL: [u8; 6] = [payload::SOL, 1, 0, 0, 0, 0];

/// Activates SOL on `s`; returns the largest inbound (console to BMC) payload.
pub async fn activate(s: &mut Session, opts: &SolOptions) -> Result<usize> {
    let r = match s.command(NETFN_APP, CMD_ACTIVATE, &ACTIVATE_SOL).await {
        // Our own activation whose answer was lost, then retransmitted: already ours.
        Err(IpmiError::Completion {
            code: ALREADY_ACTIVE,
            ..
        }) if owned_by_us(s).await => {
            return Ok(64);
        }
        Err(IpmiError::Completion {
            code: ALREADY_ACTIVE,
            ..
        }) if opts.deactivate_stale => {
            tracing::warn!(bmc = %s.bmc(), "SOL already active elsewhere: deactivating the stale session");
            s.command(NETFN_APP, CMD_DEACTIVATE, &DEACTIVATE_SOL)
                .await?;
            s.command(NETFN_APP, CMD_ACTIVATE, &ACTIVATE_SOL).await?
        }
        Err(IpmiError::Completion {
            code: ALREADY_ACTIVE,
            bmc,
            ..
        }) => {
            return Err(IpmiError::Protocol {
                bmc,
                message: "Serial-over-LAN is already active in another session (set \
                          sol_takeover = true on the device to take it over)"
                    .into(),
            })
        }
        other => other?,
    };
    let inbound = r
        .get(4..6)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .unwrap_or(0);
    // Room for the 4-byte SOL header; a BMC that says nothing useful gets a safe size.
    Ok(if inbound > 4 {
        (inbound - 4).min(255)
    } else {
        64
    })
}

/// Whether SOL instance 1 is active in session `s` itself.
async fn owned_by_us(s: &mut Session) -> bool {
    match s
        .command(NETFN_APP, CMD_PAYLOAD_INSTANCE_INFO, &[payload::SOL, 1])
        .await
    {
        Ok(d) if d.len() >= 4 => u32::from_le_bytes([d[0], d[1], d[2], d[3]]) == s.bmc_session_id(),
        _ => false,
    }
}

/// What the pump is asked to do (mapped from the caller's own control messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolInput {
    /// Keystrokes for the host's serial port.
    Data(Bytes),
    /// Send a serial break.
    Break,
    /// Deactivate SOL and end.
    Close,
}

/// Why the pump ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolEnd {
    /// The BMC deactivated the payload (another client took it, or the BMC ended it).
    Deactivated,
    /// The caller closed it (or stopped reading).
    Closed,
    /// The BMC stopped answering or a packet could not be sent.
    Lost(String),
}

impl std::fmt::Display for SolEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolEnd::Deactivated => f.write_str("SOL deactivated by the BMC"),
            SolEnd::Closed => f.write_str("closed by the bastion"),
            SolEnd::Lost(why) => write!(f, "connection to the BMC lost: {why}"),
        }
    }
}

/// Runs SOL until the link closes: BMC output to `events` (each chunk wrapped by `wrap`),
/// `control` input to the BMC (each message read by `read`; `None` is ignored).
pub async fn pump<E: Send, C: Send>(
    mut s: Session,
    max_chunk: usize,
    opts: SolOptions,
    events: mpsc::Sender<E>,
    mut control: mpsc::Receiver<C>,
    wrap: fn(Bytes) -> E,
    read: fn(C) -> Option<SolInput>,
) -> SolEnd {
    let mut st = State::new();
    let mut buf = vec![0u8; packet::MAX_DATAGRAM + 1];
    let mut keepalive = tokio::time::interval(opts.keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let reason = loop {
        let retransmit_at = st
            .outstanding
            .as_ref()
            .map(|o| o.sent_at + opts.retransmit_after);
        tokio::select! {
            r = s.recv_raw(&mut buf) => {
                let n = match r {
                    Ok(n) => n,
                    Err(e) => break SolEnd::Lost(format!("BMC {}: {e}", s.bmc())),
                };
                let p = &buf[..n];
                if let Some(body) = s.open_packet(p, payload::SOL) {
                    last_heard = Instant::now();
                    match st.inbound(&body) {
                        Inbound::Deactivated => break SolEnd::Deactivated,
                        Inbound::Data { seq, accepted, data } => {
                            let ack = [0, seq, accepted, 0];
                            let ackp = s.seal(payload::SOL, &ack);
                            if let Err(e) = s.send_raw(&ackp).await {
                                break SolEnd::Lost(e.to_string());
                            }
                            if !data.is_empty() && events.send(wrap(Bytes::from(data))).await.is_err() {
                                break SolEnd::Closed;
                            }
                        }
                        Inbound::Nothing => {}
                    }
                } else if s.open_packet(p, payload::IPMI).is_some() {
                    last_heard = Instant::now();
                }
            }
            c = control.recv() => match c.map(read) {
                None | Some(Some(SolInput::Close)) => break SolEnd::Closed,
                Some(Some(SolInput::Data(b))) => st.queue.extend(b.iter().copied()),
                Some(Some(SolInput::Break)) => st.break_pending = true,
                Some(None) => {}
            },
            _ = sleep_until(retransmit_at) => {
                if let Some(o) = st.outstanding.as_mut() {
                    if o.sends >= opts.max_sends {
                        break SolEnd::Lost(format!("BMC {} stopped acknowledging SOL data", s.bmc()));
                    }
                    o.sends += 1;
                    o.sent_at = Instant::now();
                    let p = s.seal(payload::SOL, &o.packet);
                    let _ = s.send_raw(&p).await;
                }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > opts.keepalive * 3 {
                    break SolEnd::Lost(format!("BMC {} stopped answering", s.bmc()));
                }
                let p = s.seal_request(NETFN_APP, CMD_DEVICE_ID, &[]);
                let _ = s.send_raw(&p).await;
            }
        }
        if st.outstanding.is_none() {
            if let Some(packet) = st.next_packet(max_chunk) {
                let p = s.seal(payload::SOL, &packet);
                if let Err(e) = s.send_raw(&p).await {
                    break SolEnd::Lost(e.to_string());
                }
                st.outstanding = Some(Outstanding {
                    packet,
                    sent_at: Instant::now(),
                    sends: 1,
                });
            }
        }
    };
    if !matches!(reason, SolEnd::Lost(_)) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            s.command(NETFN_APP, CMD_DEACTIVATE, &DEACTIVATE_SOL),
        )
        .await;
        s.close().await;
    }
    tracing::info!(%reason, "SOL link closed");
    reason
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

struct Outstanding {
    /// Plain SOL payload (header and characters).
    packet: Vec<u8>,
    sent_at: Instant,
    sends: u32,
}

struct State {
    next_seq: u8,
    outstanding: Option<Outstanding>,
    queue: VecDeque<u8>,
    /// The BMC's last packet: its sequence number and how many of its characters were
    /// delivered (a retransmission may come back longer, with characters appended).
    last_in: Option<(u8, usize)>,
    break_pending: bool,
}

enum Inbound {
    Nothing,
    Deactivated,
    /// Characters to deliver (only the new ones) and the count to acknowledge.
    Data {
        seq: u8,
        accepted: u8,
        data: Vec<u8>,
    },
}

impl State {
    fn new() -> State {
        State {
            next_seq: 1,
            outstanding: None,
            queue: VecDeque::new(),
            last_in: None,
            break_pending: false,
        }
    }

    /// Builds the next data packet from queued keystrokes (and a pending break).
    fn next_packet(&mut self, max_chunk: usize) -> Option<Vec<u8>> {
        if self.queue.is_empty() && !self.break_pending {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq = if seq >= 15 { 1 } else { seq + 1 };
        let op = if std::mem::take(&mut self.break_pending) {
            OP_BREAK
        } else {
            0
        };
        let n = self.queue.len().min(max_chunk);
        let mut p = vec![seq, 0, 0, op];
        p.extend(self.queue.drain(..n));
        Some(p)
    }

    /// Handles one SOL packet from the BMC: acks of ours, and its data.
    fn inbound(&mut self, b: &[u8]) -> Inbound {
        if b.len() < 4 {
            return Inbound::Nothing;
        }
        let (seq, ack_seq, accepted, status) = (b[0] & 0x0F, b[1] & 0x0F, b[2] as usize, b[3]);
        if status & ST_DEACTIVATING != 0 {
            return Inbound::Deactivated;
        }
        if ack_seq != 0 {
            if let Some(o) = self.outstanding.take() {
                if o.packet[0] != ack_seq {
                    self.outstanding = Some(o); // an ack of something older
                } else if status & ST_NACK != 0 {
                    // Not taken now: send it again at the retransmit time.
                    self.outstanding = Some(o);
                } else {
                    let sent = &o.packet[4..];
                    if accepted < sent.len() {
                        // Partly accepted: the rest goes first in the next packet.
                        for &c in sent[accepted..].iter().rev() {
                            self.queue.push_front(c);
                        }
                    }
                }
            }
        }
        if seq == 0 {
            return Inbound::Nothing;
        }
        let chars = &b[4..];
        let accepted = chars.len().min(255) as u8;
        let already = match self.last_in {
            // A retransmission: deliver only what was appended since.
            Some((s, n)) if s == seq => n.min(chars.len()),
            _ => 0,
        };
        self.last_in = Some((seq, chars.len().max(already)));
        Inbound::Data {
            seq,
            accepted,
            data: chars[already..].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_wrap_from_15_to_1_and_partial_acks_resend_the_rest() {
        let mut st = State::new();
        st.next_seq = 15;
        st.queue.extend(b"abcdef");
        let p = st.next_packet(4).unwrap();
        assert_eq!(p, [15, 0, 0, 0, b'a', b'b', b'c', b'd']);
        st.outstanding = Some(Outstanding {
            packet: p,
            sent_at: Instant::now(),
            sends: 1,
        });
        assert!(matches!(st.inbound(&[0, 15, 2, 0]), Inbound::Nothing));
        assert!(st.outstanding.is_none());
        let p = st.next_packet(10).unwrap();
        assert_eq!(p, [1, 0, 0, 0, b'c', b'd', b'e', b'f']);
    }

    proptest::proptest! {
        #[test]
        fn any_sol_payload_is_handled_without_panic(
            packets in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 1..20)
        ) {
            let mut st = State::new();
            st.queue.extend(b"typed");
            for p in packets {
                if st.outstanding.is_none() {
                    if let Some(packet) = st.next_packet(64) {
                        st.outstanding = Some(Outstanding { packet, sent_at: Instant::now(), sends: 1 });
                    }
                }
                let _ = st.inbound(&p);
            }
        }
    }

    #[test]
    fn nacks_keep_the_packet_and_duplicates_are_not_delivered_twice() {
        let mut st = State::new();
        st.queue.extend(b"x");
        st.break_pending = true;
        let p = st.next_packet(8).unwrap();
        assert_eq!(p, [1, 0, 0, OP_BREAK, b'x']);
        st.outstanding = Some(Outstanding {
            packet: p,
            sent_at: Instant::now(),
            sends: 1,
        });
        st.inbound(&[0, 1, 0, ST_NACK]);
        assert!(st.outstanding.is_some());
        match st.inbound(&[3, 0, 0, 0, b'h', b'i']) {
            Inbound::Data {
                seq: 3,
                accepted: 2,
                data,
            } => assert_eq!(data, b"hi"),
            _ => panic!("data expected"),
        }
        match st.inbound(&[3, 0, 0, 0, b'h', b'i']) {
            Inbound::Data {
                seq: 3,
                accepted: 2,
                data,
            } => assert!(data.is_empty()),
            _ => panic!("re-ack expected"),
        }
        // Sent again with characters appended: only the new ones are delivered.
        match st.inbound(&[3, 0, 0, 0, b'h', b'i', b'!']) {
            Inbound::Data {
                seq: 3,
                accepted: 3,
                data,
            } => assert_eq!(data, b"!"),
            _ => panic!("appended data expected"),
        }
        assert!(matches!(st.inbound(&[1, 2, 3]), Inbound::Nothing));
        assert!(matches!(
            st.inbound(&[0, 0, 0, ST_DEACTIVATING]),
            Inbound::Deactivated
        ));
    }
}
