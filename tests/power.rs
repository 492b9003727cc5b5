//! `ssh bastion power ...` through the real ssh client to a real BMC (`ipmi_sim`), whose
//! chassis hook shows what really happened; policy, audit and credentials as in production.

mod common;

use common::{text, Attached, Lab, LabOptions};
use oobgate::ipmi::testing::{read_serial_until, IpmiSim, BMC_PASSWORD, BMC_USER};

const POLICY: &str = "\
p, role:ops, server:srv12, power.status, allow
p, role:ops, server:srv12, power.control, allow
p, role:ops, server:srv12, boot.control, allow
p, role:ops, server:srv12, media.control, allow
p, role:viewer, server:srv12, power.status, allow
";

fn lab(sim: &IpmiSim, password: &str) -> (Lab, tempfile::TempDir) {
    lab_with(sim, password, POLICY, false)
}

/// A lab whose inventory has srv12's BMC (`srv12-sol`) at `sim`, with `password` as the
/// BMC login the bastion holds.
fn lab_with(
    sim: &IpmiSim,
    password: &str,
    policy: &str,
    always_on: bool,
) -> (Lab, tempfile::TempDir) {
    let (creds, file) = common::credentials_file("bmc/srv12", BMC_USER, password);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"srv12-sol\"\nkind = \"ipmi-sol\"\naddress = \"{}\"\n\
             labels = {{ server = \"srv12\" }}\ncredential = \"bmc/srv12\"\nalways_on = {always_on}\n",
            sim.address
        )),
        policy: Some(policy.into()),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    (lab, creds)
}

/// Waits until the chassis hook has been asked `calls`, in this order, after its first
/// `from` bytes of log; returns the log's new length.
#[track_caller]
fn wait_hook_calls(sim: &IpmiSim, from: usize, calls: &[&str]) -> usize {
    common::wait_until(&format!("hook calls {calls:?}"), common::WAIT, || {
        let log = sim.hook_log();
        let mut rest = log.get(from..).unwrap_or_default();
        for call in calls {
            match rest.find(call) {
                Some(i) => rest = &rest[i + call.len()..],
                None => return Err(log),
            }
        }
        Ok(log.len())
    })
}

#[test]
fn power_status_and_control_by_policy_audited_and_real() {
    let sim = IpmiSim::start();
    let (lab, _creds) = lab(&sim, BMC_PASSWORD);
    let ops = lab.user("olga", "olga,role:ops");
    let viewer = lab.user("vic", "vic,role:viewer");

    let out = lab.ssh(&viewer, &["power", "status", "srv12"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("srv12: chassis power is off"), "{o}");
    let out = lab.ssh(&viewer, &["power", "on", "srv12"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(77), "{o}{e}");
    assert!(
        format!("{o}{e}").contains("power.control on srv12-sol denied"),
        "{o}{e}"
    );
    assert!(!sim.hook_log().contains("set power"), "{}", sim.hook_log());

    let out = lab.ssh(&ops, &["power", "on", "srv12"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("power on done; chassis power is now on"), "{o}");
    let seen = wait_hook_calls(&sim, 0, &["set power 1"]);
    // A cycle reaches the chassis as off, then on.
    let out = lab.ssh(&ops, &["power", "cycle", "srv12"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let seen = wait_hook_calls(&sim, seen, &["set power 0", "set power 1"]);
    // A soft power-off asks the host's OS to shut down (ACPI): the BMC passes it on.
    let out = lab.ssh(&ops, &["power", "soft", "srv12"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("power soft"), "{o}");
    let seen = wait_hook_calls(&sim, seen, &["set shutdown 1"]);
    let out = lab.ssh(&ops, &["power", "off", "srv12-sol"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let seen = wait_hook_calls(&sim, seen, &["set power 0"]);
    let (o, _) = text(&lab.ssh(&ops, &["power", "status", "srv12"]));
    assert!(o.contains("chassis power is off"), "{o}");

    let out = lab.ssh(&ops, &["power", "explode", "srv12"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lab.ssh(&ops, &["power", "status", "srv99"]);
    assert!(
        text(&out).0.contains("no BMC for \"srv99\"")
            || text(&out).1.contains("no BMC for \"srv99\"")
    );

    // The other BMC commands go through the same traits: boot works over IPMI, virtual
    // media is refused as something IPMI cannot do.
    let out = lab.ssh(&ops, &["boot", "srv12", "pxe", "--once"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(
        o.contains("boot override set to pxe (next boot only)"),
        "{o}"
    );
    let seen = wait_hook_calls(&sim, seen, &["set boot pxe"]);
    let out = lab.ssh(&ops, &["media", "status", "srv12"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        format!("{o}{e}").contains("virtual media is not supported by IPMI (BMC srv12-sol)"),
        "{o}{e}"
    );

    // The local command on the bastion host does the same, audited as the local login.
    let out = lab.oobgate(&["power", "reset", "srv12"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("srv12: power reset done"), "{o}");
    wait_hook_calls(&sim, seen, &["set reset 1"]);
    assert!(lab
        .events("power")
        .iter()
        .any(|e| e.user.as_deref().is_some_and(|u| u.starts_with("local:"))));

    let events = lab.events("power");
    let actions: Vec<_> = events.iter().filter_map(|e| e.action.clone()).collect();
    assert!(actions.contains(&"power on".to_string()), "{actions:?}");
    assert!(actions.contains(&"power cycle".to_string()), "{actions:?}");
    assert!(events
        .iter()
        .all(|e| e.user.as_deref() != Some("vic") || e.action.as_deref() == Some("power status")));
}

#[test]
fn a_wrong_bmc_password_is_a_clear_error_without_the_secret() {
    let sim = IpmiSim::start();
    let (lab, _creds) = lab(&sim, "wrong-bmc-pass");
    let ops = lab.user("olga", "olga,role:ops");
    let out = lab.ssh(&ops, &["power", "status", "srv12"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        format!("{o}{e}").contains("authentication failed"),
        "{o}{e}"
    );
    assert!(!format!("{o}{e}").contains("wrong-bmc-pass"));
    let ev = lab.events("power");
    assert_eq!(ev[0].outcome.as_deref(), Some("error"));
    assert!(!ev[0].detail.to_string().contains("wrong-bmc-pass"));
}

#[test]
fn sol_console_through_the_bastion_marks_power_actions() {
    use std::io::Write;
    let (sim, mut serial) = IpmiSim::start_with_serial();
    let (lab, _creds) = lab_with(
        &sim,
        BMC_PASSWORD,
        "p, role:ops, server:srv12, *, allow\n",
        true,
    );
    let ops = lab.user("olga", "olga,role:ops");
    let ops = lab.with_devices(&ops, &["srv12-sol"]);
    // Printed by the host while nobody is attached: held and logged by the broker.
    common::wait_until("the SOL console up", common::WAIT, || {
        let (list, _) = text(&lab.ssh(&ops, &["consoles"]));
        if list.contains("srv12-sol") && list.contains(" up ") {
            Ok(())
        } else {
            Err(list)
        }
    });
    serial
        .write_all(b"Kernel panic - not syncing\r\nsrv12 login: ")
        .unwrap();
    let dir = lab.config.data_dir.join("consoles/srv12-sol");
    let logged = || {
        let mut logged = String::new();
        for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            logged.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
        }
        logged
    };
    common::wait_until("the panic in the continuous log", common::WAIT, || {
        let text = logged();
        if text.contains("Kernel panic") {
            Ok(())
        } else {
            Err(text)
        }
    });
    let mut olga = Attached::start(&ops, "srv12-sol");
    assert!(
        olga.wait_for("Kernel panic - not syncing"),
        "{}",
        olga.text()
    );
    olga.send(b"root\r");
    read_serial_until(&mut serial, b"root\r");
    let out = lab.ssh(&ops, &["power", "cycle", "srv12"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        olga.wait_for("olga ran `power cycle srv12`: done"),
        "{}",
        olga.text()
    );
    olga.send(b"\x1db");
    assert!(olga.wait_for("[console: break sent]"), "{}", olga.text());
    // The continuous log has the output and the power marker.
    let logged = logged();
    assert!(logged.contains("Kernel panic"), "{logged}");
    assert!(logged.contains("power cycle srv12"), "{logged}");
    assert!(!logged.contains(BMC_PASSWORD));
}

#[test]
fn sol_console_output_fires_an_alert_with_nobody_attached() {
    use std::io::Write;
    let (sim, mut serial) = IpmiSim::start_with_serial();
    let (_creds, file) = common::credentials_file("bmc/srv12", BMC_USER, BMC_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"srv12-sol\"\nkind = \"ipmi-sol\"\naddress = \"{}\"\n\
             labels = {{ server = \"srv12\" }}\ncredential = \"bmc/srv12\"\nalways_on = true\n",
            sim.address
        )),
        policy: Some("p, role:ops, server:srv12, *, allow\n".into()),
        extra: format!(
            "[secrets]\nlocal_file = \"{}\"\n\n[[alert]]\nname = \"panic\"\n\
             regex = \"Kernel panic\"\nlabels = {{ server = \"srv12\" }}\n",
            file.display()
        ),
        ..Default::default()
    });
    let ops = lab.user("olga", "olga,role:ops");
    let ops = lab.with_devices(&ops, &["srv12-sol"]);
    common::wait_until("the SOL console up", common::WAIT, || {
        let (list, _) = text(&lab.ssh(&ops, &["consoles"]));
        if list.contains("srv12-sol") && list.contains(" up ") {
            Ok(())
        } else {
            Err(list)
        }
    });
    serial
        .write_all(b"[  7.0] Kernel panic - not syncing: Attempted to kill init!\r\n")
        .unwrap();
    let ev = common::wait_until("a console.alert", common::WAIT, || {
        let ev = lab.events("console.alert");
        if ev.is_empty() {
            Err("none yet")
        } else {
            Ok(ev)
        }
    });
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].device.as_deref(), Some("srv12-sol"));
    assert_eq!(ev[0].detail["rule"], "panic");
    assert_eq!(
        ev[0].detail["line"],
        "[  7.0] Kernel panic - not syncing: Attempted to kill init!"
    );
}
