//! Time-bound access with plain OpenSSH: request, approve, connect, the warning and the
//! cut-off at the grant's end, revoke cutting a live session, break-glass, and grants that
//! survive a restart. The device is a real sshd; every command goes through the real ssh
//! client.

mod common;

use std::process::Command;
use std::time::Duration;

use common::access_lab::{access_lab, number_after, spawn_on_sw1};
use common::text;

#[test]
fn request_approve_connect_warning_cutoff_and_the_bad_cases() {
    let l = access_lab("request_ttl = \"30s\"", "deadline_warning = \"4s\"");
    let bob = l.user("bob", "bob,role:oncall");
    let carl = l.user("carl", "carl,role:oncall");
    let alice = l.user("alice", "alice,role:lead");

    // No standing access.
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&bob)
        .args(["-o", "LogLevel=INFO", "sw1", "echo hi"])
        .output()
        .unwrap();
    let (o, e) = text(&out);
    let (code, out) = (out.status.code().unwrap_or(-1), format!("{o}{e}"));
    assert_ne!(code, 0, "{out}");
    // Plain OpenSSH shows why, and what to do, as the login banner of the jump.
    assert!(
        out.contains("oobgate: access to sw1 denied: no rule allows connect"),
        "{out}"
    );
    assert!(
        out.contains("ssh bastion request sw1 DURATION REASON"),
        "{out}"
    );
    l.lab.wait_event("policy.decision", |e| {
        e.user.as_deref() == Some("bob") && e.outcome.as_deref() == Some("deny")
    });

    // Bad requests are named.
    let (code, out) = l.cmd(&bob, &["request", "sw9", "1h", "typo"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no device \"sw9\""), "{out}");
    let (_, out) = l.cmd(&bob, &["request", "sw1", "2h", "too long"]);
    assert!(out.contains("maximum of 10m"), "{out}");
    let (_, out) = l.cmd(&bob, &["request", "sw1", "30m"]);
    assert!(out.contains("usage: request"), "{out}");

    let (code, out) = l.cmd(
        &bob,
        &[
            "request",
            "sw1",
            "8s",
            "INC-1234: BGP flap on uplink",
            "--ticket",
            "INC-1234",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pending: connect on sw1 for 8s"), "{out}");
    let n = number_after(&out, "request ");

    // Nobody approves their own request; someone without `approve` cannot either.
    let (code, out) = l.cmd(&bob, &["approve", &n]);
    assert_eq!(code, 77, "{out}");
    assert!(out.contains("cannot approve your own request"), "{out}");
    let (code, out) = l.cmd(&carl, &["approve", &n]);
    assert_eq!(code, 77, "{out}");
    assert!(out.contains("may not approve"), "{out}");

    // The approver sees it pending, with its reason and ticket.
    let (_, out) = l.cmd(&alice, &["requests", "--pending"]);
    assert!(
        out.contains("pending") && out.contains("INC-1234: BGP flap on uplink [INC-1234]"),
        "{out}"
    );
    let (code, out) = l.cmd(&alice, &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "request {n} approved: bob may connect on sw1 until"
        )),
        "{out}"
    );

    // `oobgate policy check` shows that a grant decided.
    let check = l
        .lab
        .oobgate(&["policy", "check", "bob,oncall", "sw1", "connect"]);
    let (check_out, _) = text(&check);
    assert!(check.status.success(), "{check_out}");
    assert!(
        check_out.contains(&format!("allowed by grant #{n}")),
        "{check_out}"
    );
    // A deny line still wins over a grant.
    let (code, out) = l.cmd(&bob, &["request", "sw-vault", "5m", "want it"]);
    assert_eq!(code, 0, "{out}");
    let v = number_after(&out, "request ");
    let (code, out) = l.cmd(&alice, &["approve", &v]);
    assert_eq!(code, 0, "{out}");
    let denied = l.lab.ssh_to(&bob, "sw-vault", &["true"]);
    assert!(!denied.status.success());
    l.lab.wait_event("policy.decision", |e| {
        e.device.as_deref() == Some("sw-vault")
            && e.detail["rule"]
                .as_str()
                .is_some_and(|r| r.contains("deny"))
    });

    // Connect, warned before the grant's end, cut off at it.
    let (code, out) = l.on_sw1(&bob, "echo connected; sleep 60");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("connected"), "{out}");
    assert!(out.contains("this session ends in about"), "{out}");
    assert!(out.contains("session deadline reached"), "{out}");
    l.lab
        .wait_event("session.end", |e| e.detail["reason"] == "deadline reached");

    // After the end: denied again, the grant shows as expired.
    common::wait_until("sw1 denied after the grant", common::WAIT, || {
        match l.on_sw1(&bob, "echo again") {
            (code, out) if code != 0 && !out.contains("again") => Ok(()),
            (code, out) => Err(format!("exit {code}: {out}")),
        }
    });
    let (_, out) = l.cmd(&bob, &["requests", "--mine"]);
    assert!(out.contains("expired"), "{out}");

    // Approving a cancelled or an expired request fails and says why.
    let (_, out) = l.cmd(&bob, &["request", "sw1", "5m", "second try"]);
    let m = number_after(&out, "request ");
    let (code, out) = l.cmd(&bob, &["cancel", &m]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = l.cmd(&alice, &["approve", &m]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("request {m} is cancelled, it cannot be approved")),
        "{out}"
    );
    let (code, out) = l.cmd(&alice, &["approve", &n]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is expired"), "{out}");

    // Everything is in the audit chain, and the chain verifies (the sweep writes the
    // expiry on its own round: waited for).
    l.lab.wait_event("access.expire", |_| true);
    for kind in [
        "access.request",
        "access.approve",
        "access.grant",
        "access.cancel",
        "access.expire",
    ] {
        assert!(!l.lab.events(kind).is_empty(), "no {kind} event");
    }
    assert!(l.lab.oobgate(&["audit", "verify"]).status.success());
}

#[test]
fn revoking_a_grant_or_a_certificate_ends_live_sessions() {
    let l = access_lab("", "");
    let bob = l.user("bob", "bob,role:oncall");
    let alice = l.user("alice", "alice,role:lead");
    let (_, out) = l.cmd(&bob, &["request", "role:netops", "5m", "change window"]);
    let n = number_after(&out, "request ");
    let (code, out) = l.cmd(&alice, &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    // A role grant: netops may reach ams1 switches only, sw1 is in fra1.
    let (code, _) = l.on_sw1(&bob, "true");
    assert_ne!(code, 0);
    let (code, out) = l.cmd(&alice, &["revoke", &n, "wrong", "role"]);
    assert_eq!(code, 0, "{out}");

    let (_, out) = l.cmd(&bob, &["request", "sw1", "5m", "maintenance"]);
    let n = number_after(&out, "request ");
    l.cmd(&alice, &["approve", &n]);
    let (_, out) = l.cmd(&bob, &["grants"]);
    assert!(
        out.contains(&format!("#{n}: grant #{n} (connect on sw1 until")),
        "{out}"
    );
    let (_, out) = l.cmd(&bob, &["ls"]);
    assert!(out.contains("sw1"), "{out}");

    let session = spawn_on_sw1(&bob, "echo up; sleep 60");
    l.lab.wait_event("session.start", |_| true);
    let (code, out) = l.cmd(&alice, &["revoke", &n, "incident closed"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 live session(s) ended"), "{out}");
    let out = session.wait_with_output().unwrap();
    let (o, e) = text(&out);
    assert!(
        format!("{o}{e}").contains(&format!(
            "access grant #{n} revoked by alice: incident closed"
        )),
        "{o}{e}"
    );
    let (code, _) = l.on_sw1(&bob, "true");
    assert_ne!(code, 0, "revoked grant still works");

    // A certificate revoked mid-session ends that session within seconds.
    let root = l.lab.user("root", "root,role:admin");
    let root = l.lab.with_devices(&root, &["sw1"]);
    let serial = 4242u64;
    let key = l.lab.key("victor");
    l.lab.sign(
        &key,
        &[
            "-I",
            "victor-key",
            "-n",
            "victor,role:admin",
            "-z",
            &serial.to_string(),
            "-V",
            "-1m:+1h",
        ],
    );
    let victor = l.lab.ssh_config("victor", &key, true);
    let victor = l.lab.with_devices(&victor, &["sw1"]);
    let session = spawn_on_sw1(&victor, "echo up; sleep 60");
    l.lab
        .wait_event("session.start", |e| e.user.as_deref() == Some("victor"));
    std::fs::write(l.lab.root().join("revoked"), format!("serial {serial}\n")).unwrap();
    let out = session.wait_with_output().unwrap();
    let (o, e) = text(&out);
    assert!(
        format!("{o}{e}").contains(&format!("serial {serial}) was revoked")),
        "{o}{e}"
    );
    // Root's own certificate is untouched.
    let (code, out) = l.on_sw1(&root, "echo fine");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn breakglass_is_immediate_loud_and_recorded_and_grants_survive_a_restart() {
    let (hook_url, hooks) = common::webhook_receiver();
    let mut l = access_lab(
        &format!("breakglass_duration = \"10m\"\n[webhook]\nurl = \"{hook_url}\""),
        "",
    );
    let dora = l.user("dora", "dora,role:breakglass");
    let eve = l.user("eve", "eve,role:oncall");
    let (code, out) = l.cmd(&eve, &["breakglass", "sw1", "core down"]);
    assert_eq!(code, 77, "{out}");
    assert!(
        out.contains("breakglass is for members of role:breakglass"),
        "{out}"
    );
    let (code, out) = l.cmd(&dora, &["breakglass", "sw1"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a reason is required"), "{out}");
    let (code, out) = l.cmd(&dora, &["breakglass", "sw1", "core", "down,", "INC-9"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BREAK-GLASS grant #"), "{out}");
    let n = number_after(&out, "grant #");
    let ev = l.lab.events("access.breakglass");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].outcome.as_deref(), Some("alert"));
    assert_eq!(ev[0].detail["reason"], "core down, INC-9");
    // The webhook hears of it, without holding anything up.
    let hook = hooks
        .recv_timeout(Duration::from_secs(10))
        .expect("webhook POST");
    let hook: serde_json::Value = serde_json::from_str(&hook).unwrap();
    assert_eq!(hook["kind"], "access.breakglass");
    assert_eq!(hook["by"], "dora");
    assert_eq!(hook["target"], "sw1");
    assert_eq!(hook["reason"], "core down, INC-9");

    // The bastion restarts: the grant is still in force, and a new session's deadline is
    // the grant's end, not later.
    l.lab.restart();
    let (code, out) = l.on_sw1(&dora, "echo glass");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("glass"), "{out}");
    let start = l
        .lab
        .wait_event("session.start", |e| e.user.as_deref() == Some("dora"));
    assert_eq!(start.detail["breakglass"], true);
    assert_eq!(start.detail["grant"].to_string(), n);
    let (_, grants) = l.cmd(&dora, &["grants"]);
    let end = grants
        .split("until ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    let deadline = start.detail["deadline"].as_str().unwrap();
    assert!(
        deadline <= end.as_str(),
        "deadline {deadline} after grant end {end}"
    );

    // The recording says so loudly.
    let path = start.detail["recording"].as_str().unwrap();
    let rec = std::fs::read_to_string(path).unwrap();
    assert!(rec.contains("BREAK-GLASS grant #"), "{rec}");
}

#[test]
fn concurrent_approve_and_revoke_leave_a_consistent_state() {
    let l = access_lab("", "");
    let bob = l.user("bob", "bob,role:oncall");
    let alice = l.user("alice", "alice,role:lead");
    let zed = l.user("zed", "zed,role:lead");
    for _ in 0..4 {
        let (_, out) = l.cmd(&bob, &["request", "sw1", "5m", "race"]);
        let n = number_after(&out, "request ");
        let (a, z) = std::thread::scope(|s| {
            let a = s.spawn(|| l.cmd(&alice, &["approve", &n]));
            let z = s.spawn(|| l.cmd(&zed, &["revoke", &n, "no"]));
            (a.join().unwrap(), z.join().unwrap())
        });
        assert_eq!(a.0, 0, "approve: {}", a.1);
        let (_, mine) = l.cmd(&bob, &["requests", "--mine"]);
        let line = mine
            .lines()
            .find(|l| l.split_whitespace().next() == Some(n.as_str()))
            .unwrap()
            .to_string();
        if z.0 == 0 {
            assert!(line.contains("revoked"), "revoke said ok but: {line}");
            let (code, _) = l.on_sw1(&bob, "true");
            assert_ne!(code, 0, "a revoked grant still lets bob in");
        } else {
            assert!(z.1.contains("is pending, it cannot be revoked"), "{}", z.1);
            assert!(line.contains("approved"), "{line}");
            l.cmd(&alice, &["revoke", &n]);
        }
    }
}

#[test]
fn a_certificate_that_expires_mid_session_ends_it() {
    let l = access_lab("", "deadline_warning = \"3s\"");
    let key = l.lab.key("fay");
    l.lab.sign(
        &key,
        &["-I", "fay-key", "-n", "fay,role:admin", "-V", "-1m:+6s"],
    );
    let fay = l.lab.ssh_config("fay", &key, true);
    let fay = l.lab.with_devices(&fay, &["sw1"]);
    let (code, out) = l.on_sw1(&fay, "echo in; sleep 60");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("in") && out.contains("this session ends in about"),
        "{out}"
    );
    assert!(out.contains("session deadline reached"), "{out}");
    l.lab.wait_event("session.end", |e| {
        e.user.as_deref() == Some("fay") && e.detail["reason"] == "deadline reached"
    });
}

#[test]
fn idle_timeout_per_role_closes_quiet_sessions_only() {
    let l = access_lab(
        "session_idle_by_role = { \"role:contractor\" = \"2s\" }",
        "",
    );
    let gus = l.user("gus", "gus,role:admin,role:contractor");
    let ada = l.user("ada", "ada,role:admin");
    // Output keeps a session alive; silence ends it.
    let (code, out) = l.on_sw1(
        &gus,
        "for i in 1 2 3 4; do echo tick; sleep 1; done; sleep 30",
    );
    assert_ne!(code, 0, "{out}");
    assert_eq!(out.matches("tick").count(), 4, "{out}");
    assert!(out.contains("session idle for 2s; closing"), "{out}");
    l.lab
        .wait_event("session.end", |e| e.detail["reason"] == "idle timeout");
    // Without the role, no idle timeout applies.
    let (code, out) = l.on_sw1(&ada, "sleep 4; echo still-here");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("still-here"), "{out}");
}

#[test]
fn selector_requests_two_approvers_and_denial() {
    let l = access_lab("approvals = 2", "");
    let bob = l.user("bob", "bob,role:oncall");
    let alice = l.user("alice", "alice,role:lead");
    let zed = l.user("zed", "zed,role:lead");
    let (code, out) = l.cmd(
        &bob,
        &["request", "site=fra1,kind=ssh", "5m", "fra1 maintenance"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("on site=fra1,kind=ssh") && out.contains("needs 2 approval(s)"),
        "{out}"
    );
    let n = number_after(&out, "request ");
    let (code, out) = l.cmd(&alice, &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("approval 1 of 2 recorded"), "{out}");
    let (code, out) = l.cmd(&alice, &["approve", &n]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("already approved"), "{out}");
    let (code, _) = l.on_sw1(&bob, "true");
    assert_ne!(code, 0, "one approval of two must not grant");
    let (code, out) = l.cmd(&zed, &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("approved: bob may connect on site=fra1,kind=ssh"),
        "{out}"
    );
    let (code, out) = l.on_sw1(&bob, "echo via-selector");
    assert_eq!(code, 0, "{out}");

    // A denial needs a reason, and is final.
    let (_, out) = l.cmd(&bob, &["request", "sw1", "5m", "again"]);
    let m = number_after(&out, "request ");
    let (code, out) = l.cmd(&zed, &["deny", &m]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("say why"), "{out}");
    let (code, out) = l.cmd(&zed, &["deny", &m, "use", "the", "change", "window"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("denied: use the change window"), "{out}");
    let (code, out) = l.cmd(&alice, &["approve", &m]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is denied"), "{out}");
    let (_, out) = l.cmd(&bob, &["requests", "--mine"]);
    assert!(out.contains("denied"), "{out}");
    assert!(!l.lab.events("access.deny").is_empty());
}
