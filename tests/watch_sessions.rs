//! `ssh -t bastion watch ID`: a running session to a real sshd device, typed into by the
//! real ssh client, watched live by another real ssh client, read-only.

mod common;

use common::device_lab::device_lab_policy;
use common::{text, Attached, Lab, POLICY};
use oobgate::connect::testing::SshdOptions;
use oobgate::recording::Recording;

fn recording(lab: &Lab, session: &str) -> Recording {
    Recording::open(&lab.config.recording_dir.join(format!("{session}.cast"))).unwrap()
}

#[test]
fn a_watcher_sees_the_last_screen_and_new_output_cannot_type_and_is_told_the_end() {
    let policy = format!("{POLICY}p, role:watcher, *, watch, allow\n");
    let d = device_lab_policy(SshdOptions::default(), "", "", "", Some(policy));
    let lab = &d.lab;
    let vera = lab.user("vera", "vera,role:watcher");
    let carol = lab.user("carol", "carol,role:auditor");

    let mut alice = Attached::start(&d.cfg, "sw1");
    alice.send(b"echo before-$((1+1))\r");
    alice.expect("before-2");
    let start = lab.wait_event("session.start", |e| e.user.as_deref() == Some("alice"));
    let session = start.detail["session"].as_str().unwrap().to_string();

    // `replay` is not `watch`: an auditor without it is refused, like a missing session.
    for (cfg, id) in [(&carol, session.as_str()), (&vera, "2099-01-01/none")] {
        let out = lab.ssh(cfg, &["watch", id]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("watch: no running session {id:?} you may watch")),
            "{stdout}{stderr}"
        );
    }

    // The last screen first, then what the device shows next.
    let mut watcher = Attached::start_args(&vera, "bastion", &["watch", &session]);
    watcher.expect(&format!("watching {session} (alice@sw1), read-only"));
    watcher.expect("before-2");
    alice.send(b"echo after-$((2+3))\r");
    watcher.expect("after-5");

    // What the watcher types reaches neither the device nor the recording.
    watcher.send(b"echo from-the-watcher\r");
    alice.send(b"echo sync-$((3+4))\r");
    alice.expect("sync-7");
    watcher.expect("sync-7");
    assert!(
        !alice.text().contains("from-the-watcher"),
        "{}",
        alice.text()
    );

    // A second watcher from the start leaves with `q`.
    let mut early = Attached::start_args(&vera, "bastion", &["watch", &session, "--from-start"]);
    early.expect("sync-7");
    early.send(b"q");
    early.expect("[oobgate: stopped watching]");
    assert!(early.wait_exit().success(), "{}", early.text());

    // The session's end is told, and the watcher's client exits by itself.
    alice.send(b"exit\r");
    alice.wait_exit();
    watcher.expect(&format!("[oobgate: session {session} ended]"));
    assert!(watcher.wait_exit().success(), "{}", watcher.text());

    lab.wait_event("session.end", |e| e.user.as_deref() == Some("alice"));
    let rec = recording(lab, &session);
    let markers: Vec<String> = rec
        .events
        .iter()
        .filter(|e| e.code == 'm')
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    assert!(
        markers.iter().any(|m| m == "watched by vera"),
        "{markers:?}"
    );
    assert!(
        markers.iter().any(|m| m == "no longer watched by vera"),
        "{markers:?}"
    );
    let typed: Vec<u8> = rec
        .events
        .iter()
        .filter(|e| e.code == 'i')
        .flat_map(|e| e.data.clone())
        .collect();
    let typed = String::from_utf8_lossy(&typed);
    assert!(typed.contains("sync-$((3+4))"), "{typed}");
    assert!(!typed.contains("from-the-watcher"), "{typed}");
    let watch = lab.wait_event("watch", |e| e.user.as_deref() == Some("vera"));
    assert_eq!(watch.detail["session"], session.as_str());
}

#[test]
fn a_four_eyes_session_starts_with_an_observer_pauses_without_one_and_an_observer_ends_it() {
    let policy = format!("{POLICY}p, role:watcher, *, watch, allow\n");
    let d = device_lab_policy(
        SshdOptions::default(),
        "require_observer = true",
        "",
        "",
        Some(policy),
    );
    let lab = &d.lab;
    let vera = lab.user("vera", "vera,role:watcher");

    let mut alice = Attached::start(&d.cfg, "sw1");
    let cue = "watch --observe ";
    alice.expect("sw1 requires an observer; waiting");
    alice.expect(cue);
    let text = alice.text();
    let tail = &text[text.find(cue).unwrap() + cue.len()..];
    let session: String = tail.chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(!text.contains("observed; starting"), "{text}");

    let mut first = Attached::start_args(&vera, "bastion", &["watch", "--observe", &session]);
    first.expect("observing");
    alice.expect("observed; starting");
    alice.send(b"echo first-$((1+1))\r");
    alice.expect("first-2");
    first.expect("first-2");

    // The last observer leaves: input is held until another joins.
    first.send(b"q");
    assert!(first.wait_exit().success(), "{}", first.text());
    alice.expect("input paused: nobody observes this session");
    alice.send(b"echo held-$((2+2))\r");
    let mut second = Attached::start_args(&vera, "bastion", &["watch", "--observe", &session]);
    second.expect("observing");
    alice.expect("observed again: input resumes");
    alice.expect("held-4");
    second.expect("held-4");

    // An observer ends the session.
    second.send(b"k");
    alice.expect("session ended by observer vera");
    alice.wait_exit();
    second.expect(&format!("[oobgate: session {session} ended]"));

    lab.wait_event("session.end", |e| e.user.as_deref() == Some("alice"));
    let rec = recording(lab, &session);
    let pos = |pred: &dyn Fn(&oobgate::recording::RecordedEvent) -> bool| {
        rec.events
            .iter()
            .rposition(pred)
            .expect("event in the recording")
    };
    let rejoined = pos(&|e| e.code == 'm' && e.data == b"observed by vera");
    let answered = pos(&|e| e.code == 'o' && String::from_utf8_lossy(&e.data).contains("held-4"));
    assert!(
        answered > rejoined,
        "the device answered before an observer was back"
    );
}

#[test]
fn a_command_run_without_a_terminal_is_watched_line_by_line() {
    let policy = format!("{POLICY}p, role:watcher, *, watch, allow\n");
    let d = device_lab_policy(SshdOptions::default(), "", "", "", Some(policy));
    let lab = &d.lab;
    let vera = lab.user("vera", "vera,role:watcher");
    // No pty: the device prints bare line feeds, which the admin's terminal shows as new
    // lines; the watcher sees the same, not a staircase.
    let mut exec = common::KillOnDrop(
        std::process::Command::new("ssh")
            .arg("-F")
            .arg(&d.cfg)
            .args([
                "-T",
                "sw1",
                "printf 'first\\nsecond\\n'; sleep 2; printf 'third\\nfourth\\n'; sleep 30",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = lab.wait_event("session.start", |e| e.user.as_deref() == Some("alice"));
    let session = start.detail["session"].as_str().unwrap().to_string();
    let watcher = Attached::start_args(&vera, "bastion", &["watch", &session, "--from-start"]);
    watcher.expect("first\r\nsecond\r\n");
    watcher.expect("third\r\nfourth\r\n");
    let _ = exec.0.kill();
}
