//! Console alerts on a real console: a program on a pty (socat) opened by the bastion as a
//! local serial console, printing a kernel panic and then a flood of them; the audit log,
//! the console's continuous log and a webhook receiver see the alerts.

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
    let dir = tempfile::tempdir().unwrap();
    let pty = dir.path().join("ttyS0");
    let program = dir.path().join("console.sh");
    std::fs::write(&program, PROGRAM).unwrap();
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
