//! `oobgate audit export --format ocsf|cef|json` on a bastion's real audit log: OCSF events
//! validated against the OCSF project's schema (PyPI `ocsf-json-schema`, checked with
//! `jsonschema`), CEF lines, and `--json` kept as the JSON Lines alias.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{text, Lab};
use oobgate::audit::Event;
use serde_json::{json, Value};

/// The Python of the test peers' venv (installed by `ensure_ocsf_schema` in scripts/lib).
fn peers_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers/venv/bin/python3");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test, which installs the OCSF schema (ensure_ocsf_schema)",
        p.display()
    );
    p
}

/// A lab whose audit log holds the events of real logins, refusals, commands and a failed
/// device session, plus the kinds this lab cannot produce by itself.
fn lab_with_events() -> Lab {
    let lab = Lab::start();
    let alice = lab.user("alice", "alice,role:netops");
    assert!(lab.ssh(&alice, &["whoami"]).status.success());
    lab.ssh(&alice, &["connect", "sw2"]); // denied by policy
    let devices = lab.with_devices(&alice, &["sw1"]);
    lab.ssh_to(&devices, "sw1", &["true"]); // allowed; the device is unreachable
    let rogue = lab.root().join("rogue_ca");
    common::ssh_keygen_key(&rogue);
    let mallory = lab.key("id_mallory");
    lab.sign_with(&rogue, &mallory, &["-I", "m|a=l\\x", "-n", "mallory"]);
    let cfg = lab.ssh_config("mallory", &mallory, true);
    assert!(!lab.ssh(&cfg, &["whoami"]).status.success());
    lab.wait_event("session.fail", |_| true);
    lab.wait_event("auth.reject", |e| e.user.as_deref() == Some("mallory"));
    // Events of sessions that ran, and of file transfers (the lab has no device to reach
    // and no file transfer yet), shaped like the ones the bastion writes.
    let sess = || {
        Event::new("session.start")
            .user("alice")
            .source("127.0.0.1:40000")
            .device("sw1")
            .action("connect")
            .outcome("ok")
    };
    lab.record(sess().detail(json!({ "session": "7f3a", "recording": "/r/7f3a.cast" })));
    let end = json!({ "session": "7f3a", "reason": "closed", "exit_status": 0,
        "bytes_in": 12, "bytes_out": 3400, "recording_sha256": "aa" });
    let mut ended = sess().detail(end);
    ended.kind = "session.end".into();
    lab.record(ended);
    lab.record(
        Event::new("file.upload")
            .user("alice")
            .source("127.0.0.1:40001")
            .device("sw1")
            .outcome("ok")
            .detail(json!({ "path": "/flash/config.txt", "size": 2048 })),
    );
    lab.record(
        Event::new("file.upload")
            .user("carol")
            .source("127.0.0.1:40002")
            .device("sw1")
            .outcome("ok")
            .detail(json!({ "op": "rename", "path": "/flash/a.txt", "to": "/flash/b.txt" })),
    );
    lab
}

/// An export with one line per event of the log, taken once the log holds still (a
/// refused client's disconnect is audited a moment after it has gone): (events, text).
fn settled_export(lab: &Lab, args: &[&str]) -> (usize, String) {
    common::wait_until("an export with a line per event", common::WAIT, || {
        let before = lab.events("").len();
        let text = export(lab, args);
        let lines = text.lines().count();
        if lines == before && lab.events("").len() == before {
            Ok((before, text))
        } else {
            Err(format!("{lines} lines for {before} events:\n{text}"))
        }
    })
}

fn export(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["audit", "export"];
    all.extend_from_slice(args);
    let out = lab.oobgate(&all);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    stdout
}

#[test]
fn ocsf_export_validates_against_the_ocsf_schema() {
    let lab = lab_with_events();
    let file = lab.root().join("events.ocsf.jsonl");
    // The same export to stdout, once the log holds still, is what goes to the file.
    let (n, settled) = settled_export(&lab, &["--format", "ocsf"]);
    export(&lab, &["--format", "ocsf", "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), settled);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/ocsf_validate.py");
    let out = common::run(
        Command::new(peers_python())
            .arg(&script)
            .arg(oobgate::audit::ocsf::OCSF_VERSION)
            .arg(&file),
    );
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "OCSF validation failed:\n{stdout}{stderr}"
    );
    for class in [3002, 3003, 4007, 1001, 6003] {
        assert!(
            stdout.contains(&format!("class {class}:")),
            "no {class} event:\n{stdout}"
        );
    }

    let events: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), n, "one OCSF event per audit event");
    let find = |kind: &str, user: &str| {
        events
            .iter()
            .find(|e| {
                e["metadata"]["event_code"] == kind
                    && (e["user"]["name"] == user
                        || e["actor"]["user"]["name"] == user
                        || e["src_endpoint"]["owner"]["name"] == user)
            })
            .unwrap_or_else(|| panic!("no {kind} for {user}"))
            .clone()
    };
    let login = find("auth.accept", "alice");
    assert_eq!(login["class_uid"], 3002);
    assert_eq!(login["status_id"], 1);
    assert_eq!(login["src_endpoint"]["ip"], "127.0.0.1");
    assert_eq!(login["certificate"]["subject"], "alice-key");
    let refused = find("auth.reject", "mallory");
    assert_eq!(
        (refused["status_id"].clone(), refused["type_uid"].clone()),
        (json!(2), json!(300201))
    );
    let denied = find("policy.decision", "alice");
    assert_eq!(denied["class_uid"], 3003);
    let end = find("session.end", "alice");
    assert_eq!(
        (
            end["activity_id"].clone(),
            end["traffic"]["bytes_out"].clone()
        ),
        (json!(2), json!(3400))
    );
    // A rename through SFTP is a File Activity Rename, not a Create.
    let renamed = find("file.upload", "carol");
    assert_eq!(
        (renamed["activity_id"].clone(), renamed["type_uid"].clone()),
        (json!(5), json!(100105))
    );
    let time = login["time"].as_i64().unwrap();
    assert!(
        time > 1_700_000_000_000,
        "time is in ms since the epoch: {time}"
    );
}

#[test]
fn cef_and_json_exports_have_one_line_per_event() {
    let lab = lab_with_events();
    let (n, cef) = settled_export(&lab, &["--format", "cef"]);
    for line in cef.lines() {
        assert!(line.starts_with("CEF:0|oobgate|oobgate|"), "{line}");
    }
    let reject = cef
        .lines()
        .find(|l| l.contains("suser=mallory"))
        .expect("the refused login");
    assert!(
        reject.contains("|auth.reject|login rejected|5|"),
        "{reject}"
    );
    // The hostile key id is in the detail, its `=` and `\` escaped.
    assert!(reject.contains(r#"m|a\=l\\\\x"#), "{reject}");

    let (n_json, json) = settled_export(&lab, &["--json"]);
    assert_eq!(
        json,
        export(&lab, &["--format", "json"]),
        "--json is --format json"
    );
    assert!(n_json >= n);
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(first["hash"].is_string() && first["prev_hash"].is_string());

    let out = lab.oobgate(&["audit", "export", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("use json, ocsf or cef"),
        "{:?}",
        text(&out)
    );
}
