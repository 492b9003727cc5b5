//! `examples/oobgate.toml` loads with `Config::load`, says the real defaults, and makes
//! `recordings/` the recording directory; bad `[audit]` and `log_format` values are
//! refused with the key named.

use std::path::{Path, PathBuf};
use std::process::Command;

use oobgate::config::{Config, LogFormat};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> Config {
    Config::load(&repo().join("examples/oobgate.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A config with only the required keys, next to the example (same relative paths).
fn minimal(extra: &str) -> Result<Config, String> {
    let text = format!(
        "listen = \"127.0.0.1:2222\"\ndata_dir = \"../target/oobgate-data\"\n\
         policy_dir = \"../policies\"\ninventory = \"inventory.toml\"\n{extra}"
    );
    Config::parse(&text, &repo().join("examples/minimal.toml")).map_err(|e| e.to_string())
}

#[test]
fn example_config_loads_and_records_into_recordings() {
    let c = example();
    assert_eq!(c.recording_dir, repo().join("examples/../recordings"));
    assert!(Path::new(&c.recording_dir).join("README.md").is_file());
    assert_eq!(c.policy_dir, repo().join("examples/../policies"));
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(c.audit.syslog.is_none() && c.webhook.is_none());
    let out = Command::new(env!("CARGO_BIN_EXE_oobgate"))
        .args(["check", "--config"])
        .arg(repo().join("examples/oobgate.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn example_config_states_the_real_defaults() {
    let ex = example();
    let def = minimal("").unwrap();
    // Every value written out in the example is the one the bastion uses without it.
    assert_eq!(format!("{:?}", ex.auth), format!("{:?}", def.auth));
    assert_eq!(format!("{:?}", ex.limits), format!("{:?}", def.limits));
    assert_eq!(
        format!("{:?}", ex.recording),
        format!("{:?}", def.recording)
    );
    assert_eq!(format!("{:?}", ex.access), format!("{:?}", def.access));
    assert_eq!(format!("{:?}", ex.secrets), format!("{:?}", def.secrets));
    assert_eq!(ex.host_names, def.host_names);
    assert_eq!(ex.log_format, def.log_format);
    assert_eq!(def.recording_dir, def.data_dir.join("recordings"));
}

#[test]
fn commented_settings_of_the_example_are_real_keys() {
    // Uncomment the optional settings and tables the example documents: each must be a
    // key the config accepts (unknown keys are errors).
    let text = std::fs::read_to_string(repo().join("examples/oobgate.toml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let body = line.strip_prefix("# ").unwrap_or(line);
        let is_setting = body.starts_with('[')
            || body.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
        let skip = body.starts_with("token_file") || body.starts_with("secret_file");
        if line.starts_with("# ") && is_setting && !skip {
            out.push_str(body);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    // token_file and AppRole are alternatives; secret_file must exist with mode 0600.
    let c = Config::parse(&out, &repo().join("examples/oobgate.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(c.audit.syslog.unwrap().to_string(), "tcp://siem.mgmt:6514");
    assert!(c.webhook.is_some() && c.secrets.vault.is_some());
    assert_eq!(c.alerts.len(), 1, "the commented [[alert]] example");
    assert!(c.auth.revoked.is_some() && c.secrets.local_file.is_some());
    assert!(c.store.postgres.is_some());
    assert_eq!(c.node_name, "bastion-a");
}

#[test]
fn bad_audit_and_log_settings_name_the_key() {
    let e = minimal("[audit]\nsyslog = \"syslog://siem:514\"\n").unwrap_err();
    assert!(e.contains("syslog") && e.contains("unknown scheme"), "{e}");
    let e = minimal("[audit]\nsyslog = \"tcp://siem\"\n").unwrap_err();
    assert!(e.contains("no port"), "{e}");
    let e = minimal("log_format = \"xml\"\n").unwrap_err();
    assert!(e.contains("log_format") && e.contains("xml"), "{e}");
    let c = minimal("log_format = \"json\"\n[audit]\nsyslog = \"udp://127.0.0.1:514\"\n").unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.audit.syslog.unwrap().to_string(), "udp://127.0.0.1:514");
}

#[test]
fn readme_alert_examples_load_and_a_bad_regex_names_the_rule() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("\n[[alert]] ").expect("README shows [[alert]]");
    let end = start + readme[start..].find("\n[media]").expect("[media] follows");
    let c = minimal(&readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = c.alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kernel-panic",
            "cisco-critical",
            "login-failures",
            "flapping-link"
        ]
    );
    let e = minimal("[[alert]]\nname = \"sys\"\nregex = \"%SYS-2-[\"\nconsoles = [\"sw1\"]\n")
        .unwrap_err();
    assert!(
        e.contains("alert[0] (\"sys\")") && e.contains("does not compile"),
        "{e}"
    );
}
