//! `[secrets.vault]` as an operator writes it, against a real OpenBao: device credentials
//! read from a KV v2 mount that is not the default (`mount`), logged in with AppRole whose
//! secret id comes from a file (`approle_secret_id_file`), through a real `-J` session.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{text, Lab, LabOptions};
use oobgate::connect::testing::{SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER};
use oobgate::secrets::testing::DevBao;

/// Mounts KV v2 at `ops-kv`, writes sw1's credential there, and makes an AppRole that may
/// read only it: (role id, secret id).
async fn provision(bao: &DevBao) -> (String, String) {
    use vaultrs::api::sys::requests::EnableEngineRequest;
    let root = bao.root_client();
    vaultrs::sys::mount::enable(
        &root,
        "ops-kv",
        "kv",
        Some(
            EnableEngineRequest::builder().options(
                [("version".to_string(), "2".to_string())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
        ),
    )
    .await
    .expect("mount ops-kv");
    let data: std::collections::BTreeMap<&str, &str> =
        [("username", TEST_USER), ("password", TEST_PASSWORD)].into();
    // A new KV v2 mount takes a moment before it accepts writes.
    let mut tries = 0;
    while let Err(e) = vaultrs::kv2::set(&root, "ops-kv", "net/sw1", &data).await {
        tries += 1;
        assert!(tries < 100, "write ops-kv/net/sw1: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bao.approle("ops-kv/data/net/*", None, None).await
}

#[test]
fn approle_from_a_secret_id_file_reads_a_non_default_mount() {
    let bao = DevBao::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (role_id, secret_id) = rt.block_on(provision(&bao));
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd");
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("secret-id");
    std::fs::write(&secret_file, format!("{secret_id}\n")).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lab = Lab::start_with(LabOptions {
        inventory: Some(format!(
            "[[device]]\nname = \"sw1\"\nkind = \"ssh\"\naddress = \"{}\"\n\
             credential = \"net/sw1\"\n",
            sshd.address()
        )),
        extra: format!(
            "[secrets.vault]\naddress = \"{}\"\nmount = \"ops-kv\"\n\
             approle_role_id = \"{role_id}\"\napprole_secret_id_file = \"{}\"\n",
            bao.addr,
            secret_file.display()
        ),
        ..Default::default()
    });
    assert!(lab.oobgate(&["check"]).status.success());
    let cfg = lab.user("alice", "alice,role:admin");
    let cfg = lab.with_devices(&cfg, &["sw1"]);
    let out = lab.ssh_to(&cfg, "sw1", &["echo from-ops-kv"]);
    assert!(text(&out).0.contains("from-ops-kv"), "{:?}", text(&out));
    let all = serde_json::to_string(&lab.events("")).unwrap();
    assert!(!all.contains(&secret_id) && !all.contains(TEST_PASSWORD));
}
