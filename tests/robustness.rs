//! No session that can wedge, and none that is lost: tens of MB both ways at once, a client
//! that stops reading, a recording that reaches its size limit, a device that drops every
//! handshake or has all its lines busy, and `kill -9` of the bastion in the middle of a
//! session and of a console attach. Real ssh client, real sshd, the real `oobgate` binary
//! where a process must die.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use common::device_lab::{device_lab, device_lab_with};
use common::{text, Lab};
use oobgate::connect::testing::SshdOptions;

fn on_sw1(cfg: &std::path::Path, command: &str) -> Command {
    let mut c = Command::new("ssh");
    c.arg("-F").arg(cfg).args(["sw1", command]);
    c
}

#[track_caller]
fn ended(lab: &Lab, reason: &str) -> oobgate::audit::EventRow {
    lab.wait_event("session.end", |e| {
        e.detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason))
    })
}

#[test]
fn tens_of_megabytes_both_ways_at_once_all_arrive() {
    let d = device_lab("");
    const IN: usize = 20 << 20;
    const OUT: usize = 20_000_000;
    // The device floods back while it reads everything the admin pipes in.
    let mut child = on_sw1(
        &d.cfg,
        &format!("(head -c {OUT} /dev/zero | tr '\\0' y) & wc -c; wait"),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 16];
        for _ in 0..IN / chunk.len() {
            stdin.write_all(&chunk).unwrap();
        }
    });
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let ys = out.iter().filter(|&&b| b == b'y').count();
    assert_eq!(ys, OUT);
    let count = String::from_utf8_lossy(&out).replace('y', "");
    assert_eq!(count.trim(), IN.to_string());
    let end = ended(&d.lab, "");
    assert_eq!(end.detail["bytes_in"], IN as u64);
}

#[test]
fn a_client_that_stops_reading_is_cut_after_the_stall_limit() {
    let d = device_lab("stall_timeout = \"2s\"");
    // stdout is a pipe nobody reads: the window fills and stays full.
    let mut child = on_sw1(&d.cfg, "yes")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = ended(&d.lab, "client stopped reading");
    let _ = child.kill();
    let _ = child.wait();
    assert!(end.detail["recording_sha256"].is_string(), "{end:?}");
    // Its slot is free: another session works.
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo after"]);
    assert_eq!(text(&out).0.trim(), "after");
}

#[test]
fn a_recording_at_its_size_limit_ends_the_session_with_a_message() {
    let d = device_lab_with(
        SshdOptions::default(),
        "",
        "",
        "[recording]\nmax_size = 200000",
    );
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["yes | head -c 5000000"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        format!("{stdout}{stderr}").contains("reached its limit of 200000 bytes"),
        "{}",
        &stderr
    );
    assert!(
        stdout.len() <= 200_000,
        "{} bytes shown past the limit",
        stdout.len()
    );
    ended(&d.lab, "recording failed");
}

#[test]
fn a_device_that_drops_the_handshake_gets_a_clear_error() {
    // sshd drops every new connection past one unauthenticated one: hold that one.
    let d = device_lab_with(
        SshdOptions {
            extra_config: "MaxStartups 1:100:1\n".into(),
            ..Default::default()
        },
        "",
        "",
        "",
    );
    let mut holder = std::net::TcpStream::connect(d.sshd.address()).unwrap();
    // Its banner means sshd accepted it and counts it as a startup.
    let mut banner = [0u8; 8];
    holder.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["true"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr.contains(
            "sw1 closed the connection during the SSH handshake (it may limit concurrent logins"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn sessions_beyond_a_devices_lines_wait_for_a_free_one() {
    let d = device_lab_with(SshdOptions::default(), "max_sessions = 1", "", "");
    let first = on_sw1(&d.cfg, "echo first-in; sleep 3; echo first-out")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    d.lab.wait_event("session.start", |_| true);
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo second-in"]);
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("waiting for a free line on sw1: 1 in use"),
        "{stderr}"
    );
    assert_eq!(stdout.trim(), "second-in");
    let first = first.wait_with_output().unwrap();
    assert!(text(&first).0.contains("first-out"));
    // The second started only after the first ended.
    let ends = d.lab.events("session.end");
    let starts = d.lab.events("session.start");
    assert!(starts[1].id > ends[0].id, "{starts:#?}\n{ends:#?}");
}

fn kill9(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn kill_9_mid_session_then_restart_closes_it_as_aborted_and_sealed() {
    let mut d = device_lab("");
    let mut server = d.lab.serve_as_process();
    let live = d.live_session("echo before-the-crash; sleep 60", "before-the-crash");
    let (mut session, id, recording) = (live.client, live.id, live.recording);
    kill9(&mut server);
    let _ = session.kill();
    let _ = session.wait();
    // Restart: the session is closed as aborted, its recording prefix sealed.
    let mut server = d.lab.spawn_server();
    let end = d
        .lab
        .wait_event("session.end", |e| e.detail["session"] == id.as_str());
    assert_eq!(end.detail["reason"], "aborted (bastion restarted)");
    let sealed = end.detail["recording_sha256"].as_str().unwrap();
    let bytes = std::fs::read(&recording).unwrap();
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sealed);
    let cat = oobgate::recording::testing::asciinema_cat(&recording).unwrap();
    assert!(cat.contains("before-the-crash"), "{cat}");
    let verify = d.lab.oobgate(&["audit", "verify"]);
    assert!(verify.status.success(), "{:?}", text(&verify));
    let (list, _) = text(&d.lab.ssh(&d.cfg, &["sessions"]));
    assert!(list.contains("aborted (bastion restarted)"), "{list}");
    assert!(!list.contains("(live)"), "{list}");
    kill9(&mut server);
}
