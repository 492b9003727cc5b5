//! The systemd unit passes `systemd-analyze verify` with its hardening in place, and the
//! Debian package (built by `cargo deb` from the test build of the binary) installs on this
//! machine with `dpkg -i`: system user, 0700 data directories, the service's own
//! `oobgate check`, then `dpkg --purge` leaves the machine as it was.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIT: &str = "contrib/oobgate.service";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{stdout}{stderr}");
    format!("{stdout}{stderr}")
}

/// `systemd-analyze verify`: exit 0 and not a single warning.
fn verify_unit(path: &Path) {
    let out = run(Command::new("systemd-analyze").arg("verify").arg(path));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {}: {:?}\n{said}",
        path.display(),
        out.status
    );
}

/// The unit's `Key=value` settings, in order.
fn settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unit_file_passes_systemd_analyze_verify_with_its_hardening() {
    let text = std::fs::read_to_string(root().join(UNIT)).unwrap();
    let set = settings(&text);
    for (key, value) in [
        ("Type", "notify"),
        ("WatchdogSec", "30s"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/oobgate"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("CapabilityBoundingSet", ""),
        ("SupplementaryGroups", "dialout"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("User", "oobgate"),
    ] {
        assert!(
            set.iter().any(|(k, v)| k == key && v == value),
            "{UNIT} lacks {key}={value}"
        );
    }
    // verify checks that the binaries exist: point the copy at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("oobgate.service");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/oobgate", env!("CARGO_BIN_EXE_oobgate")),
    )
    .unwrap();
    verify_unit(&copy);
    // And a misspelt key is caught the same way, so the check above means something.
    std::fs::write(
        &copy,
        std::fs::read_to_string(&copy)
            .unwrap()
            .replace("ProtectHome=", "ProtectHoem="),
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ProtectHoem"));
}

/// What the package may touch, to compare before and after: its accounts, and every path
/// it or dpkg's systemd helpers could leave behind (other tests on this machine change
/// other accounts at the same time, so only oobgate's own are compared).
fn machine_state() -> String {
    let mut s = String::new();
    for f in ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"] {
        for line in std::fs::read_to_string(f).unwrap_or_default().lines() {
            if line.split(':').next() == Some("oobgate") {
                s.push_str(&format!("{f}: {line}\n"));
            }
        }
    }
    let find = run(Command::new("find").args([
        "/etc/oobgate",
        "/var/lib/oobgate",
        "/usr/bin/oobgate",
        "/usr/lib/systemd/system",
        "/etc/systemd/system",
        "/var/lib/systemd",
        "/usr/share/doc/oobgate",
    ]));
    let mut paths: Vec<String> = String::from_utf8_lossy(&find.stdout)
        .lines()
        .filter(|p| p.contains("oobgate"))
        .map(String::from)
        .collect();
    paths.sort();
    s.push_str(&paths.join("\n"));
    s
}

/// Whether dpkg knows the package in any state but "not installed".
fn package_known() -> bool {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "oobgate"]));
    let status = String::from_utf8_lossy(&out.stdout);
    !status.trim().is_empty() && !status.trim().ends_with("not-installed")
}

/// Purges the package when dropped, so a failed assertion still cleans up.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run(Command::new("dpkg").args(["--purge", "oobgate"]));
    }
}

fn mode_and_owner(path: &str) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

/// Fails unless this test may install and purge the package here.
fn assert_machine_is_free() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "dpkg -i needs root (CI and scripts/test run as root)"
    );
    assert!(
        !package_known() && !Path::new("/etc/oobgate").exists(),
        "an oobgate package or /etc/oobgate is already on this machine; this test leaves it alone"
    );
    let state = machine_state();
    assert!(
        state.is_empty(),
        "oobgate's user or files are already here:\n{state}"
    );
    let cargo_deb = run(Command::new("cargo").args(["deb", "--version"]));
    assert!(
        cargo_deb.status.success(),
        "cargo-deb is missing: run scripts/test (ensure_cargo_deb in scripts/lib/packaging.sh)"
    );
}

/// `cargo deb` from the binary the tests just built (the dev profile: cargo-deb warns it
/// is not for releases, which plain `cargo deb` builds); returns the .deb.
fn build_deb(out_dir: &Path) -> PathBuf {
    run_ok(
        Command::new("cargo")
            .current_dir(root())
            .args([
                "deb",
                "--profile",
                "dev",
                "--no-build",
                "-q",
                "--fast",
                "-o",
            ])
            .arg(out_dir),
    );
    std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("cargo deb made a .deb")
}

/// The installed package's user, directories and modes.
fn assert_installed_layout() {
    let passwd = run_ok(Command::new("getent").args(["passwd", "oobgate"]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    let gid: u32 = fields[3].parse().unwrap();
    assert!(uid < 1000, "a system user: {passwd}");
    assert_eq!(
        fields[5..7],
        ["/var/lib/oobgate", "/usr/sbin/nologin"],
        "{passwd}"
    );
    for dir in ["/var/lib/oobgate", "/var/lib/oobgate/recordings"] {
        assert_eq!(mode_and_owner(dir), (0o700, uid, gid), "{dir}");
    }
    assert_eq!(mode_and_owner("/etc/oobgate"), (0o750, 0, gid));
    assert_eq!(
        mode_and_owner("/usr/bin/oobgate").0,
        0o755,
        "the binary is executable"
    );
}

#[test]
fn debian_package_installs_checks_its_config_and_purges_cleanly() {
    assert_machine_is_free();
    let out_dir = tempfile::tempdir().unwrap();
    let deb = build_deb(out_dir.path());

    let installed = Installed;
    let said = run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(
        said.contains("/etc/oobgate/oobgate.toml: OK"),
        "postinst runs oobgate check: {said}"
    );
    assert_installed_layout();
    // As the service runs it: its user, its config.
    let checked = run_ok(Command::new("runuser").args([
        "-u",
        "oobgate",
        "--",
        "/usr/bin/oobgate",
        "check",
        "--config",
        "/etc/oobgate/oobgate.toml",
    ]));
    assert!(
        checked.contains("OK (listen 127.0.0.1:2222, 0 devices"),
        "{checked}"
    );
    verify_unit(Path::new("/usr/lib/systemd/system/oobgate.service"));

    drop(installed);
    assert!(!package_known(), "dpkg --purge removed it");
    let after = machine_state();
    assert!(after.is_empty(), "left behind after dpkg --purge:\n{after}");
}
