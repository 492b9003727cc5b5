//! A lab with one real SSH device (sshd) behind the bastion.

use std::path::PathBuf;

use super::{credentials_file, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

/// A lab whose `sw1` is a real sshd logged into with a password from the local secrets
/// file, and alice (role admin) allowed everywhere.
pub struct DeviceLab {
    pub lab: Lab,
    /// alice's ssh_config, with `sw1` reached through the bastion.
    pub cfg: PathBuf,
    pub sshd: TestSshd,
    _creds: tempfile::TempDir,
}

/// `sshd` options, extra inventory lines for sw1, `[limits]` lines and extra tables.
pub fn device_lab_with(sshd: SshdOptions, device: &str, limits: &str, extra: &str) -> DeviceLab {
    device_lab_policy(sshd, device, limits, extra, None)
}

/// Like [`device_lab_with`], with `policy` instead of the lab's default policy lines.
pub fn device_lab_policy(
    sshd: SshdOptions,
    device: &str,
    limits: &str,
    extra: &str,
    policy: Option<String>,
) -> DeviceLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..sshd
    })
    .expect("sshd");
    let (creds, file) = credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
             credential = \"devices/sw1\"\n{device}\n",
            sshd.address()
        )),
        limits: limits.into(),
        extra: format!("{extra}\n[secrets]\nlocal_file = \"{}\"\n", file.display()),
        policy,
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    DeviceLab {
        lab,
        cfg,
        sshd,
        _creds: creds,
    }
}

/// The plain device lab with `[limits]` lines.
pub fn device_lab(limits: &str) -> DeviceLab {
    device_lab_with(SshdOptions::default(), "", limits, "")
}

/// A session on sw1 running in the background, its output `marker` already recorded.
pub struct LiveSession {
    /// The admin's ssh (stdout and stderr piped).
    pub client: std::process::Child,
    /// The session id.
    pub id: String,
    /// Its recording file.
    pub recording: PathBuf,
}

impl DeviceLab {
    /// Starts `ssh sw1 COMMAND` and waits until the recording holds a whole output event
    /// with `marker` (the header names the command, which holds the same words).
    pub fn live_session(&self, command: &str, marker: &str) -> LiveSession {
        use std::process::{Command, Stdio};
        let client = Command::new("ssh")
            .arg("-F")
            .arg(&self.cfg)
            .args(["sw1", command])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = self.lab.wait_event("session.start", |_| true);
        let id = start.detail["session"].as_str().unwrap().to_string();
        let recording = PathBuf::from(start.detail["recording"].as_str().unwrap());
        super::wait_for_condition("the output is recorded", super::WAIT, || {
            std::fs::read_to_string(&recording).is_ok_and(|t| {
                t.split_inclusive('\n')
                    .any(|l| l.ends_with("]\n") && l.contains("\"o\"") && l.contains(marker))
            })
        });
        LiveSession {
            client,
            id,
            recording,
        }
    }
}
