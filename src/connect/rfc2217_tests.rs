use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::connect::telnet_codec::{DO, DONT, OPT_BINARY, OPT_SGA, WILL, WONT};
use crate::connect::{LinkControl, LinkEvent};

fn settings(s: &str) -> SerialSettings {
    s.parse().unwrap()
}

#[test]
fn line_settings_become_com_port_requests_and_replies_are_checked() {
    let mut port = ComPort::new("srv1", settings("9600e71,rtscts"));
    let req = port.request();
    assert_eq!(
        req,
        [
            [IAC, SB, 44, 1, 0, 0, 0x25, 0x80, IAC, SE].as_slice(),
            &[IAC, SB, 44, 2, 7, IAC, SE],
            &[IAC, SB, 44, 3, 3, IAC, SE],
            &[IAC, SB, 44, 4, 1, IAC, SE],
            &[IAC, SB, 44, 5, 3, IAC, SE],
        ]
        .concat()
    );
    port.reply(&[101, 0, 0, 0x25, 0x80]);
    port.reply(&[102, 8]); // the port kept 8 data bits: a warning, still pending no more
    assert_eq!(port.unconfirmed(), ["parity", "stop bits", "flow control"]);
    // Garbage replies are ignored without a panic.
    for junk in [&[][..], &[3], &[250, 1, 2], &[103, 1, 2], &[255; 9]] {
        port.reply(junk);
    }
    assert_eq!(port.unconfirmed().len(), 3);
}

#[test]
fn iac_in_a_value_is_doubled() {
    let mut port = ComPort::new("srv1", settings("255n81"));
    let req = port.request();
    assert_eq!(&req[..10], [IAC, SB, 44, 1, 0, 0, 0, IAC, IAC, IAC]);
    assert_eq!(set_break(true), [IAC, SB, 44, 5, 5, IAC, SE]);
    assert_eq!(set_break(false), [IAC, SB, 44, 5, 6, IAC, SE]);
}

#[test]
fn negotiation_sets_the_line_once_agreed_and_refuses_the_rest() {
    let mut n = Negotiator::com_port(Box::new(ComPort::new("srv1", settings("115200n81"))));
    let start = n.start(false);
    assert!(start.windows(3).any(|w| w == [IAC, WILL, 44]), "{start:?}");
    assert!(
        n.break_bytes(true).is_empty(),
        "no break before the port agrees"
    );
    let reply = n.negotiate(DO, 44);
    assert_eq!(
        &reply[..4],
        [IAC, SB, 44, 1],
        "settings follow the agreement"
    );
    assert_eq!(n.break_bytes(true), set_break(true));
    assert!(n.negotiate(DO, OPT_BINARY).is_empty());
    assert!(n.local_binary());
    assert!(n.negotiate(WILL, OPT_BINARY).is_empty());
    assert!(n.remote_binary());
    // A console port may not switch on window-size or terminal-type talk.
    assert_eq!(n.negotiate(DO, 31), [IAC, WONT, 31]);
    assert_eq!(n.negotiate(WILL, 77), [IAC, DONT, 77]);
    assert!(n.negotiate(DONT, 31).is_empty());
}

/// A console port that answers with telnet option garbage around its output. No real
/// console server can be made to send this, so a small TCP peer stands in for one.
#[tokio::test]
async fn telnet_option_garbage_from_a_console_port_is_survived() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut garbage = vec![IAC, DO, 200, IAC, WILL, 77, IAC, DO, 200, IAC, 241];
        garbage.extend(b"BOOT-");
        garbage.extend([IAC, SB, 44, 250, IAC, SE, IAC, SB, 44, IAC, SE]);
        garbage.extend([IAC, SB, 99]);
        garbage.extend(std::iter::repeat_n(7u8, 20_000));
        garbage.extend([IAC, SE]);
        garbage.extend(b"OK\r\0\r\n");
        garbage.extend([IAC, WILL, OPT_SGA, IAC, 0xF9, IAC]);
        sock.write_all(&garbage).await.unwrap();
        // The command after that last IAC comes in another segment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        sock.write_all(&[241, b'!']).await.unwrap();
        // Collect what the bastion sends until it writes "typed".
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(5).any(|w| w == b"typed") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "bastion closed early: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let target = Target {
        name: "junk1".into(),
        address: addr.to_string(),
        host_key: None,
        legacy_algorithms: false,
    };
    let mut link = Rfc2217Connector::new(settings("115200n81"))
        .open(
            &target,
            &DeviceCredential::default(),
            &LinkRequest::shell(80, 24),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n!") {
        match tokio::time::timeout(Duration::from_secs(5), link.events.recv()).await {
            Ok(Some(LinkEvent::Data(b))) => seen.extend_from_slice(&b),
            other => panic!("unexpected {other:?} after {seen:?}"),
        }
    }
    // The port never agreed to binary, so CR NUL is a bare CR; IAC NOP/GA vanish.
    assert_eq!(seen, b"BOOT-OK\r\r\n!");
    link.control
        .send(LinkControl::Data(Bytes::from_static(b"typed")))
        .await
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    let count = |pat: &[u8]| sent.windows(pat.len()).filter(|w| *w == pat).count();
    // Each request gets exactly one refusal: no negotiation loop.
    assert_eq!(count(&[IAC, WONT, 200]), 2, "{sent:?}");
    assert_eq!(count(&[IAC, DONT, 77]), 1, "{sent:?}");
    assert_eq!(count(&[IAC, DO, OPT_SGA]), 1, "{sent:?}");
}
