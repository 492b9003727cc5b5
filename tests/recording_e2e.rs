//! What a recording keeps, end to end through the real ssh client and sshd: `replay --cat`
//! gives back exactly the bytes the device sent, `[recording] input = false` keeps no
//! keystrokes, `ssh -t bastion connect` is an interactive, recorded session like `-J`, and
//! the device's stderr stays the admin's stderr (both recorded).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::device_lab::{device_lab, device_lab_with};
use common::{text, Attached};
use oobgate::connect::testing::SshdOptions;

/// The id of the session on sw1 that ended last.
fn ended_session(lab: &common::Lab) -> String {
    let end = lab.wait_event("session.end", |e| e.device.as_deref() == Some("sw1"));
    end.detail["session"].as_str().unwrap().to_string()
}

#[test]
fn replay_cat_gives_back_exactly_the_bytes_the_device_sent() {
    let d = device_lab("");
    // Escapes, CR LF and bare CR, tabs, multi-byte UTF-8 and a long burst: what a switch
    // CLI and a progress bar send.
    let script = "printf 'line one\\r\\n\\033[1;31mred\\033[0m\\ttab\\rover\\n'; \
                  printf 'caf\\303\\251 \\342\\202\\254 \\360\\237\\224\\214\\n'; \
                  seq 1 20000";
    let out = d.lab.ssh_to(&d.cfg, "sw1", &[script]);
    assert!(out.status.success(), "{:?}", text(&out));
    let shown = out.stdout;
    assert!(shown.len() > 100_000, "{} bytes", shown.len());
    let id = ended_session(&d.lab);
    // Locally on the bastion host, and over ssh by someone allowed to replay.
    let local = d.lab.oobgate(&["replay", "--cat", &id]);
    assert!(local.status.success(), "{:?}", text(&local));
    assert!(
        local.stdout == shown,
        "local replay --cat differs from what ssh showed"
    );
    let auditor = d.lab.user("audrey", "audrey,role:auditor");
    let remote = d.lab.ssh(&auditor, &["replay", &id, "--cat"]);
    assert!(remote.status.success(), "{:?}", text(&remote));
    assert!(remote.stdout == shown, "replay --cat over ssh differs");
}

#[test]
fn recording_input_false_keeps_output_and_no_keystrokes() {
    let d = device_lab_with(SshdOptions::default(), "", "", "[recording]\ninput = false");
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&d.cfg)
        .args(["sw1", "read x; echo got-$x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"pin-0815\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(text(&out).0.contains("got-pin-0815"), "{:?}", text(&out));
    let id = ended_session(&d.lab);
    let path = d.lab.config.recording_dir.join(format!("{id}.cast"));
    let rec = oobgate::recording::Recording::open(&path).unwrap();
    assert!(
        rec.events.iter().all(|e| e.code != 'i'),
        "input events recorded although [recording] input = false"
    );
    let mut shown = Vec::new();
    rec.cat(&mut shown).unwrap();
    assert!(String::from_utf8_lossy(&shown).contains("got-pin-0815"));
}

#[test]
fn connect_gives_an_interactive_recorded_session_without_jump() {
    let d = device_lab("");
    let mut term = Attached::start_args(&d.cfg, "bastion", &["connect", "sw1"]);
    term.send(b"echo via-connect-$((6*7))\n");
    term.expect("via-connect-42");
    term.send(b"exit\n");
    let status = term.wait_exit();
    assert!(status.success(), "{status}: {}", term.text());
    let id = ended_session(&d.lab);
    let path = d.lab.config.recording_dir.join(format!("{id}.cast"));
    let rec = oobgate::recording::Recording::open(&path).unwrap();
    let input = rec.typed();
    assert!(
        String::from_utf8_lossy(&input).contains("echo via-connect-$((6*7))"),
        "typed line not recorded"
    );
    let mut shown = Vec::new();
    rec.cat(&mut shown).unwrap();
    assert!(String::from_utf8_lossy(&shown).contains("via-connect-42"));
    // A terminal session: the recording's header names the admin's terminal.
    let env = rec.header.env.clone().unwrap_or_default();
    assert!(env.contains_key("TERM"), "{env:?}");
}

#[test]
fn the_devices_stderr_stays_stderr_and_both_are_recorded() {
    let d = device_lab("");
    let out = d.lab.ssh_to(
        &d.cfg,
        "sw1",
        &["echo to-stdout; echo to-stderr >&2; echo more-stdout"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "to-stdout\nmore-stdout\n");
    assert!(stderr.contains("to-stderr"), "{stderr}");
    let id = ended_session(&d.lab);
    let cat = d.lab.oobgate(&["replay", "--cat", &id]);
    let (played, _) = text(&cat);
    for line in ["to-stdout", "to-stderr", "more-stdout"] {
        assert!(played.contains(line), "{line} not recorded: {played}");
    }
}
