//! The algorithms the bastion offers pass `ssh-audit` (PyPI, installed by `scripts/test`)
//! on the front door; the inner server `ssh -J` reaches proposes the same lists, as the
//! real client's `-vv` shows (ssh-audit cannot go through a jump). The one kind of warning
//! left is deliberate: curve25519 and the large DH groups are kept beside the post-quantum
//! hybrid `mlkem768x25519-sha256` for clients that lack it, and ssh-audit warns that they
//! are not post-quantum.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{text, Lab};

fn ssh_audit() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers/venv/bin/ssh-audit");
    assert!(
        bin.exists(),
        "{} not found: run scripts/test (it installs ssh-audit into target/peers/venv)",
        bin.display()
    );
    bin
}

/// The warnings and failures ssh-audit reports for `port`, but the post-quantum notes.
fn findings(port: u16) -> (Vec<String>, String) {
    let out = common::run(
        Command::new(ssh_audit())
            .args(["-n", "-p"])
            .arg(port.to_string())
            .arg("127.0.0.1"),
    );
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    if !all.contains("(kex)") {
        return (vec![format!("ssh-audit saw no key exchange")], all);
    }
    let bad = all
        .lines()
        .filter(|l| l.contains("[warn]") || l.contains("[fail]"))
        .filter(|l| !l.contains("does not provide protection against post-quantum attacks"))
        .map(str::to_string)
        .collect();
    (bad, all)
}

#[test]
fn the_front_door_offers_nothing_ssh_audit_warns_about() {
    let lab = Lab::start();
    let (bad, all) = findings(lab.addr.port());
    assert!(bad.is_empty(), "{bad:#?}\n{all}");
    assert!(all.contains("mlkem768x25519-sha256"), "{all}");
}

/// What the inner server proposed in its KEXINIT, as `ssh -vv` prints it: (kex, MACs).
fn inner_proposal(lab: &Lab) -> (String, String) {
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    let out = common::run(
        Command::new("ssh")
            .arg("-vv")
            .arg("-F")
            .arg(&cfg)
            .args(["sw1", "true"]),
    );
    let log = text(&out).1;
    // The last server proposal is the inner server's (the jump's own ssh is not verbose).
    let proposal = log
        .rsplit_once("peer server KEXINIT proposal")
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| panic!("no server proposal in: {log}"));
    let field = |name: &str| {
        proposal
            .lines()
            .find_map(|l| {
                l.split_once(&format!("debug2: {name}: "))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("{name} in {proposal}"))
    };
    (field("KEX algorithms"), field("MACs ctos"))
}

#[test]
fn the_inner_jump_server_offers_the_same_trimmed_algorithms() {
    let lab = Lab::start();
    let (kex, macs) = inner_proposal(&lab);
    assert!(kex.starts_with("mlkem768x25519-sha256,"), "{kex}");
    assert!(!kex.contains("group14") && !kex.contains("sha1"), "{kex}");
    assert!(kex.contains("kex-strict-s-v00@openssh.com"), "{kex}");
    assert!(
        macs.split(',').all(|m| m.ends_with("-etm@openssh.com")),
        "{macs}"
    );
}
