//! The client against a real BMC (`ipmi_sim`), plus the two peers no real BMC can play: a
//! BMC offering only cipher suite 0, and a lossy link (a loopback relay dropping datagrams).

use std::time::Duration;

use tokio::net::UdpSocket;

use super::packet::{self, payload};
use super::testing::{read_serial_until, IpmiSim, BMC_PASSWORD, BMC_USER};
use super::*;

fn target(address: &str, password: &str) -> BmcTarget {
    let mut t = BmcTarget::new("bmc1", address, BMC_USER, password);
    t.timeout = Duration::from_millis(300);
    t
}

async fn wait_for(sim: &IpmiSim, line: &str) {
    for _ in 0..50 {
        if sim.hook_log().contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hook never saw {line:?}: {}", sim.hook_log());
}

#[tokio::test]
async fn power_status_on_off_cycle_reset_through_a_real_bmc() {
    let sim = IpmiSim::start();
    let mut s = Session::open(&target(&sim.address, BMC_PASSWORD))
        .await
        .unwrap();
    // ipmi_sim has no SHA-256: the session falls back to suite 3, still encrypted.
    assert_eq!(s.suite(), 3);
    assert!(!s.power_is_on().await.unwrap());
    s.power(PowerAction::On).await.unwrap();
    wait_for(&sim, "set power 1").await;
    assert!(s.power_is_on().await.unwrap());
    s.power(PowerAction::Off).await.unwrap();
    wait_for(&sim, "set power 0").await;
    assert!(!s.power_is_on().await.unwrap());
    s.power(PowerAction::On).await.unwrap();
    s.power(PowerAction::Reset).await.unwrap();
    wait_for(&sim, "set reset 1").await;
    s.power(PowerAction::Cycle).await.unwrap();
    let log = sim.hook_log();
    // A cycle is off then on at the hook.
    assert!(log.matches("set power 0").count() >= 2, "{log}");
    s.close().await;
}

#[tokio::test]
async fn wrong_password_and_unreachable_bmc_are_clear_errors() {
    let sim = IpmiSim::start();
    let e = Session::open(&target(&sim.address, "not-the-password"))
        .await
        .unwrap_err();
    assert!(matches!(e, IpmiError::AuthFailed { .. }), "{e}");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    assert!(!e.to_string().contains("not-the-password"));

    // Nothing listens on this port.
    let port = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Session::open(&target(&format!("127.0.0.1:{port}"), BMC_PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(e, IpmiError::Unreachable { .. } | IpmiError::Timeout { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("bmc1"), "{e}");
}

#[test]
fn weak_suites_cannot_be_configured() {
    let e = BmcTarget::parse_suites(&[17, 0]).unwrap_err().to_string();
    assert!(e.contains("cipher suite 0 is refused"), "{e}");
    assert!(BmcTarget::parse_suites(&[1]).is_err());
    assert_eq!(
        BmcTarget::parse_suites(&[3, 17]).unwrap(),
        [Suite::S3, Suite::S17]
    );
}

/// A BMC that answers every Open Session with cipher suite 0's algorithms (none), as some
/// old firmware does. ipmi_sim cannot be made to, so this small UDP peer plays it.
#[tokio::test]
async fn a_bmc_offering_only_suite_zero_is_refused() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let p = &buf[..n];
            let reply = if p.get(4) == Some(&0x00) {
                // Channel capabilities: IPMI v2.0 available.
                let m = packet::decode_v15(p).unwrap();
                let rq_seq = m[4] >> 2;
                let mut r = vec![0x81, 0x07 << 2];
                r.push(packet::checksum(&r));
                let body = [
                    0x20,
                    rq_seq << 2,
                    0x38,
                    0x00,
                    0x01,
                    0x80,
                    0x04,
                    0x02,
                    0,
                    0,
                    0,
                    0,
                ];
                r.extend(body);
                r.push(packet::checksum(&body));
                packet::encode_v15(&r)
            } else {
                let v = packet::decode_v20(p, 0).unwrap();
                let b = v.payload;
                let mut r = vec![b[0], 0x00, 0x04, 0x00];
                r.extend(&b[4..8]);
                r.extend(0x1234_5678u32.to_le_bytes());
                for kind in 0..3u8 {
                    r.extend([kind, 0, 0, 8, 0, 0, 0, 0]);
                }
                packet::encode_v20(payload::OPEN_RESP, false, 0, 0, &r, None)
            };
            let _ = sock.send_to(&reply, peer).await;
        }
    });
    let e = Session::open(&target(&addr, BMC_PASSWORD))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("other algorithms; refused"), "{text}");
}

/// Relays datagrams between a client and `upstream`, dropping one in `every` each way.
async fn lossy_relay(upstream: String, every: usize) -> String {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap().to_string();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(&upstream).await.unwrap();
    tokio::spawn(async move {
        let mut client = None;
        let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
        let mut n_up = 0usize;
        let mut n_down = 0usize;
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, peer)) = r else { return };
                    client = Some(peer);
                    n_up += 1;
                    if !n_up.is_multiple_of(every) {
                        let _ = back.send(&a[..n]).await;
                    }
                }
                r = back.recv(&mut b) => {
                    let Ok(n) = r else { continue };
                    n_down += 1;
                    if let (Some(c), true) = (client, !n_down.is_multiple_of(every)) {
                        let _ = front.send_to(&b[..n], c).await;
                    }
                }
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_lossy_link_still_gets_every_command_through() {
    let sim = IpmiSim::start();
    let relay = lossy_relay(sim.address.clone(), 3).await;
    let mut t = target(&relay, BMC_PASSWORD);
    t.retries = 6;
    let mut s = Session::open(&t).await.unwrap();
    for i in 0..10 {
        let on = i % 2 == 0;
        s.power(if on {
            PowerAction::On
        } else {
            PowerAction::Off
        })
        .await
        .unwrap();
        assert_eq!(s.power_is_on().await.unwrap(), on, "step {i}");
    }
}

async fn sol_link(
    address: &str,
    opts: sol::SolOptions,
) -> crate::connect::Result<crate::connect::Link> {
    use crate::connect::{Connector, DeviceCredential, IpmiSolConnector, LinkRequest, Target};
    IpmiSolConnector::new(vec![17, 3], opts)
        .open(
            &Target {
                name: "srv12-sol".into(),
                address: address.into(),
                host_key: None,
                legacy_algorithms: false,
            },
            &DeviceCredential {
                username: BMC_USER.into(),
                password: Some(BMC_PASSWORD.into()),
                ..Default::default()
            },
            &LinkRequest::shell(80, 24),
        )
        .await
}

async fn read_until(link: &mut crate::connect::Link, needle: &[u8]) -> Vec<u8> {
    use crate::connect::LinkEvent;
    let mut seen = Vec::new();
    while !seen.windows(needle.len()).any(|w| w == needle) {
        match tokio::time::timeout(Duration::from_secs(15), link.events.recv()).await {
            Ok(Some(LinkEvent::Data(b))) => seen.extend_from_slice(&b),
            other => panic!(
                "waiting for {:?}: {other:?} after {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    seen
}

fn fast() -> sol::SolOptions {
    sol::SolOptions {
        retransmit_after: Duration::from_millis(200),
        max_sends: 20,
        keepalive: Duration::from_millis(500),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_both_ways_already_active_and_takeover() {
    use std::io::Write;
    let (sim, mut serial) = tokio::task::spawn_blocking(IpmiSim::start_with_serial)
        .await
        .unwrap();
    let mut link = sol_link(&sim.address, fast()).await.unwrap();
    // Host output reaches the admin.
    serial.write_all(b"srv12 login: ").unwrap();
    read_until(&mut link, b"srv12 login: ").await;
    // Keystrokes reach the host.
    link.control
        .send(crate::connect::LinkControl::Data(
            bytes::Bytes::from_static(b"root\r"),
        ))
        .await
        .unwrap();
    read_serial_until(&mut serial, b"root\r");
    // A second SOL session finds the payload active...
    let e = sol_link(&sim.address, fast())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("already active"), "{e}");
    // ...and may take it over when the device allows it; the first link is told.
    let mut opts = fast();
    opts.deactivate_stale = true;
    let mut second = sol_link(&sim.address, opts).await.unwrap();
    serial.write_all(b"after-takeover").unwrap();
    read_until(&mut second, b"after-takeover").await;
    drop(link);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_over_a_lossy_link_delivers_every_byte_in_order() {
    use std::io::{Read, Write};
    let (sim, mut serial) = tokio::task::spawn_blocking(IpmiSim::start_with_serial)
        .await
        .unwrap();
    let relay = lossy_relay(sim.address.clone(), 4).await;
    let mut link = sol_link(&relay, fast()).await.unwrap();
    let out: Vec<u8> = (0..1500u32)
        .map(|i| b"0123456789abcdef\n"[(i % 17) as usize])
        .collect();
    let host_out = out.clone();
    let writer = std::thread::spawn(move || {
        for chunk in host_out.chunks(100) {
            serial.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        serial
    });
    let mut seen = Vec::new();
    while seen.len() < out.len() {
        match tokio::time::timeout(Duration::from_secs(15), link.events.recv()).await {
            Ok(Some(crate::connect::LinkEvent::Data(b))) => seen.extend_from_slice(&b),
            other => panic!("{other:?} after {} bytes", seen.len()),
        }
    }
    assert_eq!(seen, out, "host output arrived changed");
    let mut serial = writer.join().unwrap();
    let typed: Vec<u8> = (0..600u32)
        .map(|i| b"qwertyuiop"[(i % 10) as usize])
        .collect();
    for chunk in typed.chunks(37) {
        link.control
            .send(crate::connect::LinkControl::Data(
                bytes::Bytes::copy_from_slice(chunk),
            ))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while got.len() < typed.len() {
        let n = serial.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, typed, "keystrokes arrived changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bmc_that_restarts_mid_session_ends_the_link() {
    let (mut sim, _serial) = tokio::task::spawn_blocking(IpmiSim::start_with_serial)
        .await
        .unwrap();
    let mut link = sol_link(&sim.address, fast()).await.unwrap();
    sim.kill();
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(20), link.events.recv()).await {
            Ok(Some(crate::connect::LinkEvent::Closed(r))) => break r,
            Ok(Some(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert!(matches!(end, crate::connect::EndReason::Lost(_)), "{end:?}");
}
