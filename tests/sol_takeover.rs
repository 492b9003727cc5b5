//! A Serial-over-LAN payload left active by another client (here: another bastion holding
//! the console always-on, as a forgotten `ipmitool sol activate` would): refused with a
//! clear message naming `sol_takeover`, and taken over when the device says
//! `sol_takeover = true`. Real BMC: `ipmi_sim`.

mod common;

use std::io::Write;

use common::{text, Attached, Lab, LabOptions};
use oobgate::ipmi::testing::{IpmiSim, BMC_PASSWORD, BMC_USER};

/// A bastion whose `srv12-sol` is the BMC at `sim`, with `fields` added to the device.
fn bastion(sim: &IpmiSim, fields: &str) -> (Lab, std::path::PathBuf, tempfile::TempDir) {
    let (creds, file) = common::credentials_file("bmc/srv12", BMC_USER, BMC_PASSWORD);
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"srv12-sol\"\nkind = \"ipmi-sol\"\naddress = \"{}\"\n\
             credential = \"bmc/srv12\"\n{fields}\n",
            sim.address
        )),
        extra: format!("[secrets]\nlocal_file = \"{}\"\n", file.display()),
        ..Default::default()
    });
    let cfg = lab.user("olga", "olga,role:admin");
    let cfg = lab.with_devices(&cfg, &["srv12-sol"]);
    (lab, cfg, creds)
}

fn console_up(lab: &Lab, cfg: &std::path::Path) {
    common::wait_until("the SOL console up", common::WAIT, || {
        let (list, _) = text(&lab.ssh(cfg, &["consoles"]));
        if list.contains("srv12-sol") && list.contains(" up ") {
            Ok(())
        } else {
            Err(list)
        }
    });
}

#[test]
fn an_active_sol_payload_is_refused_by_name_unless_sol_takeover() {
    let (sim, mut serial) = IpmiSim::start_with_serial();
    // The first holder keeps the payload active.
    let (first, first_cfg, _c1) = bastion(&sim, "always_on = true");
    console_up(&first, &first_cfg);

    let (polite, polite_cfg, _c2) = bastion(&sim, "");
    let refused = Attached::start(&polite_cfg, "srv12-sol");
    assert!(
        refused.wait_for("sol_takeover = true"),
        "the admin is told how: {}",
        refused.text()
    );
    assert!(
        refused.text().contains("already active"),
        "{}",
        refused.text()
    );
    refused.detach();

    let (taker, taker_cfg, _c3) = bastion(&sim, "sol_takeover = true");
    let olga = Attached::start(&taker_cfg, "srv12-sol");
    common::wait_for_condition("the takeover's link up", common::WAIT, || {
        let _ = serial.write_all(b"host-says-hello\r\n");
        olga.text().contains("host-says-hello")
    });
    olga.detach();
    drop((first, polite, taker));
}
