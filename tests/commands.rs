//! The bastion command surface over exec and the interactive menu, the audit CLI and
//! `oobgate check` / `policy check` error reporting, driven with the real ssh client and
//! the real `oobgate` binary.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{text, Lab};

#[test]
fn ls_lists_only_devices_the_policy_allows() {
    let lab = Lab::start();
    let netops = lab.user("alice", "alice,role:netops");
    let out = lab.ssh(&netops, &["ls"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("sw1"), "{stdout}");
    assert!(stdout.contains("Access switch, rack 12"), "{stdout}");
    assert!(!stdout.contains("sw2"), "sw2 is in fra1: {stdout}");
    assert!(!stdout.contains("srv12-console"), "{stdout}");

    let admin = lab.user("carol", "carol,role:admin");
    let (stdout, _) = text(&lab.ssh(&admin, &["ls"]));
    for d in ["sw1", "sw2", "srv12-console"] {
        assert!(stdout.contains(d), "admin sees {d}: {stdout}");
    }

    let nobody = lab.user("dave", "dave");
    let (stdout, _) = text(&lab.ssh(&nobody, &["ls"]));
    assert!(stdout.contains("No devices"), "{stdout}");
    let (stdout, _) = text(&lab.ssh(&nobody, &["whoami"]));
    assert!(stdout.contains("roles:       (none)"), "{stdout}");
    assert!(stdout.contains("0 reachable"), "{stdout}");

    let row = lab.wait_event("policy.list", |e| e.user.as_deref() == Some("alice"));
    assert_eq!(row.detail["visible"], serde_json::json!(["sw1"]));
}

#[test]
fn help_unknown_commands_and_exit_status() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice,role:netops");
    let out = lab.ssh(&cfg, &["help"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for c in ["whoami", "ls", "help"] {
        assert!(stdout.contains(c), "{stdout}");
    }
    let out = lab.ssh(&cfg, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out).0.contains("unknown command"));
    let row = lab.wait_event("command", |e| e.action.as_deref() == Some("frobnicate"));
    assert_eq!(row.outcome.as_deref(), Some("error"));
}

#[test]
fn interactive_menu_without_a_command() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice,role:netops");
    // -T: no terminal; commands are read line by line from stdin.
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-T", "bastion"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"help\nls\nexit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("user:        alice"), "greeting: {stdout}");
    assert!(stdout.contains("oobgate> "), "{stdout}");
    assert!(stdout.contains("bastion commands"), "{stdout}");
    assert!(stdout.matches("sw1").count() >= 2, "{stdout}");
}

#[test]
fn force_command_is_honoured() {
    let lab = Lab::start();
    let key = lab.key("id_kiosk");
    lab.sign(
        &key,
        &[
            "-I",
            "kiosk",
            "-n",
            "alice",
            "-V",
            "-5m:+1h",
            "-O",
            "force-command=ls",
        ],
    );
    let cfg = lab.ssh_config("alice", &key, true);
    let (stdout, _) = text(&lab.ssh(&cfg, &["whoami"]));
    assert!(stdout.contains("No devices"), "ran ls instead: {stdout}");
    assert!(!stdout.contains("user:"), "{stdout}");
}

#[test]
fn audit_verify_detects_a_tampered_row_and_export_is_json() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice,role:netops");
    assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    assert!(lab.ssh(&cfg, &["ls"]).status.success());
    lab.wait_event("command", |e| e.action.as_deref() == Some("ls"));
    let out = lab.oobgate(&["audit", "verify"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("audit chain OK"), "{stdout}");

    let out = lab.oobgate(&["audit", "export", "--json"]);
    let (stdout, _) = text(&out);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(rows.iter().any(|r| r["kind"] == "auth.accept"));
    let accept_id = rows.iter().find(|r| r["kind"] == "auth.accept").unwrap()["id"]
        .as_i64()
        .unwrap();

    let out = lab.oobgate(&["audit", "tail", "-n", "3"]);
    assert_eq!(text(&out).0.lines().count(), 3);

    // Someone edits the accepted login to hide who it was.
    let db = rusqlite::Connection::open(lab.config.store_path()).unwrap();
    db.execute(
        "UPDATE events SET user = 'mallory' WHERE id = ?1",
        [accept_id],
    )
    .unwrap();
    let out = lab.oobgate(&["audit", "verify"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("#{accept_id}")), "{stdout}");
}

#[test]
fn audit_verify_detects_a_deleted_row() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice");
    for _ in 0..2 {
        assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    }
    lab.wait_event("command", |_| true);
    let db = rusqlite::Connection::open(lab.config.store_path()).unwrap();
    db.execute("DELETE FROM events WHERE id = 2", []).unwrap();
    let out = lab.oobgate(&["audit", "verify"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("audit chain BROKEN at event #2: event #2 is missing"),
        "{stdout}"
    );
}

#[test]
fn audit_verify_detects_an_inserted_event() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice");
    for _ in 0..2 {
        assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    }
    lab.wait_event("command", |_| true);
    let ok = lab.oobgate(&["audit", "verify"]);
    assert!(ok.status.success(), "{:?}", text(&ok));
    // A forged event slipped in after #2: the later ones renumbered, and its own hash
    // computed right, linked to #2 as the bastion would have.
    let second = lab.events("").into_iter().find(|e| e.id == 2).unwrap();
    let mut forged = second.clone();
    forged.id = 3;
    forged.kind = "command".into();
    forged.user = Some("mallory".into());
    forged.prev_hash = second.hash.clone();
    forged.hash = oobgate::audit::event_hash(&forged, "{}");
    let db = rusqlite::Connection::open(lab.config.store_path()).unwrap();
    db.execute_batch(
        "UPDATE events SET id = -id WHERE id >= 3; UPDATE events SET id = 1 - id WHERE id < 0;",
    )
    .unwrap();
    db.execute(
        "INSERT INTO events (id, ts, kind, user, source, device, action, outcome, detail, \
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '{}', ?9, ?10)",
        rusqlite::params![
            forged.id,
            forged.ts,
            forged.kind,
            forged.user,
            forged.source,
            forged.device,
            forged.action,
            forged.outcome,
            forged.prev_hash,
            forged.hash
        ],
    )
    .unwrap();
    let out = lab.oobgate(&["audit", "verify"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "audit chain BROKEN at event #4: link to the previous event is broken \
             (event inserted"
        ),
        "{stdout}"
    );
}

#[test]
fn policy_check_names_the_deciding_rule() {
    let lab = Lab::start();
    let out = lab.oobgate(&["policy", "check", "alice,netops", "sw1", "connect"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("allow"), "{stdout}");
    assert!(stdout.contains("site:ams1 & type:switch"), "{stdout}");
    let out = lab.oobgate(&["policy", "check", "alice,netops", "sw2", "connect"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.starts_with("deny"));
    let out = lab.oobgate(&["policy", "check", "alice", "sw1", "conect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("conect"));
}

#[test]
fn policy_check_decides_one_file_by_its_path() {
    let lab = Lab::start();
    let policy = lab.config.policy_dir.join("policy.csv");
    let rules = "p, role:ops, sw1, file.download:/flash/, allow\n\
                 p, role:ops, sw1, file.download:/flash/private-config.text, deny\n";
    std::fs::write(&policy, format!("{}{rules}", common::POLICY)).unwrap();
    let check = |action: &str| {
        let out = lab.oobgate(&["policy", "check", "olga,ops", "sw1", action]);
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    let (code, out) = check("file.download:/flash/vlan.dat");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("file.download:/flash/, allow"), "{out}");
    let (code, out) = check("file.download:/flash/x/../private-config.text");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("private-config.text, deny"), "{out}");
    let (code, out) = check("file.download:/etc/passwd");
    assert_eq!(code, Some(1), "{out}");
    // The action alone: allowed, since some paths are.
    let (code, out) = check("file.download");
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn check_reports_malformed_files_by_name_and_line() {
    let lab = Lab::start();
    let out = lab.oobgate(&["check"]);
    assert!(out.status.success(), "{:?}", text(&out));

    let inv = lab.root().join("inventory.toml");
    let good_inv = std::fs::read_to_string(&inv).unwrap();
    std::fs::write(
        &inv,
        good_inv.replace("kind = \"serial\"", "kind = \"seriall\""),
    )
    .unwrap();
    let (_, stderr) = text(&lab.oobgate(&["check"]));
    assert!(stderr.contains("inventory.toml"), "{stderr}");
    assert!(stderr.contains("seriall"), "{stderr}");
    assert!(stderr.contains("line"), "{stderr}");
    std::fs::write(&inv, good_inv).unwrap();

    let pol = lab.root().join("policies/policy.csv");
    std::fs::write(
        &pol,
        "p, role:admin, *, *, allow\np, role:x, sw1, conect, allow\n",
    )
    .unwrap();
    let (_, stderr) = text(&lab.oobgate(&["check"]));
    assert!(stderr.contains("policy.csv"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");

    std::fs::write(&pol, "p, role:admin, *, *, allow\n").unwrap();
    let good_cfg = std::fs::read_to_string(&lab.config_path).unwrap();
    std::fs::write(
        &lab.config_path,
        format!(
            "{good_cfg}\n[[alert]]\nname = \"sys\"\nregex = \"%SYS-2-(\"\nconsoles = [\"sw1\"]\n"
        ),
    )
    .unwrap();
    let out = lab.oobgate(&["check"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("alert[0] (\"sys\")"), "{stderr}");
    assert!(stderr.contains("does not compile"), "{stderr}");
    std::fs::write(&lab.config_path, good_cfg).unwrap();

    let cfg = lab.root().join("bad.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlisten_port = 3\n").unwrap();
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["check", "--config"])
            .arg(&cfg),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("listen_port"), "{stderr}");
}

#[test]
fn broken_policy_keeps_the_last_good_one_while_serving() {
    let mut lab = Lab::start();
    // A real server process, so its log shows when it has read and refused the file.
    let _server = common::KillOnDrop(lab.serve_as_process());
    let cfg = lab.user("alice", "alice,role:netops");
    let pol = lab.root().join("policies/policy.csv");
    // Loaded, even in part, this would give netops sw2 instead of sw1.
    std::fs::write(&pol, "p, role:netops, sw2, connect, allow\np, broken\n").unwrap();
    let log = lab.wait_log("reload failed");
    assert!(log.contains("policy.csv line 2"), "{log}");
    let (stdout, _) = text(&lab.ssh(&cfg, &["ls"]));
    assert!(
        stdout.contains("sw1") && !stdout.contains("sw2"),
        "last good policy still applies: {stdout}"
    );
    // A good edit is picked up without restart: netops now also reaches sw2.
    std::fs::write(
        &pol,
        format!("{}p, role:netops, sw2, connect, allow\n", common::POLICY),
    )
    .unwrap();
    common::wait_until("sw2 listed after the reload", common::WAIT, || {
        let (stdout, _) = text(&lab.ssh(&cfg, &["ls"]));
        if stdout.contains("sw2") {
            Ok(())
        } else {
            Err(stdout)
        }
    });
}

#[test]
fn ca_sign_issues_certificates_that_log_in_and_known_hosts_line() {
    let lab = Lab::start();
    let key = lab.key("id_erin");
    let out = lab.oobgate(&[
        "ca",
        "sign",
        "--principals",
        "erin,role:netops",
        "--ttl",
        "1h",
        common::pub_of(&key).to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    // ssh-keygen reads what we wrote.
    let out = common::run_ok(
        Command::new("ssh-keygen")
            .arg("-Lf")
            .arg(common::cert_of(&key)),
    );
    let listing = text(&out).0;
    assert!(listing.contains("user certificate") && listing.contains("role:netops"));
    let cfg = lab.ssh_config("erin", &key, true);
    let (stdout, _) = text(&lab.ssh(&cfg, &["whoami"]));
    assert!(stdout.contains("user:        erin"), "{stdout}");

    let out = lab.oobgate(&[
        "ca",
        "sign",
        "--principals",
        "erin",
        "--ttl",
        "30d",
        common::pub_of(&key).to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("max_cert_ttl"));

    let (stdout, _) = text(&lab.oobgate(&["ca", "known-hosts"]));
    assert!(
        stdout.starts_with("@cert-authority * ssh-ed25519 "),
        "{stdout}"
    );
}
