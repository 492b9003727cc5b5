//! Redfish peers for tests and the lab: the real sushy-emulator (`--fake` driver) on a
//! loopback port with TLS (a certificate made with `openssl` for the test) and basic auth
//! from an htpasswd file (bcrypt, from the venv's `bcrypt`), a loopback HTTP file server for
//! ISO and firmware URLs (sushy downloads inserted media), and a small stand-in BMC
//! (`fake_bmc.py`, the only mock) for what sushy does not offer: SessionService,
//! LogServices, a kept `Once` boot override and firmware tasks that fail or never end.
//! sushy-emulator comes from `target/peers/venv` (installed by `scripts/test`); a missing
//! peer is a test failure naming how to install it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{CertFingerprint, Endpoint};

/// The BMC user every fixture accepts.
pub const BMC_USER: &str = "admin";
/// Its password.
pub const BMC_PASSWORD: &str = "Rf-s3cret-9141";

/// A program in the peers' venv, or a panic telling how to install it.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/peers/venv/bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} not found: run scripts/test (it installs sushy-tools into target/peers/venv)",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, removed on drop (this module depends on
/// nothing else in the crate, and `tempfile` is only a dev-dependency).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/oobgate-<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "oobgate-redfish-{prefix}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
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

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for 127.0.0.1, made with `openssl`.
pub struct TestCert {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM key.
    pub key: PathBuf,
    /// SHA-256 of its DER form.
    pub fingerprint: CertFingerprint,
}

impl TestCert {
    /// Makes a fresh key and certificate in `dir`.
    pub fn make(dir: &Path) -> TestCert {
        let (cert, key, der) = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("cert.der"),
        );
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::piped()));
        run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&der));
        let fingerprint = CertFingerprint::of_der(&std::fs::read(&der).expect("read DER"));
        TestCert {
            cert,
            key,
            fingerprint,
        }
    }
}

/// A child process killed on drop, with its log file.
struct Peer {
    child: Child,
    log: PathBuf,
}

impl Peer {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Peer {
        let f = std::fs::File::create(&log).expect("create peer log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("clone log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Peer { child, log }
    }

    /// Waits until `port` accepts connections; panics with the log if the process
    /// exits or 30 s pass.
    fn wait_port(&mut self, port: u16) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            let log = || std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("peer exited ({st}) before listening on {port}:\n{}", log());
            }
            assert!(
                Instant::now() < end,
                "peer not listening on {port} after 30 s:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running sushy-emulator with the fake driver, TLS and basic auth.
pub struct Sushy {
    peer: Peer,
    /// `https://127.0.0.1:PORT`.
    pub address: String,
    /// Its certificate.
    pub cert: TestCert,
    /// Its files (config, htpasswd, certificate, state, log).
    pub dir: TempDir,
}

impl Sushy {
    /// Starts an emulator on a free port and waits until it listens.
    pub fn start() -> Sushy {
        let exe = venv_bin("sushy-emulator");
        let dir = TempDir::new("sushy").expect("temp dir");
        let cert = TestCert::make(dir.path());
        let htpasswd = dir.path().join("htpasswd");
        run(Command::new(venv_bin("python3"))
            .args([
                "-c",
                "import bcrypt,sys; open(sys.argv[1],'w').write(sys.argv[2]+':'+\
                 bcrypt.hashpw(sys.argv[3].encode(), bcrypt.gensalt(rounds=4)).decode()+'\\n')",
            ])
            .arg(&htpasswd)
            .args([BMC_USER, BMC_PASSWORD]));
        let state = dir.path().join("state");
        let config = dir.path().join("emulator.conf");
        std::fs::write(
            &config,
            format!(
                "SUSHY_EMULATOR_AUTH_FILE = {:?}\nSUSHY_EMULATOR_SSL_CERT = {:?}\n\
                 SUSHY_EMULATOR_SSL_KEY = {:?}\nSUSHY_EMULATOR_STATE_DIR = {:?}\n",
                htpasswd.display().to_string(),
                cert.cert.display().to_string(),
                cert.key.display().to_string(),
                state.display().to_string(),
            ),
        )
        .expect("write emulator config");
        let port = free_port();
        let mut peer = Peer::spawn(
            Command::new(exe)
                .arg("--fake")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .arg("--config")
                .arg(&config),
            dir.path().join("emulator.log"),
        );
        peer.wait_port(port);
        Sushy {
            peer,
            address: format!("https://127.0.0.1:{port}"),
            cert,
            dir,
        }
    }

    /// An endpoint for this emulator named `name`, pinned to its certificate.
    pub fn endpoint(&self, name: &str) -> Endpoint {
        Endpoint::new(name, &self.address, BMC_USER, BMC_PASSWORD)
            .expect("endpoint")
            .pinned(self.cert.fingerprint)
    }

    /// The emulator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// A loopback HTTP server for ISO and firmware images (`python3 -m http.server`).
pub struct FileServer {
    _peer: Peer,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// The directory it serves.
    pub dir: TempDir,
}

impl FileServer {
    /// Serves `files` (name, content) from a fresh directory.
    pub fn start(files: &[(&str, &[u8])]) -> FileServer {
        let dir = TempDir::new("files").expect("temp dir");
        let root = dir.path().join("www");
        std::fs::create_dir(&root).expect("mkdir www");
        for (name, content) in files {
            std::fs::write(root.join(name), content).expect("write served file");
        }
        let port = free_port();
        let mut peer = Peer::spawn(
            Command::new(venv_bin("python3"))
                .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
                .arg(&root)
                .arg(port.to_string()),
            dir.path().join("http.log"),
        );
        peer.wait_port(port);
        FileServer {
            _peer: peer,
            url: format!("http://127.0.0.1:{port}/"),
            dir,
        }
    }
}

/// What the stand-in BMC's firmware task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeTask {
    /// New 0 %, Running 50 %, Completed 100 %, one step per poll.
    Progress,
    /// Running 30 %, then Exception with a message.
    Fail,
    /// Running 10 % forever.
    Hang,
}

/// The stand-in BMC (`fake_bmc.py`): the one mock, for what sushy-emulator lacks.
pub struct FakeBmc {
    _peer: Peer,
    /// `https://127.0.0.1:PORT`.
    pub address: String,
    /// Its certificate.
    pub cert: TestCert,
    dir: TempDir,
}

impl FakeBmc {
    /// Starts it; `sessions` offers the SessionService (else basic auth only).
    pub fn start(task: FakeTask, sessions: bool) -> FakeBmc {
        Self::start_flaky(task, sessions, 0)
    }

    /// Starts one whose first `flaky` GETs of the Systems collection answer 503.
    pub fn start_flaky(task: FakeTask, sessions: bool, flaky: u32) -> FakeBmc {
        Self::launch(task, sessions, flaky, None)
    }

    /// Starts a broken one: every GET after login answers 200 with its body damaged at
    /// random (cut short, wrong types, junk bytes, deep nesting), from `seed`.
    pub fn start_mangled(seed: u64) -> FakeBmc {
        Self::launch(FakeTask::Progress, true, 0, Some(seed))
    }

    fn launch(task: FakeTask, sessions: bool, flaky: u32, mangle: Option<u64>) -> FakeBmc {
        let dir = TempDir::new("fakebmc").expect("temp dir");
        let cert = TestCert::make(dir.path());
        let script = dir.path().join("fake_bmc.py");
        std::fs::write(&script, include_str!("fake_bmc.py")).expect("write script");
        let pw = dir.path().join("password");
        std::fs::write(&pw, BMC_PASSWORD).expect("write password");
        let port = free_port();
        let task = match task {
            FakeTask::Progress => "progress",
            FakeTask::Fail => "fail",
            FakeTask::Hang => "hang",
        };
        let mut cmd = Command::new(venv_bin("python3"));
        cmd.arg(&script)
            .args([
                "--port",
                &port.to_string(),
                "--user",
                BMC_USER,
                "--task",
                task,
            ])
            .args(["--flaky", &flaky.to_string()])
            .arg("--cert")
            .arg(&cert.cert)
            .arg("--key")
            .arg(&cert.key)
            .arg("--password-file")
            .arg(&pw)
            .arg("--journal")
            .arg(dir.path().join("journal.jsonl"));
        if !sessions {
            cmd.arg("--no-sessions");
        }
        if let Some(seed) = mangle {
            cmd.args(["--mangle", &seed.to_string()]);
        }
        let mut peer = Peer::spawn(&mut cmd, dir.path().join("fake_bmc.log"));
        peer.wait_port(port);
        FakeBmc {
            _peer: peer,
            address: format!("https://127.0.0.1:{port}"),
            cert,
            dir,
        }
    }

    /// An endpoint for it named `name`, pinned to its certificate.
    pub fn endpoint(&self, name: &str) -> Endpoint {
        Endpoint::new(name, &self.address, BMC_USER, BMC_PASSWORD)
            .expect("endpoint")
            .pinned(self.cert.fingerprint)
    }

    /// Every request it received: `{method, path, auth, body}` (auth is `token`, `basic`,
    /// `none`, or null when refused).
    pub fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
