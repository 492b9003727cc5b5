//! Two `oobgate serve` nodes on one PostgreSQL database, driven by the real ssh client: a
//! session through one node is listed by the other, a request made on one node is
//! approved on the other and the grant works on the first, the other's search finds what
//! the session showed, and the one audit chain verifies from both nodes with events naming
//! each; a node killed with a live session is found lost by the other, which closes that
//! session and seals its recording from the object store (a real SeaweedFS), where it
//! replays through the other node; a grant revoked on one node, or a certificate revoked
//! by one node's list, cuts a live session on the other, even when the announcement was
//! missed; a web link from one node logs in on the other, and a logout on one ends the
//! login on both; a node holding other CA keys is refused.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::nodes_lab::{
    curl, granted_session_on_a, live_on_sw1, nodes_lab, nodes_lab_with, number_after,
};
use common::text;

#[test]
fn sessions_access_and_the_audit_chain_are_shared_by_two_nodes() {
    let l = nodes_lab("");
    let bob = l.user("bob", "bob,role:oncall");
    let alice = l.user("alice", "alice,role:lead");
    let root = l.user("root", "root,role:admin");

    // No standing access for bob; he asks on node a, alice approves on node b.
    let (code, out) = l.ssh(&bob, "sw1", &["echo hi"]);
    assert_ne!(code, 0, "{out}");
    let (code, out) = l.ssh(&bob, "bastion", &["request", "sw1", "5m", "INC-7: uplink"]);
    assert_eq!(code, 0, "{out}");
    let n = number_after(&out, "request ");
    let (_, out) = l.ssh(&alice, "bastion-b", &["requests", "--pending"]);
    assert!(
        out.contains("INC-7: uplink"),
        "node b lists node a's request: {out}"
    );
    let (code, out) = l.ssh(&alice, "bastion-b", &["approve", &n]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("request {n} approved")), "{out}");

    // The grant made on node b works on node a.
    let (code, out) = l.ssh(&bob, "sw1", &["echo through-node-a"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("through-node-a"), "{out}");

    // Node b lists the session node a carried.
    let (code, out) = l.ssh(&root, "bastion-b", &["sessions", "--user", "bob"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|line| {
            line.contains("bob") && line.contains("sw1") && line.contains("bastion-a")
        }),
        "node b lists bob's session on sw1, carried by node a: {out}"
    );
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("SESSION") && header.contains("NODE"),
        "{out}"
    );

    // Node b's search finds what node a's session showed: the index is shared.
    let found = |out: &str| {
        out.lines()
            .filter(|l| l.contains("bob") && l.contains("shown") && l.contains("through-node-a"))
            .count()
    };
    common::wait_until(
        "node b's search to find node a's session",
        common::WAIT,
        || {
            let (code, out) = l.ssh(&root, "bastion-b", &["search", "through-node-a"]);
            match code == 0 && found(&out) == 1 {
                true => Ok(()),
                false => Err(out),
            }
        },
    );
    // Each node reindexes the sessions it carried (their recordings are on its disk),
    // and the index holds them once.
    let (o, e) = text(&l.nodes.oobgate_b(&["reindex"]));
    assert!(
        o.contains("reindexed 0 session(s)") && o.contains("of other nodes left to them"),
        "{o}{e}"
    );
    let (o, e) = text(&l.nodes.lab.oobgate(&["reindex"]));
    assert!(
        o.contains("reindexed 1 session(s)") && o.contains("0 failed"),
        "{o}{e}"
    );
    let (_, out) = l.ssh(&root, "bastion-b", &["search", "through-node-a"]);
    assert_eq!(found(&out), 1, "{out}");

    // One chain, verified from either node; events name the node that wrote them.
    for out in [
        l.nodes.lab.oobgate(&["audit", "verify"]),
        l.nodes.oobgate_b(&["audit", "verify"]),
    ] {
        let (o, e) = text(&out);
        assert!(out.status.success(), "{o}{e}");
        assert!(o.contains("audit chain OK"), "{o}");
    }
    let node_of = |kind: &str| -> Vec<String> {
        l.nodes
            .events(kind)
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.node.unwrap_or_default())
            .collect()
    };
    assert_eq!(node_of("access.request"), ["bastion-a"]);
    assert_eq!(node_of("access.approve"), ["bastion-b"]);
    assert!(node_of("session.start").iter().all(|n| n == "bastion-a"));
    let tail = l.nodes.oobgate_b(&["audit", "tail", "-n", "50"]);
    let (o, _) = text(&tail);
    assert!(
        o.contains("node=bastion-a") && o.contains("node=bastion-b"),
        "{o}"
    );
}

#[test]
fn a_node_killed_with_a_live_session_is_found_lost_and_its_session_closed() {
    // Recordings go to a real S3-compatible store (SeaweedFS).
    let s3_creds = tempfile::tempdir().unwrap();
    let s3 = oobgate::store::objects::testing::server().toml(s3_creds.path());
    let mut l = nodes_lab_with("node_lease = \"2s\"", &s3);
    let root = l.user("root", "root,role:admin");
    let mut session = common::KillOnDrop(
        Command::new("ssh")
            .arg("-F")
            .arg(&root)
            .args(["sw1", "echo up; sleep 60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let id = common::wait_until("a live session through node a", common::WAIT, || {
        let rows = l.nodes.sessions();
        match rows.iter().find(|r| r.user == "root" && r.ended.is_none()) {
            Some(r) => Ok(r.id.clone()),
            None => Err(format!("{rows:#?}")),
        }
    });

    // `oobgate status` on node b's host lists both nodes and what each carries.
    let status = text(&l.nodes.oobgate_b(&["status"])).0;
    assert!(
        status.contains("nodes:            2 on the shared store: bastion-a: lease until ")
            && status.contains(", 1 live; bastion-b (this node): lease until ")
            && status.contains("store:            PostgreSQL ")
            && status.contains("recordings:       s3://oobgate/t")
            && status.contains(": reachable; 0 in the spool ")
            && !status.contains("UNREACHABLE"),
        "{status}"
    );

    // Shipped while it runs: node b, which has no copy, replays what it showed so far.
    common::wait_until("node b to replay the running session", common::WAIT, || {
        let (shown, err) = text(&l.nodes.oobgate_b(&["replay", "--cat", &id]));
        if shown.contains("up") {
            Ok(())
        } else {
            Err(format!("{shown}{err}"))
        }
    });

    l.nodes.a.0.kill().unwrap(); // SIGKILL: no chance to close anything
    l.nodes.a.0.wait().unwrap();
    let row = common::wait_until("node b to close node a's session", common::WAIT, || {
        let rows = l.nodes.sessions();
        match rows.iter().find(|r| r.id == id) {
            Some(r) if r.ended.is_some() => Ok(r.clone()),
            other => Err(format!("{other:#?}\nnode b log:\n{}", l.nodes.b_log())),
        }
    });
    assert_eq!(row.end_reason.as_deref(), Some("aborted (node lost)"));
    let _ = session.0.kill();

    // The end event follows the row, once the recording is sealed from the bucket.
    let ends = common::wait_until(
        "node b's session.end for node a's session",
        common::WAIT,
        || {
            let ends: Vec<_> = l
                .nodes
                .events("session.end")
                .into_iter()
                .filter(|e| e.detail["session"] == id.as_str())
                .collect();
            if ends.is_empty() {
                Err(l.nodes.b_log())
            } else {
                Ok(ends)
            }
        },
    );
    assert_eq!(ends.len(), 1, "{ends:#?}");
    assert_eq!(ends[0].detail["reason"], "aborted (node lost)");
    // node.lost was written before it.
    let lost = l.nodes.events("node.lost");
    assert_eq!(lost.len(), 1, "{lost:#?}");
    assert_eq!(lost[0].node.as_deref(), Some("bastion-b"));
    assert_eq!(lost[0].detail["node"], "bastion-a");
    assert_eq!(lost[0].detail["sessions"][0], id.as_str());
    assert_eq!(ends[0].node.as_deref(), Some("bastion-b"));
    // Node b sealed the recording from what reached the object store: the end row and
    // event hold its SHA-256, and it replays through node b up to the loss.
    let sealed = ends[0].detail["recording_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("{:#?}\nnode b log:\n{}", ends[0], l.nodes.b_log()));
    let row = l.nodes.sessions().into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(row.recording_sha256.as_deref(), Some(sealed));
    let (code, played) = l.ssh(&root, "bastion-b", &["replay", &id, "--cat"]);
    assert_eq!(code, 0, "{played}");
    assert!(played.contains("up"), "{played}");
    // With the object store any node rebuilds the index of every session, node a's too.
    let (reindexed, err) = text(&l.nodes.oobgate_b(&["reindex"]));
    assert!(
        reindexed.starts_with("reindexed 1 session(s)")
            && reindexed.contains("; 0 failed")
            && !reindexed.contains("other nodes"),
        "{reindexed}{err}"
    );
    let verify = l.nodes.oobgate_b(&["audit", "verify"]);
    assert!(verify.status.success(), "{:?}", text(&verify));
    let status = text(&l.nodes.oobgate_b(&["status"])).0;
    assert!(
        status.contains("nodes:            1 on the shared store: bastion-b (this node): "),
        "the lost node is gone from the list: {status}"
    );
}

#[test]
fn a_grant_revoked_on_node_b_cuts_a_live_session_on_node_a() {
    let l = nodes_lab("");
    let alice = l.user("alice", "alice,role:lead");
    let (n, mut session) = granted_session_on_a(&l, &alice);
    // Node b lists the session node a carries among the live ones.
    let root = l.user("root", "root,role:admin");
    let live = || {
        let (code, out) = l.ssh(&root, "bastion-b", &["sessions", "--live"]);
        assert_eq!(code, 0, "{out}");
        out
    };
    let out = live();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(
        rows.len() == 1
            && rows[0].contains("bob")
            && rows[0].contains("bastion-a")
            && rows[0].ends_with("(live)"),
        "{out}"
    );

    let (code, out) = l.ssh(&alice, "bastion-b", &["revoke", &n, "incident closed"]);
    assert_eq!(code, 0, "{out}");
    // Node a hears of it at once (LISTEN/NOTIFY); nothing else would end this session
    // before its 60 s command or the grant's 5 minutes.
    let status = common::wait_until(
        "bob's session on node a to be cut",
        Duration::from_secs(5),
        || match session.0.try_wait().unwrap() {
            Some(status) => Ok(status),
            None => Err("still running"),
        },
    );
    let mut shown = String::new();
    std::io::Read::read_to_string(session.0.stdout.as_mut().unwrap(), &mut shown).unwrap();
    std::io::Read::read_to_string(session.0.stderr.as_mut().unwrap(), &mut shown).unwrap();
    assert!(
        shown.contains(&format!(
            "access grant #{n} revoked by alice: incident closed"
        )),
        "{status}: {shown}\nnode a:\n{}",
        l.nodes.lab.server_log()
    );
    // The client may leave before node a has written the end row.
    common::wait_until("bob's session row ended", common::WAIT, || {
        let rows = l.nodes.sessions();
        match rows.iter().find(|r| r.user == "bob") {
            Some(row) if row.ended.is_some() => Ok(()),
            other => Err(format!("{other:#?}")),
        }
    });
    common::wait_until("node b to list no live session", common::WAIT, || {
        let out = live();
        match out.lines().count() {
            1 => Ok(()),
            _ => Err(out),
        }
    });
}

#[test]
fn a_grant_revoked_while_node_a_was_not_listening_still_cuts_its_session() {
    let l = nodes_lab("");
    let alice = l.user("alice", "alice,role:lead");
    let (n, mut session) = granted_session_on_a(&l, &alice);
    // A revocation node a never hears announced (made while its listening connection was
    // down): written to the database with no NOTIFY...
    l.nodes.sql(&format!(
        "UPDATE access_requests SET state = 'revoked', closed_by = 'alice', \
         close_note = 'missed' WHERE id = {n}"
    ));
    assert!(
        session.0.try_wait().unwrap().is_none(),
        "nothing announced it"
    );
    // ...then the listening connections drop (a database restart, a network cut). Once
    // node a listens again it reads what it may have missed.
    l.nodes.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query = 'LISTEN oobgate'",
    );
    let status =
        common::wait_until(
            "bob's session on node a to be cut",
            common::WAIT,
            || match session.0.try_wait().unwrap() {
                Some(status) => Ok(status),
                None => Err("still running"),
            },
        );
    let mut shown = String::new();
    std::io::Read::read_to_string(session.0.stderr.as_mut().unwrap(), &mut shown).unwrap();
    assert!(
        shown.contains(&format!("access grant #{n} revoked by alice: missed")),
        "{status}: {shown}\nnode a:\n{}",
        l.nodes.lab.server_log()
    );
    assert!(
        l.nodes.lab.server_log().contains("listening again"),
        "{}",
        l.nodes.lab.server_log()
    );
}

#[test]
fn a_certificate_revoked_by_node_b_is_cut_on_node_a_and_refused_there() {
    let l = nodes_lab("");
    let serial = 4242u64;
    let key = l.nodes.lab.key("victor");
    l.nodes.lab.sign(
        &key,
        &[
            "-I",
            "victor-key",
            "-n",
            "victor,role:admin",
            "-z",
            &serial.to_string(),
            "-V",
            "-1m:+1h",
        ],
    );
    let victor = l.nodes.lab.ssh_config("victor", &key, true);
    let victor = l
        .nodes
        .with_node_b(&l.nodes.lab.with_devices(&victor, &["sw1"]));
    let mut session = live_on_sw1(&l.nodes, &victor, "victor");

    // Only node b's list names the certificate; node a's file stays as it was.
    let revoked_b = l.nodes.lab.root().join("revoked-b");
    std::fs::write(&revoked_b, format!("serial {serial}\n")).unwrap();
    let status = common::wait_until(
        "victor's session on node a to be cut",
        Duration::from_secs(5),
        || match session.0.try_wait().unwrap() {
            Some(status) => Ok(status),
            None => Err("still running"),
        },
    );
    let mut shown = String::new();
    std::io::Read::read_to_string(session.0.stdout.as_mut().unwrap(), &mut shown).unwrap();
    std::io::Read::read_to_string(session.0.stderr.as_mut().unwrap(), &mut shown).unwrap();
    assert!(
        shown.contains(&format!("serial {serial}) was revoked")),
        "{status}: {shown}"
    );
    let own = std::fs::read_to_string(l.nodes.lab.root().join("revoked")).unwrap();
    assert!(!own.contains("4242"), "{own}");
    // Node a refuses new logins with it too.
    let (code, out) = l.ssh(&victor, "bastion", &["ls"]);
    assert_ne!(code, 0, "{out}");
    let shared = l.nodes.events("revocation.shared");
    assert!(
        shared
            .iter()
            .any(|e| e.node.as_deref() == Some("bastion-b") && e.detail["serials"][0] == serial),
        "{shared:#?}"
    );
}

/// `ssh sw1 'echo up; sleep 60'` as `user` with `cfg`, once the shared ledger shows it live.
#[test]
fn a_web_link_from_one_node_logs_in_on_the_other_and_a_logout_ends_it_on_both() {
    let l = nodes_lab_with("", "[web]\nlisten = \"127.0.0.1:0\"\n");
    let carol = l.user("carol", "carol,role:admin");
    let link = |host: &str| {
        let (code, out) = l.ssh(&carol, host, &["web"]);
        assert_eq!(code, 0, "{out}");
        let link = out.lines().next().unwrap_or_default().to_string();
        let (base, token) = link
            .rsplit_once("/login/")
            .unwrap_or_else(|| panic!("{out}"));
        (base.to_string(), token.to_string())
    };
    let (base_a, token_a) = link("bastion");
    let (base_b, _) = link("bastion-b");
    assert_ne!(base_a, base_b, "each node serves its own web console");

    // Node a's link, opened on node b: a login, which node a honours too.
    let (status, headers) = curl(&format!("{base_b}/login/{token_a}"), None, None);
    assert_eq!(status, "303", "{headers}");
    let cookie = common::login_cookie(&headers);
    let api = |base: &str| curl(&format!("{base}/api/sessions"), Some(&cookie), None).0;
    assert_eq!(api(&base_b), "200");
    assert_eq!(api(&base_a), "200");
    // The link is used up on every node.
    let (status, _) = curl(&format!("{base_a}/login/{token_a}"), None, None);
    assert_eq!(status, "403");

    // Logged out on node a (the page's CSRF token): node b refuses the cookie as well.
    let page = Command::new("curl")
        .args([
            "-sk",
            "-H",
            &format!("Cookie: {cookie}"),
            &format!("{base_a}/"),
        ])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    let csrf: String = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no CSRF token in {page}"))
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    let (status, _) = curl(
        &format!("{base_a}/logout"),
        Some(&cookie),
        Some(&format!("csrf={csrf}")),
    );
    assert_eq!(status, "200");
    assert_eq!(api(&base_b), "401");
    assert_eq!(api(&base_a), "401");
}

#[test]
fn a_node_holding_other_ca_keys_is_refused_at_start_and_by_check() {
    let l = nodes_lab("");
    // Node b holds the set's keys (copied from node a, which shared them first).
    let (o, e) = text(&l.nodes.oobgate_b(&["check"]));
    assert!(
        o.contains("node keys: host_ca SHA256:")
            && o.contains("node keys: user_ca SHA256:")
            && o.contains("the node set's (first shared by bastion-a)"),
        "{o}{e}"
    );

    // Node c: the same config with a data dir of its own, no keys copied into it.
    let root = l.nodes.lab.root();
    let c_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c_config = root.join("oobgate-c.toml");
    let b_text = std::fs::read_to_string(&l.nodes.b_config).unwrap();
    let c_text = b_text
        .replace(&format!("\"{}\"", l.nodes.b_addr), &format!("\"{c_addr}\""))
        .replace("data_dir = \"data-b\"", "data_dir = \"data-c\"")
        .replace("name = \"bastion-b\"", "name = \"bastion-c\"");
    std::fs::write(&c_config, c_text).unwrap();
    let oobgate_c = |args: &[&str]| {
        let out = common::run(
            Command::new(env!("CARGO_BIN_EXE_oobgate"))
                .args(args)
                .arg("--config")
                .arg(&c_config),
        );
        let (o, e) = text(&out);
        (out.status.success(), format!("{o}{e}"))
    };
    let (ok, out) = oobgate_c(&["check"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("host_ca: this node has none yet")
            && out.contains("first shared by bastion-a"),
        "{out}"
    );

    // Started anyway, it makes keys of its own and refuses to serve, naming the key.
    let mut serve = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(["serve", "--config"])
            .arg(&c_config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = common::wait_until("node c to refuse to start", common::WAIT, || {
        match serve.0.try_wait().unwrap() {
            Some(status) => Ok(status),
            None => Err("still running"),
        }
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(serve.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("host_ca: this node's key SHA256:")
            && stderr.contains("differs from the node set's SHA256:")
            && stderr.contains("(first shared by node bastion-a)"),
        "{stderr}"
    );
    assert!(
        std::net::TcpStream::connect(c_addr).is_err(),
        "node c does not listen"
    );
    let (ok, out) = oobgate_c(&["check"]);
    assert!(
        !ok && out.contains("host_ca: this node's key SHA256:"),
        "{out}"
    );
}
