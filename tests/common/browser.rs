//! The real headless Chromium (Debian's `/usr/bin/chromium`), started once per test binary
//! with a fresh profile and a DevTools port on loopback, and the browser scenarios of
//! `web/tests/scenario.mjs` (playwright-core from `web/node_modules`) run against it.
//! Chromium dies with the test process (parent-death signal).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::wait_until;

struct Chromium {
    cdp: String,
    _profile: tempfile::TempDir,
    _child: Child,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start() -> Chromium {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("/usr/bin/chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("about:blank")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .expect("/usr/bin/chromium (Debian package chromium; scripts/test installs it)");
    let port_file = profile.path().join("DevToolsActivePort");
    let port = wait_until("Chromium's DevTools port", Duration::from_secs(30), || {
        std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
            .filter(|p| !p.is_empty())
            .ok_or("not written yet")
    });
    Chromium {
        cdp: format!("http://127.0.0.1:{port}"),
        _profile: profile,
        _child: child,
    }
}

/// The DevTools address of this test binary's Chromium (started at the first call). It is
/// started from a thread that lives as long as the process: the parent-death signal
/// follows the thread that spawned it, and test threads end.
pub fn cdp() -> &'static str {
    static BROWSER: OnceLock<String> = OnceLock::new();
    BROWSER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let chromium = start();
            let _ = tx.send(chromium.cdp.clone());
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("Chromium started")
    })
}

/// Where the scenarios leave their screenshots (`target/web-screenshots`).
pub fn screenshots() -> PathBuf {
    let dir = root().join("target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn node(name: &str, args: &serde_json::Value) -> Command {
    let script: &Path = &root().join("web/tests/scenario.mjs");
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .arg(name)
        .arg(args.to_string())
        .env("OOBGATE_CDP", cdp())
        .env("OOBGATE_SHOTS", screenshots())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn result_of(name: &str, stdout: &str, stderr: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("scenario {name} printed no result:\n{stdout}\n{stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(v.get("error").is_none(), "scenario {name} failed: {v:#}");
    v
}

/// Runs scenario `name` with `args` to its end; what the browser saw.
pub fn scenario(name: &str, args: serde_json::Value) -> serde_json::Value {
    let out = node(name, &args).output().expect("node");
    let (stdout, stderr) = super::text(&out);
    result_of(name, &stdout, &stderr)
}

/// A scenario that stops at `READY` until [`Waiting::go`].
pub struct Waiting {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: BufReader<std::process::ChildStdout>,
}

/// Starts scenario `name` and waits for it to print `READY`.
pub fn scenario_until_ready(name: &str, args: serde_json::Value) -> Waiting {
    let mut child = node(name, &args).stdin(Stdio::piped()).spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line).unwrap();
        assert!(n > 0, "scenario {name} ended before READY");
        if line.trim() == "READY" {
            break;
        }
        if let Some(r) = line.strip_prefix("RESULT ") {
            panic!("scenario {name} ended before READY: {r}");
        }
    }
    Waiting {
        name: name.into(),
        child,
        stdin,
        lines,
    }
}

impl Waiting {
    /// Lets the scenario go on, and returns what it saw.
    pub fn go(mut self) -> serde_json::Value {
        writeln!(self.stdin, "GO").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.lines, &mut rest).unwrap();
        let out = self.child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        result_of(&self.name, &rest, &stderr)
    }
}
