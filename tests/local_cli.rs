//! The commands an operator runs on the bastion host, as the README lists them: `ca sign`
//! with its restrictions, `audit tail --follow`, `audit export -o`, the `sessions`
//! filters, and `check` on the revocation list.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::device_lab::device_lab;
use common::{text, wait_until, KillOnDrop, Lab, WAIT};

/// Signs `key` with the built-in CA through `oobgate ca sign` and extra flags.
fn ca_sign(lab: &Lab, key: &std::path::Path, principals: &str, flags: &[&str]) {
    let pubkey = common::pub_of(key);
    let mut args = vec!["ca", "sign", "--principals", principals, "--ttl", "1h"];
    args.extend_from_slice(flags);
    args.push(pubkey.to_str().unwrap());
    let out = lab.oobgate(&args);
    assert!(out.status.success(), "ca sign {flags:?}: {:?}", text(&out));
}

fn listing(key: &std::path::Path) -> String {
    text(&common::run_ok(
        Command::new("ssh-keygen")
            .arg("-Lf")
            .arg(common::cert_of(key)),
    ))
    .0
}

#[test]
fn ca_sign_key_id_and_force_command_are_in_the_certificate_and_enforced() {
    let lab = Lab::start();
    let key = lab.key("id_robot");
    ca_sign(
        &lab,
        &key,
        "robot,role:netops",
        &[
            "--key-id",
            "robot-nightly-backup",
            "--force-command",
            "whoami",
        ],
    );
    let cert = listing(&key);
    assert!(cert.contains("Key ID: \"robot-nightly-backup\""), "{cert}");
    assert!(cert.contains("force-command whoami"), "{cert}");
    let cfg = lab.ssh_config("robot", &key, true);
    // `ls` is asked for; the certificate's forced `whoami` runs instead.
    let out = lab.ssh(&cfg, &["ls"]);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("user:        robot"), "{stdout}{stderr}");
    assert!(
        !stdout.contains("sw1"),
        "the device list was shown: {stdout}"
    );
    let login = lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("robot"));
    let row = serde_json::to_string(&login.detail).unwrap();
    assert!(row.contains("robot-nightly-backup"), "{row}");
}

#[test]
fn ca_sign_source_address_admits_only_that_address() {
    let lab = Lab::start();
    let elsewhere = lab.key("id_far");
    ca_sign(
        &lab,
        &elsewhere,
        "far,role:netops",
        &["--source-address", "192.0.2.0/24"],
    );
    assert!(
        listing(&elsewhere).contains("source-address 192.0.2.0/24"),
        "{}",
        listing(&elsewhere)
    );
    let out = lab.ssh(&lab.ssh_config("far", &elsewhere, true), &["whoami"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    assert!(!text(&out).0.contains("user:"), "{:?}", text(&out));

    let here = lab.key("id_near");
    ca_sign(
        &lab,
        &here,
        "near,role:netops",
        &["--source-address", "127.0.0.1/32,192.0.2.0/24"],
    );
    let out = lab.ssh(&lab.ssh_config("near", &here, true), &["whoami"]);
    assert!(
        text(&out).0.contains("user:        near"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn audit_tail_follow_prints_events_as_they_happen() {
    let lab = Lab::start();
    let mut tail = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["audit", "tail", "-n", "1", "--follow", "--config"])
            .arg(&lab.config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = tail.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let cfg = lab.user("follower", "follower,role:netops");
    let out = lab.ssh(&cfg, &["whoami"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let mut seen = Vec::new();
    wait_until("follower's login in `audit tail --follow`", WAIT, || {
        seen.extend(rx.try_iter());
        if seen
            .iter()
            .any(|l| l.contains("auth.accept") && l.contains("follower"))
        {
            Ok(())
        } else {
            Err(seen.join("\n"))
        }
    });
}

#[test]
fn audit_export_to_a_file_writes_every_event_there_and_names_a_bad_path() {
    let lab = Lab::start();
    let cfg = lab.user("exporter", "exporter,role:netops");
    assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("exporter"));
    let file = lab.root().join("export.jsonl");
    let out = lab.oobgate(&["audit", "export", "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0, "", "nothing on stdout when -o is given");
    let written = std::fs::read_to_string(&file).unwrap();
    let stdout = text(&lab.oobgate(&["audit", "export"])).0;
    let lines: Vec<&str> = written.lines().collect();
    assert!(
        lines.len() >= 2 && stdout.starts_with(&written),
        "file and stdout export differ:\n{written}\n---\n{stdout}"
    );
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line).expect("one JSON object per line");
    }
    assert!(written.contains("exporter"), "{written}");

    let bad = lab.root().join("no-such-dir/export.jsonl");
    let out = lab.oobgate(&["audit", "export", "-o", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no-such-dir"), "{:?}", text(&out));
}

#[test]
fn sessions_filters_by_user_device_time_and_limit() {
    let d = device_lab("");
    let bob = d.lab.user("bob", "bob,role:admin");
    let bob = d.lab.with_devices(&bob, &["sw1"]);
    for (cfg, n) in [(&d.cfg, 2), (&bob, 1)] {
        for _ in 0..n {
            let out = d.lab.ssh_to(cfg, "sw1", &["true"]);
            assert!(out.status.success(), "{:?}", text(&out));
        }
    }
    d.lab.wait_events("session.end", 3);
    let rows = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["sessions"];
        all.extend_from_slice(args);
        let out = d.lab.oobgate(&all);
        assert!(out.status.success(), "sessions {args:?}: {:?}", text(&out));
        text(&out)
            .0
            .lines()
            .filter(|l| l.contains("sw1"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(rows(&[]).len(), 3, "{:?}", rows(&[]));
    let alice = rows(&["--user", "alice"]);
    assert_eq!(alice.len(), 2, "{alice:?}");
    assert!(alice.iter().all(|l| l.contains("alice")), "{alice:?}");
    let only_bob = rows(&["--user", "bob"]);
    assert_eq!(only_bob.len(), 1, "{only_bob:?}");
    assert_eq!(rows(&["--device", "sw1"]).len(), 3);
    assert!(rows(&["--device", "sw2"]).is_empty());
    // Newest first: the one kept by --limit 1 is bob's, the last.
    let newest = rows(&["--limit", "1"]);
    assert_eq!(newest.len(), 1, "{newest:?}");
    assert!(newest[0].contains("bob"), "{newest:?}");
    let today = chrono_today();
    assert_eq!(rows(&["--since", &today]).len(), 3);
    assert!(rows(&["--until", &today]).is_empty());
    assert!(rows(&["--since", "2999-01-01"]).is_empty());
}

/// Today's date (UTC) as `YYYY-MM-DD`, from `date`, the way an operator types it.
fn chrono_today() -> String {
    let out = common::run_ok(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    text(&out).0.trim().to_string()
}

#[test]
fn check_names_a_missing_or_malformed_revocation_list() {
    let lab = Lab::start();
    let list = lab.root().join("revoked");
    let ok = lab.oobgate(&["check"]);
    assert!(ok.status.success(), "{:?}", text(&ok));

    std::fs::write(&list, "serial 12\nserail 13\n").unwrap();
    let out = lab.oobgate(&["check"]);
    assert!(!out.status.success(), "a typo passed: {:?}", text(&out));
    let (o, e) = text(&out);
    let said = format!("{o}{e}");
    assert!(said.contains("revoked") && said.contains('2'), "{said}");

    std::fs::remove_file(&list).unwrap();
    let out = lab.oobgate(&["check"]);
    assert!(
        !out.status.success(),
        "a missing list passed: {:?}",
        text(&out)
    );
    let (o, e) = text(&out);
    assert!(format!("{o}{e}").contains("revoked"), "{o}{e}");
}
