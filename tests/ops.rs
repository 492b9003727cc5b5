//! Operating the served bastion as a service manager does: readiness, watchdog and stop
//! notifications on a unix datagram socket the test owns (as systemd's `NOTIFY_SOCKET`),
//! SIGHUP reloading the policy for the next login, and `oobgate status`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{text, Lab};

/// The notification socket a service manager would own.
struct Manager {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl Manager {
    fn new(lab: &Lab) -> Manager {
        let path = lab.root().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        Manager { socket, path }
    }

    /// Waits up to 15 s for a notification holding the line `line`; returns every
    /// notification seen until then.
    fn wait_for(&self, line: &str) -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {line:?} among {seen:?}");
            self.socket.set_read_timeout(Some(left)).unwrap();
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = msg.lines().any(|l| l == line);
                seen.push(msg);
                if found {
                    return seen;
                }
            }
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "oobgate serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_served_bastion_notifies_ready_watchdog_and_stopping() {
    let mut lab = Lab::start();
    let manager = Manager::new(&lab);
    let mut server = lab.serve_as_process_with(&[
        ("NOTIFY_SOCKET", manager.path.as_os_str()),
        ("WATCHDOG_USEC", "400000".as_ref()),
    ]);
    let seen = manager.wait_for("READY=1");
    assert!(!seen.iter().any(|m| m.contains("STOPPING=1")), "{seen:?}");
    manager.wait_for("WATCHDOG=1");
    signal(&server, "-TERM");
    manager.wait_for("STOPPING=1");
    assert!(wait_exit(&mut server).success());
}

/// The devices `ssh bastion ls` shows alice.
fn listed(lab: &Lab, cfg: &std::path::Path) -> String {
    let out = lab.ssh(cfg, &["ls"]);
    assert!(out.status.success(), "{:?}", text(&out));
    text(&out).0
}

#[test]
fn sighup_reloads_the_policy_for_the_next_login_and_audits_it() {
    let mut lab = Lab::start();
    // No polling of the files: only the signal can reload them.
    let conf = std::fs::read_to_string(&lab.config_path).unwrap();
    let conf = conf.replace("reload_interval = \"200ms\"", "reload_interval = \"1h\"");
    std::fs::write(&lab.config_path, &conf).unwrap();
    let manager = Manager::new(&lab);
    let mut server = lab.serve_as_process_with(&[("NOTIFY_SOCKET", manager.path.as_os_str())]);
    manager.wait_for("READY=1");
    let cfg = lab.user("alice", "alice,role:netops");
    assert!(listed(&lab, &cfg).contains("sw1"));

    // netops loses its switches; the config file also gets a key only a restart takes.
    let policy = lab.root().join("policies/policy.csv");
    std::fs::write(&policy, "p, role:admin, *, *, allow\n").unwrap();
    std::fs::write(
        &lab.config_path,
        conf.replace("[limits]\n", "[limits]\nmax_session = \"2h\"\n"),
    )
    .unwrap();
    signal(&server, "-HUP");
    manager.wait_for("RELOADING=1");
    manager.wait_for("READY=1");
    assert!(
        !listed(&lab, &cfg).contains("sw1"),
        "old policy still in force"
    );
    let ev = lab.wait_event("config.reloaded", |_| true);
    assert_eq!(ev.outcome.as_deref(), Some("ok"), "{:?}", ev.detail);
    let reloaded = ev.detail["reloaded"].to_string();
    assert!(
        reloaded.contains("policy") && reloaded.contains("revocation list"),
        "{reloaded}"
    );
    assert_eq!(ev.detail["restart_needed"], serde_json::json!(["limits"]));

    // A broken policy and revocation list keep the last good ones, and say so.
    std::fs::write(&policy, "p, role:netops\n").unwrap();
    std::fs::write(lab.root().join("revoked"), "serial twelve\n").unwrap();
    signal(&server, "-HUP");
    manager.wait_for("RELOADING=1");
    manager.wait_for("READY=1");
    let failed = lab.wait_event("config.reloaded", |e| e.outcome.as_deref() == Some("error"));
    let what = failed.detail["failed"].to_string();
    assert!(
        what.contains("policy.csv") && what.contains("revocation list"),
        "{what}"
    );
    // An unusable revocation list refuses new logins (fail closed) until it is fixed;
    // then the last good policy answers.
    let out = lab.ssh(&cfg, &["ls"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    std::fs::write(lab.root().join("revoked"), "# nothing revoked\n").unwrap();
    assert!(!listed(&lab, &cfg).contains("sw1"));
    let log = std::fs::read_to_string(lab.root().join("serve.log")).unwrap();
    assert!(log.contains("last good version"), "{log}");
    signal(&server, "-TERM");
    assert!(wait_exit(&mut server).success());
}

#[test]
fn status_prints_every_section_and_fails_when_the_server_is_away() {
    let console = common::console::pty_console();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_creds, creds) = common::credentials_file("devices/sw1", "admin", "s3cret");
    let lab = Lab::start_with(common::LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"srv7-console\"\nkind = \"serial\"\naddress = \"{}\"\nalways_on = true\n",
            console.pty.display()
        )),
        top: "host_names = [\"bastion.test\"]".into(),
        extra: format!(
            "[metrics]\nlisten = \"{metrics}\"\n[secrets]\nlocal_file = \"{}\"\n",
            creds.display()
        ),
        ..Default::default()
    });
    let until = Instant::now() + Duration::from_secs(15);
    let (out, shown) = loop {
        let out = lab.oobgate(&["status"]);
        let shown = text(&out).0;
        if shown.contains("srv7-console up") || Instant::now() > until {
            break (out, shown);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.status.success(), "{:?}", text(&out));
    for line in [
        "(host names: bastion.test)",
        "store:            sqlite ",
        " only (embedded store",
        &format!("listen:           {}: answering (SSH-2.0-oobgate", lab.addr),
        &format!("metrics:          {metrics}: answering"),
        "live sessions:    0 ",
        "consoles:         srv7-console up",
        "secrets:          local credential file",
        "host CA:          ",
        "user CA:          ",
        "trusted CA 1:     ",
        "host certificate: valid until ",
    ] {
        assert!(shown.contains(line), "no {line:?} in\n{shown}");
    }
    assert!(
        shown.contains("reachable") && !shown.contains("UNREACHABLE"),
        "{shown}"
    );

    // The same config with the server's address moved: nobody answers there.
    let away = lab.root().join("away.toml");
    let conf = std::fs::read_to_string(&lab.config_path).unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        &away,
        conf.replace(&lab.addr.to_string(), &free.to_string()),
    )
    .unwrap();
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["status", "--config"])
            .arg(&away),
    );
    let shown = text(&out).0;
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains(&format!("{free}: NOT answering")), "{shown}");

    // Without [metrics]: the consoles still show, with the age of their logs.
    let bare = lab.root().join("no-metrics.toml");
    let without: String = conf
        .lines()
        .filter(|l| {
            !l.starts_with("[metrics]") && !l.starts_with(&format!("listen = \"{metrics}\""))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&bare, without).unwrap();
    let out = common::run(
        Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["status", "--config"])
            .arg(&bare),
    );
    let shown = text(&out).0;
    assert!(
        shown.contains("metrics:          off (no [metrics])"),
        "{shown}"
    );
    assert!(
        shown.contains("consoles:         srv7-console logged ")
            && shown.contains(" ago (link states need [metrics])"),
        "{shown}"
    );
}
