//! Console alerts on a real console: a program on a pty (socat) opened by the bastion as a
//! local serial console, printing a kernel panic and then a flood of them; the audit log,
//! the console's continuous log and a webhook receiver see the alerts; and the same
//! device behind a real console server (ser2net) counting failed logins.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, LabOptions};

/// The device: a panic split over two writes, then 1000 panics once `flood` exists,
/// then one more once `again` exists.
const PROGRAM: &str = "#!/bin/sh\nsleep 1\nprintf 'boot ok\\r\\n[   4.2] Kernel pa'\nsleep 0.3\n\
printf 'nic - not syncing: VFS\\r\\n'\n\
while [ ! -e flood ]; do sleep 0.1; done\n\
i=1; while [ $i -le 1000 ]; do echo \"Kernel panic - not syncing (flood $i)\"; i=$((i+1)); done\n\
while [ ! -e again ]; do sleep 0.1; done\necho 'Kernel panic - not syncing (after hold-off)'\n\
while read l; do :; done\n";

struct Device {
    socat: Child,
    dir: tempfile::TempDir,
    pty: PathBuf,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

fn device() -> Device {
    device_running(PROGRAM)
}

/// A console program `program` on a pty (run in the pty's folder).
fn device_running(program_text: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let pty = dir.path().join("ttyS0");
    let program = dir.path().join("console.sh");
    std::fs::write(&program, program_text).unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let socat = Command::new("socat")
        .current_dir(dir.path())
        .arg(format!("PTY,link={},raw,echo=0", pty.display()))
        .arg(format!("EXEC:{}", program.display()))
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (scripts/test installs it)");
    common::wait_until(&format!("pty {}", pty.display()), common::WAIT, || {
        if pty.exists() {
            Ok(())
        } else {
            Err("absent")
        }
    });
    Device { socat, dir, pty }
}

/// Output and markers of the console's continuous log files in `dir`.
fn console_log(dir: &Path) -> (String, Vec<String>) {
    let (mut out, mut markers) = (Vec::new(), Vec::new());
    for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(rec) = oobgate::recording::Recording::open(&f.path()) {
            for ev in rec.events {
                match ev.code {
                    'o' => out.extend_from_slice(&ev.data),
                    'm' => markers.push(String::from_utf8_lossy(&ev.data).into_owned()),
                    _ => {}
                }
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), markers)
}

fn alerts(lab: &Lab, n: usize) -> Vec<serde_json::Value> {
    common::wait_until(&format!("{n} console.alert events"), common::WAIT, || {
        let ev = lab.events("console.alert");
        if ev.len() >= n {
            Ok(ev)
        } else {
            Err(format!("{} so far", ev.len()))
        }
    })
    .into_iter()
    .map(|e| e.detail)
    .collect()
}

#[test]
fn kernel_panic_alerts_once_per_holdoff_with_the_flood_counted() {
    let dev = device();
    let (hook_url, hooks) = common::webhook_receiver();
    let inventory = format!(
        "[[device]]\nname = \"srv12-console\"\nkind = \"serial\"\naddress = \"{}\"\n\
         labels = {{ type = \"server\" }}\nalways_on = true\n",
        dev.pty.display()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        extra: format!(
            "[webhook]\nurl = \"{hook_url}\"\n\n[[alert]]\nname = \"kernel-panic\"\n\
             regex = \"Kernel panic\"\nlabels = {{ type = \"server\" }}\nholdoff = \"6s\"\n"
        ),
        ..Default::default()
    });

    // Nobody is attached: the always-on console is watched all the same.
    let first = alerts(&lab, 1);
    let seen = Instant::now();
    assert_eq!(first[0]["rule"], "kernel-panic");
    assert_eq!(first[0]["console"], "srv12-console");
    assert_eq!(first[0]["line"], "[   4.2] Kernel panic - not syncing: VFS");
    assert_eq!(first[0]["suppressed"], 0);
    let hook: serde_json::Value = serde_json::from_str(
        &hooks
            .recv_timeout(common::WAIT)
            .expect("the webhook receives the alert"),
    )
    .unwrap();
    assert_eq!(hook["kind"], "console.alert");
    assert_eq!(hook["rule"], "kernel-panic");
    assert_eq!(hook["line"], "[   4.2] Kernel panic - not syncing: VFS");
    let log_dir = lab.config.data_dir.join("consoles/srv12-console");
    common::wait_until("the alert marker in the console log", common::WAIT, || {
        let (_, markers) = console_log(&log_dir);
        let want = "alert kernel-panic: [   4.2] Kernel panic - not syncing: VFS";
        if markers.iter().any(|m| m == want) {
            Ok(())
        } else {
            Err(format!("{markers:?}"))
        }
    });

    // A flood inside the hold-off: all of it logged, none of it alerted.
    std::fs::write(dev.dir.path().join("flood"), "").unwrap();
    common::wait_until("the whole flood in the console log", common::WAIT, || {
        let (out, _) = console_log(&log_dir);
        if out.contains("(flood 1000)") {
            Ok(())
        } else {
            Err(out.len())
        }
    });
    assert!(
        seen.elapsed() < Duration::from_secs(5),
        "the flood must land inside the 6 s hold-off for this test to mean anything"
    );
    assert_eq!(lab.events("console.alert").len(), 1, "a flood alerts once");

    // The next match after the hold-off fires and reports what was held back. (This
    // waits out the hold-off itself: time passing is what is under test.)
    let after = seen + Duration::from_secs(6);
    std::thread::sleep(after.saturating_duration_since(Instant::now()));
    std::fs::write(dev.dir.path().join("again"), "").unwrap();
    let both = alerts(&lab, 2);
    assert_eq!(both.len(), 2, "{both:?}");
    let second = both
        .iter()
        .find(|a| a["line"] == "Kernel panic - not syncing (after hold-off)")
        .unwrap_or_else(|| panic!("{both:?}"));
    assert_eq!(second["suppressed"], 1000);
    let hook: serde_json::Value =
        serde_json::from_str(&hooks.recv_timeout(common::WAIT).expect("second webhook")).unwrap();
    assert_eq!(hook["suppressed"], 1000);
    let (_, markers) = console_log(&log_dir);
    let alert_markers: Vec<_> = markers.iter().filter(|m| m.starts_with("alert ")).collect();
    assert_eq!(alert_markers.len(), 2, "{alert_markers:?}");
    assert!(
        alert_markers[1].ends_with("(1000 more held back)"),
        "{alert_markers:?}"
    );
}

/// A ser2net raw TCP port onto `pty`; killed on drop.
struct Ser2net(Child, u16);

impl Drop for Ser2net {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ser2net(dir: &Path, pty: &Path) -> Ser2net {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("ser2net.yaml");
    std::fs::write(
        &cfg,
        format!(
            "%YAML 1.1\n---\nconnection: &con0\n  accepter: tcp,127.0.0.1,{port}\n  \
             connector: serialdev,{},115200n81,local\n",
            pty.display()
        ),
    )
    .unwrap();
    let child = Command::new("ser2net")
        .args(["-n", "-d", "-c"])
        .arg(&cfg)
        .arg("-P")
        .arg(dir.join("ser2net.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ser2net (scripts/test installs it)");
    let server = Ser2net(child, port);
    common::wait_until(
        &format!("ser2net listening on 127.0.0.1:{port}"),
        common::WAIT,
        || std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ()),
    );
    server
}

#[test]
fn five_failed_logins_in_a_minute_behind_a_console_server_alert_once() {
    // Nine failures: the fifth fires, the four after it do not reach five again.
    let dev = device_running(
        "#!/bin/sh\nsleep 1\ni=1; while [ $i -le 9 ]; do printf 'Login incorrect\\r\\n'; \
         i=$((i+1)); done\necho LOGINS-DONE\nwhile read l; do :; done\n",
    );
    let server = ser2net(dev.dir.path(), &dev.pty);
    let inventory = format!(
        "[[device]]\nname = \"sw1-console\"\nkind = \"serial\"\naddress = \"raw://127.0.0.1:{}\"\n\
         always_on = true\n",
        server.1
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        extra: "[[alert]]\nname = \"login-failures\"\nregex = \"Login incorrect\"\n\
                consoles = [\"sw1-console\"]\ncount = 5\nwithin = \"1m\"\n"
            .into(),
        ..Default::default()
    });
    let log_dir = lab.config.data_dir.join("consoles/sw1-console");
    // Markers are written with the output, so once the last line is logged every firing is.
    let markers = common::wait_until("all the logins in the console log", common::WAIT, || {
        let (out, markers) = console_log(&log_dir);
        if out.contains("LOGINS-DONE") {
            Ok(markers)
        } else {
            Err(out)
        }
    });
    let alert_markers: Vec<_> = markers.iter().filter(|m| m.starts_with("alert ")).collect();
    assert_eq!(
        alert_markers,
        ["alert login-failures: Login incorrect"],
        "{markers:?}"
    );
    let fired = alerts(&lab, 1);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["rule"], "login-failures");
    assert_eq!(fired[0]["console"], "sw1-console");
    assert_eq!(fired[0]["line"], "Login incorrect");
}
