//! File transfer through the bastion: the real `sftp` and `scp` clients (`-J`, OpenSSH 9's
//! scp speaks SFTP) against a real sshd as the device, under the `file.upload` and
//! `file.download` policy actions.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

const POLICY: &str = "p, role:admin, *, *, allow\n\
                      p, role:netops, site:ams1 & type:switch, connect, allow\n";

struct TransferLab {
    lab: Lab,
    /// alice: role admin, every action.
    admin: PathBuf,
    /// bob: role netops, `connect` only.
    netops: PathBuf,
    /// A folder on the device both sides can write.
    remote: tempfile::TempDir,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

fn transfer_lab() -> TransferLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (creds, file) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let inventory = format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         labels = {{ site = \"ams1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n",
        sshd.address()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        policy: Some(POLICY.into()),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let admin = lab.user("alice", "alice,role:admin");
    let admin = lab.with_devices(&admin, &["sw1"]);
    let netops = lab.user("bob", "bob,role:netops");
    let netops = lab.with_devices(&netops, &["sw1"]);
    let remote = tempfile::tempdir().unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(remote.path(), mode).unwrap();
    TransferLab {
        lab,
        admin,
        netops,
        remote,
        _sshd: sshd,
        _creds: creds,
    }
}

/// Pseudo-random bytes (not compressible, every byte value).
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn scp(cfg: &Path, from: &str, to: &str) -> Output {
    Command::new("scp")
        .arg("-F")
        .arg(cfg)
        .args([from, to])
        .stdin(Stdio::null())
        .output()
        .expect("scp")
}

fn sftp_batch(cfg: &Path, batch: &str) -> Output {
    let mut child = Command::new("sftp")
        .arg("-F")
        .arg(cfg)
        .args(["-b", "-", "sw1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sftp");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn scp_and_sftp_move_files_byte_for_byte() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    let data = payload(3 << 20);
    std::fs::write(&local, &data).unwrap();
    let remote = t.remote.path().join("up.bin");
    let out = scp(
        &t.admin,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    assert!(out.status.success(), "scp upload: {:?}", text(&out));
    assert_eq!(std::fs::read(&remote).unwrap(), data, "uploaded bytes");

    let back = t.lab.root().join("back.bin");
    let batch = format!("get {} {}\n", remote.display(), back.display());
    let out = sftp_batch(&t.admin, &batch);
    assert!(out.status.success(), "sftp download: {:?}", text(&out));
    assert_eq!(std::fs::read(&back).unwrap(), data, "downloaded bytes");
}

#[test]
fn transfer_without_file_actions_is_refused_with_the_reason() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    std::fs::write(&local, b"config\n").unwrap();
    let remote = t.remote.path().join("up.bin");
    let out = scp(
        &t.netops,
        local.to_str().unwrap(),
        &format!("sw1:{}", remote.display()),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success(), "scp by netops succeeded");
    assert!(
        err.contains("file transfer with sw1 denied") && err.contains("file.upload"),
        "{err}"
    );
    assert!(!remote.exists(), "the file reached the device");
    // The same user's shell session still works: only transfer is refused.
    let out = t.lab.ssh_to(&t.netops, "sw1", &["echo", "still-here"]);
    assert!(text(&out).0.contains("still-here"), "{:?}", text(&out));
}

#[test]
fn legacy_scp_is_refused_naming_it() {
    let t = transfer_lab();
    let local = t.lab.root().join("up.bin");
    std::fs::write(&local, b"config\n").unwrap();
    let remote = t.remote.path().join("legacy.bin");
    let out = Command::new("scp")
        .arg("-O")
        .arg("-F")
        .arg(&t.admin)
        .arg(&local)
        .arg(format!("sw1:{}", remote.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (o, e) = text(&out);
    assert!(!out.status.success(), "scp -O succeeded");
    assert!(format!("{o}{e}").contains("scp -O"), "{o} {e}");
    assert!(!remote.exists(), "the file reached the device");
}
