//! A recording that stops being writable mid-session (the recording disk fills up): the
//! session is closed with a message rather than left running unrecorded, what was written
//! stays a valid, sealed prefix, and other state (audit chain, ledger) is intact.
//! The full disk is a real one: a 1 MiB tmpfs mounted over the recording directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

/// A small tmpfs mounted on `dir` for the test's life.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out = common::run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
                .arg(dir),
        );
        assert!(
            out.status.success(),
            "this test mounts a 1 MiB tmpfs (it needs root): {:?}",
            text(&out)
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_recording_disk_closes_the_session_with_a_message_and_keeps_a_sealed_prefix() {
    let disk_dir = tempfile::tempdir().unwrap();
    let disk = disk_dir.path().join("recordings");
    let _disk = SmallDisk::mount(&disk);
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (_creds, file) = common::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
             credential = \"devices/sw1\"\n",
            sshd.address()
        )),
        top: format!("recording_dir = {:?}", disk.display().to_string()),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    // 8 MB of output into a 1 MiB disk; the command would run for minutes unrecorded.
    let out = lab.ssh_to(
        &cfg,
        "sw1",
        &["seq 1 1000000; echo finished-unrecorded; sleep 600"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(255),
        "{stderr} / {} bytes out / {:?}",
        stdout.len(),
        &stdout[stdout.len().saturating_sub(300)..]
    );
    assert!(
        stderr.contains("recording failed"),
        "{stderr}\n{:#?}",
        lab.events("")
    );
    assert!(
        !stdout.contains("finished-unrecorded"),
        "the session ran on unrecorded"
    );
    let end = lab.wait_event("session.end", |e| {
        e.detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("recording failed"))
    });
    // What reached the disk is a valid recording prefix, and the chain holds.
    let path = PathBuf::from(
        lab.events("session.start")[0].detail["recording"]
            .as_str()
            .unwrap(),
    );
    let rec = oobgate::recording::Recording::open(&path).expect("a valid prefix");
    assert!(!rec.events.is_empty());
    if let Some(sealed) = end.detail["recording_sha256"].as_str() {
        use sha2::Digest;
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sealed);
    }
    let verify = lab.oobgate(&["audit", "verify"]);
    assert!(verify.status.success(), "{:?}", text(&verify));
    // The bastion is still there for the next admin, and says the disk is full.
    let out = lab.ssh_to(&cfg, "sw1", &["echo next"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out).1.contains("recording"), "{:?}", text(&out));
    assert!(text(&lab.ssh(&cfg, &["whoami"]))
        .0
        .contains("user:        alice"));
}
