//! A revocation list that cannot be read (a half-written line, a lasting typo) refuses new
//! logins and raises an alert, but throws nobody off: live sessions stay under the last
//! list that could be read; once the file is fixed, the certificates it revokes are cut.
//! Real ssh client, real sshd as the device, a small HTTP receiver as the webhook.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

fn session(cfg: &Path, command: &str) -> Child {
    Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(["sw1", command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh")
}

fn signed(lab: &Lab, login: &str, serial: u64) -> PathBuf {
    let key = lab.key(login);
    lab.sign(
        &key,
        &[
            "-I",
            &format!("{login}-key"),
            "-n",
            &format!("{login},role:admin"),
            "-z",
            &serial.to_string(),
            "-V",
            "-1m:+1h",
        ],
    );
    let cfg = lab.ssh_config(login, &key, true);
    lab.with_devices(&cfg, &["sw1"])
}

#[test]
fn an_unusable_list_refuses_logins_and_alerts_but_cuts_no_session() {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (_creds, file) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let (hook, hooks) = common::webhook_receiver();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\ncredential = \"devices/sw1\"\n",
            sshd.address()
        )),
        extra: format!(
            "[secrets]\nlocal_file = \"{}\"\n[webhook]\nurl = \"{hook}\"\n",
            file.display()
        ),
        ..Default::default()
    });
    let list = lab.root().join("revoked");
    let ann = signed(&lab, "ann", 101);
    let ben = signed(&lab, "ben", 102);
    let mut ann_session = session(&ann, "echo ann-up; sleep 30");
    let mut ben_session = session(&ben, "echo ben-up; sleep 30");
    for user in ["ann", "ben"] {
        lab.wait_event("session.start", |e| e.user.as_deref() == Some(user));
    }

    // A half-written line: new logins are refused, loudly; the live sessions go on.
    std::fs::write(&list, "serial 102\nkey-i").unwrap();
    let alert = lab.wait_event("revocation.unusable", |_| true);
    assert!(
        alert.detail["reason"].as_str().unwrap().contains("line 2"),
        "{alert:?}"
    );
    let body = hooks
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook hears of it");
    assert!(body.contains("revocation.unusable"), "{body}");
    let out = lab.ssh_to(&ann, "sw1", &["echo must-not-run"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(!text(&out).0.contains("must-not-run"));
    lab.wait_event("auth.reject", |e| e.detail["code"] == "revocation-unusable");
    // Broken another way, read again and refused again: still nobody was thrown off.
    std::fs::write(&list, "serial 102\nkey-id").unwrap();
    lab.wait_events("revocation.unusable", 2);
    assert!(
        ann_session.try_wait().unwrap().is_none(),
        "ann was cut by a typo"
    );
    assert!(
        ben_session.try_wait().unwrap().is_none(),
        "ben was cut by a typo"
    );

    // The whole text lands: ben's certificate is revoked and his session ends within
    // about a second; ann's goes on, and she can log in again.
    std::fs::write(&list, "serial 102\nkey-id nobody\n").unwrap();
    let out = ben_session.wait_with_output().unwrap();
    let (o, e) = text(&out);
    assert!(
        format!("{o}{e}").contains("serial 102) was revoked"),
        "{o}{e}"
    );
    assert!(
        ann_session.try_wait().unwrap().is_none(),
        "ann's session ended"
    );
    let out = lab.ssh_to(&ann, "sw1", &["echo ann-again"]);
    assert_eq!(text(&out).0.trim(), "ann-again");
    let loaded = lab.wait_event("revocation.loaded", |e| e.detail["fixed"] == true);
    assert_eq!(loaded.detail["serials"], 1);
    let _ = ann_session.kill();
    let _ = ann_session.wait();
}
