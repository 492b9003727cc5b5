//! Short-lived certificates from an external CA: a real OpenBao dev server's SSH secrets
//! engine signs an admin's key for 8 hours (the enterprise pattern), and the bastion trusts
//! that CA through `auth.trusted_user_ca`. Also the built-in CA's maximum TTL.

mod common;

use std::path::Path;

use common::{text, Lab, LabOptions};
use oobgate::secrets::testing::DevBao;

/// One request to OpenBao's HTTP API; returns the JSON answer.
async fn bao(
    bao: &DevBao,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let client = reqwest::Client::new();
    let resp = client
        .request(method, format!("{}/v1/{path}", bao.addr))
        .header("X-Vault-Token", &bao.token)
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("OpenBao {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "OpenBao {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Sets up the SSH engine with a CA and an `admins` role; returns the CA public key line.
async fn ssh_engine(b: &DevBao) -> String {
    use reqwest::Method;
    bao(
        b,
        Method::POST,
        "sys/mounts/ssh",
        serde_json::json!({"type": "ssh"}),
    )
    .await;
    let ca = bao(
        b,
        Method::POST,
        "ssh/config/ca",
        serde_json::json!({"generate_signing_key": true}),
    )
    .await;
    bao(
        b,
        Method::POST,
        "ssh/roles/admins",
        serde_json::json!({
            "key_type": "ca",
            "allow_user_certificates": true,
            "allowed_users": "*",
            "default_extensions": {"permit-pty": "", "permit-port-forwarding": ""},
            "ttl": "8h",
            "max_ttl": "8h",
        }),
    )
    .await;
    ca["data"]["public_key"]
        .as_str()
        .unwrap()
        .trim()
        .to_string()
}

/// Has OpenBao sign `key`'s public half for `principals`; writes `key-cert.pub`.
async fn sign(b: &DevBao, key: &Path, principals: &str) {
    let public = std::fs::read_to_string(common::pub_of(key)).unwrap();
    let signed = bao(
        b,
        reqwest::Method::POST,
        "ssh/sign/admins",
        serde_json::json!({"public_key": public, "valid_principals": principals, "cert_type": "user"}),
    )
    .await;
    let cert = signed["data"]["signed_key"].as_str().unwrap();
    std::fs::write(common::cert_of(key), cert).unwrap();
}

#[test]
fn certificates_from_openbao_ssh_engine_are_accepted_when_trusted() {
    let b = DevBao::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca_line = rt.block_on(ssh_engine(&b));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("bao_user_ca.pub");
    std::fs::write(&ca_file, format!("{ca_line}\n")).unwrap();

    let lab = Lab::start_with(LabOptions {
        trusted_ca: vec![ca_file.clone()],
        ..Default::default()
    });
    let key = lab.key("id_alice_bao");
    rt.block_on(sign(&b, &key, "alice,role:admin"));
    let cfg = lab.ssh_config("alice", &key, true);
    let out = lab.ssh(&cfg, &["whoami"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("user:        alice"), "{stdout}");
    assert!(stdout.contains("role:admin"), "{stdout}");
    // OpenBao issued it for 8 hours: whoami shows an expiry about 8 h ahead.
    assert!(
        stdout.contains("7h 59m") || stdout.contains("8h"),
        "expiry not ~8h ahead: {stdout}"
    );
    lab.wait_event("auth.accept", |e| e.user.as_deref() == Some("alice"));

    // A principal OpenBao did not sign is refused.
    let cfg = lab.ssh_config("mallory", &key, true);
    let out = lab.ssh(&cfg, &["whoami"]);
    assert!(!out.status.success());

    // The same certificate at a bastion that does not trust OpenBao's CA is refused, and
    // the refusal is audited.
    let plain = Lab::start();
    let key2 = plain.key("id_alice_bao");
    rt.block_on(sign(&b, &key2, "alice,role:admin"));
    let cfg = plain.ssh_config("alice", &key2, true);
    let out = plain.ssh(&cfg, &["whoami"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    plain.wait_event("auth.reject", |e| e.user.as_deref() == Some("alice"));
}

#[test]
fn built_in_ca_refuses_a_ttl_above_the_maximum() {
    let lab = Lab::start_with(LabOptions {
        auth: "max_cert_ttl = \"8h\"\n".into(),
        ..Default::default()
    });
    let key = lab.key("id_bob");
    let pubkey = common::pub_of(&key);
    let sign = |ttl: &str| {
        lab.oobgate(&[
            "ca",
            "sign",
            "--principals",
            "bob",
            "--ttl",
            ttl,
            pubkey.to_str().unwrap(),
        ])
    };
    let out = sign("9h");
    let (o, e) = text(&out);
    assert!(!out.status.success(), "{o}{e}");
    assert!(e.contains("exceeds the maximum of 8h"), "{o}{e}");
    let out = sign("8h");
    assert!(out.status.success(), "{:?}", text(&out));
    let cert = std::fs::read_to_string(common::cert_of(&key)).unwrap();
    assert!(
        cert.starts_with("ssh-ed25519-cert-v01@openssh.com"),
        "{cert}"
    );
}
