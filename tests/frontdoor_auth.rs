//! Certificate-only login at the front door: the accepted case and the rejection matrix,
//! each with the real `ssh` client and `ssh-keygen`-made CAs and certificates, and each
//! refusal checked in the audit log.

mod common;

use std::path::Path;

use common::{text, Lab, LabOptions};

/// Asserts that logging in as `login` with `key` (+ its certificate) fails, and that the
/// audit log holds a rejection with `code`.
fn assert_rejected(lab: &Lab, login: &str, key: &Path, with_cert: bool, code: &str) {
    let cfg = lab.ssh_config(login, key, with_cert);
    let out = lab.ssh(&cfg, &["whoami"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(255),
        "login must fail: {stdout}{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!stdout.contains("user:"), "no command ran: {stdout}");
    lab.wait_event("auth.reject", |e| e.detail["code"] == code);
    assert!(
        lab.events("auth.accept").is_empty(),
        "nothing may be accepted"
    );
}

#[test]
fn valid_certificate_logs_in_and_is_audited() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice,role:netops");
    let out = lab.ssh(&cfg, &["whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("user:        alice"), "{stdout}");
    assert!(stdout.contains("role:netops"), "{stdout}");
    assert!(stdout.contains("alice-key"), "key id shown: {stdout}");
    let acc = lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("alice"));
    assert_eq!(acc.detail["key_id"], "alice-key");
    assert_eq!(acc.detail["roles"][0], "role:netops");
}

#[test]
fn expired_certificate_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &["-I", "old", "-n", "alice", "-V", "20200101:20200102"],
    );
    assert_rejected(&lab, "alice", &key, true, "cert-window-or-signature");
}

#[test]
fn not_yet_valid_certificate_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &["-I", "future", "-n", "alice", "-V", "20990101:20990102"],
    );
    assert_rejected(&lab, "alice", &key, true, "cert-window-or-signature");
}

#[test]
fn untrusted_ca_is_rejected() {
    let lab = Lab::start();
    let rogue = lab.key("rogue_ca");
    let key = lab.key("id_alice");
    lab.sign_with(
        &rogue,
        &key,
        &["-I", "rogue", "-n", "alice", "-V", "-5m:+1h"],
    );
    assert_rejected(&lab, "alice", &key, true, "untrusted-ca");
}

#[test]
fn self_signed_certificate_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign_with(&key, &key, &["-I", "self", "-n", "alice", "-V", "-5m:+1h"]);
    assert_rejected(&lab, "alice", &key, true, "self-signed");
}

#[test]
fn host_certificate_is_rejected_as_user_certificate() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(&key, &["-h", "-I", "host", "-n", "alice", "-V", "-5m:+1h"]);
    // OpenSSH itself will not offer a host certificate for user authentication...
    let out = lab.ssh(&lab.ssh_config("alice", &key, true), &["whoami"]);
    assert_eq!(out.status.code(), Some(255));
    // ...so present it with a client that does, and check the bastion refuses it.
    let private = russh::keys::load_secret_key(&key, None).unwrap();
    let cert = russh::keys::load_openssh_certificate(common::cert_of(&key)).unwrap();
    let accepted = connect(&lab, |mut s| async move {
        s.authenticate_openssh_cert("alice", std::sync::Arc::new(private), cert)
            .await
            .unwrap()
            .success()
    });
    assert!(!accepted);
    lab.wait_event("auth.reject", |e| e.detail["code"] == "host-cert");
    assert!(lab.events("auth.accept").is_empty());
}

/// Connects a russh client to the lab and runs `f` on the session.
fn connect<F, Fut>(lab: &Lab, f: F) -> bool
where
    F: FnOnce(russh::client::Handle<AcceptAny>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = std::sync::Arc::new(russh::client::Config::default());
        let session = russh::client::connect(config, lab.addr, AcceptAny)
            .await
            .unwrap();
        f(session).await
    })
}

#[test]
fn certificate_without_principals_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(&key, &["-I", "nobody", "-V", "-5m:+1h"]);
    assert_rejected(&lab, "alice", &key, true, "no-principals");
}

#[test]
fn wrong_principal_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &["-I", "bobs", "-n", "bob,role:admin", "-V", "-5m:+1h"],
    );
    assert_rejected(&lab, "alice", &key, true, "wrong-principal");
    // A role principal is never a login name.
    assert_rejected(&lab, "role:admin", &key, true, "wrong-principal");
}

#[test]
fn unknown_critical_option_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &[
            "-I",
            "crit",
            "-n",
            "alice",
            "-V",
            "-5m:+1h",
            "-O",
            "critical:no-such-option@example.com=1",
        ],
    );
    assert_rejected(&lab, "alice", &key, true, "unknown-critical-option");
}

#[test]
fn source_address_is_enforced() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &[
            "-I",
            "src",
            "-n",
            "alice",
            "-V",
            "-5m:+1h",
            "-O",
            "source-address=10.0.0.0/8",
        ],
    );
    assert_rejected(&lab, "alice", &key, true, "source-address");
    // The same option naming loopback lets the user in.
    let ok = lab.key("id_alice_lo");
    lab.sign(
        &ok,
        &[
            "-I",
            "src-ok",
            "-n",
            "alice",
            "-V",
            "-5m:+1h",
            "-O",
            "source-address=127.0.0.0/8",
        ],
    );
    let out = lab.ssh(&lab.ssh_config("alice", &ok, true), &["whoami"]);
    assert!(out.status.success(), "{:?}", text(&out));
}

#[test]
fn revoked_serial_and_key_id_are_rejected_and_reloaded_without_restart() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    lab.sign(
        &key,
        &[
            "-I",
            "alice-laptop",
            "-z",
            "4242",
            "-n",
            "alice",
            "-V",
            "-5m:+1h",
        ],
    );
    let cfg = lab.ssh_config("alice", &key, true);
    assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    std::fs::write(lab.root().join("revoked"), "serial 4242\n").unwrap();
    let out = lab.ssh(&cfg, &["whoami"]);
    assert_eq!(out.status.code(), Some(255));
    lab.wait_event("auth.reject", |e| e.detail["code"] == "revoked-serial");
    let key2 = lab.key("id_alice2");
    lab.sign(&key2, &["-I", "stolen-id", "-n", "alice", "-V", "-5m:+1h"]);
    std::fs::write(
        lab.root().join("revoked"),
        "serial 4242\nkey-id stolen-id\n",
    )
    .unwrap();
    assert_rejected_after_accepts(&lab, &key2);
}

fn assert_rejected_after_accepts(lab: &Lab, key: &Path) {
    let out = lab.ssh(&lab.ssh_config("alice", key, true), &["whoami"]);
    assert_eq!(out.status.code(), Some(255));
    lab.wait_event("auth.reject", |e| e.detail["code"] == "revoked-key-id");
}

#[test]
fn broken_revocation_list_fails_closed() {
    let lab = Lab::start();
    let cfg = lab.user("alice", "alice");
    std::fs::write(lab.root().join("revoked"), "serial not-a-number\n").unwrap();
    let out = lab.ssh(&cfg, &["whoami"]);
    assert_eq!(out.status.code(), Some(255));
    let row = lab.wait_event("auth.reject", |e| e.detail["code"] == "revocation-unusable");
    assert!(row.detail["reason"].as_str().unwrap().contains("line 1"));
}

#[test]
fn plain_key_without_certificate_is_rejected() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    assert_rejected(&lab, "alice", &key, false, "plain-key");
}

#[test]
fn password_attempt_is_rejected() {
    let lab = Lab::start();
    // The real client does not even try: the bastion offers publickey only.
    let key = lab.key("id_alice");
    let cfg = lab.ssh_config("alice", &key, false);
    let out = common::run(
        std::process::Command::new("ssh")
            .args(["-F"])
            .arg(&cfg)
            .args([
                "-o",
                "PreferredAuthentications=password",
                "bastion",
                "whoami",
            ])
            .stdin(std::process::Stdio::null()),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");
    // A client that sends a password anyway is refused and audited.
    let accepted = connect(&lab, |mut s| async move {
        s.authenticate_password("alice", "hunter2")
            .await
            .unwrap()
            .success()
    });
    assert!(!accepted);
    let row = lab.wait_event("auth.reject", |e| e.detail["code"] == "password");
    assert_eq!(row.user.as_deref(), Some("alice"));
    let all = serde_json::to_string(&lab.events("")).unwrap();
    assert!(
        !all.contains("hunter2"),
        "the password must never be stored"
    );
}

struct AcceptAny;
impl russh::client::Handler for AcceptAny {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

#[test]
fn authentication_attempts_are_bounded() {
    let lab = Lab::start_with(LabOptions {
        auth: "max_auth_attempts = 2".into(),
        ..Default::default()
    });
    let keys: Vec<_> = (0..4).map(|i| lab.key(&format!("id_plain{i}"))).collect();
    let mut cfg = std::fs::read_to_string(lab.ssh_config("alice", &keys[0], false)).unwrap();
    for k in &keys[1..] {
        cfg.push_str(&format!("  IdentityFile {}\n", k.display()));
    }
    let path = lab.root().join("ssh_config.many");
    std::fs::write(&path, cfg).unwrap();
    let out = lab.ssh(&path, &["whoami"]);
    assert_eq!(out.status.code(), Some(255));
    // The client has given up: every attempt it made is in (or on its way to) the log.
    lab.wait_event("auth.reject", |_| true);
    let n = lab.events("auth.reject").len();
    assert!((1..=2).contains(&n), "at most 2 attempts, saw {n}");
}

#[test]
fn idle_unauthenticated_connection_is_closed_and_audited() {
    use std::io::{Read, Write};
    let lab = Lab::start_with(LabOptions {
        auth: "auth_timeout = \"1s\"".into(),
        ..Default::default()
    });
    let mut s = std::net::TcpStream::connect(lab.addr).unwrap();
    s.write_all(b"SSH-2.0-idler\r\n").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    // The bastion hangs up on its own (1 s); the 10 s read timeout fails the test.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the idle connection was not closed: {e}"),
        }
    }
    lab.wait_event("auth.reject", |e| e.detail["code"] == "auth-timeout");
}

#[test]
fn keyboard_interactive_is_refused_and_audited() {
    let lab = Lab::start();
    let key = lab.key("id_alice");
    let cfg = lab.ssh_config("alice", &key, false);
    let out = common::run(
        std::process::Command::new("ssh")
            .args(["-F"])
            .arg(&cfg)
            .args([
                "-o",
                "KbdInteractiveAuthentication=yes",
                "-o",
                "PreferredAuthentications=keyboard-interactive",
                "bastion",
                "whoami",
            ])
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out).1.contains("Permission denied (publickey)"),
        "{:?}",
        text(&out)
    );
    // A client that starts it anyway gets no prompt and a refusal, audited.
    let accepted = connect(&lab, |mut s| async move {
        matches!(
            s.authenticate_keyboard_interactive_start("alice", None::<String>)
                .await
                .unwrap(),
            russh::client::KeyboardInteractiveAuthResponse::Success
                | russh::client::KeyboardInteractiveAuthResponse::InfoRequest { .. }
        )
    });
    assert!(!accepted, "keyboard-interactive was answered");
    lab.wait_event("auth.reject", |e| {
        e.detail["code"] == "keyboard-interactive"
    });
    assert!(lab.events("auth.accept").is_empty());
}

#[test]
fn the_builtin_ca_is_trusted_only_with_trust_builtin_ca() {
    let sign = |lab: &Lab| {
        let key = lab.key("id_erin");
        let out = lab.oobgate(&[
            "ca",
            "sign",
            "--principals",
            "erin,role:netops",
            common::pub_of(&key).to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{:?}", text(&out));
        lab.ssh_config("erin", &key, true)
    };
    let trusting = Lab::start();
    let cfg = sign(&trusting);
    assert!(text(&trusting.ssh(&cfg, &["whoami"]))
        .0
        .contains("user:        erin"));

    let strict = Lab::start_with(LabOptions {
        auth: "trust_builtin_ca = false".into(),
        ..Default::default()
    });
    let cfg = sign(&strict);
    let out = strict.ssh(&cfg, &["whoami"]);
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    strict.wait_event("auth.reject", |e| e.detail["code"] == "untrusted-ca");
}

#[test]
fn logins_beyond_max_connections_are_refused_until_a_place_frees() {
    let lab = Lab::start_with(LabOptions {
        limits: "max_connections = 1".into(),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:netops");
    // The one place is held by a connection that stays.
    let mut holder = common::KillOnDrop(
        std::process::Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .args(["-N", "bastion"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    lab.wait_event("auth.accept", |_| true);
    let out = lab.ssh(&cfg, &["whoami"]);
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    lab.wait_event("auth.reject", |e| e.detail["code"] == "connection-limit");
    let _ = holder.0.kill();
    let _ = holder.0.wait();
    common::wait_until("a login once the place is free", common::WAIT, || {
        let (o, e) = text(&lab.ssh(&cfg, &["whoami"]));
        if o.contains("user:        alice") {
            Ok(())
        } else {
            Err(e)
        }
    });
}
