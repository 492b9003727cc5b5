//! Syslog target parsing, RFC 5424 formatting and framing, and a forwarder that never
//! waits on a receiver that is not there.

use super::*;

fn row(id: i64, user: &str) -> EventRow {
    EventRow {
        id,
        ts: "2026-11-23T10:00:00.000Z".into(),
        kind: "auth.reject".into(),
        user: Some(user.into()),
        source: Some("127.0.0.1:50022".into()),
        device: None,
        action: None,
        outcome: Some("deny".into()),
        detail: serde_json::json!({ "code": "unknown-ca" }),
        prev_hash: "00".into(),
        hash: "ab".into(),
        node: None,
    }
}

#[test]
fn targets_parse_and_bad_ones_say_why() {
    let t: SyslogTarget = "tcp://siem.mgmt:6514".parse().unwrap();
    assert_eq!(t.transport, Transport::Tcp);
    assert_eq!((t.host.as_str(), t.port), ("siem.mgmt", 6514));
    let t: SyslogTarget = "udp://[::1]:514".parse().unwrap();
    assert_eq!((t.transport, t.host.as_str()), (Transport::Udp, "::1"));
    assert_eq!(t.to_string(), "udp://[::1]:514");
    for (bad, why) in [
        ("syslog://h:514", "unknown scheme"),
        ("udp://h", "no port"),
        ("tcp://h:514/x", "only a host and a port"),
        ("h:514", "not a syslog target"),
    ] {
        let e = bad.parse::<SyslogTarget>().unwrap_err().to_string();
        assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn message_is_rfc5424_with_escaped_structured_data() {
    let mut ctx = SyslogContext::const_new();
    ctx.facility(Facility::AUTHPRIV)
        .appname("oobgate")
        .hostname("bastion1")
        .procid("77");
    let m = format_rfc5424(&ctx, &row(5, "ev\"il]\\\n\u{1b}[31m"));
    // authpriv (10) * 8 + warning (4) = 84, version 1
    assert!(m.starts_with("<84>1 "), "{m}");
    let fields: Vec<&str> = m.splitn(7, ' ').collect();
    assert_eq!(
        fields[2..6],
        ["bastion1", "oobgate", "77", "auth.reject"],
        "{m}"
    );
    assert!(
        fields[6].starts_with(
            "[oobgate@32473 id=\"5\" ts=\"2026-11-23T10:00:00.000Z\" kind=\"auth.reject\""
        ),
        "{m}"
    );
    // Controls become the text \u{..}; then `"`, `\` and `]` are escaped as RFC 5424 says.
    assert!(m.contains(r#"user="ev\"il\]\\\\u{a}\\u{1b}[31m""#), "{m}");
    assert!(!m.chars().any(|c| c.is_control()), "{m:?}");
    assert!(
        m.ends_with(&row(5, "ev\"il]\\\n\u{1b}[31m").to_line()),
        "{m}"
    );
}

#[test]
fn tcp_frames_are_octet_counted() {
    assert_eq!(
        frame("<13>1 - - - - - - é"),
        "20 <13>1 - - - - - - é".as_bytes()
    );
}

#[tokio::test]
async fn an_unreachable_receiver_never_holds_up_send_and_drops_are_counted() {
    // Port 1 (tcpmux): nothing listens there, connections are refused.
    let port = 1;
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let target: SyslogTarget = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let fwd = SyslogForwarder::start(target, &tracker, shutdown.clone());
    let started = std::time::Instant::now();
    for i in 0..10_000 {
        fwd.send(&row(i, "alice"));
    }
    let elapsed = started.elapsed();
    let stats = fwd.stats();
    eprintln!("10000 sends to an unreachable receiver took {elapsed:?} ({stats:?})");
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_eq!(stats.dropped + stats.queued, 10_000, "{stats:?}");
    assert!(stats.dropped >= (10_000 - QUEUE) as u64, "{stats:?}");
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn a_receiver_that_never_reads_only_costs_dropped_messages() {
    // Accepted by the kernel, never read: the socket buffers fill, then the queue.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target: SyslogTarget = format!("tcp://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let fwd = SyslogForwarder::start(target, &tracker, shutdown.clone());
    let mut big = row(0, "alice");
    big.detail = serde_json::json!({ "line": "x".repeat(4000) });
    for i in 0..10_000 {
        big.id = i;
        fwd.send(&big);
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let stats = fwd.stats();
    // One message may be half written to the full socket: neither sent nor queued.
    let counted = stats.sent + stats.dropped + stats.queued;
    assert!((9_999..=10_000).contains(&counted), "{stats:?}");
    assert!(
        stats.dropped > 0,
        "40 MB cannot all fit in the socket buffers: {stats:?}"
    );
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    drop(listener);
}
