//! Test helpers shared by unit and integration tests: a real OpenSSH `sshd` on
//! loopback, a local test user with a known password, and key generation with the
//! real `ssh-keygen`. Everything lives in a fresh temp directory removed on drop.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{EndReason, Link, LinkEvent};

/// Login name of the local test user (plain `/bin/sh`, no rc files).
pub const TEST_USER: &str = "oobtest";
/// Password of [`TEST_USER`].
pub const TEST_PASSWORD: &str = "oobtest-Pw-4417";

/// A temp directory removed on drop (the library does not depend on `tempfile`).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/oobgate-<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "oobgate-{prefix}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs `openssh-server` with apt if `/usr/sbin/sshd` is missing (root only).
pub fn ensure_sshd_installed() -> Result<(), String> {
    if Path::new("/usr/sbin/sshd").exists() {
        return Ok(());
    }
    let _ = run(Command::new("apt-get").args(["update", "-qq"]));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "openssh-server"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .map_err(|e| format!("openssh-server is missing and could not be installed: {e}"))?;
    Ok(())
}

/// Creates [`TEST_USER`] with [`TEST_PASSWORD`] once per process (idempotent).
pub fn ensure_test_user() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        if run(Command::new("id").arg(TEST_USER)).is_err() {
            run(Command::new("useradd").args(["-m", "-s", "/bin/sh", TEST_USER]))?;
        }
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run chpasswd: {e}"))?;
        use std::io::Write;
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{TEST_USER}:{TEST_PASSWORD}").map_err(|e| e.to_string())?;
        }
        match child.wait() {
            Ok(s) if s.success() => Ok(()),
            other => Err(format!("chpasswd failed: {other:?}")),
        }
    })
    .clone()
}

/// Generates a key pair with `ssh-keygen` at `path`; returns (private PEM, public line).
pub fn generate_key(path: &Path, kind: &str) -> Result<(String, String), String> {
    let _ = std::fs::remove_file(path);
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "oobgate-test", "-f"])
        .arg(path))?;
    let private = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let public = std::fs::read_to_string(path.with_extension("pub")).map_err(|e| e.to_string())?;
    Ok((private, public.trim().to_owned()))
}

/// What a [`TestSshd`] allows.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// `PasswordAuthentication yes`.
    pub password: bool,
    /// Keyboard-interactive through PAM (`UsePAM yes`, password auth off).
    pub keyboard_interactive: bool,
    /// Public key lines accepted for any user (root included).
    pub authorized_keys: Vec<String>,
    /// Host key type for `ssh-keygen -t` (default `ed25519`).
    pub host_key_type: Option<String>,
    /// Extra `sshd_config` lines.
    pub extra_config: String,
}

impl SshdOptions {
    /// Old network gear: password login, an RSA host key, and only SHA-1 key exchange,
    /// CBC ciphers, `hmac-sha1` and `ssh-rsa` offered.
    pub fn old_gear() -> SshdOptions {
        SshdOptions {
            password: true,
            host_key_type: Some("rsa".into()),
            extra_config: "KexAlgorithms diffie-hellman-group14-sha1\nCiphers aes128-cbc\n\
                           MACs hmac-sha1\nHostKeyAlgorithms ssh-rsa\n"
                .into(),
            ..Default::default()
        }
    }
}

/// A real OpenSSH server on `127.0.0.1:port`, killed on drop.
#[derive(Debug)]
pub struct TestSshd {
    /// Listening port.
    pub port: u16,
    /// Host public key line currently served.
    pub host_key_pub: String,
    /// Scratch directory with the config, keys and `sshd.log`.
    pub dir: TempDir,
    opts: SshdOptions,
    child: Option<Child>,
}

impl TestSshd {
    /// Writes a config and host key and starts sshd; waits until it answers.
    pub fn start(opts: SshdOptions) -> Result<Self, String> {
        ensure_sshd_installed()?;
        if opts.password || opts.keyboard_interactive {
            ensure_test_user()?;
        }
        std::fs::create_dir_all("/run/sshd").map_err(|e| e.to_string())?;
        let dir = TempDir::new("sshd").map_err(|e| e.to_string())?;
        let mut sshd = TestSshd {
            port: 0,
            host_key_pub: String::new(),
            dir,
            opts,
            child: None,
        };
        sshd.new_host_key()?;
        sshd.launch()?;
        Ok(sshd)
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops sshd, replaces its host key and starts it again on the same port.
    pub fn restart_with_new_host_key(&mut self) -> Result<(), String> {
        self.stop();
        self.new_host_key()?;
        self.launch()
    }

    /// The server's log so far (`sshd -e` output), for failing assertions.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn new_host_key(&mut self) -> Result<(), String> {
        let kind = self.opts.host_key_type.as_deref().unwrap_or("ed25519");
        let (_, public) = generate_key(&self.dir.path().join("host_key"), kind)?;
        self.host_key_pub = public;
        Ok(())
    }

    fn launch(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let keys = d.join("authorized_keys");
        std::fs::write(&keys, self.opts.authorized_keys.join("\n") + "\n")
            .map_err(|e| e.to_string())?;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let config = format!(
            "ListenAddress 127.0.0.1\nHostKey {hk}\nPidFile none\nStrictModes no\n\
             UsePAM {pam}\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication {kbd}\n\
             PubkeyAuthentication yes\nAuthorizedKeysFile {keys}\nPermitRootLogin prohibit-password\n\
             SetEnv SHLVL=1\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n{extra}\n",
            hk = d.join("host_key").display(),
            pam = yes_no(self.opts.keyboard_interactive),
            pw = yes_no(self.opts.password),
            kbd = yes_no(self.opts.keyboard_interactive),
            keys = keys.display(),
            extra = self.opts.extra_config,
        );
        let config_path = d.join("sshd_config");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        if self.port == 0 {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            self.port = l.local_addr().map_err(|e| e.to_string())?.port();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("sshd.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config_path)
            .args(["-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start sshd: {e}"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("sshd exited with {status}: {}", self.log()));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 7];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        Err(format!("sshd did not come up: {}", self.log()))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real telnet server: inetutils `telnetd` running `/bin/login`, spawned per
/// connection by `socat` on `127.0.0.1:port`. Killed on drop.
#[derive(Debug)]
pub struct TestTelnetd {
    /// Listening port.
    pub port: u16,
    child: Child,
}

impl TestTelnetd {
    /// Installs `socat` and `inetutils-telnetd` if missing, makes sure the test user
    /// exists, and starts listening.
    pub fn start() -> Result<Self, String> {
        for (bin, package) in [
            ("/usr/bin/socat", "socat"),
            ("/usr/sbin/telnetd", "inetutils-telnetd"),
        ] {
            if !Path::new(bin).exists() {
                run(Command::new("apt-get")
                    .args(["install", "-y", "-qq", "--no-install-recommends", package])
                    .env("DEBIAN_FRONTEND", "noninteractive"))
                .map_err(|e| format!("{package} is missing and could not be installed: {e}"))?;
            }
        }
        ensure_test_user()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("/usr/bin/socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg("EXEC:/usr/sbin/telnetd -h,nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start socat: {e}"))?;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(TestTelnetd { port, child });
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        Err("socat did not start listening".into())
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TestTelnetd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a link produced until it closed (or until the limit).
#[derive(Debug, Default)]
pub struct LinkOutcome {
    /// Concatenated `Data` events.
    pub stdout: Vec<u8>,
    /// Concatenated `Stderr` events.
    pub stderr: Vec<u8>,
    /// Last `ExitStatus`.
    pub exit: Option<u32>,
    /// Last `ExitSignal`.
    pub signal: Option<String>,
    /// The `Closed` reason, if the link closed within the limit.
    pub end: Option<EndReason>,
}

/// Reads `link` until it closes or `limit` passes.
pub async fn drain_link(link: &mut Link, limit: Duration) -> LinkOutcome {
    let mut out = LinkOutcome::default();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, link.events.recv()).await {
        match ev {
            LinkEvent::Data(b) => out.stdout.extend_from_slice(&b),
            LinkEvent::Stderr(b) => out.stderr.extend_from_slice(&b),
            LinkEvent::ExitStatus(s) => out.exit = Some(s),
            LinkEvent::ExitSignal(s) => out.signal = Some(s),
            LinkEvent::Eof => {}
            LinkEvent::Closed(r) => {
                out.end = Some(r);
                break;
            }
        }
    }
    out
}

/// Reads `Data` events until their text contains `needle`; panics after `limit`.
pub async fn read_link_until(link: &mut Link, needle: &str, limit: Duration) -> String {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, link.events.recv()).await {
            Ok(Some(LinkEvent::Data(b))) => seen.extend_from_slice(&b),
            Ok(Some(_)) => {}
            other => panic!(
                "no {needle:?} in {:?} ({other:?})",
                String::from_utf8_lossy(&seen)
            ),
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(needle) {
            return text;
        }
    }
}
