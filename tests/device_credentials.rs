//! Device credentials the README promises, end to end through the real ssh client and a
//! real sshd: a passphrase-protected private key from the local store logs in (and a wrong
//! passphrase fails clearly, never shown); a credentials file owned by another user is
//! refused by `check` and by a session, naming the owner.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_USER};

const PASSPHRASE: &str = "corr3ct-h0rse-passphrase";

/// An ed25519 key pair protected by `passphrase`: (private PEM, public line).
fn protected_key(dir: &Path, passphrase: &str) -> (String, String) {
    let path = dir.join("device_key");
    common::run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path),
    );
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(path.with_extension("pub")).unwrap(),
    )
}

/// A lab whose sw1 accepts only `public` and whose credential holds `pem` and `passphrase`.
fn key_lab(pem: &str, public: &str, passphrase: &str) -> (Lab, TestSshd, tempfile::TempDir) {
    let sshd = TestSshd::start(SshdOptions {
        authorized_keys: vec![public.trim().to_string()],
        ..Default::default()
    })
    .expect("sshd");
    let creds = tempfile::tempdir().unwrap();
    let file = creds.path().join("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[credentials.\"devices/sw1\"]\nusername = \"{TEST_USER}\"\n\
             private_key = '''\n{pem}'''\npassphrase = \"{passphrase}\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
             credential = \"devices/sw1\"\n",
            sshd.address()
        )),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    (lab, sshd, creds)
}

fn everything_said(lab: &Lab, out: &std::process::Output) -> String {
    let (o, e) = text(out);
    format!(
        "{o}{e}{}{}",
        serde_json::to_string(&lab.events("")).unwrap(),
        lab.server_log()
    )
}

#[test]
fn a_passphrase_protected_device_key_logs_in() {
    let keys = tempfile::tempdir().unwrap();
    let (pem, public) = protected_key(keys.path(), PASSPHRASE);
    let (lab, _sshd, _creds) = key_lab(&pem, &public, PASSPHRASE);
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    let out = lab.ssh_to(&cfg, "sw1", &["echo key-login-$((40+2))"]);
    assert!(text(&out).0.contains("key-login-42"), "{:?}", text(&out));
    assert!(!everything_said(&lab, &out).contains(PASSPHRASE));
}

#[test]
fn a_wrong_passphrase_fails_clearly_and_is_never_shown() {
    let keys = tempfile::tempdir().unwrap();
    let (pem, public) = protected_key(keys.path(), PASSPHRASE);
    let wrong = "not-the-r1ght-one";
    let (lab, _sshd, _creds) = key_lab(&pem, &public, wrong);
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    let out = lab.ssh_to(&cfg, "sw1", &["echo should-not-run"]);
    let (o, e) = text(&out);
    assert!(!out.status.success(), "{o}{e}");
    assert!(!o.contains("should-not-run"), "{o}");
    assert!(
        e.contains("sw1") && e.to_lowercase().contains("key"),
        "the error names the device and its key: {e}"
    );
    let said = everything_said(&lab, &out);
    assert!(
        !said.contains(wrong) && !said.contains(PASSPHRASE),
        "{said}"
    );
}

#[test]
fn a_credentials_file_owned_by_another_user_is_refused() {
    let (_dir, file) = common::credentials_file("devices/sw1", TEST_USER, "pw-never-shown");
    let lab = Lab::start_with(LabOptions {
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    assert!(lab.oobgate(&["check"]).status.success());
    // `nobody` (65534) owns it now; the bastion runs as root here, and still refuses.
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    let check = lab.oobgate(&["check"]);
    let (out, err) = text(&check);
    assert!(!check.status.success(), "check passed: {out}{err}");
    assert!(
        err.contains("credentials.toml") && err.contains("65534"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("pw-never-shown"));
}
