//! The BMC commands through the real ssh client against a real bastion and a real Redfish
//! BMC (sushy-emulator, TLS, basic auth; started once for this binary's sushy test, it is
//! slow), and the stand-in BMC for what sushy lacks (firmware tasks, the event log).

mod common;

use common::{text, Attached, Lab, LabOptions};
use std::path::Path;

use oobgate::redfish::testing::{FakeBmc, FakeTask, FileServer, Sushy, BMC_PASSWORD, BMC_USER};
use oobgate::redfish::{Client, MemoryPins};

fn redfish_device(name: &str, server: &str, address: &str, extra: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nkind = \"redfish\"\naddress = \"{address}\"\n\
         labels = {{ server = \"{server}\" }}\ncredential = \"bmc/{server}\"\n{extra}\n"
    )
}

/// The login held for srv31: not the BMC's password.
const WRONG_PASSWORD: &str = "not-the-bmc-pass-7720";

/// A lab with `inventory`, `policy`, the BMC login for srv20 and srv30 in a local
/// credentials file, and `[media]` allowing `allowed`.
fn lab(inventory: String, policy: &str, allowed: &str) -> (Lab, tempfile::TempDir) {
    let (creds, file) = common::credentials_file("bmc/srv20", BMC_USER, BMC_PASSWORD);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!(
            "{text}\n{}\n{}",
            text.replace("bmc/srv20", "bmc/srv30"),
            text.replace("bmc/srv20", "bmc/srv31")
                .replace(BMC_PASSWORD, WRONG_PASSWORD)
        ),
    )
    .unwrap();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        policy: Some(policy.into()),
        extra: format!(
            "[secrets]\nlocal_file = \"{}\"\n[media]\nallowed_urls = [\"{allowed}\"]\n",
            file.display()
        ),
        ..Default::default()
    });
    (lab, creds)
}

/// Runs `ssh bastion ARGS` as `cfg`; returns exit status and stdout+stderr.
fn ssh(lab: &Lab, cfg: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = lab.ssh(cfg, args);
    let (o, e) = text(&out);
    (out.status.code(), format!("{o}{e}"))
}

/// Waits until `power status SERVER` reads `want`.
#[track_caller]
fn wait_power(lab: &Lab, cfg: &std::path::Path, server: &str, want: &str) {
    let needle = format!("{server}: chassis power is {want}");
    common::wait_until(&needle, std::time::Duration::from_secs(40), || {
        let (code, out) = ssh(lab, cfg, &["power", "status", server]);
        if code == Some(0) && out.contains(&needle) {
            Ok(())
        } else {
            Err(out)
        }
    });
}

const POLICY: &str = "\
p, role:ops, server:srv20, *, allow
p, role:viewer, server:srv20, power.status, allow
";

/// What the emulator itself holds for its system: (boot target, boot enabled, media image).
fn emulator_state(sushy: &Sushy) -> (Option<String>, Option<String>, Option<String>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = Client::connect(
                sushy.endpoint("check"),
                std::sync::Arc::new(MemoryPins::new()),
            )
            .await
            .unwrap();
            let sys = c.system(None).await.unwrap();
            let media = c.media_status(&sys).await.unwrap();
            (sys.boot.target, sys.boot.enabled, media.image)
        })
}

#[test]
fn a_redfish_bmc_through_the_bastion() {
    let files = FileServer::start(&[("rescue.iso", b"ISO9660 pretend image")]);
    let sushy = Sushy::start();
    let console = common::console::pty_console();
    let inventory = redfish_device("srv20-bmc", "srv20", &sushy.address, "")
        + format!(
            "[[device]]\nname = \"srv20-console\"\nkind = \"serial\"\naddress = \"{}\"\n\
             labels = {{ server = \"srv20\" }}\n",
            console.pty.display()
        )
        .as_str();
    let (mut lab, _creds) = lab(inventory.clone(), POLICY, &files.url);
    let ops = lab.user("olga", "olga,role:ops");
    let viewer = lab.user("vic", "vic,role:viewer");
    power(&lab, &sushy, &ops, &viewer);
    boot(&lab, &sushy, &ops, &viewer);
    media(&lab, &sushy, &files, &ops, &viewer);
    recover(&lab, &sushy, &files, &ops, &viewer);
    certificates(&mut lab, &sushy, &inventory, &ops);
}

/// The certificate learnt on first use is kept across a restart: another BMC behind
/// srv20-bmc's address is refused loudly, naming the device and both fingerprints; a pinned
/// certificate is enforced from the first use.
fn certificates(lab: &mut Lab, sushy: &Sushy, inventory: &str, ops: &Path) {
    let impostor = FakeBmc::start(FakeTask::Progress, false);
    let moved = inventory.replace(&sushy.address, &impostor.address)
        + redfish_device(
            "srv21-bmc",
            "srv21",
            &sushy.address,
            &format!("tls_fingerprint = \"sha256:{}\"", impostor.cert.fingerprint),
        )
        .replace("bmc/srv21", "bmc/srv20")
        .as_str();
    std::fs::write(lab.root().join("inventory.toml"), moved).unwrap();
    lab.restart();
    let (code, out) = ssh(lab, ops, &["power", "status", "srv20"]);
    assert_eq!(code, Some(1), "{out}");
    let changed = format!(
        "BMC CERTIFICATE FOR srv20-bmc CHANGED: pinned SHA256 {}, presented SHA256 {}",
        sushy.cert.fingerprint, impostor.cert.fingerprint
    );
    assert!(out.contains(&changed), "{out}");
    assert!(
        impostor
            .journal()
            .iter()
            .all(|r| r["auth"].is_null() || r["auth"] == "none"),
        "no login reached the other BMC: {:?}",
        impostor.journal()
    );
    let ev = lab.events("power");
    let last = ev.last().unwrap();
    assert_eq!(last.outcome.as_deref(), Some("error"));
    assert!(
        last.detail["error"].as_str().unwrap().contains("CHANGED"),
        "{last:?}"
    );

    // srv21 is pinned to another certificate than the one sushy presents.
    let policy = format!("{POLICY}p, role:ops, server:srv21, *, allow\n");
    std::fs::write(lab.root().join("policies/policy.csv"), policy).unwrap();
    lab.restart();
    let (code, out) = ssh(lab, ops, &["boot", "srv21", "pxe"]);
    assert_eq!(code, Some(1), "{out}");
    let pinned = format!(
        "BMC CERTIFICATE FOR srv21-bmc CHANGED: pinned SHA256 {}, presented SHA256 {}",
        impostor.cert.fingerprint, sushy.cert.fingerprint
    );
    assert!(out.contains(&pinned), "{out}");
}

fn recover(lab: &Lab, sushy: &Sushy, files: &FileServer, ops: &Path, viewer: &Path) {
    let iso = format!("{}rescue.iso", files.url);
    let (code, out) = ssh(lab, viewer, &["recover", "srv20", "--iso", &iso]);
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("media.control on srv20-bmc denied"), "{out}");
    assert_eq!(emulator_state(sushy).2, None, "a refusal changes nothing");

    let mut term = Attached::start_args(ops, "bastion", &["recover", "srv20", "--iso", &iso]);
    term.expect("srv20: step 1/3: media insert");
    term.expect("srv20: step 2/3: boot cd once");
    term.expect("srv20: step 3/3: power cycle");
    term.expect(&format!("srv20: recovery started from {iso}"));
    let (target, enabled, image) = emulator_state(sushy);
    assert_eq!(image.as_deref(), Some(iso.as_str()));
    assert_eq!(target.as_deref(), Some("Cd"));
    assert!(enabled.is_some(), "the emulator holds a boot override");
    wait_power(lab, ops, "srv20", "on");
    // Then the server's console, attached on the same connection.
    term.expect("CONSOLE-READY");
    term.send(b"rescue-shell\n");
    term.expect("got:rescue-shell");
    let shown = term.detach();
    assert!(!shown.contains(BMC_PASSWORD));

    let ev = lab.events("recover");
    let ok = ev
        .iter()
        .find(|e| e.outcome.as_deref() == Some("ok"))
        .unwrap_or_else(|| panic!("{ev:#?}"));
    assert_eq!(ok.user.as_deref(), Some("olga"));
    assert_eq!(
        ok.detail["steps"],
        serde_json::json!(["media insert", "boot cd once", "power cycle"])
    );
    assert_eq!(ok.detail["console"], "srv20-console");
}

fn boot(lab: &Lab, sushy: &Sushy, ops: &Path, viewer: &Path) {
    let (code, out) = ssh(lab, ops, &["boot", "srv20", "pxe"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("srv20: boot override set to pxe (every boot)"),
        "{out}"
    );
    assert_eq!(emulator_state(sushy).0.as_deref(), Some("Pxe"));
    let (code, out) = ssh(lab, ops, &["boot", "srv20", "cd", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("boot override set to cd (next boot only)"),
        "{out}"
    );
    assert_eq!(emulator_state(sushy).0.as_deref(), Some("Cd"));
    // The emulator offers no BIOS setup target: its refusal reaches the admin.
    let (code, out) = ssh(lab, ops, &["boot", "srv20", "bios"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("does not offer boot target BiosSetup"),
        "{out}"
    );
    let (code, out) = ssh(lab, ops, &["boot", "srv20", "floppy"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("unknown boot device \"floppy\""), "{out}");

    let (code, out) = ssh(lab, viewer, &["boot", "srv20", "disk"]);
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("boot.control on srv20-bmc denied"), "{out}");
    assert_eq!(
        emulator_state(sushy).0.as_deref(),
        Some("Cd"),
        "a refusal changes nothing"
    );

    let events = lab.events("boot");
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.user.clone().unwrap_or_default(),
                e.action.clone().unwrap_or_default(),
                e.outcome.clone().unwrap_or_default(),
            )
        })
        .collect();
    for want in [
        ("olga", "boot pxe", "ok"),
        ("olga", "boot cd once", "ok"),
        ("olga", "boot bios", "error"),
    ] {
        assert!(
            seen.contains(&(want.0.into(), want.1.into(), want.2.into())),
            "{want:?}: {seen:?}"
        );
    }
    assert!(!seen.iter().any(|(u, _, _)| u == "vic"), "{seen:?}");
    assert!(lab.events("policy.decision").iter().any(|e| {
        e.user.as_deref() == Some("vic")
            && e.action.as_deref() == Some("boot.control")
            && e.outcome.as_deref() == Some("deny")
    }));
}

fn media(lab: &Lab, sushy: &Sushy, files: &FileServer, ops: &Path, viewer: &Path) {
    let iso = format!("{}rescue.iso", files.url);
    let (code, out) = ssh(lab, ops, &["media", "status", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("is empty"), "{out}");
    let (code, out) = ssh(lab, ops, &["media", "insert", "srv20", &iso]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("holds {iso}")), "{out}");
    assert_eq!(emulator_state(sushy).2.as_deref(), Some(iso.as_str()));
    let (code, out) = ssh(lab, ops, &["media", "status", "srv20"]);
    assert!(
        code == Some(0) && out.contains(&format!("holds {iso}")),
        "{out}"
    );

    // Outside the allowed prefix (another port, a climb out): refused, naming the prefix.
    for bad in [
        "http://127.0.0.1:1/rescue.iso".to_string(),
        format!(
            "{}../etc/passwd",
            files.url.replace("127.0.0.1", "localhost")
        ),
    ] {
        let (code, out) = ssh(lab, ops, &["media", "insert", "srv20", &bad]);
        assert_eq!(code, Some(77), "{bad}: {out}");
        assert!(
            out.contains("refused") && out.contains(&format!("media.allowed_urls: {}", files.url)),
            "{bad}: {out}"
        );
    }
    assert_eq!(emulator_state(sushy).2.as_deref(), Some(iso.as_str()));
    let (code, out) = ssh(lab, viewer, &["media", "eject", "srv20"]);
    assert_eq!(code, Some(77), "{out}");

    let (code, out) = ssh(lab, ops, &["media", "eject", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("is empty"), "{out}");
    assert_eq!(emulator_state(sushy).2, None);

    let events = lab.events("media");
    let outcomes: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.action.clone().unwrap_or_default(),
                e.outcome.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|(a, o)| a == "media insert" && o == "denied")
            .count(),
        2,
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("media insert".into(), "ok".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("media eject".into(), "ok".into())),
        "{outcomes:?}"
    );
}

#[test]
fn firmware_event_log_and_faults_through_the_stand_in_bmc() {
    let fake = FakeBmc::start(FakeTask::Progress, true);
    let closed = format!(
        "https://127.0.0.1:{}",
        oobgate::redfish::testing::free_port()
    );
    let inventory = redfish_device("srv30-bmc", "srv30", &fake.address, "")
        + redfish_device("srv31-bmc", "srv31", &fake.address, "").as_str()
        + redfish_device("srv32-bmc", "srv32", &closed, "")
            .replace("bmc/srv32", "bmc/srv30")
            .as_str();
    let policy = "p, role:ops, *, *, allow\np, role:viewer, server:srv30, bmc.log, allow\n";
    let (lab, _creds) = lab(inventory, policy, "https://files.lab/firmware/");
    let ops = lab.user("olga", "olga,role:ops");
    let viewer = lab.user("vic", "vic,role:viewer");

    let (code, out) = ssh(
        &lab,
        &viewer,
        &[
            "firmware",
            "update",
            "srv30",
            "https://files.lab/firmware/bios.bin",
        ],
    );
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("firmware.update on srv30-bmc denied"), "{out}");
    let (code, out) = ssh(
        &lab,
        &ops,
        &["firmware", "update", "srv30", "https://files.evil/bios.bin"],
    );
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("https://files.lab/firmware/"), "{out}");
    assert!(
        !fake.journal().iter().any(|r| r["method"] == "POST"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.contains("SimpleUpdate"))),
        "nothing reached the BMC"
    );

    let (code, out) = ssh(
        &lab,
        &ops,
        &[
            "firmware",
            "update",
            "srv30",
            "https://files.lab/firmware/bios.bin",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{out}"))
    };
    assert!(
        at("firmware update from https://files.lab/firmware/bios.bin started")
            < at("firmware task New 0%")
    );
    assert!(at("firmware task New 0%") < at("firmware task Running 50%"));
    assert!(at("firmware task Running 50%") < at("firmware task Completed 100%"));
    assert!(at("firmware task Completed 100%") < at("srv30: firmware update done (Completed 100%"));
    let ev = lab.events("firmware");
    assert!(
        ev.iter()
            .any(|e| e.outcome.as_deref() == Some("ok") && e.detail["state"] == "Completed"),
        "{ev:#?}"
    );
    assert!(
        ev.iter().any(|e| e.outcome.as_deref() == Some("denied")),
        "{ev:#?}"
    );

    let (code, out) = ssh(&lab, &viewer, &["bmc-log", "srv30", "-n", "2"]);
    assert_eq!(code, Some(0), "{out}");
    let entries: Vec<&str> = out.lines().collect();
    assert_eq!(entries.len(), 2, "{out}");
    assert!(entries[0].contains("CPU 1 machine check error"), "{out}");
    let (code, out) = ssh(&lab, &viewer, &["power", "status", "srv30"]);
    assert_eq!(code, Some(77), "{out}");
    // The stand-in BMC has no virtual media: recover stops at its first step, says so,
    // and changes nothing else.
    let (code, out) = ssh(
        &lab,
        &ops,
        &[
            "recover",
            "srv30",
            "--iso",
            "https://files.lab/firmware/r.iso",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("step \"media insert\" failed") && out.contains("nothing was changed"),
        "{out}"
    );
    assert!(!out.contains("step 2/3"), "{out}");
    assert!(
        !fake
            .journal()
            .iter()
            .any(|r| r["method"] == "PATCH"
                || r["path"].as_str().is_some_and(|p| p.contains("Reset"))),
        "no boot override or reset after the failed step"
    );
    let failed = lab.events("recover");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].outcome.as_deref(), Some("error"));
    assert_eq!(failed[0].detail["failed_step"], "media insert");

    // A wrong BMC password and an unreachable BMC are clear errors, without the secret.
    let (code, out) = ssh(&lab, &ops, &["power", "status", "srv31"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BMC srv31-bmc: authentication failed") && !out.contains(WRONG_PASSWORD),
        "{out}"
    );
    let (code, out) = ssh(&lab, &ops, &["bmc-log", "srv32"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("cannot reach BMC srv32-bmc at {closed}")),
        "{out}"
    );
    let ev = lab.events("");
    assert!(ev
        .iter()
        .all(|e| !e.detail.to_string().contains(WRONG_PASSWORD)));
    assert!(ev.iter().any(|e| e.kind == "bmc.log"
        && e.device.as_deref() == Some("srv32-bmc")
        && e.outcome.as_deref() == Some("error")));

    // A Redfish BMC has no session of its own.
    let jump = lab.with_devices(&ops, &["srv30-bmc"]);
    let out = lab.ssh_to(&jump, "srv30-bmc", &["uptime"]);
    let (o, e) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{o}{e}");
    assert!(
        format!("{o}{e}").contains("it is a Redfish BMC, with no session of its own"),
        "{o}{e}"
    );

    let ev = lab.events("bmc.log");
    assert!(
        ev.iter()
            .any(|e| e.user.as_deref() == Some("vic") && e.detail["entries"] == 2),
        "{ev:#?}"
    );
}

fn power(lab: &Lab, sushy: &Sushy, ops: &Path, viewer: &Path) {
    let (code, out) = ssh(lab, viewer, &["power", "status", "srv20"]);
    assert_eq!(code, Some(0), "{out}\n{}", sushy.log());
    assert!(out.contains("srv20: chassis power is off"), "{out}");
    let (code, out) = ssh(lab, viewer, &["power", "on", "srv20"]);
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("power.control on srv20-bmc denied"), "{out}");

    let (code, out) = ssh(lab, ops, &["power", "on", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("srv20: power on done"), "{out}");
    wait_power(lab, ops, "srv20", "on");
    let (code, out) = ssh(lab, ops, &["power", "cycle", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    wait_power(lab, ops, "srv20", "on");
    let (code, out) = ssh(lab, ops, &["power", "off", "srv20-bmc"]);
    assert_eq!(code, Some(0), "{out}");
    wait_power(lab, ops, "srv20", "off");
    assert!(!out.contains(BMC_PASSWORD));

    let events = lab.events("power");
    let done: Vec<_> = events
        .iter()
        .filter(|e| e.user.as_deref() == Some("olga"))
        .filter_map(|e| Some((e.action.clone()?, e.outcome.clone()?)))
        .collect();
    for want in ["power on", "power cycle", "power off"] {
        assert!(
            done.contains(&(want.to_string(), "ok".to_string())),
            "{want}: {done:?}"
        );
    }
    assert!(events
        .iter()
        .all(|e| e.device.as_deref() == Some("srv20-bmc")
            && !e.detail.to_string().contains(BMC_PASSWORD)));
}
