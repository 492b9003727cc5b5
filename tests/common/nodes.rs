//! Two bastion nodes, `oobgate serve` processes on one PostgreSQL database (a private
//! cluster started once per test binary): node a serves the lab's own config, node b a copy
//! with its own address, data directory, revocation list (`revoked-b`) and node name, and
//! the same CA keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oobgate::audit::{EventFilter, EventRow};
use oobgate::store::postgres::{testing::cluster, PgStore};
use oobgate::store::{AuditLog, SessionFilter, SessionLedger, SessionRow};

use super::{wait_for_banner, KillOnDrop, Lab, LabOptions};

/// The key files every node of a set shares.
const SHARED_KEYS: &[&str] = &["host_ca", "user_ca"];

/// Nodes a and b of one lab.
pub struct TwoNodes {
    /// Node a's lab (its config, keys, users and ssh client configs).
    pub lab: Lab,
    /// `oobgate serve` of node a.
    pub a: KillOnDrop,
    /// `oobgate serve` of node b.
    pub b: KillOnDrop,
    /// Node b's address.
    pub b_addr: SocketAddr,
    /// Node b's config file.
    pub b_config: PathBuf,
    /// The shared database.
    pub url: String,
}

impl TwoNodes {
    /// Starts both nodes on a fresh database; `opts.extra` gets the `[store]` table (with
    /// the `store` lines added) and the `[node]` table.
    pub fn start(mut opts: LabOptions, store: &str) -> TwoNodes {
        let url = cluster().database();
        opts.extra.push_str(&format!(
            "\n[store]\npostgres = \"{url}\"\n{store}\n[node]\nname = \"bastion-a\"\n"
        ));
        let mut lab = Lab::start_with(opts);
        let a = KillOnDrop(lab.serve_as_process_logging("info"));
        let b_addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let b_config = lab.root().join("oobgate-b.toml");
        let text = std::fs::read_to_string(&lab.config_path).unwrap();
        let text = text
            .replace(
                &format!("listen = \"{}\"", lab.addr),
                &format!("listen = \"{b_addr}\""),
            )
            .replace("data_dir = \"data\"", "data_dir = \"data-b\"")
            .replace("name = \"bastion-a\"", "name = \"bastion-b\"")
            .replace("revoked = \"revoked\"", "revoked = \"revoked-b\"");
        std::fs::write(&b_config, text).unwrap();
        std::fs::copy(lab.root().join("revoked"), lab.root().join("revoked-b")).unwrap();
        share_keys(&lab.config.data_dir, &lab.root().join("data-b"));
        let b = KillOnDrop(spawn_node(
            &b_config,
            &lab.root().join("serve-b.log"),
            b_addr,
        ));
        TwoNodes {
            lab,
            a,
            b,
            b_addr,
            b_config,
            url,
        }
    }

    /// `ssh_config` with a `Host bastion-b` entry for node b beside `bastion` (node a).
    pub fn with_node_b(&self, cfg: &Path) -> PathBuf {
        let text = std::fs::read_to_string(cfg).unwrap();
        let body: String = text
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("Host "))
            .filter(|l| !l.trim_start().starts_with("Port"))
            .map(|l| format!("{l}\n"))
            .collect();
        let b = format!("Host bastion-b\n  Port {}\n{body}", self.b_addr.port());
        let path = PathBuf::from(format!("{}.b", cfg.display()));
        std::fs::write(&path, format!("{b}{text}")).unwrap();
        path
    }

    /// Runs `oobgate ARGS --config` of node b.
    pub fn oobgate_b(&self, args: &[&str]) -> std::process::Output {
        super::run(
            Command::new(env!("CARGO_BIN_EXE_oobgate"))
                .args(args)
                .arg("--config")
                .arg(&self.b_config),
        )
    }

    /// Node b's log.
    pub fn b_log(&self) -> String {
        std::fs::read_to_string(self.lab.root().join("serve-b.log")).unwrap_or_default()
    }

    /// Audit events whose kind starts with `prefix`, read from the shared database.
    pub fn events(&self, prefix: &str) -> Vec<EventRow> {
        let filter = EventFilter {
            kind_prefix: Some(prefix.to_string()),
            ..Default::default()
        };
        self.on_store(move |s| async move { s.query(&filter).await.unwrap() })
    }

    /// Every session row in the shared database.
    pub fn sessions(&self) -> Vec<SessionRow> {
        self.on_store(|s| async move { s.list(&SessionFilter::default()).await.unwrap() })
    }

    /// Runs `statements` on the shared database, as an operator's `psql` would.
    pub fn sql(&self, statements: &str) {
        let url = self.url.clone();
        let statements = statements.to_string();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client.batch_execute(&statements).await.unwrap();
            })
    }

    fn on_store<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(PgStore) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let url = self.url.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move { f(PgStore::open(&url, "test-reader").await.unwrap()).await })
    }
}

/// Copies the CA keys of `from` into the new data directory `to` (mode 0700).
fn share_keys(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for name in SHARED_KEYS {
        for file in [name.to_string(), format!("{name}.pub")] {
            if from.join(&file).exists() {
                std::fs::copy(from.join(&file), to.join(&file)).unwrap();
            }
        }
    }
}

/// Starts `oobgate serve --config CONFIG`, its log in `log`, and waits for its banner.
pub fn spawn_node(config: &Path, log: &Path, addr: SocketAddr) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_oobgate"))
        .env("OOBGATE_LOG", "info")
        .args(["serve", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("oobgate serve");
    wait_for_banner(addr);
    child
}
