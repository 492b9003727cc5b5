//! `ssh bastion search` over sessions as they run and after: a real sshd device behind the
//! bastion, the real ssh client typing into it, auditors searching with the real ssh client,
//! and `oobgate reindex` rebuilding a lost index from the recordings.

mod common;

use common::device_lab::device_lab;
use common::Attached;
use common::{text, wait_until, Lab, WAIT};

/// `ssh bastion search ARGS...` as `cfg`'s user: (status, stdout).
fn search(lab: &Lab, cfg: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    let out = lab.ssh(cfg, &all);
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// Waits until `search ARGS` prints a hit containing `needle`; returns the output.
#[track_caller]
fn wait_hit(lab: &Lab, cfg: &std::path::Path, args: &[&str], needle: &str) -> String {
    wait_until(&format!("search {args:?} to find {needle:?}"), WAIT, || {
        let (code, out) = search(lab, cfg, args);
        if code == 0 && out.lines().skip(1).any(|l| l.contains(needle)) {
            Ok(out)
        } else {
            Err(out)
        }
    })
}

/// The hit lines (no header) of a search output.
fn hits(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with("SESSION"))
        .map(str::to_string)
        .collect()
}

/// `mm:ss` of the first output event of the recording containing `needle`.
fn recorded_offset(lab: &Lab, session: &str, needle: &str) -> String {
    let path = lab.config.recording_dir.join(format!("{session}.cast"));
    let rec = oobgate::recording::Recording::open(&path).unwrap();
    let ev = rec
        .events
        .iter()
        .find(|e| e.code == 'o' && String::from_utf8_lossy(&e.data).contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()));
    let ms = (ev.time * 1000.0).round() as u64;
    oobgate::frontdoor::commands::format_offset(ms)
}

#[test]
fn shown_and_typed_lines_are_found_live_and_after_filtered_by_policy_and_rebuilt_by_reindex() {
    let d = device_lab("");
    let lab = &d.lab;
    let carol = lab.user("carol", "carol,role:auditor");
    let dave = lab.user("dave", "dave,role:netops");

    let mut alice = Attached::start(&d.cfg, "sw1");
    alice.send(b"echo found-$((6*7))-here\r");
    alice.expect("found-42-here");

    // While the session runs: the device's line and the typed one, each in its stream.
    let shown = wait_hit(lab, &carol, &["found-42-here"], "found-42-here");
    let row = hits(&shown)
        .into_iter()
        .find(|l| l.contains(" shown ") && l.contains("found-42-here"))
        .unwrap_or_else(|| panic!("no shown hit: {shown}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    let session = cols[0].to_string();
    assert_eq!(&cols[1..5], ["alice", "sw1", cols[3], "shown"], "{row}");
    assert_eq!(
        cols[3],
        recorded_offset(lab, &session, "found-42-here"),
        "{row}"
    );
    let typed = wait_hit(lab, &carol, &["echo found", "--typed"], "$((6*7))");
    assert!(
        typed.contains(&session) && typed.contains(" typed "),
        "{typed}"
    );

    alice.send(b"exit\r");
    alice.wait_exit();
    lab.wait_event("session.end", |e| e.user.as_deref() == Some("alice"));

    // After the session: the same hits (the device's answer, the terminal's echo of the
    // command, the command typed), and each filter keeps only what it names.
    let after = wait_hit(lab, &carol, &["found"], "echo found");
    assert_eq!(hits(&after).len(), 3, "{after}");
    let (_, only_shown) = search(lab, &carol, &["found", "--shown"]);
    assert_eq!(hits(&only_shown).len(), 2, "{only_shown}");
    assert!(only_shown.contains("found-42-here"), "{only_shown}");
    assert!(!only_shown.contains(" typed "), "{only_shown}");
    let (_, only_typed) = search(lab, &carol, &["found", "--typed"]);
    assert_eq!(hits(&only_typed).len(), 1, "{only_typed}");
    assert!(only_typed.contains("$((6*7))"), "{only_typed}");
    for args in [["found", "--user", "bob"], ["found", "--device", "sw9"]] {
        let (code, out) = search(lab, &carol, &args);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("No line you may see matches \"found\""),
            "{args:?}: {out}"
        );
    }
    let (_, by_user) = search(
        lab,
        &carol,
        &["found", "--user", "alice", "--device", "sw1"],
    );
    assert_eq!(hits(&by_user).len(), 3, "{by_user}");

    // Someone without `replay` on sw1 is told nothing matches.
    let (code, refused) = search(lab, &dave, &["found"]);
    assert_eq!(code, 0, "{refused}");
    assert!(refused.contains("No line you may see matches"), "{refused}");
    assert!(!refused.contains(&session), "{refused}");

    // Bad options are named.
    let (code, bad) = search(lab, &carol, &["found", "--since", "yesterdayish"]);
    assert_eq!(code, 2, "{bad}");
    assert!(bad.contains("\"yesterdayish\" is not a time"), "{bad}");
    let (code, bad) = search(lab, &carol, &["found", "--typed", "--shown"]);
    assert_eq!(code, 2, "{bad}");
    let (code, bad) = search(lab, &carol, &["--", "***"]);
    assert_eq!(code, 1, "{bad}");
    assert!(bad.contains("no letters or digits"), "{bad}");
    let (_, since) = search(lab, &carol, &["found", "--since", "2000-01-01"]);
    assert_eq!(hits(&since).len(), 3, "{since}");
    let (_, future) = search(lab, &carol, &["found", "--since", "2100-01-01"]);
    assert!(future.contains("No line you may see matches"), "{future}");
    let (_, one) = search(lab, &carol, &["found", "-n", "1"]);
    assert_eq!(hits(&one).len(), 1, "{one}");

    // Each search is audited with its query.
    let ev = lab.wait_event("search", |e| {
        e.user.as_deref() == Some("dave") && e.detail.to_string().contains("found")
    });
    assert_eq!(ev.detail["query"], "found");

    // The index lost: reindex rebuilds the same hits, and again gives the same.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!(
            "{}{suffix}",
            lab.config.search_index_path().display()
        ));
    }
    for _ in 0..2 {
        let out = lab.oobgate(&["reindex"]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("reindexed 1 session(s)"), "{stdout}");
        let (_, again) = search(lab, &carol, &["found"]);
        assert_eq!(hits(&again), hits(&after), "{again}");
    }
}
