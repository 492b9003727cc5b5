//! Recorded sessions to device CLIs through `ssh -J bastion DEVICE`: the real ssh client,
//! a real OpenSSH sshd as the device, the device password in a real OpenBao dev server,
//! and recordings checked with the real asciinema player.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, KillOnDrop, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};
use oobgate::secrets::testing::DevBao;

/// A lab whose sw1 is `sshd` and whose secrets live in `bao` under devices/sw1.
struct DeviceLab {
    /// The bastion as a process, logging at debug level into `serve.log`.
    _server: KillOnDrop,
    lab: Lab,
    sshd: TestSshd,
    bao: DevBao,
    cfg: std::path::PathBuf,
}

fn inventory(sshd: &TestSshd, extra: &str) -> String {
    format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n\n\
         [[device]]\nname = \"sw-dead\"\nkind = \"ssh\"\naddress = \"127.0.0.1:9\"\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n\n\
         [[device]]\nname = \"sw-nosecret\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/missing\"\n\n\
         [[device]]\nname = \"sw1-quiet\"\nkind = \"ssh\"\naddress = \"{}\"\nrecord_input = false\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n{extra}",
        sshd.address(),
        sshd.address(),
        sshd.address()
    )
}

fn device_lab(password: &str) -> DeviceLab {
    device_lab_with(password, "", "")
}

fn device_lab_with(password: &str, top: &str, limits: &str) -> DeviceLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let bao = DevBao::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bao.put_secret(
        "devices/sw1",
        &[("username", TEST_USER), ("password", password)],
    ));
    let token_path = d_token(&bao);
    let mut lab = Lab::start_with(LabOptions {
        inventory: Some(inventory(&sshd, "")),
        extra: format!(
            "[secrets.vault]\naddress = \"{}\"\ntoken_file = \"{}\"\ncache_ttl = \"1s\"\n",
            bao.addr,
            token_path.display()
        ),
        top: top.to_string(),
        limits: limits.to_string(),
        ..Default::default()
    });
    // Served by the real binary, so the log that is checked for secrets is the one an
    // operator reads, with as much detail as it can have.
    let server = KillOnDrop(lab.serve_as_process_logging("debug"));
    let cfg = lab.user("alice", "alice,role:netops");
    let cfg = lab.with_devices(
        &cfg,
        &["sw1", "sw1-quiet", "sw-dead", "sw-nosecret", "nowhere"],
    );
    DeviceLab {
        _server: server,
        lab,
        sshd,
        bao,
        cfg,
    }
}

fn recordings(lab: &Lab) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let dir = lab.config.recording_dir.clone();
    for day in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(day.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(f.path());
        }
    }
    out
}

#[test]
fn exec_through_the_bastion_returns_output_and_exit_status_and_is_recorded() {
    let d = device_lab(TEST_PASSWORD);
    let out = d
        .lab
        .ssh_to(&d.cfg, "sw1", &["echo hello-from-sw1; exit 3"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{stderr}\n{}",
        d.sshd.log()
    );
    assert_eq!(stdout.trim(), "hello-from-sw1");
    let row = d.lab.wait_event("session.end", |_| true);
    assert_eq!(row.detail["exit_status"], 3);
    let sha = row.detail["recording_sha256"].as_str().unwrap().to_string();
    let recs = recordings(&d.lab);
    assert_eq!(recs.len(), 1);
    let bytes = std::fs::read(&recs[0]).unwrap();
    assert_eq!(
        sha,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    let played = oobgate::recording::testing::asciinema_cat(&recs[0]).unwrap();
    assert!(played.contains("hello-from-sw1"), "{played}");
    // alice may not replay (policy); an auditor lists and replays the session.
    let (list, _) = text(&d.lab.ssh(&d.cfg, &["sessions"]));
    assert!(list.contains("No sessions"), "{list}");
    let auditor = d.lab.user("audrey", "audrey,role:auditor");
    let (list, _) = text(&d.lab.ssh(&auditor, &["sessions", "--device", "sw1"]));
    assert!(list.contains("sw1") && list.contains("alice"), "{list}");
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let out = d.lab.ssh(&auditor, &["replay", &id, "--cat"]);
    assert!(text(&out).0.contains("hello-from-sw1"), "{:?}", text(&out));
    // Timed playback over the connection, fast.
    let out = d.lab.ssh(&auditor, &["replay", &id, "--speed", "50"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("hello-from-sw1"));
    // A session the caller may not see reads exactly like one that does not exist.
    let out = d.lab.ssh(&d.cfg, &["replay", &id, "--cat"]);
    assert_eq!(out.status.code(), Some(1));
    let refused = text(&out).0.replace(&id, "ID");
    assert!(refused.contains("no session"), "{refused}");
    let made_up = format!("{}/000000000000", &id[..10]);
    let out = d.lab.ssh(&d.cfg, &["replay", &made_up, "--cat"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out).0.replace(&made_up, "ID"), refused);
    // The password is nowhere: not in the recording, the audit log or the bastion's files.
    assert_no_secret(&d.lab, TEST_PASSWORD, "sw1");
}

/// The device password is nowhere: not in the audit log, the recordings, the bastion's
/// files or its log, which has the session (`device`) in it, so it is the right log.
fn assert_no_secret(lab: &Lab, secret: &str, device: &str) {
    let events = serde_json::to_string(&lab.events("")).unwrap();
    assert!(!events.contains(secret), "password in the audit log");
    let log = lab.server_log();
    assert!(
        log.contains(&format!("device={device}")) || log.contains(&format!("device=\"{device}\"")),
        "no session to {device} in the server log:\n{log}"
    );
    assert!(!log.contains(secret), "password in the server log:\n{log}");
    for f in recordings(lab) {
        let t = std::fs::read_to_string(&f).unwrap();
        assert!(!t.contains(secret), "password in {}", f.display());
    }
    let out = Command::new("grep")
        .args(["-r", "-l", "-a", secret])
        .arg(&lab.config.data_dir)
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "password in {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn interactive_pty_session_records_what_was_typed_and_seen() {
    let d = device_lab(TEST_PASSWORD);
    let mut term = common::Attached::start(&d.cfg, "sw1");
    // The pty holds what is typed until the device's shell reads it.
    term.send(b"echo typed-$((6*7))\n");
    term.expect("typed-42");
    term.send(b"exit\n");
    let status = term.wait_exit();
    assert!(status.success(), "{status}: {}", term.text());
    d.lab.wait_event("session.end", |_| true);
    let rec = oobgate::recording::Recording::open(&recordings(&d.lab)[0]).unwrap();
    let input = rec.typed();
    assert!(String::from_utf8_lossy(&input).contains("echo typed-$((6*7))"));
    let mut shown = Vec::new();
    rec.cat(&mut shown).unwrap();
    assert!(String::from_utf8_lossy(&shown).contains("typed-42"));
    let env = rec.header.env.clone().unwrap_or_default();
    assert!(env.contains_key("TERM"), "{env:?}");
}

#[test]
fn device_faults_give_clear_errors_and_audit_rows() {
    let d = device_lab(TEST_PASSWORD);
    // Unreachable device.
    let out = d.lab.ssh_to(&d.cfg, "sw-dead", &["true"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr.contains("sw-dead refused the connection"),
        "{stderr}"
    );
    // Missing secret path.
    let out = d.lab.ssh_to(&d.cfg, "sw-nosecret", &["true"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr.contains("devices/missing"), "{stderr}");
    // Not in the inventory: refused at the jump host.
    let out = d.lab.ssh_to(&d.cfg, "nowhere", &["true"]);
    assert_eq!(out.status.code(), Some(255));
    d.lab.wait_event("policy.decision", |e| {
        e.device.as_deref() == Some("nowhere") && e.outcome.as_deref() == Some("deny")
    });
    let fails = d.lab.events("session.fail");
    assert_eq!(fails.len(), 2, "{fails:#?}");
}

#[test]
fn wrong_device_password_and_vault_down() {
    let mut d = device_lab("not-the-password");
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["true"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr.contains("login to device sw1 failed"), "{stderr}");
    assert!(!stderr.contains("not-the-password"));
    assert_no_secret(&d.lab, "not-the-password", "sw1");
    d.bao.stop();
    // Once the cached credential has expired (1 s), the session needs the dead server.
    common::wait_until("a session refused for the vault", common::WAIT, || {
        let out = d.lab.ssh_to(&d.cfg, "sw1", &["true"]);
        let (_, stderr) = text(&out);
        if out.status.code() == Some(255) && stderr.contains("unreachable") {
            Ok(())
        } else {
            Err(format!("{:?}: {stderr}", out.status))
        }
    });
}

#[test]
fn changed_device_host_key_fails_loudly() {
    let mut d = device_lab(TEST_PASSWORD);
    assert_eq!(
        d.lab.ssh_to(&d.cfg, "sw1", &["true"]).status.code(),
        Some(0)
    );
    d.sshd.restart_with_new_host_key().unwrap();
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["true"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr.contains("HOST KEY FOR sw1 CHANGED"), "{stderr}");
}

#[test]
fn device_or_client_closing_mid_session_finishes_the_recording() {
    let d = device_lab(TEST_PASSWORD);
    // The device side ends the session (the shell kills its own sshd session process).
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo bye; kill -9 $PPID"]);
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    let end = d.lab.wait_event("session.end", |_| true);
    assert!(end.detail["recording_sha256"].is_string());
    // The client goes away in the middle of a long command.
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&d.cfg)
        .args(["sw1", "sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    d.lab
        .wait_event("session.start", |e| e.detail["command"] == "sleep 60");
    child.kill().unwrap();
    child.wait().unwrap();
    let end = d.lab.wait_event("session.end", |e| {
        e.detail["reason"] == "client disconnected"
    });
    assert!(end.detail["recording_sha256"].is_string());
}

#[test]
fn twenty_bulk_exec_runs_all_complete_and_are_sealed() {
    let d = device_lab(TEST_PASSWORD);
    for i in 0..20 {
        let out = d.lab.ssh_to(
            &d.cfg,
            "sw1",
            &["head -c 2000000 /dev/zero | base64 -w 120"],
        );
        assert_eq!(out.status.code(), Some(0), "run {i}: {:?}", text(&out).1);
        assert!(
            out.stdout.len() > 2_600_000,
            "run {i}: {} bytes",
            out.stdout.len()
        );
    }
    // Each one closed and was sealed (throughput figures: `scripts/bench`).
    let ends = d.lab.wait_events("session.end", 20);
    assert!(ends
        .iter()
        .all(|e| e.detail["exit_status"] == 0 && e.detail["recording_sha256"].is_string()));
}

#[test]
fn flood_to_a_slow_reader_stays_bounded_and_others_are_unaffected() {
    let d = device_lab(TEST_PASSWORD);
    // A reader that never reads: the device must be held back, not buffered.
    let mut slow = Command::new("ssh")
        .arg("-F")
        .arg(&d.cfg)
        .args(["sw1", "cat /dev/zero | base64"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    d.lab.wait_event("session.start", |_| true);
    // The flood's recording stops growing once the client's window is full: no growth
    // for a whole second; one that keeps growing fails the test.
    let recorded = || -> u64 {
        recordings(&d.lab)
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut held, mut since) = (recorded(), Instant::now());
    while since.elapsed() < Duration::from_secs(1) {
        assert!(
            Instant::now() < deadline,
            "flood kept flowing to a reader that does not read: {} bytes recorded",
            recorded()
        );
        std::thread::sleep(Duration::from_millis(50));
        if recorded() != held {
            (held, since) = (recorded(), Instant::now());
        }
    }
    assert!(
        held < 50_000_000,
        "{held} bytes recorded before the flood was held"
    );
    // Another admin's session works normally meanwhile.
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo still-fine"]);
    assert_eq!(text(&out).0.trim(), "still-fine");
    slow.kill().unwrap();
    slow.wait().unwrap();
}

#[test]
fn unwritable_recording_refuses_the_session() {
    let d = device_lab_with(
        TEST_PASSWORD,
        "recording_dir = \"/dev/null/recordings\"",
        "",
    );
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo must-not-run"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(!stdout.contains("must-not-run"));
    assert!(stderr.contains("recording failed"), "{stderr}");
    let fail = d.lab.wait_event("session.fail", |_| true);
    assert!(fail.detail["error"]
        .as_str()
        .unwrap()
        .contains("/dev/null/recordings"));
    // The device was never logged into.
    assert!(
        !d.sshd.log().contains("Accepted password"),
        "{}",
        d.sshd.log()
    );
}

#[test]
fn policy_and_inner_certificate_are_enforced_at_the_jump() {
    let d = device_lab(TEST_PASSWORD);
    // An auditor may not connect to switches: the jump is refused.
    let auditor = d.lab.user("audrey", "audrey,role:auditor");
    let auditor = d.lab.with_devices(&auditor, &["sw1"]);
    let out = d.lab.ssh_to(&auditor, "sw1", &["true"]);
    assert_eq!(out.status.code(), Some(255));
    let row = d
        .lab
        .wait_event("policy.decision", |e| e.user.as_deref() == Some("audrey"));
    assert_eq!(row.outcome.as_deref(), Some("deny"));
    // The device login must use the same certificate as the bastion login.
    let other = d.lab.key("id_alice_other");
    d.lab.sign(
        &other,
        &["-I", "other", "-n", "alice,role:netops", "-V", "-5m:+1h"],
    );
    let outer =
        std::fs::read_to_string(d.lab.ssh_config("alice", &d.lab.key("id_alice"), true)).unwrap();
    let inner: String = std::fs::read_to_string(d.lab.ssh_config("alice", &other, true))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.contains("HostName") && !l.trim_start().starts_with("Port"))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = format!("{outer}Host sw1\n  ProxyJump bastion\n{inner}");
    let path = d.lab.root().join("ssh_config.mismatch");
    std::fs::write(&path, cfg).unwrap();
    let out = d.lab.ssh_to(&path, "sw1", &["true"]);
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    d.lab
        .wait_event("auth.reject", |e| e.detail["code"] == "inner-mismatch");
    assert!(d.lab.events("session.start").is_empty());
}

#[test]
fn session_warns_then_closes_at_its_deadline() {
    let d = device_lab_with(
        TEST_PASSWORD,
        "",
        "max_session = \"3s\"\ndeadline_warning = \"2s\"",
    );
    // The 30 s command is cut: the client sees the warning and the end, exit 255, on
    // stderr (no pty: stdout stays the command's own output).
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["sleep 30"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(stdout, "", "notices on the command's stdout");
    assert!(
        stderr.contains("this session ends in about 1 min"),
        "{stderr}"
    );
    assert!(stderr.contains("session deadline reached"), "{stderr}");
    let end = d
        .lab
        .wait_event("session.end", |e| e.detail["reason"] == "deadline reached");
    assert!(end.detail["recording_sha256"].is_string());
}

fn d_token(bao: &DevBao) -> std::path::PathBuf {
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), &bao.token).unwrap();
    token.keep().unwrap().1
}

#[test]
fn input_recording_can_be_switched_off_per_device() {
    let d = device_lab(TEST_PASSWORD);
    let typed = |host: &str| {
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(&d.cfg)
            .args([host, "read x; echo got-$x"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"pin-4711\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(text(&out).0.contains("got-pin-4711"), "{host}");
        let end = d
            .lab
            .wait_event("session.end", |e| e.device.as_deref() == Some(host));
        let id = end.detail["session"].as_str().unwrap().to_string();
        let path = d.lab.config.recording_dir.join(format!("{id}.cast"));
        let rec = oobgate::recording::Recording::open(&path).unwrap();
        let input = rec.typed();
        String::from_utf8_lossy(&input).into_owned()
    };
    assert!(typed("sw1").contains("pin-4711"));
    assert_eq!(
        typed("sw1-quiet"),
        "",
        "input recorded although switched off"
    );
}
