//! Devices of the kinds and settings the README lists, reached through the bastion with the
//! real ssh client: a telnet device (real inetutils telnetd, login answered from the
//! credential), an SSH device with a pinned `host_key` (and a wrong pin refused), and old
//! gear that speaks only SHA-1/CBC reached with `legacy_algorithms = true`.

mod common;

use common::{credentials_file, text, Attached, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TestTelnetd, TEST_PASSWORD, TEST_USER};

/// A lab whose inventory is `devices` (TOML), all using credential `devices/d`.
fn lab_with(devices: &str) -> (Lab, std::path::PathBuf, tempfile::TempDir) {
    let (creds, file) = credentials_file("devices/d", TEST_USER, TEST_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(devices.into()),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:admin");
    (lab, cfg, creds)
}

fn ssh_device(name: &str, sshd: &TestSshd, extra: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         credential = \"devices/d\"\n{extra}\n",
        sshd.address()
    )
}

#[test]
fn a_telnet_device_is_logged_into_from_the_credential_and_recorded() {
    let telnetd = TestTelnetd::start().expect("telnetd");
    let (lab, cfg, _creds) = lab_with(&format!(
        "[[device]]\nname = \"tn1\"\nkind = \"telnet\"\naddress = \"{}\"\n\
         credential = \"devices/d\"\n",
        telnetd.address()
    ));
    let cfg = lab.with_devices(&cfg, &["tn1"]);
    let mut term = Attached::start(&cfg, "tn1");
    term.send(b"echo via-telnet-$((6*7))\n");
    term.expect("via-telnet-42");
    term.send(b"exit\n");
    term.wait_exit();
    let end = lab.wait_event("session.end", |e| e.device.as_deref() == Some("tn1"));
    let id = end.detail["session"].as_str().unwrap();
    let (played, _) = text(&lab.oobgate(&["replay", "--cat", id]));
    assert!(played.contains("via-telnet-42"), "{played}");
    // The password was typed by the bastion, never shown or recorded.
    assert!(!term.text().contains(TEST_PASSWORD));
    assert!(!played.contains(TEST_PASSWORD), "{played}");
}

#[test]
fn a_pinned_host_key_is_required_and_a_wrong_pin_refused() {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let other = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let pin = |key: &str| format!("host_key = {:?}", key.trim());
    let (lab, cfg, _creds) = lab_with(&format!(
        "{}{}",
        ssh_device("pinned", &sshd, &pin(&sshd.host_key_pub)),
        ssh_device("mispinned", &sshd, &pin(&other.host_key_pub)),
    ));
    let cfg = lab.with_devices(&cfg, &["pinned", "mispinned"]);
    let out = lab.ssh_to(&cfg, "pinned", &["echo pinned-ok"]);
    assert!(text(&out).0.contains("pinned-ok"), "{:?}", text(&out));
    let out = lab.ssh_to(&cfg, "mispinned", &["echo must-not-run"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(255), "{o}{e}");
    assert!(!o.contains("must-not-run"), "{o}");
    assert!(
        e.contains("HOST KEY FOR mispinned CHANGED"),
        "the admin is told: {e}"
    );
}

#[test]
fn old_gear_needs_legacy_algorithms() {
    let sshd = TestSshd::start(SshdOptions::old_gear()).expect("sshd");
    let (lab, cfg, _creds) = lab_with(&format!(
        "{}{}",
        ssh_device("old-modern", &sshd, ""),
        ssh_device("old-legacy", &sshd, "legacy_algorithms = true"),
    ));
    let cfg = lab.with_devices(&cfg, &["old-modern", "old-legacy"]);
    let out = lab.ssh_to(&cfg, "old-modern", &["echo must-not-run"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(255), "{o}{e}");
    assert!(e.contains("old-modern"), "the error names the device: {e}");
    let out = lab.ssh_to(&cfg, "old-legacy", &["echo legacy-ok"]);
    assert!(
        text(&out).0.contains("legacy-ok"),
        "{:?}\n{}",
        text(&out),
        sshd.log()
    );
}
