//! The several-nodes lab: two nodes on one database in front of one real sshd switch,
//! with the policy and the helpers the several-nodes tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::nodes::TwoNodes;
use super::{text, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

pub const POLICY: &str = "\
p, role:admin, *, *, allow
p, role:oncall, *, request, allow
p, role:lead, *, approve, allow
";

pub struct NodesLab {
    pub nodes: TwoNodes,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

pub fn nodes_lab(store: &str) -> NodesLab {
    nodes_lab_with(store, "")
}

/// [`nodes_lab`] with `extra` config lines on both nodes.
pub fn nodes_lab_with(store: &str, extra: &str) -> NodesLab {
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let (creds, file) = super::credentials_file("devices/sw1", TEST_USER, TEST_PASSWORD);
    let inventory = format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
         labels = {{ site = \"fra1\", type = \"switch\" }}\ncredential = \"devices/sw1\"\n",
        sshd.address()
    );
    let nodes = TwoNodes::start(
        LabOptions {
            inventory: Some(inventory),
            policy: Some(POLICY.into()),
            extra: format!("[secrets]\nlocal_file = \"{}\"\n{extra}", file.display()),
            ..Default::default()
        },
        store,
    );
    NodesLab {
        nodes,
        _sshd: sshd,
        _creds: creds,
    }
}

impl NodesLab {
    /// An ssh_config for `login` reaching `bastion` (node a), `bastion-b` and `sw1`
    /// through node a.
    pub fn user(&self, login: &str, principals: &str) -> PathBuf {
        let cfg = self.nodes.lab.user(login, principals);
        let cfg = self.nodes.lab.with_devices(&cfg, &["sw1"]);
        self.nodes.with_node_b(&cfg)
    }

    /// `ssh HOST ARGS...`: (exit code, stdout + stderr).
    pub fn ssh(&self, cfg: &Path, host: &str, args: &[&str]) -> (i32, String) {
        let out = self.nodes.lab.ssh_to(cfg, host, args);
        let (o, e) = text(&out);
        (out.status.code().unwrap_or(-1), format!("{o}{e}"))
    }
}

/// The number in "request 7 pending".
pub fn number_after(text: &str, marker: &str) -> String {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"))
        + marker.len()..];
    rest.chars().take_while(|c| c.is_ascii_digit()).collect()
}

/// bob's request for sw1 approved by `alice` on node b, and bob's live session on sw1
/// through node a under that grant: (request number, the ssh client).
pub fn granted_session_on_a(l: &NodesLab, alice: &Path) -> (String, super::KillOnDrop) {
    let bob = l.user("bob", "bob,role:oncall");
    let (_, out) = l.ssh(&bob, "bastion", &["request", "sw1", "5m", "maintenance"]);
    let n = number_after(&out, "request ");
    let (code, out) = l.ssh(alice, "bastion-b", &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    let session = live_on_sw1(&l.nodes, &bob, "bob");
    (n, session)
}

pub fn live_on_sw1(
    nodes: &super::nodes::TwoNodes,
    cfg: &std::path::Path,
    user: &str,
) -> super::KillOnDrop {
    let session = super::KillOnDrop(
        Command::new("ssh")
            .arg("-F")
            .arg(cfg)
            .args(["sw1", "echo up; sleep 60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    super::wait_until(&format!("{user}'s live session"), super::WAIT, || {
        let rows = nodes.sessions();
        match rows.iter().any(|r| r.user == user && r.ended.is_none()) {
            true => Ok(()),
            false => Err(format!("{rows:#?}")),
        }
    });
    session
}

/// `curl -k URL` with the login `cookie` and a form `body`, if any: the status and headers.
pub fn curl(url: &str, cookie: Option<&str>, body: Option<&str>) -> (String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: {c}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data", b]);
    }
    let out = cmd.arg(url).output().unwrap();
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    (all.lines().last().unwrap_or_default().to_string(), all)
}
