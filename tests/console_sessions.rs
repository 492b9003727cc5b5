//! A console attach runs under the same session guard as a device session: it is warned
//! before its deadline and detached at it, closed when idle, cut when its certificate is
//! revoked, and a restricted certificate cannot use it to escape its forced command. A
//! console program on a pty (socat) plays the console; the admin is the real ssh client.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::console::{pty_console, PtyConsole};
use common::{text, Attached, Lab, LabOptions};

fn console_lab(console: &PtyConsole, limits: &str, extra: &str) -> Lab {
    let inventory = format!(
        "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\nalways_on = true\n",
        console.pty.display()
    );
    Lab::start_with(LabOptions {
        inventory: Some(inventory),
        limits: limits.into(),
        extra: extra.into(),
        ..Default::default()
    })
}

/// Waits for the console session's end with a reason containing `reason`.
#[track_caller]
fn ended_because(lab: &Lab, reason: &str) {
    lab.wait_event("session.end", |e| {
        e.device.as_deref() == Some("srv7-console")
            && e.detail["reason"]
                .as_str()
                .is_some_and(|r| r.contains(reason))
    });
}

#[test]
fn a_console_attach_is_warned_then_detached_at_its_deadline() {
    let console = pty_console();
    let lab = console_lab(
        &console,
        "max_session = \"4s\"\ndeadline_warning = \"3s\"",
        "",
    );
    let cfg = lab.user("carol", "carol,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let carol = Attached::start(&cfg, "srv7-console");
    assert!(carol.wait_for("attached to console"), "{}", carol.text());
    assert!(
        carol.wait_for("this session ends in about 1 min"),
        "no warning: {}",
        carol.text()
    );
    assert!(
        carol.wait_for("session deadline reached"),
        "not detached: {}",
        carol.text()
    );
    ended_because(&lab, "deadline reached");
}

#[test]
fn a_quiet_console_attach_is_closed_after_the_idle_timeout() {
    let console = pty_console();
    let lab = console_lab(&console, "", "[access]\nsession_idle = \"2s\"\n");
    let cfg = lab.user("carol", "carol,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let mut carol = Attached::start(&cfg, "srv7-console");
    assert!(carol.wait_for("CONSOLE-READY"), "{}", carol.text());
    // Typing keeps it alive for a while; then silence ends it.
    carol.send(b"first\n");
    assert!(carol.wait_for("got:first"), "{}", carol.text());
    assert!(
        carol.wait_for("session idle for 2s; closing"),
        "idle attach still open: {}",
        carol.text()
    );
    ended_because(&lab, "idle timeout");
}

#[test]
fn revoking_the_certificate_detaches_a_console_viewer() {
    let console = pty_console();
    let lab = console_lab(&console, "", "");
    let key = lab.key("vera");
    lab.sign(
        &key,
        &[
            "-I",
            "vera-key",
            "-n",
            "vera,role:admin",
            "-z",
            "777",
            "-V",
            "-1m:+1h",
        ],
    );
    let cfg = lab.ssh_config("vera", &key, true);
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let vera = Attached::start(&cfg, "srv7-console");
    assert!(vera.wait_for("CONSOLE-READY"), "{}", vera.text());
    std::fs::write(lab.root().join("revoked"), "serial 777\n").unwrap();
    assert!(
        vera.wait_for("your certificate (serial 777) was revoked"),
        "{}",
        vera.text()
    );
    ended_because(&lab, "was revoked");
}

#[test]
fn a_forced_command_certificate_cannot_attach_a_console() {
    let console = pty_console();
    let lab = console_lab(&console, "", "");
    let key = lab.key("robot");
    lab.sign(
        &key,
        &[
            "-I",
            "robot",
            "-n",
            "robot,role:admin",
            "-V",
            "-1m:+1h",
            "-O",
            "force-command=show version",
        ],
    );
    let cfg = lab.ssh_config("robot", &key, true);
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let out = lab.ssh_to(&cfg, "srv7-console", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("may only run the command \"show version\""),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("CONSOLE-READY"), "{stdout}");
    assert!(lab.events("session.start").is_empty());
}

#[test]
fn a_read_only_viewers_keystrokes_are_counted_not_recorded() {
    let console = pty_console();
    let lab = console_lab(&console, "", "");
    let cfg = lab.user("audrey", "audrey,role:auditor");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let mut audrey = Attached::start(&cfg, "srv7-console");
    assert!(audrey.wait_for("read-only"), "{}", audrey.text());
    audrey.send(&[b'z'; 5000]);
    assert!(
        audrey.wait_for("your input is dropped"),
        "{}",
        audrey.text()
    );
    audrey.detach();
    let end = lab.wait_event("session.end", |e| e.user.as_deref() == Some("audrey"));
    let path = lab
        .events("session.start")
        .into_iter()
        .find(|e| e.detail["session"] == end.detail["session"])
        .and_then(|e| e.detail["recording"].as_str().map(PathBuf::from))
        .unwrap();
    let rec = oobgate::recording::Recording::open(&path).unwrap();
    assert!(
        !rec.events.iter().any(|e| e.code == 'i'),
        "dropped input was recorded"
    );
    assert!(rec.events.iter().any(|e| e.code == 'm'
        && String::from_utf8_lossy(&e.data)
            .contains("5000 bytes typed while read-only were dropped")));
}

#[test]
fn kill_9_mid_console_attach_then_restart_closes_it_as_aborted() {
    let console = pty_console();
    let mut lab = console_lab(&console, "", "");
    let mut server = lab.serve_as_process();
    let cfg = lab.user("carol", "carol,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let carol = Attached::start(&cfg, "srv7-console");
    assert!(carol.wait_for("link up"), "{}", carol.text());
    let start = lab.wait_event("session.start", |e| e.user.as_deref() == Some("carol"));
    let _ = Command::new("kill")
        .args(["-9", &server.id().to_string()])
        .status();
    let _ = server.wait();
    drop(carol);
    let mut server = lab.spawn_server();
    let end = lab.wait_event("session.end", |e| {
        e.detail["session"] == start.detail["session"]
    });
    assert_eq!(end.detail["reason"], "aborted (bastion restarted)");
    assert!(end.detail["recording_sha256"].is_string());
    assert!(lab.oobgate(&["audit", "verify"]).status.success());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn an_always_on_console_added_to_the_inventory_comes_up_without_a_restart() {
    let console = pty_console();
    let lab = Lab::start();
    let admin = lab.user("ada", "ada,role:admin");
    let listed = || {
        let out = lab.ssh(&admin, &["consoles"]);
        text(&out).0
    };
    assert!(!listed().contains("srv7-console"), "{}", listed());
    let inventory = format!(
        "{}\n[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\nalways_on = true\n",
        common::INVENTORY,
        console.pty.display()
    );
    std::fs::write(lab.root().join("inventory.toml"), inventory).unwrap();
    // Nobody attaches: the reload alone opens the link, and the console's log fills.
    common::wait_until("the new console's link to come up", common::WAIT, || {
        let shown = listed();
        let line = shown
            .lines()
            .find(|l| l.contains("srv7-console"))
            .unwrap_or("")
            .to_string();
        if line.contains(" up") {
            Ok(())
        } else {
            Err(shown)
        }
    });
    let logs = lab.config.data_dir.join("consoles");
    common::wait_until("CONSOLE-READY in the console's log", common::WAIT, || {
        let text: String = walk(&logs)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        if text.contains("CONSOLE-READY") {
            Ok(())
        } else {
            Err(text)
        }
    });
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_four_eyes_console_attaches_only_observed_and_holds_input_without_an_observer() {
    let console = pty_console();
    let inventory = format!(
        "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\n\
         always_on = true\nlabels = {{ tier = \"core\" }}\n\n\
         [[require_observer]]\nlabels = {{ tier = \"core\" }}\n",
        console.pty.display()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        policy: Some(format!(
            "{}p, role:watcher, *, watch, allow\n",
            common::POLICY
        )),
        ..Default::default()
    });
    let cfg = lab.user("carol", "carol,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv7-console"]);
    let vera = lab.user("vera", "vera,role:watcher");

    let mut carol = Attached::start(&cfg, "srv7-console");
    let cue = "watch --observe ";
    carol.expect("srv7-console requires an observer; waiting");
    carol.expect(cue);
    let shown = carol.text();
    let tail = &shown[shown.find(cue).unwrap() + cue.len()..];
    let session: String = tail.chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(!shown.contains("attached to console"), "{shown}");
    // Watching the console is not observing the attach.
    let out = lab.ssh(&vera, &["watch", "--observe", "srv7-console"]);
    assert!(
        text(&out).0.contains("--observe takes the session id"),
        "{:?}",
        text(&out)
    );

    let mut first = Attached::start_args(&vera, "bastion", &["watch", "--observe", &session]);
    first.expect("observing");
    carol.expect("attached to console");
    carol.send(b"one\n");
    carol.expect("got:one");
    first.expect("got:one");

    // The observer leaves: what carol types is held until another one joins.
    first.send(b"q");
    assert!(first.wait_exit().success(), "{}", first.text());
    carol.expect("input paused: nobody observes this session");
    carol.send(b"two\n");
    let mut second = Attached::start_args(&vera, "bastion", &["watch", "--observe", &session]);
    second.expect("observing");
    carol.expect("observed again: input resumes");
    carol.expect("got:two");

    // The observer ends the attach.
    second.send(b"k");
    carol.expect("session ended by observer vera");
    carol.wait_exit();
    ended_because(&lab, "ended by observer vera");
    let rec = recording_of(&lab, &session);
    let pos = |pred: &dyn Fn(&oobgate::recording::RecordedEvent) -> bool| {
        rec.events.iter().rposition(pred).expect("in the recording")
    };
    let rejoined = pos(&|e| e.code == 'm' && e.data == b"observed by vera");
    let answered = pos(&|e| e.code == 'o' && String::from_utf8_lossy(&e.data).contains("got:two"));
    assert!(
        answered > rejoined,
        "the console answered before an observer was back"
    );
}

/// The recording of session `id`.
fn recording_of(lab: &Lab, id: &str) -> oobgate::recording::Recording {
    let start = lab
        .events("session.start")
        .into_iter()
        .find(|e| e.detail["session"] == id)
        .expect("a session.start for the attach");
    let path = start.detail["recording"]
        .as_str()
        .map(PathBuf::from)
        .unwrap();
    oobgate::recording::Recording::open(&path).unwrap()
}
