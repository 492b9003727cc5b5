//! Every restriction on every path, and nothing before login that could lock admins out:
//! a forced command holds through `-J` and `connect`; a revoked or expired certificate
//! ends its whole connection (multiplexed commands and forwards included); a pre-login
//! flood from one address leaves another admin in and the audit log bounded; hostile login
//! names and key ids are cut and escaped; a certificate valid forever works; no agent or
//! X11 reaches a device; a forward reaches only the ports the inventory lists. The real
//! OpenSSH client plays both the admin and the attacker except where it cannot (a 200 KB
//! login name is sent by a few lines of raw SSH below, said there).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

struct DeviceLab {
    lab: Lab,
    sshd_port: u16,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

fn device_lab(limits: &str) -> DeviceLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (creds, file) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
             credential = \"devices/sw1\"\nforward_ports = [{}]\n",
            sshd.address(),
            sshd.port
        )),
        limits: limits.into(),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    DeviceLab {
        lab,
        sshd_port: sshd.port,
        _sshd: sshd,
        _creds: creds,
    }
}

/// An ssh_config for `login` with a certificate signed with `args`, reaching sw1.
fn cert_user(lab: &Lab, login: &str, args: &[&str]) -> PathBuf {
    let key = lab.key(login);
    let id = format!("{login}-key");
    let principals = format!("{login},role:admin");
    let mut all = vec!["-I", id.as_str(), "-n", principals.as_str()];
    all.extend_from_slice(args);
    lab.sign(&key, &all);
    let cfg = lab.ssh_config(login, &key, true);
    lab.with_devices(&cfg, &["sw1"])
}

#[test]
fn a_forced_command_holds_through_the_jump_and_connect() {
    let d = device_lab("");
    let cfg = cert_user(
        &d.lab,
        "robot",
        &["-V", "-1m:+1h", "-O", "force-command=whoami"],
    );
    // Through -J the device runs the forced command, not the one asked for.
    let out = d.lab.ssh_to(&cfg, "sw1", &["echo not-forced"]);
    let (stdout, stderr) = text(&out);
    assert!(!stdout.contains("not-forced"), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), TEST_USER, "{stderr}");
    let start = d
        .lab
        .wait_event("session.start", |e| e.user.as_deref() == Some("robot"));
    assert_eq!(start.detail["command"], "whoami");
    assert_eq!(start.detail["forced"], true);
    // On the bastion, `connect` is replaced by the forced bastion command.
    let out = d.lab.ssh(&cfg, &["connect", "sw1", "echo not-forced"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("user:        robot"), "{stdout}");
    assert!(
        stdout.contains("restricted:  force-command \"whoami\""),
        "{stdout}"
    );
}

fn control_master(cfg: &Path, socket: &Path, forward: u16, to: u16) -> Child {
    Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(["-M", "-N", "-o", "ControlPersist=no", "-S"])
        .arg(socket)
        .args(["-L", &format!("127.0.0.1:{forward}:sw1:{to}"), "bastion"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh")
}

fn over_master(cfg: &Path, socket: &Path, args: &[&str]) -> std::process::Output {
    common::run(
        Command::new("ssh")
            .arg("-F")
            .arg(cfg)
            .arg("-S")
            .arg(socket)
            .arg("bastion")
            .args(args)
            .stdin(Stdio::null()),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The device's SSH banner read through the master's `-L` forward.
fn banner_through(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn revocation_ends_a_multiplexed_connection_and_its_forward() {
    let d = device_lab("");
    let sshd_port = d._sshd.port;
    let cfg = cert_user(
        &d.lab,
        "mux",
        &[
            "-z",
            "9001",
            "-V",
            "-1m:+1h",
            "-O",
            "permit-port-forwarding",
        ],
    );
    let socket = d.lab.root().join("mux.sock");
    let fwd = free_port();
    let mut master = control_master(&cfg, &socket, fwd, sshd_port);
    common::wait_for_condition("the master is up", Duration::from_secs(15), || {
        socket.exists()
    });
    let out = over_master(&cfg, &socket, &["whoami"]);
    assert!(text(&out).0.contains("user:        mux"));
    let seen = banner_through(fwd).unwrap_or_default();
    assert!(seen.starts_with("SSH-2.0"), "forward: {seen:?}");
    std::fs::write(d.lab.root().join("revoked"), "serial 9001\n").unwrap();
    // The master's connection is cut: it exits, saying why.
    let status = master.wait().unwrap();
    let mut why = String::new();
    master
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut why)
        .unwrap();
    assert!(!status.success());
    assert!(why.contains("serial 9001) was revoked"), "{why}");
    assert!(
        banner_through(fwd).is_none(),
        "the forward outlived the revocation"
    );
    let out = over_master(&cfg, &socket, &["whoami"]);
    assert!(!out.status.success());
    d.lab.wait_event("connection.cut", |e| {
        e.detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("9001"))
    });
}

#[test]
fn a_certificate_that_expires_ends_its_connection() {
    let d = device_lab("");
    let cfg = cert_user(&d.lab, "brief", &["-V", "-1m:+5s"]);
    let socket = d.lab.root().join("brief.sock");
    let mut master = control_master(&cfg, &socket, free_port(), d._sshd.port);
    common::wait_for_condition("the master is up", Duration::from_secs(15), || {
        socket.exists()
    });
    assert!(over_master(&cfg, &socket, &["whoami"]).status.success());
    let status = master.wait().unwrap();
    let mut why = String::new();
    master
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut why)
        .unwrap();
    assert!(!status.success());
    assert!(why.contains("your certificate expired at"), "{why}");
}

#[test]
fn a_pre_login_flood_from_one_address_leaves_others_in_and_the_log_bounded() {
    let lab = Lab::start_with(LabOptions {
        auth: "auth_timeout = \"2s\"".into(),
        limits: "max_unauthenticated_per_source = 5".into(),
        ..Default::default()
    });
    // 40 connections from 127.0.0.3 that never speak.
    let flood: Vec<_> = (0..40)
        .filter_map(|_| {
            let s = socket2_from("127.0.0.3");
            s.connect(&lab.addr.into()).ok().map(|_| s)
        })
        .collect();
    assert!(!flood.is_empty());
    // An admin from 127.0.0.2 logs in meanwhile.
    let cfg = lab.user("alice", "alice,role:admin");
    let bound = lab.root().join("ssh_config.from2");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &bound,
        text_cfg.replace("Host bastion\n", "Host bastion\n  BindAddress 127.0.0.2\n"),
    )
    .unwrap();
    let out = lab.ssh(&bound, &["whoami"]);
    assert!(
        text(&out).0.contains("user:        alice"),
        "{:?}",
        text(&out)
    );
    let accepted = lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("alice"));
    assert!(accepted
        .source
        .as_deref()
        .unwrap()
        .starts_with("127.0.0.2:"));
    // The flood was refused beyond 5 at a time and written at most 20 times a minute.
    // Every flood connection ends from the bastion's side: refused at once, or dropped
    // at the 2 s login timeout (a connection still open after 10 s fails the test).
    for s in &flood {
        use std::io::Read;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match (&*s).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("a flood connection was left open: {e}"),
            }
        }
    }
    drop(flood);
    let from3 = |kind: &str| {
        lab.events(kind)
            .into_iter()
            .filter(|e| {
                e.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("127.0.0.3"))
            })
            .count()
    };
    let refused = from3("connection.refused");
    let rows = refused + from3("auth.reject");
    assert!(refused > 0, "nothing refused");
    assert!(rows <= 20, "{rows} audit rows for one flooding address");
}

/// Offers a plain key as `user` (refused: only certificates are accepted).
fn long_login(addr: std::net::SocketAddr, user: &str) {
    struct Trusting;
    impl russh::client::Handler for Trusting {
        type Error = russh::Error;
        async fn check_server_key(
            &mut self,
            _key: &russh::keys::PublicKeyOrCertificate,
        ) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }
    let user = user.to_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let config = std::sync::Arc::new(russh::client::Config::default());
            let mut handle = russh::client::connect(config, addr, Trusting)
                .await
                .unwrap();
            let key =
                russh::keys::PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519)
                    .unwrap();
            let key = russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None);
            let r = handle.authenticate_publickey(user, key).await.unwrap();
            assert!(!r.success(), "a plain key was accepted");
        });
}

/// A TCP socket bound to `ip` (to connect from another loopback address).
fn socket2_from(ip: &str) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = format!("{ip}:0").parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s
}

#[test]
fn hostile_login_names_and_key_ids_are_cut_and_escaped() {
    let lab = Lab::start();
    // A 200 KB login name. The OpenSSH client cannot send one (an argument that long does
    // not reach it), so a few lines of the russh client do, with a plain key.
    let long = "x".repeat(200_000);
    long_login(lab.addr, &long);
    let row = lab.wait_event("auth.reject", |e| {
        e.user.as_deref().is_some_and(|u| u.starts_with("xxx"))
    });
    let user = row.user.unwrap();
    assert!(user.len() < 300, "stored a {} byte login name", user.len());
    assert!(
        user.ends_with("(+199744 bytes)"),
        "{}",
        &user[user.len().saturating_sub(40)..]
    );
    // A key id with a newline and an escape sequence: whoami shows it escaped.
    let key = lab.key("eve");
    lab.sign(
        &key,
        &[
            "-I",
            "eve\nforged line \u{1b}[31mred",
            "-n",
            "eve",
            "-V",
            "-1m:+1h",
        ],
    );
    let cfg = lab.ssh_config("eve", &key, true);
    let (stdout, _) = text(&lab.ssh(&cfg, &["whoami"]));
    assert!(
        stdout.contains("key id:      eve\\nforged line \\u{1b}[31mred"),
        "{stdout:?}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
}

#[test]
fn a_certificate_valid_forever_works_and_says_so() {
    let lab = Lab::start();
    let key = lab.key("forever");
    // ssh-keygen without -V signs a certificate valid forever.
    lab.sign(&key, &["-I", "forever", "-n", "forever,role:admin"]);
    let cfg = lab.ssh_config("forever", &key, true);
    let out = lab.ssh(&cfg, &["whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("expires:     never"), "{stdout}");
}

#[test]
fn no_agent_and_no_x11_reach_a_device() {
    let d = common::device_lab::device_lab("");
    let agent_dir = tempfile::tempdir().unwrap();
    let sock = agent_dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    common::wait_for_condition("the agent listens", Duration::from_secs(10), || {
        sock.exists()
    });
    let out = common::run(
        Command::new("ssh")
            .arg("-F")
            .arg(&d.cfg)
            // Trusted: without xauth, an untrusted request is never even sent.
            .args(["-A", "-X", "-o", "ForwardX11Trusted=yes", "sw1"])
            .arg("echo agent=[$SSH_AUTH_SOCK] display=[$DISPLAY]")
            .env("SSH_AUTH_SOCK", &sock)
            .env("DISPLAY", ":7"),
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "agent=[] display=[]", "{stderr}");
    assert!(stderr.contains("X11 forwarding request failed"), "{stderr}");
}

#[test]
fn a_forward_reaches_only_the_ports_the_inventory_lists() {
    let d = device_lab("");
    let cfg = cert_user(&d.lab, "fiona", &["-V", "-5m:+1h"]);
    let listed = d.sshd_port;
    // The listed port (the device's sshd) answers through `ssh -W`.
    let mut through = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-W", &format!("sw1:{listed}"), "bastion"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = [0u8; 7];
    through
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut banner)
        .unwrap();
    let _ = through.kill();
    let _ = through.wait();
    assert_eq!(&banner, b"SSH-2.0");
    // Another port of the same host is refused at the channel, and audited with the reason.
    let other = listed.wrapping_add(1).max(1);
    let out = common::run(
        Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .args(["-W", &format!("sw1:{other}"), "bastion"])
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    d.lab.wait_event("policy.decision", |e| {
        e.outcome.as_deref() == Some("deny")
            && e.detail["reason"].as_str().is_some_and(|r| {
                r.contains(&format!(
                    "port {other} of sw1 is not among its forward_ports"
                ))
            })
    });
}

/// `ssh -W sw1:PORT bastion`, which must be refused.
fn forward_refused(cfg: &Path, port: u16) -> std::process::Output {
    let out = common::run(
        Command::new("ssh")
            .arg("-F")
            .arg(cfg)
            .args(["-W", &format!("sw1:{port}"), "bastion"])
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(255), "{:?}", text(&out));
    assert!(!text(&out).0.contains("SSH-2.0"), "{:?}", text(&out));
    out
}

#[test]
fn a_forward_needs_the_certificates_permit_and_the_policys_forward() {
    let d = device_lab("");
    let port = d.sshd_port;
    // A listed port, but a certificate without permit-port-forwarding.
    let cfg = cert_user(
        &d.lab,
        "gina",
        &["-V", "-5m:+1h", "-O", "clear", "-O", "permit-pty"],
    );
    forward_refused(&cfg, port);
    d.lab.wait_event("policy.decision", |e| {
        e.user.as_deref() == Some("gina")
            && e.outcome.as_deref() == Some("deny")
            && e.detail["reason"]
                .as_str()
                .is_some_and(|r| r.contains("does not permit port forwarding"))
    });
    // The same certificate still opens a session through -J (not a forward).
    let out = d.lab.ssh_to(&cfg, "sw1", &["echo", "jumped"]);
    assert!(text(&out).0.contains("jumped"), "{:?}", text(&out));

    // A permitting certificate, but a role the policy does not allow `forward`.
    let key = d.lab.key("hugo");
    d.lab.sign(
        &key,
        &["-I", "hugo-key", "-n", "hugo,role:auditor", "-V", "-5m:+1h"],
    );
    let cfg = d.lab.ssh_config("hugo", &key, true);
    forward_refused(&cfg, port);
    d.lab.wait_event("policy.decision", |e| {
        e.user.as_deref() == Some("hugo")
            && e.outcome.as_deref() == Some("deny")
            && e.action.as_deref() == Some("forward")
    });
}
