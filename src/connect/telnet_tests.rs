//! Telnet connector tests: a real `telnetd` (inetutils, behind socat) with
//! `/bin/login`, and a scripted peer for what a real server cannot be made to do on
//! demand (garbage options, IAC bytes in data, TTYPE requests, NAWS with 255).

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::telnet_codec::{
    DO, DONT, IAC, OPT_ECHO, OPT_NAWS, OPT_SGA, OPT_TTYPE, SB, SE, WILL, WONT,
};
use super::testing::{TestTelnetd, TEST_PASSWORD, TEST_USER};
use super::*;

fn target(address: String) -> Target {
    Target {
        name: "ts1".into(),
        address,
        host_key: None,
        legacy_algorithms: false,
    }
}

fn cred(user: &str, password: &str) -> DeviceCredential {
    DeviceCredential {
        username: user.into(),
        password: Some(password.into()),
        ..Default::default()
    }
}

async fn read_until(link: &mut Link, needle: &str, seen: &mut Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(seen).contains(needle) {
        match tokio::time::timeout_at(deadline, link.events.recv()).await {
            Ok(Some(LinkEvent::Data(b))) => seen.extend_from_slice(&b),
            other => panic!(
                "no {needle:?} in {:?} ({other:?})",
                String::from_utf8_lossy(seen)
            ),
        }
    }
}

async fn closed(link: &mut Link) -> EndReason {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), link.events.recv()).await {
            Ok(Some(LinkEvent::Closed(r))) => return r,
            Ok(Some(_)) => {}
            other => panic!("link did not close: {other:?}"),
        }
    }
}

#[tokio::test]
async fn real_telnetd_login_shell_and_resize() {
    let telnetd = TestTelnetd::start().expect("telnetd");
    let req = LinkRequest::shell(80, 24);
    let mut link = TelnetConnector::new()
        .open(
            &target(telnetd.address()),
            &cred(TEST_USER, TEST_PASSWORD),
            &req,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let send = |s: &'static str| LinkControl::Data(Bytes::from_static(s.as_bytes()));
    link.control.send(send("stty size\r")).await.unwrap();
    read_until(&mut link, "24 80", &mut seen).await;
    link.control
        .send(LinkControl::Resize {
            cols: 120,
            rows: 50,
        })
        .await
        .unwrap();
    link.control.send(send("stty size\r")).await.unwrap();
    read_until(&mut link, "50 120", &mut seen).await;
    assert!(!String::from_utf8_lossy(&seen).contains(TEST_PASSWORD));
    link.control.send(send("exit\r")).await.unwrap();
    assert_eq!(closed(&mut link).await, EndReason::DeviceClosed);
}

#[tokio::test]
async fn real_telnetd_wrong_password_is_auth_failed() {
    let telnetd = TestTelnetd::start().expect("telnetd");
    let err = TelnetConnector::new()
        .open(
            &target(telnetd.address()),
            &cred(TEST_USER, "Wr0ng-Telnet-Pw"),
            &LinkRequest::shell(80, 24),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::AuthFailed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("Wr0ng-Telnet-Pw"));
}

/// What the scripted peer read from the connector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Neg(u8, u8),
    Sub(u8, Vec<u8>),
    Data(Vec<u8>),
}

/// The scripted peer's side of the connection, with its own small parser so the
/// codec is checked against an independent reading of RFC 854.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
    seen: Vec<Seen>,
    data: Vec<u8>,
}

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = listener.accept().await.unwrap();
        Peer {
            stream,
            buf: Vec::new(),
            seen: Vec::new(),
            data: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Parses one complete item from `buf`, if there is one.
    fn parse(&mut self) -> Option<Seen> {
        let b = &self.buf;
        let (item, used) = match *b.first()? {
            IAC => match *b.get(1)? {
                IAC => (Seen::Data(vec![IAC]), 2),
                v @ (WILL | WONT | DO | DONT) => (Seen::Neg(v, *b.get(2)?), 3),
                SB => {
                    let mut payload = Vec::new();
                    let mut i = 3;
                    loop {
                        match (b.get(i)?, b.get(i + 1)) {
                            (&IAC, Some(&SE)) => break (Seen::Sub(*b.get(2)?, payload), i + 2),
                            (&IAC, Some(&IAC)) => {
                                payload.push(IAC);
                                i += 2;
                            }
                            (&IAC, None) => return None,
                            (&x, _) => {
                                payload.push(x);
                                i += 1;
                            }
                        }
                    }
                }
                _ => (Seen::Data(Vec::new()), 2),
            },
            _ => {
                let n = b.iter().position(|&x| x == IAC).unwrap_or(b.len());
                (Seen::Data(b[..n].to_vec()), n)
            }
        };
        self.buf.drain(..used);
        Some(item)
    }

    /// Reads until the data received so far contains `needle`; returns that data.
    async fn data_until(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            while let Some(item) = self.parse() {
                match item {
                    Seen::Data(d) => self.data.extend(d),
                    other => self.seen.push(other),
                }
            }
            if let Some(at) = self.data.windows(needle.len()).position(|w| w == needle) {
                return self.data.drain(..at + needle.len()).collect();
            }
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("peer read timed out")
                .unwrap();
            assert!(n > 0, "connector hung up; data so far {:?}", self.data);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Waits until a protocol item equal to `want` has been seen.
    async fn expect_seen(&mut self, want: Seen) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.seen.contains(&want) {
            assert!(
                Instant::now() < deadline,
                "no {want:?} from the connector; seen {:?}, data {:?}",
                self.seen,
                String::from_utf8_lossy(&self.data)
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), self.data_until(b"\0never\0"))
                .await;
        }
    }
}

#[tokio::test]
async fn scripted_peer_negotiation_login_and_escaping() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        let mut p = Peer::accept(&listener).await;
        p.send(&[
            IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, DO, OPT_NAWS, IAC, DO, OPT_TTYPE,
        ])
        .await;
        p.send(&[IAC, DO, 39, IAC, WILL, 200, IAC, 241, IAC, 249])
            .await;
        p.send(b"Banner \xff\xff\r\nUser Access Verification\r\n\r\nUsername: ")
            .await;
        assert_eq!(p.data_until(b"\r\n").await, b"admin\r\n");
        p.send(b"Password: ").await;
        assert_eq!(p.data_until(b"\r\n").await, b"s3cret-pw\r\n");
        p.send(b"\r\nsw1# ").await;
        // Keystrokes: 0xFF arrives as IAC IAC, a bare CR as CR NUL.
        assert_eq!(p.data_until(b"\r\0").await, b"x\xff\r\0");
        p.send(b"out\xff\xff\r\n").await;
        p.expect_seen(Seen::Sub(OPT_NAWS, vec![1, 44, 0, 255]))
            .await;
        p.send(&[IAC, SB, OPT_TTYPE, 1, IAC, SE]).await;
        p.expect_seen(Seen::Sub(OPT_TTYPE, b"\0vt100".to_vec()))
            .await;
        p.seen
    });

    let req = LinkRequest {
        term: Some("vt100".into()),
        ..LinkRequest::shell(80, 24)
    };
    let mut link = TelnetConnector::new()
        .open(&target(addr), &cred("admin", "s3cret-pw"), &req)
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut link, "sw1# ", &mut seen).await;
    assert!(seen.windows(9).any(|w| w == b"Banner \xff\r"), "{seen:?}");
    link.control
        .send(LinkControl::Data(Bytes::from_static(b"x\xff\r")))
        .await
        .unwrap();
    read_until(&mut link, "out", &mut seen).await;
    link.control
        .send(LinkControl::Resize {
            cols: 300,
            rows: 255,
        })
        .await
        .unwrap();
    let negotiated = peer.await.unwrap();
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("out\u{fffd}\r\n"), "{text:?}");
    assert!(
        !text.contains("s3cret-pw"),
        "password shown to the admin: {text:?}"
    );

    for want in [
        Seen::Neg(WILL, OPT_NAWS),
        Seen::Neg(DO, OPT_SGA),
        Seen::Neg(DO, OPT_ECHO),
        Seen::Neg(WILL, OPT_TTYPE),
        Seen::Neg(WONT, 39),
        Seen::Neg(DONT, 200),
        Seen::Sub(OPT_NAWS, vec![0, 80, 0, 24]),
    ] {
        assert!(
            negotiated.contains(&want),
            "missing {want:?} in {negotiated:?}"
        );
    }
    let replies: Vec<_> = negotiated
        .iter()
        .filter(|s| matches!(s, Seen::Neg(..)))
        .collect();
    assert_eq!(
        replies.len(),
        6,
        "unexpected or repeated negotiation: {negotiated:?}"
    );
    assert_eq!(closed(&mut link).await, EndReason::DeviceClosed);
}

#[tokio::test]
async fn scripted_peer_rejecting_login_is_auth_failed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut p = Peer::accept(&listener).await;
        p.send(b"\r\nUser Access Verification\r\n\r\nUsername: ")
            .await;
        p.data_until(b"\r\n").await;
        p.send(b"Password: ").await;
        p.data_until(b"\r\n").await;
        p.send(b"\r\n% Authentication failed\r\n\r\nUsername: ")
            .await;
        let _ = p.data_until(b"\0never\0").await;
    });
    let err = TelnetConnector::new()
        .open(
            &target(addr),
            &cred("admin", "n0pe-secret"),
            &LinkRequest::shell(80, 24),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::AuthFailed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("n0pe-secret"));
}

#[tokio::test]
async fn silent_peer_hits_the_login_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let err = TelnetConnector::new()
        .with_timeouts(Duration::from_secs(1), Duration::from_millis(400))
        .open(
            &target(addr),
            &cred("admin", "pw"),
            &LinkRequest::shell(80, 24),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout { .. }), "{err:?}");
    // The configured login limit fired, not the connect limit or a longer default.
    assert!(
        err.to_string()
            .contains("device ts1: telnet login timed out after 0.4 s"),
        "{err}"
    );
}

mod props {
    use proptest::prelude::*;

    use super::super::telnet_codec::{Decoder, Item};

    /// The items of `chunks` fed one after the other, adjacent data joined.
    fn decode(chunks: &[&[u8]]) -> Vec<Item> {
        let mut decoder = Decoder::new();
        let mut items = Vec::new();
        for chunk in chunks {
            decoder.decode(chunk, &mut items);
        }
        let mut joined: Vec<Item> = Vec::new();
        for item in items {
            match (joined.last_mut(), item) {
                (Some(Item::Data(prev)), Item::Data(more)) => {
                    let mut both = prev.to_vec();
                    both.extend_from_slice(&more);
                    *prev = both.into();
                }
                (_, item) => joined.push(item),
            }
        }
        joined.retain(|i| !matches!(i, Item::Data(d) if d.is_empty()));
        joined
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_decodes_like_the_whole(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(255u8), Just(250u8), Just(240u8), Just(b'\r'), Just(0u8)],
                0..600,
            ),
            cut in any::<prop::sample::Index>(),
        ) {
            let at = cut.index(bytes.len() + 1);
            let whole = decode(&[&bytes]);
            let split = decode(&[&bytes[..at], &bytes[at..]]);
            prop_assert_eq!(whole, split);
        }
    }
}
