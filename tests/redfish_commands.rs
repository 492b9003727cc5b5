//! The BMC commands through the real ssh client against a real bastion and a real Redfish
//! BMC (sushy-emulator, TLS, basic auth; started once for this binary's sushy test, it is
//! slow), and the stand-in BMC for what sushy lacks (firmware tasks, the event log).

mod common;

use common::{text, Lab, LabOptions};
use oobgate::redfish::testing::{Sushy, BMC_PASSWORD, BMC_USER};

fn redfish_device(name: &str, server: &str, address: &str, extra: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nkind = \"redfish\"\naddress = \"{address}\"\n\
         labels = {{ server = \"{server}\" }}\ncredential = \"bmc/{server}\"\n{extra}\n"
    )
}

/// A lab with `inventory`, `policy`, the BMC login for srv20 and srv30 in a local
/// credentials file, and `[media]` allowing `allowed`.
fn lab(inventory: String, policy: &str, allowed: &str) -> (Lab, tempfile::TempDir) {
    let (creds, file) = common::credentials_file("bmc/srv20", BMC_USER, BMC_PASSWORD);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{text}\n{}", text.replace("bmc/srv20", "bmc/srv30")),
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

#[test]
fn power_through_a_redfish_bmc_by_policy_and_audited() {
    let sushy = Sushy::start();
    let inventory = redfish_device("srv20-bmc", "srv20", &sushy.address, "");
    let (lab, _creds) = lab(inventory, POLICY, "http://127.0.0.1:1/");
    let ops = lab.user("olga", "olga,role:ops");
    let viewer = lab.user("vic", "vic,role:viewer");

    let (code, out) = ssh(&lab, &viewer, &["power", "status", "srv20"]);
    assert_eq!(code, Some(0), "{out}\n{}", sushy.log());
    assert!(out.contains("srv20: chassis power is off"), "{out}");
    let (code, out) = ssh(&lab, &viewer, &["power", "on", "srv20"]);
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("power.control on srv20-bmc denied"), "{out}");

    let (code, out) = ssh(&lab, &ops, &["power", "on", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("srv20: power on done"), "{out}");
    wait_power(&lab, &ops, "srv20", "on");
    let (code, out) = ssh(&lab, &ops, &["power", "cycle", "srv20"]);
    assert_eq!(code, Some(0), "{out}");
    wait_power(&lab, &ops, "srv20", "on");
    let (code, out) = ssh(&lab, &ops, &["power", "off", "srv20-bmc"]);
    assert_eq!(code, Some(0), "{out}");
    wait_power(&lab, &ops, "srv20", "off");
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
