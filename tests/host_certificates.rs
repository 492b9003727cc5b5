//! The bastion's host certificate names its `host_names`, lives `host_cert_validity`, and is
//! renewed at half-life, as `ssh-keyscan` and `ssh-keygen -L` show it; a validity too short
//! is a config error.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{text, Lab, LabOptions};

/// The bastion's host certificate as `ssh-keygen -L` shows it: (serial, principals, seconds
/// of validity).
fn host_cert(lab: &Lab) -> (String, String, i64) {
    let scan = common::run(Command::new("ssh-keyscan").args([
        "-c",
        "-t",
        "ed25519",
        "-p",
        &lab.addr.port().to_string(),
        "127.0.0.1",
    ]));
    let line = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .find(|l| l.contains("-cert-v01@openssh.com") && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let at = fields
                .iter()
                .position(|f| f.ends_with("-cert-v01@openssh.com"));
            fields[at.expect("the key type")..].join(" ")
        })
        .unwrap_or_else(|| panic!("no certificate: {:?}", text(&scan)));
    let file = lab.root().join("scanned-cert.pub");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let listed = common::run(Command::new("ssh-keygen").arg("-L").arg("-f").arg(&file));
    let shown = format!("{}{}{line}", text(&listed).0, text(&listed).1);
    let field = |name: &str| {
        shown
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{name} in {shown}"))
    };
    let principals = shown
        .split_once("Principals:")
        .map(|(_, rest)| rest.lines().nth(1).unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let valid = field("Valid:");
    let parse = |s: &str| {
        time::PrimitiveDateTime::parse(
            s,
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .unwrap()
    };
    let (from, to) = valid
        .strip_prefix("from ")
        .and_then(|v| v.split_once(" to "))
        .unwrap_or_else(|| panic!("{valid}"));
    let span = (parse(to) - parse(from)).whole_seconds();
    (field("Serial:"), principals, span)
}

#[test]
fn the_host_certificate_names_the_host_is_short_lived_and_renewed() {
    let lab = Lab::start_with(LabOptions {
        top: "host_names = [\"bastion.test\"]\nhost_cert_validity = \"20s\"".into(),
        // Every scan is a connection that never logs in: not to be counted as failures.
        limits: "max_failures_per_source_per_minute = 100000".into(),
        ..Default::default()
    });
    let (serial, principals, span) = host_cert(&lab);
    assert_eq!(principals, "bastion.test");
    // 20 s from now, backdated 5 minutes against clock skew.
    assert_eq!(span, 20 + 300);
    // Renewed at half-life: a later connection sees a new certificate.
    common::wait_until(
        "the certificate is renewed",
        Duration::from_secs(60),
        || {
            std::thread::sleep(Duration::from_millis(500));
            let now = host_cert(&lab).0;
            if now != serial {
                Ok(())
            } else {
                Err(format!("serial {now}"))
            }
        },
    );
    let bad = Lab::start_with(LabOptions::default());
    std::fs::write(
        &bad.config_path,
        std::fs::read_to_string(&bad.config_path).unwrap().replacen(
            "listen",
            "host_cert_validity = \"5s\"\nlisten",
            1,
        ),
    )
    .unwrap();
    let (_, err) = text(&bad.oobgate(&["check"]));
    assert!(
        err.contains("host_cert_validity") && err.contains("at least 10s"),
        "{err}"
    );
}
