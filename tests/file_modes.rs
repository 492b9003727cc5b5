//! What the bastion keeps on disk is its own: private key files or a credentials file
//! others can read stop `serve` and fail `check`; the store and the recordings that
//! `oobgate serve` creates are readable by nobody else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{text, Lab, LabOptions};

#[test]
fn key_files_others_can_read_stop_serve_and_fail_check() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::start();
    let ok = lab.oobgate(&["check"]);
    assert!(ok.status.success(), "{:?}", text(&ok));
    let user_ca = lab.root().join("data/user_ca");
    assert!(user_ca.exists(), "the lab's user CA key");
    std::fs::set_permissions(&user_ca, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = lab.oobgate(&["check"]);
    let (_, err) = text(&check);
    assert!(!check.status.success(), "check passed a 0644 CA key");
    assert!(
        err.contains("user_ca") && err.contains("readable by group or others (mode 0644)"),
        "{err}"
    );
    // A second server on a free port (the lab's own holds its port): it must not start.
    let config = std::fs::read_to_string(&lab.config_path).unwrap();
    let second = lab.root().join("second.toml");
    let listen = format!("listen = \"{}\"", lab.addr);
    assert!(config.contains(&listen), "{config}");
    std::fs::write(&second, config.replace(&listen, "listen = \"127.0.0.1:0\"")).unwrap();
    let serve = common::run(
        Command::new("timeout")
            .arg("30")
            .arg(env!("CARGO_BIN_EXE_oobgate"))
            .args(["serve", "--config"])
            .arg(&second),
    );
    let (_, err) = text(&serve);
    assert!(
        !serve.status.success() && serve.status.code() != Some(124),
        "{err}"
    );
    assert!(
        err.contains("user_ca") && err.contains("readable by group"),
        "{err}"
    );
}

#[test]
fn check_reports_a_credentials_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, file) = common::credentials_file("devices/sw1", "admin", "pw-not-shown");
    let lab = Lab::start_with(LabOptions {
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    assert!(lab.oobgate(&["check"]).status.success());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = lab.oobgate(&["check"]);
    let (out, err) = text(&check);
    assert!(
        !check.status.success(),
        "check passed a 0644 credentials file"
    );
    assert!(err.contains("credentials.toml"), "{err}");
    assert!(!format!("{out}{err}").contains("pw-not-shown"));
}

#[test]
fn the_store_and_recordings_are_private_to_the_bastion() {
    use std::os::unix::fs::PermissionsExt;
    let mut d = common::device_lab::device_lab("");
    let mut server = common::KillOnDrop(d.lab.serve_as_process());
    let out = d.lab.ssh_to(&d.cfg, "sw1", &["echo private"]);
    assert_eq!(text(&out).0.trim(), "private", "{:?}", text(&out));
    let start = d.lab.wait_event("session.start", |_| true);
    let recording = PathBuf::from(start.detail["recording"].as_str().unwrap());
    d.lab.wait_event("session.end", |_| true);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut checked = vec![recording.clone()];
    checked.extend(recording.ancestors().skip(1).take(2).map(Path::to_path_buf));
    let db = d.lab.config.store_path();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            checked.push(p);
        }
    }
    for p in &checked {
        assert_eq!(mode(p) & 0o077, 0, "{} is mode {:o}", p.display(), mode(p));
    }
    let _ = server.0.kill();
}
