//! The real `oobgate serve` process's log on stderr: plain text without ANSI colours when
//! stderr is a file, one JSON object per line with `log_format = "json"`, and hostile text
//! from a certificate (a key id with a newline and an escape sequence) escaped either way.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cert_of, pub_of, run_ok, ssh_keygen_key, text};

/// A key id a hostile CA (or a careless one) could put in a certificate.
const KEY_ID: &str = "evil\nFAKE 2026 INFO forged line\u{1b}[31mred";

/// A bastion run as its own process with stderr going to `log`.
struct Served {
    dir: tempfile::TempDir,
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Served {
    fn start(log_format: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("policies")).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/model.conf");
        std::fs::copy(shipped, root.join("policies/model.conf")).unwrap();
        std::fs::write(root.join("policies/policy.csv"), common::POLICY).unwrap();
        std::fs::write(root.join("inventory.toml"), common::INVENTORY).unwrap();
        ssh_keygen_key(&root.join("user_ca"));
        let config = root.join("oobgate.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\npolicy_dir = \"policies\"\n\
                 inventory = \"inventory.toml\"\nlog_format = \"{log_format}\"\n\
                 [auth]\ntrusted_user_ca = [\"user_ca.pub\"]\n"
            ),
        )
        .unwrap();
        let log = root.join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("OOBGATE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("oobgate serve starts");
        let mut served = Served {
            dir,
            child,
            log,
            port: 0,
        };
        let line = served.wait_line("front door listening");
        let at = line.find("127.0.0.1:").expect("listen address in the log") + 10;
        let digits: String = line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        served.port = digits.parse().unwrap();
        served
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap()).into_owned()
    }

    /// Waits up to 20 s for a log line containing `needle`.
    fn wait_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log_text();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}; the log so far:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Logs alice in with a certificate whose key id is [`KEY_ID`].
    fn login_with_hostile_key_id(&self) {
        let root = self.root();
        let key = root.join("id_alice");
        ssh_keygen_key(&key);
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-s"])
                .arg(root.join("user_ca"))
                .args(["-I", KEY_ID, "-n", "alice,role:netops", "-V", "-5m:+1h"])
                .arg(pub_of(&key)),
        );
        let known = run_ok(
            Command::new(env!("CARGO_BIN_EXE_oobgate"))
                .args(["ca", "known-hosts", "--config"])
                .arg(root.join("oobgate.toml")),
        );
        std::fs::write(root.join("known_hosts"), &known.stdout).unwrap();
        let ssh_config = root.join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!(
                "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User alice\n\
                 CertificateFile {}\n  IdentityFile {}\n  IdentitiesOnly yes\n\
                 IdentityAgent none\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n\
                 StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
                self.port,
                cert_of(&key).display(),
                key.display(),
                root.join("known_hosts").display()
            ),
        )
        .unwrap();
        let out = run_ok(
            Command::new("ssh")
                .arg("-F")
                .arg(&ssh_config)
                .args(["bastion", "whoami"])
                .stdin(Stdio::null()),
        );
        assert!(text(&out).0.contains("alice"), "{:?}", text(&out));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn text_log_to_a_file_has_no_colours_and_escapes_certificate_text() {
    let served = Served::start("text");
    served.login_with_hostile_key_id();
    let accepted = served.wait_line("certificate accepted");
    let raw = std::fs::read(&served.log).unwrap();
    assert!(
        !raw.contains(&0x1b),
        "an ESC byte reached the log:\n{}",
        served.log_text()
    );
    assert!(
        accepted.contains(r"key_id=evil\nFAKE 2026 INFO forged line\u{1b}[31mred"),
        "{accepted}"
    );
    for line in served.log_text().lines() {
        assert!(
            line.starts_with("20") && line.contains('Z'),
            "every line is one event starting with its timestamp: {line:?}"
        );
        assert!(!line.starts_with("FAKE"), "forged line in the log: {line}");
    }
}

#[test]
fn json_log_is_one_object_per_line_with_level_target_and_message() {
    let served = Served::start("json");
    served.login_with_hostile_key_id();
    served.wait_line("certificate accepted");
    let log = served.log_text();
    assert!(
        !log.as_bytes().contains(&0x1b),
        "an ESC byte reached the log:\n{log}"
    );
    let mut accepted = None;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:?}"));
        for field in ["level", "target", "message", "timestamp"] {
            assert!(v[field].is_string(), "no {field} in {line}");
        }
        if v["message"] == "certificate accepted" {
            accepted = Some(v);
        }
    }
    let accepted = accepted.expect("the login is logged");
    assert_eq!(accepted["level"], "INFO");
    assert_eq!(accepted["target"], "oobgate::frontdoor::handler");
    assert_eq!(
        accepted["key_id"], KEY_ID,
        "the JSON value decodes to the original"
    );
    assert_eq!(accepted["user"], "alice");
}
