//! Fast `-J` sessions: the device connection starts while the admin is still logging into
//! the inner server (only for an allowed session), and a device marked `reuse_connection`
//! keeps its logged-in connection for the next session. Real ssh client, real sshd.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::device_lab::device_lab_with;
use common::{text, Lab, LabOptions};
use oobgate::connect::testing::SshdOptions;
use tempfile::TempDir;

fn logins(log: &str) -> usize {
    log.matches("Accepted password for").count()
}

/// Kills the sshd processes that serve established connections on `port` (not the
/// listener), as a device dropping its idle connection would.
fn drop_connections(port: u16) {
    let out = Command::new("ss")
        .args([
            "-Htnp",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("ss");
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let pids: Vec<&str> = listing
        .split("pid=")
        .skip(1)
        .filter_map(|s| s.split(',').next())
        .collect();
    assert!(!pids.is_empty(), "no connection to drop: {listing}");
    for pid in pids {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
}

#[test]
fn a_reused_connection_logs_in_once_and_records_each_session_apart() {
    let d = device_lab_with(SshdOptions::default(), "reuse_connection = true", "", "");
    let first = d.lab.ssh_to(&d.cfg, "sw1", &["echo first-session"]);
    assert_eq!(text(&first).0.trim(), "first-session", "{:?}", text(&first));
    let second = d
        .lab
        .ssh_to(&d.cfg, "sw1", &["echo second-session; exit 4"]);
    assert_eq!(text(&second).0.trim(), "second-session");
    assert_eq!(
        second.status.code(),
        Some(4),
        "the exit status of the reused session"
    );
    assert_eq!(logins(&d.sshd.log()), 1, "{}", d.sshd.log());
    let ends = common::wait_until("both sessions ended", common::WAIT, || {
        let ends = d.lab.events("session.end");
        match ends.len() {
            2 => Ok(ends),
            _ => Err(format!("{ends:#?}")),
        }
    });
    assert_eq!(ends.len(), 2, "{ends:#?}");
    let recordings: Vec<String> = d
        .lab
        .events("session.start")
        .iter()
        .map(|e| e.detail["recording"].as_str().unwrap().to_string())
        .collect();
    assert_ne!(recordings[0], recordings[1]);
    let cats: Vec<String> = recordings
        .iter()
        .map(|r| oobgate::recording::testing::asciinema_cat(std::path::Path::new(r)).unwrap())
        .collect();
    assert!(cats[0].contains("first-session") && !cats[0].contains("second-session"));
    assert!(cats[1].contains("second-session") && !cats[1].contains("first-session"));
}

#[test]
fn a_reused_connection_the_device_dropped_is_replaced() {
    let d = device_lab_with(SshdOptions::default(), "reuse_connection = true", "", "");
    let first = d.lab.ssh_to(&d.cfg, "sw1", &["echo one"]);
    assert_eq!(text(&first).0.trim(), "one");
    drop_connections(d.sshd.port);
    let again = d.lab.ssh_to(&d.cfg, "sw1", &["echo two"]);
    assert_eq!(text(&again).0.trim(), "two", "{:?}", text(&again));
    assert!(again.status.success());
    assert_eq!(logins(&d.sshd.log()), 2, "{}", d.sshd.log());
}

#[test]
fn without_reuse_every_session_logs_in_afresh() {
    let d = device_lab_with(SshdOptions::default(), "", "", "");
    for n in 0..2 {
        let out = d.lab.ssh_to(&d.cfg, "sw1", &[&format!("echo run-{n}")]);
        assert_eq!(text(&out).0.trim(), format!("run-{n}"));
    }
    assert_eq!(logins(&d.sshd.log()), 2, "{}", d.sshd.log());
}

/// A lab whose sw1 points at `address`, with alice (admin) and bob (no role).
fn lab_at(address: &str) -> (Lab, std::path::PathBuf, std::path::PathBuf, TempDir) {
    let (creds, file) = common::credentials_file("devices/sw1", "admin", "unused-pw");
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{address}\"\n\
             credential = \"devices/sw1\"\n"
        )),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let alice = lab.user("alice", "alice,role:admin");
    let alice = lab.with_devices(&alice, &["sw1"]);
    let bob = lab.user("bob", "bob");
    let bob = lab.with_devices(&bob, &["sw1"]);
    (lab, alice, bob, creds)
}

#[test]
fn a_device_that_refuses_connections_gives_one_clear_error() {
    // Bound and dropped: nothing listens there. The bastion is the only one dialling it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (lab, alice, _, _creds) = lab_at(&format!("127.0.0.1:{port}"));
    let out = lab.ssh_to(&alice, "sw1", &["echo unreachable"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255), "{stdout}{stderr}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("oobgate:")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].contains("sw1 refused the connection"), "{stderr}");
    let fails = lab.events("session.fail");
    assert_eq!(fails.len(), 1, "{fails:#?}");
}

#[test]
fn a_denied_jump_never_opens_a_device_connection() {
    // The device is a listener this test owns: every connection the bastion opens shows.
    let device = TcpListener::bind("127.0.0.1:0").unwrap();
    device.set_nonblocking(true).unwrap();
    let (lab, alice, bob, _creds) = lab_at(&device.local_addr().unwrap().to_string());
    let out = lab.ssh_to(&bob, "sw1", &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out).1.contains("denied"), "{:?}", text(&out));
    match device.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a denied session reached the device: {other:?}"),
    }
    // The same listener does see an allowed one (so the check above can fail).
    let mut allowed = Command::new("ssh")
        .arg("-F")
        .arg(&alice)
        .args(["sw1", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let conn =
        common::wait_until(
            "the allowed session dials the device",
            common::WAIT,
            || match device.accept() {
                Ok((conn, _)) => Ok(conn),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err("no connection yet"),
                Err(e) => panic!("accept: {e}"),
            },
        );
    drop(conn);
    let status = allowed.wait().unwrap();
    assert_eq!(status.code(), Some(255));
}
