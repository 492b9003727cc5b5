//! An exit status must never be lost: hundreds of short commands with distinct exit codes,
//! several at once, through every path (`ssh -J`, `ssh bastion connect`, the bastion's own
//! commands, a device command killed by a signal), each checked against what the real
//! OpenSSH client reports. A real sshd plays the device.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};

/// How many commands run at the same time.
const AT_ONCE: usize = 10;

struct ExitLab {
    lab: Lab,
    cfg: PathBuf,
    _sshd: TestSshd,
    _creds: tempfile::TempDir,
}

fn exit_lab() -> ExitLab {
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
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    ExitLab {
        lab,
        cfg,
        _sshd: sshd,
        _creds: creds,
    }
}

fn ssh(cfg: &Path, args: &[String]) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ssh (scripts/test installs it)")
}

/// Runs `runs` (arguments, expected exit code, expected text in the output) `AT_ONCE` at
/// a time; returns every run whose exit code or output was not the expected one.
fn run_all(cfg: &Path, runs: Vec<(Vec<String>, i32, String)>) -> Vec<String> {
    let mut wrong = Vec::new();
    for batch in runs.chunks(AT_ONCE) {
        let handles: Vec<_> = batch
            .iter()
            .cloned()
            .map(|(args, code, needle)| {
                let cfg = cfg.to_path_buf();
                std::thread::spawn(move || {
                    let out = ssh(&cfg, &args);
                    let (o, e) = text(&out);
                    let got = out.status.code().unwrap_or(-1);
                    (got == code && format!("{o}{e}").contains(&needle))
                        .then_some(())
                        .ok_or_else(|| {
                            format!("{args:?}: exit {got} (expected {code}), output {o:?} {e:?}")
                        })
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                wrong.push(e);
            }
        }
    }
    wrong
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn jump_sessions_never_lose_their_exit_status() {
    let l = exit_lab();
    let runs = (1..=200)
        .map(|n| {
            let cmd = format!("echo ran-{n}; exit {n}");
            (owned(&["sw1", &cmd]), n, format!("ran-{n}"))
        })
        .collect();
    let wrong = run_all(&l.cfg, runs);
    assert!(
        wrong.is_empty(),
        "{} of 200 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Every one of them is a finished session with the device's exit status (the last
    // ones are sealed just after their clients returned).
    let ends = l.lab.wait_events("session.end", 200);
    assert!(
        ends.iter().all(|e| e.detail["exit_status"].is_i64()),
        "{ends:#?}"
    );
}

#[test]
fn connect_and_bastion_commands_never_lose_their_exit_status() {
    let l = exit_lab();
    let mut runs: Vec<(Vec<String>, i32, String)> = (1..=100)
        .map(|n| {
            let cmd = format!("echo ran-{n}; exit {n}");
            (
                owned(&["bastion", "connect", "sw1", &cmd]),
                n,
                format!("ran-{n}"),
            )
        })
        .collect();
    for n in 0..100 {
        runs.push(if n % 2 == 0 {
            (
                owned(&["bastion", "whoami"]),
                0,
                "user:        alice".into(),
            )
        } else {
            (
                owned(&["bastion", "frobnicate"]),
                127,
                "unknown command".into(),
            )
        });
    }
    let wrong = run_all(&l.cfg, runs);
    assert!(
        wrong.is_empty(),
        "{} of 200 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_device_command_killed_by_a_signal_is_reported_as_killed() {
    let l = exit_lab();
    let runs = (0..40)
        .map(|n| {
            let cmd = format!("echo doomed-{n}; kill -TERM $$");
            // OpenSSH exits 255 for a command killed by a signal; the bastion says which.
            (
                owned(&["sw1", &cmd]),
                255,
                "killed by signal TERM".to_string(),
            )
        })
        .collect();
    let wrong = run_all(&l.cfg, runs);
    assert!(
        wrong.is_empty(),
        "{} of 40 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
