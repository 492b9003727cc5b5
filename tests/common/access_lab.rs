//! A lab for time-bound access: two SSH devices (`sw1`, and `sw-vault`, which role:oncall
//! may never connect to) on one real sshd, and a policy where role:oncall may request,
//! role:lead approve, role:admin do anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{credentials_file, text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

pub const POLICY: &str = "\
p, role:admin, *, *, allow
p, role:oncall, *, request, allow
p, role:lead, *, approve, allow
p, role:netops, site:ams1 & type:switch, connect, allow
p, role:oncall, sw-vault, connect, deny
";

pub struct AccessLab {
    pub lab: Lab,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

pub fn access_lab(access: &str, limits: &str) -> AccessLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (creds, file) = credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let inventory = format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{0}\"\n\
         labels = {{ site = \"fra1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n\n\
         [[device]]\nname = \"sw-vault\"\nkind = \"ssh\"\naddress = \"{0}\"\n\
         labels = {{ site = \"fra1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n",
        sshd.address()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        policy: Some(POLICY.into()),
        limits: limits.into(),
        extra: format!(
            "[secrets]\nlocal_file = \"{}\"\n[access]\nmax_duration = \"10m\"\n{access}\n",
            file.display()
        ),
        ..Default::default()
    });
    AccessLab {
        lab,
        _sshd: sshd,
        _creds: creds,
    }
}

impl AccessLab {
    pub fn user(&self, login: &str, principals: &str) -> PathBuf {
        let cfg = self.lab.user(login, principals);
        self.lab.with_devices(&cfg, &["sw1", "sw-vault"])
    }

    /// `ssh bastion ARGS...`: (exit code, stdout + stderr).
    pub fn cmd(&self, cfg: &Path, args: &[&str]) -> (i32, String) {
        let out = self.lab.ssh(cfg, args);
        let (o, e) = text(&out);
        (out.status.code().unwrap_or(-1), format!("{o}{e}"))
    }

    pub fn on_sw1(&self, cfg: &Path, command: &str) -> (i32, String) {
        let out = self.lab.ssh_to(cfg, "sw1", &[command]);
        let (o, e) = text(&out);
        (out.status.code().unwrap_or(-1), format!("{o}{e}"))
    }
}

/// Starts `ssh sw1 COMMAND` in the background.
pub fn spawn_on_sw1(cfg: &Path, command: &str) -> std::process::Child {
    Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(["sw1", command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The number in "request 7 pending" / "BREAK-GLASS grant #7".
pub fn number_after(text: &str, marker: &str) -> String {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"))
        + marker.len()..];
    rest.chars().take_while(|c| c.is_ascii_digit()).collect()
}
