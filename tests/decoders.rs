//! Bad input never crashes a decoder, and its error names the file: property tests over the
//! recording reader, the config and inventory decoders, the revocation list and the
//! certificate validator (run by `scripts/test` with proptest's default 256 cases each).
//! The telnet decoder's property (any split of a stream decodes like the whole) lives
//! beside it, in `src/connect/telnet_tests.rs`.

use std::net::SocketAddr;
use std::path::Path;

use oobgate::config::Config;
use oobgate::identity::{RevocationList, Validator};
use oobgate::inventory::Inventory;
use oobgate::recording::Recording;
use proptest::prelude::*;

const HEADER: &str = r#"{"version":2,"width":80,"height":24,"timestamp":1700000000}"#;

/// Text made of the pieces that decoders look at (quotes, brackets, keys, numbers, newlines).
fn structured() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n".to_string()),
            Just("[[device]]\n".to_string()),
            Just("name = ".to_string()),
            Just("kind = \"ssh\"\n".to_string()),
            Just("address = ".to_string()),
            Just("listen = ".to_string()),
            Just("[limits]\n".to_string()),
            Just("\"".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            "[a-z_]{1,12}",
            "[0-9]{1,20}",
            "\"[ -~]{0,20}\"",
            any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn a_recording_of_any_bytes_is_read_or_refused_by_line(
        lines in proptest::collection::vec(
            prop_oneof![
                "\\[[0-9.e+-]{0,8}, ?\"[oimr]\", ?\"[ -~]{0,12}\"\\]",
                "[ -~]{0,30}",
                proptest::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| String::from_utf8_lossy(&b).to_string()),
            ],
            0..20,
        ),
        with_header in any::<bool>(),
    ) {
        let mut text = if with_header { format!("{HEADER}\n") } else { String::new() };
        text.push_str(&lines.join("\n"));
        match Recording::parse(text.as_bytes(), Path::new("rec.cast")) {
            Ok(rec) => prop_assert!(with_header || !text.is_empty(), "{rec:?}"),
            Err(e) => prop_assert!(e.to_string().starts_with("rec.cast line "), "{e}"),
        }
    }

    #[test]
    fn any_inventory_text_is_loaded_or_refused_naming_the_file(text in structured()) {
        if let Err(e) = Inventory::parse(&text, Path::new("inventory.toml")) {
            prop_assert!(e.to_string().starts_with("inventory.toml"), "{e}");
        }
    }

    #[test]
    fn any_config_text_is_loaded_or_refused_naming_the_file(text in structured()) {
        if let Err(e) = Config::parse(&text, Path::new("/etc/oobgate/oobgate.toml")) {
            prop_assert!(e.to_string().contains("/etc/oobgate/oobgate.toml"), "{e}");
        }
    }

    #[test]
    fn any_revocation_list_is_loaded_or_refused_naming_the_file(
        lines in proptest::collection::vec(
            prop_oneof![
                "serial [0-9]{0,22}",
                "key-id [ -~]{0,20}",
                "#[ -~]{0,20}",
                "[ -~]{0,20}",
            ],
            0..10,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        std::fs::write(&path, lines.join("\n")).unwrap();
        if let Err(e) = RevocationList::open(Some(path.clone())) {
            prop_assert!(e.to_string().contains("revoked.txt"), "{e}");
        }
    }

    #[test]
    fn a_damaged_certificate_is_refused_or_checked_never_a_crash(
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (ca, blob) = fixture();
        let mut bytes = blob.clone();
        // The signed part comes first; the signature (last 83 bytes for ed25519) is damaged
        // only by truncation here, so a changed byte always changes what was signed.
        let signed = blob.len() - 83;
        for (at, byte) in &damage {
            let i = at.index(signed);
            bytes[i] = *byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let Ok(cert) = russh::keys::Certificate::from_bytes(&bytes) else {
            return Ok(());
        };
        let validator = Validator::new(vec![ca], RevocationList::open(None).unwrap());
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let verdict = validator.validate(&cert, "alice", peer);
        // Any change to the signed bytes must break the signature.
        if bytes != blob {
            prop_assert!(verdict.is_err(), "a damaged certificate was accepted");
        }
    }
}

/// A user CA and a certificate it signed for alice, made once with the real ssh-keygen.
fn fixture() -> (russh::keys::PublicKey, Vec<u8>) {
    static FIXTURE: std::sync::OnceLock<(russh::keys::PublicKey, Vec<u8>)> =
        std::sync::OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let keygen = |args: &[&str]| {
                let out = std::process::Command::new("ssh-keygen")
                    .args(args)
                    .current_dir(dir.path())
                    .output()
                    .expect("ssh-keygen");
                assert!(out.status.success(), "{out:?}");
            };
            keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "ca"]);
            keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "alice"]);
            keygen(&[
                "-q",
                "-s",
                "ca",
                "-I",
                "alice",
                "-n",
                "alice",
                "-V",
                "-5m:+1h",
                "alice.pub",
            ]);
            let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
            let ca = russh::keys::PublicKey::from_openssh(read("ca.pub").trim()).unwrap();
            let cert =
                russh::keys::Certificate::from_openssh(read("alice-cert.pub").trim()).unwrap();
            let blob = cert.to_bytes().unwrap();
            (ca, blob)
        })
        .clone()
}
