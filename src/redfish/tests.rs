//! Unit tests of the Redfish client: the media URL allow-list, fingerprints, endpoint
//! checks, the requests it builds, links it refuses to follow, and decoders fed with
//! arbitrary JSON (proptest) that must answer with an error naming the field, never panic.

use std::sync::Arc;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::model::*;
use super::power::boot_override_body;
use super::tls::PinVerifier;
use super::transport::{decode, Transport};
use super::*;

fn prefixes(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

#[test]
fn media_urls_are_allowed_only_under_a_prefix() {
    let allow = prefixes(&["https://files.lab/iso/", "http://10.0.0.5:8080/images"]);
    for ok in [
        "https://files.lab/iso/rescue.iso",
        "https://files.lab:443/iso/sub/dir/a.iso",
        "http://10.0.0.5:8080/images/a.iso",
        "http://10.0.0.5:8080/images",
        "https://FILES.lab/iso/x.iso",
    ] {
        assert!(media_url_allowed(ok, &allow), "{ok} should be allowed");
    }
    for bad in [
        "https://files.lab/isos/rescue.iso",
        "https://files.lab/iso/../secret/a.iso",
        "https://files.lab/iso/%2e%2e/secret/a.iso",
        "https://files.lab.evil.example/iso/a.iso",
        "http://files.lab/iso/a.iso",
        "https://files.lab:8443/iso/a.iso",
        "http://10.0.0.5:8080/images-private/a.iso",
        "https://user:pw@files.lab/iso/a.iso",
        "file:///iso/a.iso",
        "not a url",
        "",
    ] {
        assert!(!media_url_allowed(bad, &allow), "{bad} should be refused");
    }
    assert!(!media_url_allowed("https://files.lab/iso/a.iso", &[]));
}

#[test]
fn fingerprints_parse_in_the_usual_forms_and_print_like_openssl() {
    let fp = CertFingerprint::of_der(b"certificate");
    let shown = fp.to_string();
    assert_eq!(shown.len(), 32 * 3 - 1);
    assert!(shown
        .chars()
        .all(|c| c == ':' || (c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
    assert_eq!(shown.parse::<CertFingerprint>().unwrap(), fp);
    assert_eq!(
        format!("sha256:{}", shown.replace(':', "").to_lowercase())
            .parse::<CertFingerprint>()
            .unwrap(),
        fp
    );
    let e = "AB:CD".parse::<CertFingerprint>().unwrap_err();
    assert!(e.to_string().contains("32 bytes"), "{e}");
    let e = "zz".repeat(32).parse::<CertFingerprint>().unwrap_err();
    assert!(e.to_string().contains("not hexadecimal"), "{e}");
}

#[test]
fn endpoints_take_only_https_host_and_port_and_hide_the_password() {
    let ep = Endpoint::new("srv20", "https://bmc20:8443", "root", "pw-123").unwrap();
    assert_eq!(ep.address(), "https://bmc20:8443");
    assert!(!format!("{ep:?}").contains("pw-123"));
    for (addr, why) in [
        ("http://bmc20", "https:// only"),
        ("https://bmc20/redfish/v1", "without a path"),
        ("https://root:pw@bmc20", "credentials"),
        ("bmc20:443", "https:// only"),
        ("https://", "empty host"),
    ] {
        let e = Endpoint::new("srv20", addr, "root", "pw-123")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("BMC srv20: bad address {addr:?}")),
            "{e}"
        );
        assert!(e.contains(why), "{addr}: {e}");
    }
}

#[test]
fn boot_override_once_and_continuous_bodies() {
    assert_eq!(
        boot_override_body(BootTarget::Cd, BootPersistence::Once),
        json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})
    );
    assert_eq!(
        boot_override_body(BootTarget::BiosSetup, BootPersistence::Continuous),
        json!({"Boot": {"BootSourceOverrideTarget": "BiosSetup",
                        "BootSourceOverrideEnabled": "Continuous"}})
    );
}

fn transport() -> Transport {
    let ep = Endpoint::new("srv20", "https://bmc20:8443", "root", "pw-123").unwrap();
    Transport::new(ep, Arc::new(PinVerifier::new(None))).unwrap()
}

#[test]
fn links_off_the_bmc_are_refused() {
    let t = transport();
    assert_eq!(
        t.url("/redfish/v1/Systems/1").unwrap().as_str(),
        "https://bmc20:8443/redfish/v1/Systems/1"
    );
    assert_eq!(
        t.path_of("https://bmc20:8443/redfish/v1/TaskService/Tasks/7")
            .unwrap(),
        "/redfish/v1/TaskService/Tasks/7"
    );
    for link in [
        "https://evil.example/redfish/v1/",
        "//evil.example/redfish/v1/",
        "https://bmc20:9443/redfish/v1/",
        "redfish/v1/Systems",
    ] {
        let e = t.path_of(link).unwrap_err().to_string();
        assert!(e.contains("refusing a link off the BMC"), "{link}: {e}");
    }
}

#[test]
fn bmc_messages_never_echo_the_password() {
    let t = transport();
    assert_eq!(
        t.redact("user root password pw-123 rejected"),
        "user root password *** rejected"
    );
}

#[test]
fn decode_errors_name_the_field() {
    let e = decode::<ComputerSystem>(
        "srv20",
        "ComputerSystem",
        "/redfish/v1/Systems/1",
        br#"{"Id":"1","Boot":{"BootSourceOverrideTarget":5}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(
            "BMC srv20 sent a ComputerSystem (/redfish/v1/Systems/1) that cannot be read: \
             field `Boot.BootSourceOverrideTarget`: invalid type: integer `5`"
        ),
        "{e}"
    );
    let e = decode::<Task>("srv20", "Task", "/t", br#"{"PercentComplete":"half"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `PercentComplete`"), "{e}");
    let e = decode::<Task>("srv20", "Task", "/t", b"{}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `TaskState`"), "{e}");
    let ok: VirtualMedia = decode(
        "srv20",
        "VirtualMedia",
        "/v",
        br#"{"Id":"Cd","MediaTypes":null,"Image":null,"Inserted":null}"#,
    )
    .unwrap();
    assert!(ok.media_types.is_empty() && ok.image.is_none());
}

/// Every field name the decoders know, so generated objects reach deep into them.
const KEYS: &[&str] = &[
    "@odata.id",
    "Members",
    "Members@odata.nextLink",
    "Systems",
    "Managers",
    "UpdateService",
    "SessionService",
    "Links",
    "Sessions",
    "Id",
    "Name",
    "PowerState",
    "Boot",
    "BootSourceOverrideTarget",
    "BootSourceOverrideEnabled",
    "BootSourceOverrideTarget@Redfish.AllowableValues",
    "Actions",
    "#ComputerSystem.Reset",
    "target",
    "ResetType@Redfish.AllowableValues",
    "TransferProtocol@Redfish.AllowableValues",
    "VirtualMedia",
    "ManagedBy",
    "LogServices",
    "MediaTypes",
    "Image",
    "Inserted",
    "WriteProtected",
    "#VirtualMedia.InsertMedia",
    "#VirtualMedia.EjectMedia",
    "ServiceEnabled",
    "#UpdateService.SimpleUpdate",
    "TaskState",
    "TaskStatus",
    "PercentComplete",
    "Messages",
    "Message",
    "MessageId",
    "Entries",
    "Created",
    "Severity",
    "error",
    "message",
    "@Message.ExtendedInfo",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn check<T: DeserializeOwned>(what: &'static str, body: &[u8]) {
    match decode::<T>("srv20", what, "/x", body) {
        Ok(_) => {}
        Err(RedfishError::Decode { field, message, .. }) => {
            assert!(!field.is_empty() && !message.is_empty());
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn check_all(body: &[u8]) {
    check::<ServiceRoot>("ServiceRoot", body);
    check::<Collection>("Collection", body);
    check::<SessionCreated>("Session", body);
    check::<ComputerSystem>("ComputerSystem", body);
    check::<Manager>("Manager", body);
    check::<VirtualMedia>("VirtualMedia", body);
    check::<UpdateService>("UpdateService", body);
    check::<Task>("Task", body);
    check::<LogService>("LogService", body);
    check::<LogEntries>("LogEntryCollection", body);
    check::<ErrorBody>("Error", body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic_on_arbitrary_json(v in json_value()) {
        check_all(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..256)) {
        check_all(&b);
    }
}
