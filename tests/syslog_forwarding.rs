//! Audit events forwarded by `audit::syslog::SyslogForwarder` to a real rsyslog: RFC 5424
//! over UDP and over TCP with octet counting, structured data parsed by rsyslog's own
//! `mmpstrucdata`, and a TCP receiver that goes away and comes back.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oobgate::audit::syslog::{SyslogForwarder, SyslogTarget};
use oobgate::audit::EventRow;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// rsyslogd in the foreground with an imtcp and an imudp input on loopback, writing each
/// message it parsed as one JSON line.
struct Rsyslog {
    dir: tempfile::TempDir,
    child: Option<Child>,
    tcp: u16,
    udp: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rsyslog {
    fn start() -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: run scripts/test (it installs Debian rsyslog)"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut r = Rsyslog {
            dir,
            child: None,
            tcp: free_port(),
            udp: free_port(),
        };
        r.write_config();
        r.spawn();
        r
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out.jsonl")
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let conf = format!(
            r#"global(workDirectory="{d}")
module(load="imtcp")
module(load="imudp")
module(load="mmpstrucdata")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="j" type="list") {{
  constant(value="{{\"input\":\"") property(name="inputname" format="json")
  constant(value="\",\"version\":\"") property(name="protocol-version" format="json")
  constant(value="\",\"facility\":\"") property(name="syslogfacility-text" format="json")
  constant(value="\",\"severity\":\"") property(name="syslogseverity-text" format="json")
  constant(value="\",\"app\":\"") property(name="app-name" format="json")
  constant(value="\",\"msgid\":\"") property(name="msgid" format="json")
  constant(value="\",\"msg\":\"") property(name="msg" format="json")
  constant(value="\",\"sd\":") property(name="$!rfc5424-sd")
  constant(value="}}\n")
}}
*.* action(type="mmpstrucdata")
*.* action(type="omfile" file="{out}" template="j")
"#,
            tcp = self.tcp,
            udp = self.udp,
            out = self.out().display(),
        );
        std::fs::write(self.dir.path().join("rsyslog.conf"), conf).unwrap();
    }

    /// Starts rsyslogd and waits until both inputs are bound.
    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("rsyslogd.log")).unwrap())
            .spawn()
            .expect("rsyslogd starts");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.tcp));
        wait_until("rsyslog's TCP and UDP inputs listen", || {
            TcpStream::connect(addr).is_ok() && udp_bound(self.udp)
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The messages rsyslog received so far.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Waits up to 20 s for `n` messages.
    fn wait_for(&self, n: usize) -> Vec<Value> {
        common::wait_until(
            &format!("{n} messages at rsyslog"),
            Duration::from_secs(20),
            || {
                let got = self.received();
                if got.len() >= n {
                    Ok(got)
                } else {
                    Err(format!(
                        "{} messages: {got:#?}\nits log: {}",
                        got.len(),
                        std::fs::read_to_string(self.dir.path().join("rsyslogd.log"))
                            .unwrap_or_default()
                    ))
                }
            },
        )
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` (from /proc/net/udp).
fn udp_bound(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .map(|t| t.lines().any(|l| l.contains(&needle)))
        .unwrap_or(false)
}

fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    common::wait_for_condition(what, Duration::from_secs(20), ok);
}

/// Two audit rows: an accepted login, and a refusal of a hostile login name.
fn rows() -> Vec<EventRow> {
    let row = |id: i64, kind: &str, user: &str, outcome: &str, detail: Value| EventRow {
        id,
        ts: format!("2026-11-23T10:00:0{id}.000Z"),
        kind: kind.into(),
        user: Some(user.into()),
        source: Some(format!("127.0.0.1:5002{id}")),
        device: None,
        action: None,
        outcome: Some(outcome.into()),
        detail,
        prev_hash: format!("{:064x}", id - 1),
        hash: format!("{id:064x}"),
        node: None,
    };
    vec![
        row(
            1,
            "auth.accept",
            "alice",
            "allow",
            json!({ "key_id": "alice-key", "serial": 7 }),
        ),
        row(
            2,
            "auth.reject",
            "ev\"il] \\x\n[fake@1 a=\"b\"]",
            "deny",
            json!({ "code": "unknown-ca", "reason": "not signed by a trusted CA" }),
        ),
    ]
}

fn forwarder(rt: &tokio::runtime::Runtime, url: &str) -> (SyslogForwarder, CancellationToken) {
    let target: SyslogTarget = url.parse().unwrap();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let _guard = rt.enter();
    (
        SyslogForwarder::start(target, &tracker, shutdown.clone()),
        shutdown,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn check_event(m: &Value, row: &EventRow, input: &str) {
    let sd = &m["sd"]["oobgate@32473"];
    assert_eq!(m["input"], input, "{m}");
    assert_eq!(m["version"], "1", "{m}");
    assert_eq!(m["facility"], "authpriv", "{m}");
    assert_eq!(m["app"], "oobgate", "{m}");
    assert_eq!(m["msgid"], row.kind, "{m}");
    assert_eq!(sd["id"], row.id.to_string(), "{m}");
    assert_eq!(sd["hash"], row.hash, "{m}");
    assert_eq!(sd["outcome"], row.outcome.clone().unwrap(), "{m}");
    let user = row.user.clone().unwrap().replace('\n', "\\u{a}");
    assert_eq!(sd["user"], user, "{m}");
    let detail: Value = serde_json::from_str(sd["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail, row.detail, "{m}");
    assert_eq!(m["msg"], row.to_line(), "{m}");
}

#[test]
fn events_reach_rsyslog_over_udp_and_tcp_and_parse() {
    let rsyslog = Rsyslog::start();
    let rt = runtime();
    let rows = rows();
    let (udp, stop_udp) = forwarder(&rt, &format!("udp://127.0.0.1:{}", rsyslog.udp));
    let (tcp, stop_tcp) = forwarder(&rt, &format!("tcp://localhost:{}", rsyslog.tcp));
    for row in &rows {
        udp.send(row);
        tcp.send(row);
    }
    let got = rsyslog.wait_for(4);
    for input in ["imudp", "imtcp"] {
        let mine: Vec<&Value> = got.iter().filter(|m| m["input"] == input).collect();
        assert_eq!(mine.len(), 2, "{got:#?}");
        for row in &rows {
            let m = mine
                .iter()
                .find(|m| m["sd"]["oobgate@32473"]["id"].as_str() == Some(&row.id.to_string()))
                .unwrap_or_else(|| panic!("event {} not received over {input}", row.id));
            check_event(m, row, input);
        }
    }
    let refused = got.iter().find(|m| m["msgid"] == "auth.reject").unwrap();
    assert_eq!(refused["severity"], "warning");
    assert_eq!(tcp.stats().dropped + udp.stats().dropped, 0);
    stop_udp.cancel();
    stop_tcp.cancel();
}

#[test]
fn tcp_forwarding_reconnects_after_the_receiver_restarts() {
    let mut rsyslog = Rsyslog::start();
    let rt = runtime();
    let rows = rows();
    let (tcp, stop) = forwarder(&rt, &format!("tcp://127.0.0.1:{}", rsyslog.tcp));
    tcp.send(&rows[0]);
    rsyslog.wait_for(1);
    rsyslog.stop();
    rsyslog.spawn();
    // Messages written into the dead connection are lost, as with any TCP syslog sender;
    // the forwarder notices, reconnects with backoff, and the next ones arrive.
    let mut sent = 0;
    common::wait_until(
        "a message to arrive after the restart",
        Duration::from_secs(30),
        || {
            if rsyslog
                .received()
                .iter()
                .skip(1)
                .any(|m| m["msgid"] == "auth.reject")
            {
                return Ok(());
            }
            tcp.send(&rows[1]);
            sent += 1;
            Err(format!("{sent} sent, {:?}", tcp.stats()))
        },
    );
    let last = rsyslog.received().pop().unwrap();
    check_event(&last, &rows[1], "imtcp");
    stop.cancel();
}

#[test]
fn a_serving_bastion_forwards_its_audit_events() {
    let rsyslog = Rsyslog::start();
    let lab = common::Lab::start_with(common::LabOptions {
        extra: format!("[audit]\nsyslog = \"udp://127.0.0.1:{}\"\n", rsyslog.udp),
        ..Default::default()
    });
    let cfg = lab.user("alice", "alice,role:netops");
    assert!(lab.ssh(&cfg, &["whoami"]).status.success());
    let accepted = lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("alice"));
    wait_until("the login reaches rsyslog", || {
        rsyslog.received().iter().any(|m| {
            m["msgid"] == "auth.accept"
                && m["sd"]["oobgate@32473"]["hash"].as_str() == Some(accepted.hash.as_str())
        })
    });
}
