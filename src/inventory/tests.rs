//! Unit tests for inventory parsing and validation.

use super::*;
use std::path::Path;

const GOOD: &str = r#"
[[device]]
name = "sw1"
kind = "ssh"
address = "127.0.0.1:2201"
labels = { site = "ams1", type = "switch" }
credential = "secret/data/devices/sw1"
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
description = "Access switch, rack 12"

[[device]]
name = "con-srv12"
kind = "serial"
address = "/dev/ttyUSB0"

[[device]]
name = "bmc-srv12"
kind = "ipmi-sol"
address = "[2001:db8::12]:623"
labels = { site = "fra1" }
"#;

fn parse(text: &str) -> Result<Inventory> {
    Inventory::parse(text, Path::new("inventory.toml"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn parses_devices_sorted_by_name() {
    let inv = parse(GOOD).unwrap();
    assert_eq!(inv.len(), 3);
    let names: Vec<_> = inv.devices().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["bmc-srv12", "con-srv12", "sw1"]);
    let sw1 = inv.get("sw1").unwrap();
    assert_eq!(sw1.kind, DeviceKind::Ssh);
    assert_eq!(sw1.address.to_string(), "127.0.0.1:2201");
    assert_eq!(sw1.address.host_port().map(|h| h.port), Some(2201));
    assert_eq!(sw1.credential.as_deref(), Some("secret/data/devices/sw1"));
    assert_eq!(sw1.description.as_deref(), Some("Access switch, rack 12"));
    assert_eq!(
        sw1.resource_roles(),
        ["kind:ssh", "site:ams1", "type:switch"]
    );
    let con = inv.get("con-srv12").unwrap();
    assert_eq!(con.kind, DeviceKind::Serial);
    assert!(con.labels.is_empty() && con.credential.is_none());
    assert_eq!(
        inv.get("bmc-srv12").unwrap().resource_roles(),
        ["kind:ipmi-sol", "site:fra1"]
    );
    assert!(inv.get("nope").is_none());
}

#[test]
fn empty_file_is_an_empty_inventory() {
    assert!(parse("").unwrap().is_empty());
}

#[test]
fn unknown_kind_names_file_line_device_and_choices() {
    let text = "\n[[device]]\nname = \"sw1\"\nkind = \"sssh\"\naddress = \"h:22\"\n";
    assert_eq!(
        err(text),
        "inventory.toml line 4: device \"sw1\": unknown kind \"sssh\" \
         (expected one of ssh, telnet, serial, ipmi-sol, redfish)"
    );
}

#[test]
fn duplicate_names_are_rejected() {
    let text = "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"h:22\"\n\
                [[device]]\nname = \"sw1\"\nkind = \"telnet\"\naddress = \"h:23\"\n";
    assert_eq!(
        err(text),
        "inventory.toml line 6: duplicate device name \"sw1\" (first defined on line 2)"
    );
}

#[test]
fn invalid_names_are_rejected() {
    for bad in ["SW1", "-sw1", "sw 1", "sw1:22", "", "bastion"] {
        let text = format!("[[device]]\nname = {bad:?}\nkind = \"ssh\"\naddress = \"h:22\"\n");
        let e = err(&text);
        assert!(e.starts_with("inventory.toml line 2: "), "{bad:?}: {e}");
        assert!(e.contains("device name"), "{bad:?}: {e}");
    }
}

#[test]
fn missing_address_and_name_are_reported() {
    let e = err("[[device]]\nname = \"sw1\"\nkind = \"ssh\"\n");
    assert_eq!(e, "inventory.toml line 2: device \"sw1\": missing address");
    let e = err("[[device]]\nkind = \"ssh\"\n");
    assert!(e.contains("device #1: missing name"), "{e}");
}

#[test]
fn unknown_fields_are_rejected_with_their_line() {
    let e = err("[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"h:22\"\nport = 22\n");
    assert!(
        e.starts_with("inventory.toml line 5: unknown field `port`"),
        "{e}"
    );
    let e = err("[[devices]]\nname = \"sw1\"\n");
    assert!(
        e.starts_with("inventory.toml line 1: unknown field `devices`"),
        "{e}"
    );
}

#[test]
fn addresses_are_checked_against_the_kind() {
    let bad = [
        ("ssh", "/dev/ttyS0"),
        ("telnet", "host"),
        ("ssh", "h:0"),
        ("serial", "ttyS0"),
        ("ipmi-sol", "::1:623"),
    ];
    for (kind, addr) in bad {
        let text = format!("[[device]]\nname = \"d\"\nkind = {kind:?}\naddress = {addr:?}\n");
        let e = err(&text);
        assert!(
            e.starts_with("inventory.toml line 4: device \"d\": invalid address"),
            "{kind} {addr}: {e}"
        );
    }
}

#[test]
fn labels_are_checked() {
    let e = err("[[device]]\nname = \"d\"\nkind = \"ssh\"\naddress = \"h:22\"\nlabels = { kind = \"switch\" }\n");
    assert!(e.contains("line 5") && e.contains("reserved"), "{e}");
    let e = err("[[device]]\nname = \"d\"\nkind = \"ssh\"\naddress = \"h:22\"\nlabels = { site = \"a,b\" }\n");
    assert!(e.contains("invalid value"), "{e}");
}

#[test]
fn syntax_errors_carry_a_line() {
    let e = err("[[device]]\nname = \"sw1\"\nkind = ssh\n");
    assert!(e.starts_with("inventory.toml line 3: "), "{e}");
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.toml");
    std::fs::write(&path, GOOD).unwrap();
    assert_eq!(Inventory::load(&path).unwrap().len(), 3);
    let missing = dir.path().join("missing.toml");
    let e = Inventory::load(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.toml"), "{e}");
}

#[test]
fn connection_reuse_is_for_ssh_devices_only() {
    let ssh =
        "[[device]]\nname = \"d\"\nkind = \"ssh\"\naddress = \"h:22\"\nreuse_connection = true\n";
    assert!(parse(ssh).unwrap().get("d").unwrap().reuse_connection);
    let plain = "[[device]]\nname = \"d\"\nkind = \"ssh\"\naddress = \"h:22\"\n";
    assert!(!parse(plain).unwrap().get("d").unwrap().reuse_connection);
    let telnet = "[[device]]\nname = \"d\"\nkind = \"telnet\"\naddress = \"h:23\"\nreuse_connection = true\n";
    let e = err(telnet);
    assert!(
        e.contains("device \"d\"") && e.contains("reuse_connection applies to kind = \"ssh\""),
        "{e}"
    );
}

#[test]
fn ipmi_cipher_suites_without_integrity_or_encryption_are_refused_by_name() {
    let bmc = |suites: &str| {
        format!(
            "[[device]]\nname = \"bmc1\"\nkind = \"ipmi-sol\"\naddress = \"127.0.0.1:623\"\n\
             cipher_suites = {suites}\n"
        )
    };
    for (weak, named) in [("[0]", 0), ("[17, 1]", 1), ("[2]", 2)] {
        let e = err(&bmc(weak));
        assert!(
            e.contains("device \"bmc1\"")
                && e.contains(&format!("cipher suite {named} is refused")),
            "{weak}: {e}"
        );
    }
    let inv = parse(&bmc("[3]")).unwrap();
    assert_eq!(inv.get("bmc1").unwrap().cipher_suites, [3]);
    let inv = parse(&bmc("[17, 3]").replace("cipher_suites = [17, 3]\n", "")).unwrap();
    assert_eq!(
        inv.get("bmc1").unwrap().cipher_suites,
        [17, 3],
        "the default"
    );
}

const FP: &str = "sha256:AB:CD:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD";

fn redfish(address: &str, extra: &str) -> String {
    format!(
        "[[device]]\nname = \"srv20-bmc\"\nkind = \"redfish\"\naddress = {address:?}\n\
         credential = \"bmc/srv20\"\n{extra}"
    )
}

#[test]
fn redfish_bmcs_have_an_https_address_and_an_optional_certificate_pin() {
    let inv = parse(&redfish(
        "https://bmc20.example:8443",
        &format!("tls_fingerprint = {FP:?}\n"),
    ))
    .unwrap();
    let d = inv.get("srv20-bmc").unwrap();
    assert_eq!(d.kind, DeviceKind::Redfish);
    assert!(d.kind.is_bmc() && !d.kind.is_console());
    assert_eq!(d.address.endpoint(), "https://bmc20.example:8443");
    assert_eq!(d.resource_roles(), ["kind:redfish"]);
    let fp = d.tls_fingerprint.expect("the pin");
    assert_eq!(format!("sha256:{fp}"), FP);

    // Port 443 by default, a trailing slash allowed, IPv6 in brackets; no pin: learnt.
    for (given, shown) in [
        ("https://bmc20/", "https://bmc20:443"),
        ("https://[2001:db8::20]", "https://[2001:db8::20]:443"),
        ("https://[2001:db8::20]:8443", "https://[2001:db8::20]:8443"),
    ] {
        let inv = parse(&redfish(given, "")).unwrap();
        let d = inv.get("srv20-bmc").unwrap();
        assert_eq!(d.address.endpoint(), shown, "{given}");
        assert!(d.tls_fingerprint.is_none());
    }
}

#[test]
fn bad_redfish_entries_are_named_errors() {
    for (address, why) in [
        ("http://bmc20:80", "https:// only"),
        ("bmc20:443", "does not start with https://"),
        ("https://bmc20:443/redfish/v1", "without a path"),
        ("https://admin:pw@bmc20", "credentials do not belong"),
        ("https://bmc20:0", "not a host[:port]"),
    ] {
        let e = err(&redfish(address, ""));
        assert!(
            e.starts_with("inventory.toml line 4: device \"srv20-bmc\": invalid address")
                && e.contains(why),
            "{address}: {e}"
        );
        assert!(!e.contains("pw@") || address.contains("pw@"), "{e}");
    }
    let e = err(&redfish(
        "https://bmc20",
        "tls_fingerprint = \"sha256:12:34\"\n",
    ));
    assert!(
        e.starts_with("inventory.toml line 6: device \"srv20-bmc\": tls_fingerprint:")
            && e.contains("32 bytes"),
        "{e}"
    );
    let e = err(&format!(
        "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"h:22\"\ntls_fingerprint = {FP:?}\n"
    ));
    assert!(
        e.contains("device \"sw1\": tls_fingerprint applies to kind = \"redfish\" devices only"),
        "{e}"
    );
    let e =
        err("[[device]]\nname = \"srv20-bmc\"\nkind = \"redfish\"\naddress = \"https://bmc20\"\n");
    assert!(
        e.contains("device \"srv20-bmc\": a redfish BMC needs a credential"),
        "{e}"
    );
}

#[test]
fn require_observer_by_labels_marks_every_device_holding_them_all() {
    let inv = parse(
        "[[device]]\nname = \"core1\"\nkind = \"ssh\"\naddress = \"h:22\"\n\
         labels = { site = \"ams1\", tier = \"core\" }\n\n\
         [[device]]\nname = \"core2\"\nkind = \"ssh\"\naddress = \"h:22\"\n\
         labels = { site = \"fra1\", tier = \"core\" }\n\n\
         [[device]]\nname = \"acc1\"\nkind = \"ssh\"\naddress = \"h:22\"\n\
         labels = { site = \"ams1\", tier = \"access\" }\n\n\
         [[device]]\nname = \"one\"\nkind = \"ssh\"\naddress = \"h:22\"\nrequire_observer = true\n\n\
         [[require_observer]]\nlabels = { site = \"ams1\", tier = \"core\" }\n",
    )
    .unwrap();
    let marked: Vec<&str> = inv
        .devices()
        .filter(|d| d.require_observer)
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(marked, ["core1", "one"]);
    let e = err("[[device]]\nname = \"a\"\nkind = \"ssh\"\naddress = \"h:22\"\n\n[[require_observer]]\nlabels = {}\n");
    assert!(
        e.starts_with("inventory.toml line 6") && e.contains("[[require_observer]] needs labels"),
        "{e}"
    );
    let e = err("[[require_observer]]\nlabel = { tier = \"core\" }\n");
    assert!(e.contains("unknown field `label`"), "{e}");
}
