//! `VaultStore` against a real OpenBao dev server, one per test on a free loopback port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::assert_no_values;
use crate::secrets::testing::DevBao;
use crate::secrets::{SecretStore, SecretsError, VaultAuth, VaultConfig, VaultStore};

const PASSWORD: &str = "Vault-Sw1-pw!";

fn token_config(bao: &DevBao) -> VaultConfig {
    VaultConfig::new(&bao.addr, VaultAuth::Token(bao.token.as_str().into()))
}

async fn bao_with_sw1() -> DevBao {
    let bao = DevBao::start();
    bao.put_secret(
        "devices/sw1",
        &[("username", "admin"), ("password", PASSWORD)],
    )
    .await;
    bao
}

/// Enables AppRole with a read-only policy on `secret/data/devices/*`; returns
/// (role_id, secret_id).
async fn approle(bao: &DevBao, token_ttl: &str, token_max_ttl: &str) -> (String, String) {
    bao.approle(
        "secret/data/devices/*",
        Some(token_ttl),
        Some(token_max_ttl),
    )
    .await
}

#[tokio::test]
async fn reads_kv2_with_token_in_both_reference_forms() {
    let bao = bao_with_sw1().await;
    let store: Arc<dyn SecretStore> =
        Arc::new(VaultStore::connect(token_config(&bao)).await.unwrap());
    for reference in ["devices/sw1", "secret/data/devices/sw1"] {
        let credential = store.credential(reference).await.unwrap();
        assert_eq!(credential.username.as_deref(), Some("admin"));
        assert_eq!(credential.password.as_ref().unwrap().expose(), PASSWORD);
        assert!(credential.private_key.is_none());
        assert!(!format!("{credential:?}").contains(PASSWORD));
    }
    let description = store.describe();
    assert!(
        description.contains(&bao.addr) && description.contains("token"),
        "{description}"
    );
}

#[tokio::test]
async fn approle_login_then_read_survives_renewal_and_max_ttl() {
    let bao = bao_with_sw1().await;
    let (role_id, secret_id) = approle(&bao, "2s", "4s").await;
    let mut config = VaultConfig::new(&bao.addr, VaultAuth::approle(role_id, secret_id.as_str()));
    config.cache_ttl = Duration::ZERO;
    assert!(!format!("{config:?}").contains(&secret_id));
    let store = VaultStore::connect(config).await.unwrap();
    // Past several token TTLs and the max TTL: renewal and re-login keep reads working.
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        let credential = store.credential("devices/sw1").await.unwrap();
        assert_eq!(credential.password.unwrap().expose(), PASSWORD);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The policy only covers devices/*.
    bao.put_secret("other/x", &[("password", "x")]).await;
    let err = store.credential("other/x").await.unwrap_err();
    assert!(
        matches!(err, SecretsError::PermissionDenied { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_secret_id_fails_login_without_echoing_it() {
    let bao = DevBao::start();
    let (role_id, _) = approle(&bao, "1m", "1h").await;
    let config = VaultConfig::new(&bao.addr, VaultAuth::approle(role_id, "Wr0ng-Secret-Id"));
    let err = VaultStore::connect(config).await.unwrap_err();
    assert!(
        matches!(
            err,
            SecretsError::Login {
                method: "approle",
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_values(&err, &["Wr0ng-Secret-Id"]);
}

#[tokio::test]
async fn cache_serves_within_ttl_then_expires() {
    let bao = bao_with_sw1().await;
    let mut config = token_config(&bao);
    config.cache_ttl = Duration::from_millis(1500);
    let store = VaultStore::connect(config).await.unwrap();
    store.credential("devices/sw1").await.unwrap();
    bao.delete_secret("devices/sw1").await;
    let cached = store.credential("devices/sw1").await.unwrap();
    assert_eq!(cached.password.unwrap().expose(), PASSWORD);
    // Once the entry expires, the read goes to the server again and finds nothing.
    crate::testing::wait_until("the cached entry expired", crate::testing::WAIT, || async {
        match store.credential("devices/sw1").await {
            Err(err) if err.to_string() == "no secret at devices/sw1" => Ok(()),
            Err(err) => Err(err.to_string()),
            Ok(_) => Err("still served from the cache".to_string()),
        }
    })
    .await;
    // Failures are not cached: the secret is served as soon as it exists again.
    bao.put_secret("devices/sw1", &[("password", "again")])
        .await;
    let again = store.credential("devices/sw1").await.unwrap();
    assert_eq!(again.password.unwrap().expose(), "again");
}

#[tokio::test]
async fn missing_path_and_malformed_secrets_are_named() {
    let bao = bao_with_sw1().await;
    let store = VaultStore::connect(token_config(&bao)).await.unwrap();
    let err = store.credential("devices/nope").await.unwrap_err();
    assert!(matches!(err, SecretsError::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no secret at devices/nope");

    bao.put_secret(
        "devices/empty",
        &[("username", "admin"), ("pin", "P1n-4242")],
    )
    .await;
    let err = store.credential("devices/empty").await.unwrap_err();
    assert!(matches!(err, SecretsError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("devices/empty"), "{err}");
    assert_no_values(&err, &["P1n-4242"]);

    let data = serde_json::json!({ "password": 987654321 });
    vaultrs::kv2::set(&bao.root_client(), "secret", "devices/numeric", &data)
        .await
        .unwrap();
    let err = store.credential("devices/numeric").await.unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    assert_no_values(&err, &["987654321"]);

    let err = store.credential("devices/../sw1").await.unwrap_err();
    assert!(
        matches!(err, SecretsError::InvalidReference { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn vault_down_is_unreachable_within_timeout() {
    let mut bao = bao_with_sw1().await;
    let addr = bao.addr.clone();
    let mut config = token_config(&bao);
    config.timeout = Duration::from_secs(2);
    let store = VaultStore::connect(config.clone()).await.unwrap();
    let credential = store.credential("devices/sw1").await.unwrap();
    bao.stop();

    // Not cached yet, so this has to go to the (dead) server: refused, not timed out.
    let err = store.credential("devices/sw2").await.unwrap_err();
    assert!(matches!(err, SecretsError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("vault at {addr} unreachable: ")),
        "{err}"
    );
    assert_no_values(&err, &[PASSWORD, "root"]);
    drop(credential);

    let err = VaultStore::connect(config).await.unwrap_err();
    assert!(matches!(err, SecretsError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = VaultConfig::new(&addr, VaultAuth::Token("t0ken-Xy".into()));
    config.timeout = Duration::from_millis(500);
    let err = VaultStore::connect(config).await.unwrap_err();
    assert!(matches!(err, SecretsError::Timeout { .. }), "{err:?}");
    // The configured limit fired, not some longer default.
    assert!(
        err.to_string()
            .starts_with(&format!("vault at {addr} did not answer within 500ms")),
        "{err}"
    );
    assert_no_values(&err, &["t0ken-Xy"]);
    hold.abort();
}

#[tokio::test]
async fn token_without_policy_is_permission_denied() {
    use vaultrs::api::token::requests::CreateTokenRequest;
    let bao = bao_with_sw1().await;
    let weak = vaultrs::token::new(
        &bao.root_client(),
        Some(CreateTokenRequest::builder().policies(vec!["default".to_owned()])),
    )
    .await
    .unwrap()
    .client_token;
    let config = VaultConfig::new(&bao.addr, VaultAuth::Token(weak.as_str().into()));
    let store = VaultStore::connect(config).await.unwrap();
    let err = store.credential("devices/sw1").await.unwrap_err();
    assert!(
        matches!(err, SecretsError::PermissionDenied { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("devices/sw1") && text.contains("permission denied"),
        "{text}"
    );
    assert_no_values(&err, &[PASSWORD, &weak]);

    let bad = VaultConfig::new(&bao.addr, VaultAuth::Token("n0t-a-real-token".into()));
    let err = VaultStore::connect(bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            SecretsError::Login {
                method: "token",
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_values(&err, &["n0t-a-real-token"]);
}

#[tokio::test]
async fn approle_logs_in_again_when_its_token_is_revoked() {
    let bao = bao_with_sw1().await;
    let (role_id, secret_id) = approle(&bao, "1h", "2h").await;
    let mut config = VaultConfig::new(&bao.addr, VaultAuth::approle(role_id, secret_id.as_str()));
    config.cache_ttl = Duration::ZERO;
    let store = VaultStore::connect(config).await.unwrap();
    store.credential("devices/sw1").await.unwrap();

    // Revoke every token AppRole issued, as an expiry during a Vault outage would.
    let status = std::process::Command::new(crate::secrets::testing::bao_binary())
        .args(["lease", "revoke", "-prefix", "auth/approle/login"])
        .env("BAO_ADDR", &bao.addr)
        .env("BAO_TOKEN", &bao.token)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let credential = store.credential("devices/sw1").await.unwrap();
    assert_eq!(credential.password.unwrap().expose(), PASSWORD);
}
