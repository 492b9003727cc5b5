//! `oobgate serve` stopped the way service managers and operators stop it (SIGTERM from
//! systemd, SIGINT from Ctrl-C): the admin is told, the live session is closed, its
//! recording is sealed into the audit chain, and the process exits 0.

mod common;

use std::process::Command;
use std::time::Duration;

use common::device_lab::device_lab;
use common::{text, wait_until};

fn stopping_on(signal: &str) {
    let mut d = device_lab("");
    let mut server = d.lab.serve_as_process();
    let live = d.live_session("echo before-the-stop; sleep 60", "before-the-stop");
    let (mut session, id, recording) = (live.client, live.id, live.recording);

    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &server.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal}");
    let status = wait_until(
        &format!("oobgate serve to exit on SIG{signal}"),
        Duration::from_secs(30),
        || match server.try_wait() {
            Ok(Some(status)) => Ok(status),
            _ => Err("still running"),
        },
    );
    assert!(
        status.success(),
        "oobgate serve exited with {status} on SIG{signal}; log:\n{}",
        d.lab.server_log()
    );

    // The admin's ssh ends too, told why.
    wait_until("the admin's ssh to end", common::WAIT, || {
        match session.try_wait() {
            Ok(Some(_)) => Ok(()),
            _ => Err("ssh still running"),
        }
    });
    let (out, err) = text(&session.wait_with_output().unwrap());
    assert!(out.contains("before-the-stop"), "{out}");
    assert!(err.contains("shutting down"), "the admin is told: {err}");

    // The session is closed and its recording sealed in the chain.
    let end = d
        .lab
        .wait_event("session.end", |e| e.detail["session"] == id.as_str());
    assert_eq!(end.detail["reason"], "bastion shutdown", "{end:?}");
    let sealed = end.detail["recording_sha256"].as_str().expect("sealed");
    use sha2::Digest;
    let bytes = std::fs::read(&recording).unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sealed);
    let cat = d.lab.oobgate(&["replay", "--cat", &id]);
    let (cat, cat_err) = text(&cat);
    assert!(cat.contains("before-the-stop"), "{cat}{cat_err}");
    let verify = d.lab.oobgate(&["audit", "verify"]);
    assert!(verify.status.success(), "{:?}", text(&verify));
    let (list, _) = text(&d.lab.oobgate(&["sessions"]));
    assert!(list.contains("bastion shutdown"), "{list}");
    assert!(!list.contains("(live)"), "{list}");
    let log = d.lab.server_log();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn sigterm_closes_live_sessions_seals_their_recordings_and_exits_0() {
    stopping_on("TERM");
}

#[test]
fn sigint_closes_live_sessions_seals_their_recordings_and_exits_0() {
    stopping_on("INT");
}
