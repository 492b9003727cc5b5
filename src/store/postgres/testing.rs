//! A private, throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory
//! as the `postgres` user when run as root (initdb refuses root), else as this user, listening on a free loopback port and a
//! socket in that directory only, started once per test binary. Each test takes a fresh
//! database of its own ([`TestCluster::database`]). The cluster is stopped and its
//! directory removed when the test binary exits (a guard process waiting on a pipe).
//!
//! The binaries are looked up in `$OOBGATE_PG_BIN`, then `/usr/lib/postgresql/*/bin`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The running cluster of this test binary.
pub struct TestCluster {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    // Held open for the life of the process; its end stops the cluster.
    _guard: Mutex<std::process::ChildStdin>,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The cluster, started on first use; panics naming what is missing or what failed.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

/// Where the PostgreSQL server binaries are.
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("OOBGATE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb and \
         OOBGATE_PG_BIN unset): install the `postgresql` package (scripts/test does)"
            .to_string()
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `tool` run as the `postgres` user when this process is root (initdb refuses root), as
/// this user otherwise.
fn as_postgres(bin: &Path, tool: &str) -> Command {
    if !is_root() {
        return Command::new(bin.join(tool));
    }
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
    c
}

fn run(what: &str, mut cmd: Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("test PostgreSQL: {what}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "test PostgreSQL: {what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("test PostgreSQL: no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl TestCluster {
    fn start() -> Result<TestCluster, String> {
        let bin = bin_dir()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("oobgate-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("test PostgreSQL: {}: {e}", dir.display()))?;
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&dir);
            run("chown of the cluster directory to postgres", chown)?;
        }
        let data = dir.join("data");
        let mut initdb = as_postgres(&bin, "initdb");
        initdb.args(["-A", "trust", "-U", "oob", "-E", "UTF8", "-D"]);
        initdb.arg(&data);
        run("initdb", initdb)?;
        let port = free_port()?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            dir.display()
        );
        let mut start = as_postgres(&bin, "pg_ctl");
        start.arg("-D").arg(&data).args(["-o", &opts, "-w", "-l"]);
        start.arg(dir.join("log")).arg("start");
        run("pg_ctl start", start)?;
        let guard = Self::guard(&bin, &dir)?;
        Ok(TestCluster {
            port,
            dir,
            bin,
            _guard: Mutex::new(guard),
        })
    }

    /// A process that stops the cluster and removes its directory once this process's
    /// end of its stdin closes (when the test binary exits, however it exits).
    fn guard(bin: &Path, dir: &Path) -> Result<std::process::ChildStdin, String> {
        let cleanup = format!(
            "{}{}/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1; rm -rf {}",
            if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            bin.display(),
            dir.display(),
            dir.display()
        );
        crate::store::testing::exit_guard("test PostgreSQL", &cleanup)
    }

    /// The URL of database `db` in the cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://oob@127.0.0.1:{}/{db}", self.port)
    }

    /// The cluster's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the cluster (data, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new empty database; returns its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let mut create = as_postgres(&self.bin, "createdb");
        create.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "oob",
            &name,
        ]);
        run("createdb", create).unwrap_or_else(|e| panic!("{e}"));
        self.url(&name)
    }
}
