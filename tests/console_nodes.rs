//! A network console on two nodes sharing PostgreSQL: one node carries it (one device
//! connection, one log writer), an attach through the other node is relayed to it over
//! SSH, and when the carrying node is killed the other takes the console over, says so on
//! the console and in the audit chain, and serves it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::nodes::TwoNodes;
use common::nodes_lab::POLICY;
use common::{text, Attached, LabOptions};

/// A console-server port carrying bytes only (`raw://`): socat, one console program per
/// connection, each connection noted in `connections`.
struct RawConsole {
    socat: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for RawConsole {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

impl RawConsole {
    fn connections(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("connections"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

/// Whether a socket listens on `port` (`/proc/net/tcp`: local address, state `0A`).
fn listening(port: u16) -> bool {
    let local = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().any(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
        })
    })
}

fn raw_console() -> RawConsole {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("console.sh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\necho \"conn $$\" >> {}\necho CONSOLE-READY\nwhile read l; do echo \"got:$l\"; done\n",
            dir.path().join("connections").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!("EXEC:{}", program.display()))
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (scripts/test installs it)");
    // Waiting by connecting would count as a connection: read the listening sockets.
    common::wait_until("socat listening", common::WAIT, || {
        listening(port).then_some(()).ok_or("not yet")
    });
    RawConsole { socat, port, dir }
}

fn console_log(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cast"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

#[test]
fn a_console_is_carried_by_one_node_relayed_from_the_other_and_taken_over_when_it_dies() {
    let console = raw_console();
    let inventory = format!(
        "[[device]]\nname = \"con1\"\nkind = \"serial\"\naddress = \"raw://127.0.0.1:{}\"\nalways_on = true\n",
        console.port
    );
    let mut nodes = TwoNodes::start(
        LabOptions {
            inventory: Some(inventory),
            policy: Some(POLICY.into()),
            ..Default::default()
        },
        "node_lease = \"2s\"",
    );
    let root = nodes.lab.user("root", "root,role:admin");
    let root = nodes.with_node_b(&root);
    let ssh = |host: &str, args: &[&str]| {
        let (o, e) = text(&nodes.lab.ssh_to(&root, host, args));
        format!("{o}{e}")
    };

    // Node a started first and carries the console: one device connection, its log.
    let log_a = nodes.lab.config.data_dir.join("consoles/con1");
    common::wait_until("node a's console log", common::WAIT, || {
        let l = console_log(&log_a);
        l.contains("CONSOLE-READY").then_some(()).ok_or(l)
    });
    // (The lab's set-up may have opened the console once before node a started.)
    let before = console.connections();
    let on_a = ssh("bastion", &["consoles"]);
    assert!(
        on_a.contains("NODE") && on_a.contains("bastion-a (this node)"),
        "{on_a}"
    );
    let on_b = ssh("bastion-b", &["consoles"]);
    assert!(
        on_b.contains("elsewhere") && on_b.contains("bastion-a"),
        "{on_b}"
    );

    // An attach through node b is relayed to node a, with the backlog, both ways.
    let mut attached = Attached::start_args(&root, "bastion-b", &["connect", "con1"]);
    attached.expect("CONSOLE-READY");
    attached.send(b"through-b\n");
    attached.expect("got:through-b");
    assert_eq!(
        console.connections(),
        before,
        "the device saw no second connection; console log:\n{}",
        console_log(&log_a)
    );
    assert!(console_log(&log_a).contains("got:through-b"));
    let relay = nodes.events("console.relay");
    assert_eq!(relay.len(), 1, "{relay:#?}");
    assert_eq!(relay[0].node.as_deref(), Some("bastion-b"));
    assert_eq!(relay[0].detail["owner"], "bastion-a");
    // Node a recorded the attach as a session of root's, audited there.
    let starts: Vec<_> = nodes
        .events("session.start")
        .into_iter()
        .filter(|e| e.device.as_deref() == Some("con1"))
        .collect();
    assert_eq!(starts.len(), 1, "{starts:#?}");
    assert_eq!(starts[0].node.as_deref(), Some("bastion-a"));
    assert_eq!(starts[0].user.as_deref(), Some("root"));

    // Node a dies: node b takes the console over within a few lease periods.
    let killed = Instant::now();
    nodes.a.0.kill().unwrap();
    nodes.a.0.wait().unwrap();
    attached.wait_exit();
    attached.expect("oobgate: node bastion-a carrying console con1 is gone; attach again");
    let log_b = nodes.lab.root().join("data-b/consoles/con1");
    common::wait_until("node b to take the console over", common::WAIT, || {
        let l = console_log(&log_b);
        l.contains("console taken over by node bastion-b (node bastion-a lost)")
            .then_some(())
            .ok_or(format!("{l}\nnode b log:\n{}", nodes.b_log()))
    });
    eprintln!(
        "console taken over {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    common::wait_until("node b's own connection", common::WAIT, || {
        (console.connections() == before + 1)
            .then_some(())
            .ok_or(console.connections())
    });
    let took = nodes.events("console.takeover");
    assert_eq!(took.len(), 1, "{took:#?}");
    assert_eq!(took[0].node.as_deref(), Some("bastion-b"));
    assert_eq!(took[0].detail["from"], "bastion-a");
    let on_b = ssh("bastion-b", &["consoles"]);
    assert!(
        on_b.contains("bastion-b (this node)") && on_b.contains(" up "),
        "{on_b}"
    );

    // Node b serves it now, directly.
    let mut again = Attached::start_args(&root, "bastion-b", &["connect", "con1"]);
    again.expect("console taken over by node bastion-b");
    again.send(b"after-takeover\n");
    again.expect("got:after-takeover");
    assert_eq!(nodes.events("console.relay").len(), 1, "no second relay");
    let _ = again.detach();
}
