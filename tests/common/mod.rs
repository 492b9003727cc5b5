//! Test lab: a bastion served in-process on 127.0.0.1:0, CAs and certificates made with the
//! real `ssh-keygen`, and the real `ssh` client driving it through a generated ssh_config.
#![allow(dead_code)]

pub mod access_lab;
pub mod browser;
pub mod device_lab;
pub mod nodes;
pub mod nodes_lab;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

mod attached;
pub mod console;
pub mod process;
mod webhook;

#[allow(unused_imports)]
pub use attached::Attached;
#[allow(unused_imports)]
pub use webhook::webhook_receiver;

use oobgate::audit::{EventFilter, EventRow};
use oobgate::config::Config;
use oobgate::store::{sqlite::SqliteStore, AuditLog};
use tokio_util::sync::CancellationToken;

/// A local credentials file (mode 0600, as the bastion demands) holding one login under
/// `reference`; the directory must live as long as the lab using it.
pub fn credentials_file(
    reference: &str,
    username: &str,
    password: &str,
) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[credentials.\"{reference}\"]\nusername = \"{username}\"\npassword = \"{password}\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, file)
}

/// The inventory every test lab starts with.
pub const INVENTORY: &str = r#"
[[device]]
name = "sw1"
kind = "ssh"
address = "127.0.0.1:1"
labels = { site = "ams1", type = "switch" }
description = "Access switch, rack 12"

[[device]]
name = "sw2"
kind = "ssh"
address = "127.0.0.1:1"
labels = { site = "fra1", type = "switch" }

[[device]]
name = "srv12-console"
kind = "serial"
address = "/dev/null"
labels = { site = "ams1", type = "server" }
"#;

/// The policy every test lab starts with (the shipped model is used unchanged).
pub const POLICY: &str = "\
p, role:admin, *, *, allow
p, role:netops, site:ams1 & type:switch, connect, allow
p, role:auditor, *, replay, allow
p, role:auditor, bastion, audit, allow
p, role:auditor, *, console.read, allow
";

/// Runs `cmd`, panicking with its output if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` and asserts success.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout and stderr of an output, for assertions and messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The web login cookie (`NAME=VALUE`) a response's headers set.
pub fn login_cookie(headers: &str) -> String {
    headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no cookie in {headers}"))
        .to_string()
}

/// A running bastion with its files.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub config_path: PathBuf,
    pub config: Config,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Extra settings for a lab.
#[derive(Default, Clone)]
pub struct LabOptions {
    /// Extra lines appended to `[auth]`.
    pub auth: String,
    /// Extra lines appended to `[limits]`.
    pub limits: String,
    /// Replaces the default inventory.
    pub inventory: Option<String>,
    /// Extra top-level tables appended to the config (e.g. `[secrets]`).
    pub extra: String,
    /// Extra top-level keys (before any table), e.g. `recording_dir = "..."`.
    pub top: String,
    /// Replaces the default policy lines.
    pub policy: Option<String>,
    /// More trusted user CA public-key files, besides the lab's own.
    pub trusted_ca: Vec<PathBuf>,
}

impl Lab {
    /// Starts a lab with the default inventory and policy.
    pub fn start() -> Lab {
        Lab::start_with(LabOptions::default())
    }

    /// Starts a lab with extra config.
    pub fn start_with(opts: LabOptions) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let policies = root.join("policies");
        std::fs::create_dir(&policies).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/model.conf");
        std::fs::copy(shipped, policies.join("model.conf")).unwrap();
        std::fs::write(
            policies.join("policy.csv"),
            opts.policy.as_deref().unwrap_or(POLICY),
        )
        .unwrap();
        std::fs::write(
            root.join("inventory.toml"),
            opts.inventory.as_deref().unwrap_or(INVENTORY),
        )
        .unwrap();
        std::fs::write(root.join("revoked"), "# revoked certificates\n").unwrap();
        ssh_keygen_key(&root.join("user_ca"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config_text = format!(
            "listen = \"{addr}\"\ndata_dir = \"data\"\npolicy_dir = \"policies\"\n\
             inventory = \"inventory.toml\"\n{}\n\
             [auth]\ntrusted_user_ca = [\"user_ca.pub\"{}]\nrevoked = \"revoked\"\n{}\n\
             [limits]\nreload_interval = \"200ms\"\n{}\n{}\n",
            opts.top,
            opts.trusted_ca
                .iter()
                .map(|p| format!(", {:?}", p.display().to_string()))
                .collect::<String>(),
            opts.auth,
            opts.limits,
            opts.extra
        );
        let config_path = root.join("oobgate.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let config = Config::load(&config_path).unwrap();
        // Keys exist before the bastion starts, so known_hosts can be written right away.
        let keys = oobgate::identity::KeyStore::open_or_create(
            &config.data_dir,
            &[],
            config.host_cert_validity,
        )
        .unwrap();
        std::fs::write(root.join("known_hosts"), keys.known_hosts_line() + "\n").unwrap();
        // The listener bound above is handed over, so no other test can take its port.
        let (shutdown, thread) = serve_in_thread(addr, Some(listener), config.clone());
        wait_for_banner(addr);
        Lab {
            dir,
            addr,
            config_path,
            config,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Stops the bastion (ending every session) and starts it again on the same address
    /// with the same data directory.
    pub fn restart(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (shutdown, thread) = serve_in_thread(self.addr, None, self.config.clone());
        self.shutdown = shutdown;
        self.thread = Some(thread);
        wait_for_banner(self.addr);
    }

    /// Stops the in-process bastion and serves the lab with the real `oobgate serve`
    /// binary instead (for faults only a process can have, such as `kill -9`); the
    /// caller owns the child.
    #[allow(dead_code)]
    pub fn serve_as_process(&mut self) -> Child {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.spawn_server()
    }

    /// Like [`Lab::serve_as_process`], with the log filtered by `filter` (`OOBGATE_LOG`).
    pub fn serve_as_process_logging(&mut self, filter: &str) -> Child {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.spawn_server_logging(Some(filter))
    }

    /// Starts `oobgate serve` on the lab's config and waits for its banner.
    #[allow(dead_code)]
    pub fn spawn_server(&self) -> Child {
        self.spawn_server_logging(None)
    }

    /// Starts `oobgate serve`, its log (stderr) appended to `serve.log` and filtered by
    /// `filter` when given, and waits for its banner.
    fn spawn_server_logging(&self, filter: Option<&str>) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root().join("serve.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oobgate"));
        if let Some(filter) = filter {
            cmd.env("OOBGATE_LOG", filter);
        }
        let child = cmd
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("oobgate serve");
        wait_for_banner(self.addr);
        child
    }

    /// The lab's directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a key pair `NAME` (and returns its private key path).
    pub fn key(&self, name: &str) -> PathBuf {
        let p = self.root().join(name);
        if !p.exists() {
            ssh_keygen_key(&p);
        }
        p
    }

    /// Signs `key` with the lab's external user CA using `ssh-keygen -s` and extra args.
    pub fn sign(&self, key: &Path, args: &[&str]) -> PathBuf {
        self.sign_with(&self.root().join("user_ca"), key, args)
    }

    /// Signs `key` with `ca` using `ssh-keygen -s` and extra args.
    pub fn sign_with(&self, ca: &Path, key: &Path, args: &[&str]) -> PathBuf {
        let pubkey = pub_of(key);
        run_ok(
            Command::new("ssh-keygen")
                .arg("-q")
                .arg("-s")
                .arg(ca)
                .args(args)
                .arg(&pubkey),
        );
        cert_of(key)
    }

    /// Issues alice (role netops) a valid certificate and returns her ssh_config.
    pub fn user(&self, login: &str, principals: &str) -> PathBuf {
        let key = self.key(&format!("id_{login}"));
        self.sign(
            &key,
            &[
                "-I",
                &format!("{login}-key"),
                "-n",
                principals,
                "-V",
                "-5m:+1h",
            ],
        );
        self.ssh_config(login, &key, true)
    }

    /// Writes an ssh_config for `login` with `key` (and its certificate if `with_cert`).
    pub fn ssh_config(&self, login: &str, key: &Path, with_cert: bool) -> PathBuf {
        let name = key.file_name().unwrap().to_str().unwrap();
        let path = self.root().join(format!("ssh_config.{name}.{login}"));
        let cert = if with_cert {
            format!("  CertificateFile {}\n", cert_of(key).display())
        } else {
            String::new()
        };
        let text = format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {port}\n  User {login}\n\
             {cert}  IdentityFile {key}\n  IdentitiesOnly yes\n  IdentityAgent none\n\
             UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n\
             StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n\
             LogLevel ERROR\n  PubkeyAuthentication yes\n  PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n",
            port = self.addr.port(),
            key = key.display(),
            kh = self.root().join("known_hosts").display(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Adds `Host DEVICE` entries reached with `ProxyJump bastion` to an ssh_config.
    pub fn with_devices(&self, config: &Path, devices: &[&str]) -> PathBuf {
        let mut text = std::fs::read_to_string(config).unwrap();
        let base = text.clone();
        let body: String = base
            .lines()
            .skip_while(|l| l.starts_with("Host bastion"))
            .filter(|l| {
                !l.trim_start().starts_with("HostName") && !l.trim_start().starts_with("Port")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        for d in devices {
            text.push_str(&format!("Host {d}\n  ProxyJump bastion\n{body}"));
        }
        let path = PathBuf::from(format!("{}.devices", config.display()));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `ssh -F config HOST ARGS...` (a device through `ProxyJump bastion`).
    pub fn ssh_to(&self, config: &Path, host: &str, args: &[&str]) -> Output {
        run(Command::new("ssh")
            .arg("-F")
            .arg(config)
            .arg(host)
            .args(args)
            .stdin(std::process::Stdio::null()))
    }

    /// Runs `ssh -F config bastion ARGS...`.
    pub fn ssh(&self, config: &Path, args: &[&str]) -> Output {
        run(Command::new("ssh")
            .arg("-F")
            .arg(config)
            .arg("bastion")
            .args(args)
            .stdin(std::process::Stdio::null()))
    }

    /// Audit events whose kind starts with `prefix`, read through a second handle on the
    /// lab's store (sqlite WAL allows it).
    pub fn events(&self, prefix: &str) -> Vec<EventRow> {
        let path = self.config.store_path();
        let filter = EventFilter {
            kind_prefix: Some(prefix.to_string()),
            ..Default::default()
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move {
                let store = SqliteStore::open(&path).unwrap();
                store.query(&filter).await.unwrap()
            })
    }

    /// Appends `ev` to the lab's audit chain through a second handle on its store (events
    /// the lab cannot make happen, shaped like the bastion's own).
    #[allow(dead_code)]
    pub fn record(&self, ev: oobgate::audit::Event) {
        let path = self.config.store_path();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move {
                let store = SqliteStore::open(&path).unwrap();
                store.append(ev).await.unwrap();
            });
    }

    /// Waits (up to [`WAIT`]) for an audit event matching `pred`, returning it; fails the
    /// test with the events of that kind it saw.
    #[track_caller]
    pub fn wait_event(&self, prefix: &str, pred: impl Fn(&EventRow) -> bool) -> EventRow {
        wait_until(&format!("a matching {prefix} event"), WAIT, || {
            let events = self.events(prefix);
            match events.iter().find(|e| pred(e)) {
                Some(e) => Ok(e.clone()),
                None => Err(format!("{} {prefix} events: {events:#?}", events.len())),
            }
        })
    }

    /// Waits until exactly `n` audit events start with `prefix`, failing with those seen.
    #[track_caller]
    pub fn wait_events(&self, prefix: &str, n: usize) -> Vec<EventRow> {
        wait_until(&format!("{n} {prefix} events"), WAIT, || {
            let events = self.events(prefix);
            if events.len() == n {
                Ok(events)
            } else {
                Err(format!("{} events: {events:#?}", events.len()))
            }
        })
    }

    /// The log of the `oobgate serve` process (see [`Lab::spawn_server`]).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.root().join("serve.log")).unwrap_or_default()
    }

    /// Waits until the server log contains `needle`, failing with the log.
    #[track_caller]
    pub fn wait_log(&self, needle: &str) -> String {
        wait_until(&format!("{needle:?} in the server log"), WAIT, || {
            let log = self.server_log();
            if log.contains(needle) {
                Ok(log)
            } else {
                Err(log)
            }
        })
    }

    /// Runs the `oobgate` binary with `--config` of this lab appended.
    pub fn oobgate(&self, args: &[&str]) -> Output {
        run(Command::new(env!("CARGO_BIN_EXE_oobgate"))
            .args(args)
            .arg("--config")
            .arg(&self.config_path))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server process that is killed when the test ends, however it ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a test waits for something the bastion should do promptly.
pub const WAIT: Duration = Duration::from_secs(15);

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(20);

/// Calls `probe` until it returns `Ok`, for at most `within`; then fails the test naming
/// `what` and the last thing `probe` saw (its `Err`).
#[track_caller]
pub fn wait_until<T, S: std::fmt::Display>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Result<T, S>,
) -> T {
    let until = Instant::now() + within;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= until => {
                panic!("timed out after {within:?} waiting for {what}; last seen:\n{seen}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// [`wait_until`] for a yes/no condition: fails the test naming `what` if `ok` is still
/// false after `within`.
pub fn wait_for_condition(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    wait_until(what, within, || if ok() { Ok(()) } else { Err("not yet") });
}

/// Waits until the bastion at `addr` answers with its SSH banner (it is fully loaded).
pub fn wait_for_banner(addr: SocketAddr) {
    use std::io::Read;
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                if buf[..n].starts_with(b"SSH-2.0-oobgate") {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("bastion at {addr} never answered");
}

/// `ssh-keygen -t ed25519` into `path` (no passphrase).
pub fn ssh_keygen_key(path: &Path) {
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(path),
    );
}

/// `KEY.pub`.
pub fn pub_of(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}

/// `KEY-cert.pub`.
pub fn cert_of(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}-cert.pub", key.display()))
}

/// Serves the bastion for `config` in a thread with its own runtime, on `listener` or, when
/// there is none (a restart), on a new one bound to `addr`.
fn serve_in_thread(
    addr: SocketAddr,
    listener: Option<std::net::TcpListener>,
    config: Config,
) -> (CancellationToken, std::thread::JoinHandle<()>) {
    if let Some(l) = &listener {
        l.set_nonblocking(true).unwrap();
    }
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = match listener {
                Some(l) => tokio::net::TcpListener::from_std(l).unwrap(),
                None => tokio::net::TcpListener::bind(addr).await.unwrap(),
            };
            if let Err(e) = oobgate::serve(listener, config, stop).await {
                panic!("serve failed: {e}");
            }
        });
    });
    (shutdown, thread)
}
