//! `oobgate status`: one screen about the bastion on this host, read from the config, the
//! store and the files, and from the server itself when it answers; it needs no server.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use oobgate::config::Config;
use russh::keys::ssh_key::{Certificate, HashAlg};

use super::stores::runtime;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the status; exit 0 when the server answers and the store and the secrets store
/// are reachable, 1 otherwise.
pub fn status(config: &Path) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let row = |name: &str, value: &str| println!("{:<18}{value}", format!("{name}:"));
    row("config", &config.path.display().to_string());
    row(
        "node",
        &match config.host_names.as_slice() {
            [] => format!("{} (no host_names set)", config.node_name),
            names => format!("{} (host names: {})", config.node_name, names.join(", ")),
        },
    );
    let answering = probe_ssh(config.listen);
    row(
        "listen",
        &match &answering {
            Ok(banner) => format!("{}: answering ({banner})", config.listen),
            Err(e) => format!("{}: NOT answering ({e})", config.listen),
        },
    );
    let scrape = config.metrics.map(|addr| (addr, scrape(addr)));
    row(
        "metrics",
        &match &scrape {
            None => "off (no [metrics])".to_string(),
            Some((addr, Ok(_))) => format!("{addr}: answering"),
            Some((addr, Err(e))) => format!("{addr}: NOT answering ({e})"),
        },
    );
    let rt = runtime()?;
    let store = rt.block_on(store_rows(&config));
    row("store", &store.store);
    row("recordings", &store.recordings);
    row("nodes", &store.nodes);
    row("live sessions", &store.live);
    row(
        "consoles",
        &match &scrape {
            Some((_, s)) => consoles(s),
            None => consoles_from_logs(&config),
        },
    );
    let none = config.secrets.vault.is_none() && config.secrets.local_file.is_none();
    let secrets = rt.block_on(async {
        oobgate::secrets::open_store(&config.secrets, &config.data_dir)
            .await
            .map(|s| s.describe())
    });
    row(
        "secrets",
        &match &secrets {
            Ok(_) if none => "none configured".to_string(),
            Ok(what) => format!("{what}: reachable"),
            Err(e) => format!("UNREACHABLE: {e}"),
        },
    );
    for (name, file) in [("host CA", "host_ca.pub"), ("user CA", "user_ca.pub")] {
        row(name, &ca_line(&config.data_dir.join(file)));
    }
    for (i, ca) in config.auth.trusted_user_ca.iter().enumerate() {
        row(&format!("trusted CA {}", i + 1), &ca_line(ca));
    }
    row(
        "host certificate",
        &host_cert_line(&config.data_dir.join("host_key-cert.pub")),
    );
    let healthy =
        answering.is_ok() && secrets.is_ok() && store.reachable && store.recordings_reachable;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where to reach a listen address from this host (a wildcard address: loopback).
fn local(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// The SSH banner of the server at `addr`.
fn probe_ssh(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&local(addr), PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf)?;
    let banner = String::from_utf8_lossy(&buf[..n]).trim().to_string();
    if banner.starts_with("SSH-2.0-oobgate") {
        Ok(banner)
    } else {
        Err(std::io::Error::other(format!(
            "something else listens there: {banner:?}"
        )))
    }
}

/// The body of `GET /metrics` at `addr`.
fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&local(addr), PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    match reply.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(std::io::Error::other("no metrics in the answer")),
    }
}

/// The store's rows of the screen.
struct StoreRows {
    store: String,
    recordings: String,
    recordings_reachable: bool,
    nodes: String,
    live: String,
    reachable: bool,
}

/// Where the state lives, the nodes sharing it, and this node's open sessions.
async fn store_rows(config: &Config) -> StoreRows {
    let what = match &config.store.postgres {
        Some(url) => format!("PostgreSQL {url:?}"),
        None => format!("sqlite {}", config.store_path().display()),
    };
    let read = async {
        let stores = super::stores::open(config).await?;
        let live = stores.sessions.unfinished().await?.len();
        let nodes = match &stores.leases {
            Some(leases) => Some(leases.list().await?),
            None => None,
        };
        let recordings = stores.recordings.describe().await;
        anyhow::Ok((live, nodes, recordings))
    };
    let read = async {
        tokio::time::timeout(STORE_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in {STORE_TIMEOUT:?}")))
    };
    match read.await {
        Ok((live, nodes, recordings)) => StoreRows {
            store: format!("{what}: reachable"),
            recordings_reachable: recordings.is_ok(),
            recordings: recordings.unwrap_or_else(|e| format!("UNREACHABLE: {e}")),
            nodes: nodes_line(&config.node_name, nodes),
            live: format!("{live} (sessions of this node in the store without an end)"),
            reachable: true,
        },
        Err(e) => StoreRows {
            store: format!("{what}: UNREACHABLE: {e:#}"),
            recordings: "unknown (the store does not answer)".into(),
            recordings_reachable: false,
            nodes: "unknown (the store does not answer)".into(),
            live: "unknown (the store does not answer)".into(),
            reachable: false,
        },
    }
}

/// The nodes holding a lease on the shared store (None: the embedded store, one node).
fn nodes_line(me: &str, nodes: Option<Vec<oobgate::store::NodeLease>>) -> String {
    let Some(nodes) = nodes else {
        return format!("{me} only (embedded store; [store] postgres shares one between nodes)");
    };
    let parts: Vec<String> = nodes
        .iter()
        .map(|n| {
            let this = if n.node == me { " (this node)" } else { "" };
            let lease = if n.lapsed {
                format!(
                    "lease LAPSED at {}: lost, another node closes its sessions",
                    n.lease_until
                )
            } else {
                format!("lease until {}", n.lease_until)
            };
            format!("{}{this}: {lease}, {} live", n.node, n.live_sessions)
        })
        .collect();
    if parts.is_empty() {
        return "none holds a lease (no node serves on this store)".into();
    }
    format!("{} on the shared store: {}", parts.len(), parts.join("; "))
}

/// Without `[metrics]`: each console of the inventory with the age of its continuous
/// log's last write (a link that is up and talking keeps it fresh).
fn consoles_from_logs(config: &Config) -> String {
    let inventory = match oobgate::inventory::Inventory::load(&config.inventory) {
        Ok(i) => i,
        Err(e) => return format!("inventory unreadable: {e}"),
    };
    let dir = config.data_dir.join("consoles");
    let now = SystemTime::now();
    let parts: Vec<String> = inventory
        .devices()
        .filter(|d| d.kind.is_console())
        .map(|d| {
            let newest = std::fs::read_dir(dir.join(&d.name))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.metadata().ok()?.modified().ok())
                .max();
            match newest.and_then(|t| now.duration_since(t).ok()) {
                Some(age) => {
                    let age = humantime::format_duration(Duration::from_secs(age.as_secs()));
                    format!("{} logged {age} ago", d.name)
                }
                None => format!("{} no log yet", d.name),
            }
        })
        .collect();
    if parts.is_empty() {
        return "none".into();
    }
    format!("{} (link states need [metrics])", parts.join(", "))
}

/// `NAME state` for each console, from the metrics the server reports.
fn consoles(scrape: &std::io::Result<String>) -> String {
    let Ok(text) = scrape else {
        return "not available (the [metrics] endpoint does not answer)".into();
    };
    let states: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let labels = l.strip_prefix("oobgate_console_link_state{")?;
            let (labels, value) = labels.split_once("} ")?;
            if value.trim() != "1" {
                return None;
            }
            let field = |key: &str| {
                let rest = labels.split(&format!("{key}=\"")).nth(1)?;
                rest.split('"').next().map(str::to_string)
            };
            Some(format!("{} {}", field("console")?, field("state")?))
        })
        .collect();
    if states.is_empty() {
        "none".into()
    } else {
        states.join(", ")
    }
}

fn ca_line(path: &Path) -> String {
    match oobgate::identity::load_public_key(path) {
        Ok(key) => format!(
            "{} {} (a CA key has no expiry)",
            path.display(),
            key.fingerprint(HashAlg::Sha256)
        ),
        Err(e) => format!("unreadable: {e}"),
    }
}

fn host_cert_line(path: &Path) -> String {
    let cert = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Certificate::from_openssh(t.trim()).map_err(|e| e.to_string()));
    let cert = match cert {
        Ok(c) => c,
        Err(e) => return format!("{}: unreadable ({e})", path.display()),
    };
    let until = SystemTime::UNIX_EPOCH + Duration::from_secs(cert.valid_before());
    let left = until
        .duration_since(SystemTime::now())
        .map(|d| {
            format!(
                "in {}",
                humantime::format_duration(Duration::from_secs(d.as_secs()))
            )
        })
        .unwrap_or_else(|_| "EXPIRED".into());
    format!(
        "valid until {} ({left}; re-minted at every start)",
        oobgate::audit::rfc3339(until)
    )
}
