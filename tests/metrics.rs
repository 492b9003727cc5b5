//! The Prometheus endpoint (`[metrics]`), scraped over real HTTP while the real ssh client
//! holds a console session open on a pty console (socat), and after refused logins.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::console::{pty_console, PtyConsole};
use common::{text, Attached, Lab, LabOptions};

/// A loopback port nobody listens on now.
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn metrics_lab(console: &PtyConsole) -> (Lab, SocketAddr) {
    let addr = free_port();
    let inventory = format!(
        "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\nalways_on = true\n",
        console.pty.display()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        extra: format!("[metrics]\nlisten = \"{addr}\"\n"),
        ..Default::default()
    });
    (lab, addr)
}

/// `GET path` over plain HTTP/1.1: the status line and the body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics endpoint answers");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (head.lines().next().unwrap_or("").to_string(), body.into())
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    body
}

/// The value of the series `series` (name and labels, as written), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Scrapes until `series` has a value `pred` accepts (within 10 s), returning the scrape.
fn wait_for(addr: SocketAddr, series: &str, pred: impl Fn(f64) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr);
        if value(&text, series).is_some_and(&pred) {
            return text;
        }
        assert!(Instant::now() < until, "{series} never matched:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_live_console_session_and_its_login_show_in_the_scrape() {
    let console = pty_console();
    let (lab, addr) = metrics_lab(&console);
    let cfg = lab.user("carol", "carol,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let carol = Attached::start(&cfg, "srv7-console");
    assert!(carol.wait_for("link up"), "{}", carol.text());
    let text = wait_for(addr, "oobgate_sessions_live{kind=\"serial\"}", |v| v == 1.0);
    assert!(
        value(
            &text,
            "oobgate_logins_total{outcome=\"accepted\",reason=\"certificate\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "oobgate_console_link_state{console=\"srv7-console\",state=\"up\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "oobgate_policy_decisions_total{action=\"console.read\",decision=\"allow\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        value(&text, "oobgate_audit_appends_total{outcome=\"ok\"}").is_some_and(|v| v >= 2.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "oobgate_device_connect_seconds_count{kind=\"serial\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "the console link's opening is not timed:\n{text}"
    );
    assert!(!text.contains("carol"), "a user name is a label:\n{text}");
    carol.detach();
    let text = wait_for(addr, "oobgate_sessions_live{kind=\"serial\"}", |v| v == 0.0);
    assert!(
        value(
            &text,
            "oobgate_session_setup_seconds_count{kind=\"serial\"}"
        ) == Some(1.0),
        "{text}"
    );
    let (status, _) = get(addr, "/other");
    assert!(status.contains(" 404 "), "{status}");
}

#[test]
fn a_refused_login_counts_with_its_reason() {
    let console = pty_console();
    let (lab, addr) = metrics_lab(&console);
    let key = lab.key("id_mallory");
    lab.sign(&key, &["-I", "mallory-key", "-n", "bob", "-V", "-5m:+1h"]);
    let cfg = lab.ssh_config("mallory", &key, true);
    let out = lab.ssh(&cfg, &["list"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let series = "oobgate_logins_total{outcome=\"refused\",reason=\"wrong-principal\"}";
    let text = wait_for(addr, series, |v| v >= 1.0);
    assert!(!text.contains("mallory"), "a user name is a label:\n{text}");
    assert_eq!(
        value(
            &text,
            "oobgate_logins_total{outcome=\"accepted\",reason=\"certificate\"}"
        ),
        None,
        "{text}"
    );
}

#[test]
fn a_non_loopback_listen_without_allow_remote_is_a_config_error() {
    let lab = Lab::start();
    let path = lab.root().join("remote.toml");
    let base = std::fs::read_to_string(&lab.config_path).unwrap();
    std::fs::write(
        &path,
        format!("{base}\n[metrics]\nlisten = \"0.0.0.0:9464\"\n"),
    )
    .unwrap();
    let out = common::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["check", "--config"])
            .arg(&path),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("metrics.listen") && err.contains("allow_remote"),
        "{err}"
    );
    std::fs::write(
        &path,
        format!("{base}\n[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n"),
    )
    .unwrap();
    let out = common::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["check", "--config"])
            .arg(&path),
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

#[test]
fn device_links_and_recordings_are_timed_and_counted_by_kind() {
    use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (_creds, creds) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let addr = free_port();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\ncredential = \"devices/sw1\"\n\n\
             [[device]]\nname = \"sw-dead\"\nkind = \"ssh\"\naddress = \"127.0.0.1:9\"\ncredential = \"devices/sw1\"\n",
            sshd.address()
        )),
        extra: format!(
            "[metrics]\nlisten = \"{addr}\"\n[secrets]\nlocal_file = \"{}\"\n",
            creds.display()
        ),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1", "sw-dead"]);
    let out = lab.ssh_to(&cfg, "sw1", &["echo", "metrics-hello"]);
    assert!(text(&out).0.contains("metrics-hello"), "{:?}", text(&out));
    let out = lab.ssh_to(&cfg, "sw-dead", &["true"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let text = wait_for(
        addr,
        "oobgate_recording_bytes_total{direction=\"output\"}",
        |v| v >= "metrics-hello".len() as f64,
    );
    for (series, want) in [
        ("oobgate_device_connect_seconds_count{kind=\"ssh\"}", 1.0),
        ("oobgate_device_connect_failures_total{kind=\"ssh\"}", 1.0),
        ("oobgate_session_setup_seconds_count{kind=\"ssh\"}", 1.0),
        ("oobgate_sessions_live{kind=\"ssh\"}", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series}:\n{text}");
    }
}

#[test]
fn a_webhook_event_nobody_receives_counts_as_a_webhook_failure() {
    let console = pty_console();
    let addr = free_port();
    let dead = free_port();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\n",
            console.pty.display()
        )),
        extra: format!(
            "[metrics]\nlisten = \"{addr}\"\n\
             [webhook]\nurl = \"http://{dead}/hook\"\nretries = 0\ntimeout = \"1s\"\n"
        ),
        ..Default::default()
    });
    let text = scrape(addr);
    assert_eq!(
        value(&text, "oobgate_webhook_failures_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "oobgate_webhook_queue_depth"),
        Some(0.0),
        "{text}"
    );
    // An unusable revocation list is an alert the webhook is told of.
    std::fs::write(lab.root().join("revoked"), "not a revocation entry\n").unwrap();
    wait_for(addr, "oobgate_webhook_failures_total", |v| v == 1.0);
}
