//! SSH connector tests against a real OpenSSH sshd on loopback: login methods,
//! host key pinning, timeouts and legacy algorithms.

use std::sync::Arc;
use std::time::Duration;

use super::testing::{
    drain_link as drain, generate_key, SshdOptions, TestSshd, TEST_PASSWORD, TEST_USER,
};
use super::*;

pub(super) fn target(sshd: &TestSshd) -> Target {
    Target {
        name: "sw1".into(),
        address: sshd.address(),
        host_key: Some(sshd.host_key_pub.clone()),
        legacy_algorithms: false,
    }
}

pub(super) fn password_cred() -> DeviceCredential {
    DeviceCredential {
        username: TEST_USER.into(),
        password: Some(TEST_PASSWORD.into()),
        ..Default::default()
    }
}

pub(super) fn connector() -> SshConnector {
    SshConnector::new(Arc::new(MemoryHostKeys::new()))
}

pub(super) fn password_sshd() -> TestSshd {
    TestSshd::start(SshdOptions {
        password: true,
        ..Default::default()
    })
    .expect("sshd")
}

#[tokio::test]
async fn password_exec_passes_output_and_exit_status() {
    let sshd = password_sshd();
    let mut link = connector()
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("echo hello; echo oops >&2; exit 3"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.stdout, b"hello\n");
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.exit, Some(3));
    assert_eq!(out.end, Some(EndReason::DeviceClosed));
}

#[tokio::test]
async fn public_key_login_works() {
    let dir = testing::TempDir::new("client").unwrap();
    let (private, public) = generate_key(&dir.path().join("id"), "ed25519").unwrap();
    let sshd = TestSshd::start(SshdOptions {
        authorized_keys: vec![public],
        ..Default::default()
    })
    .unwrap();
    let cred = DeviceCredential {
        username: "root".into(),
        private_key: Some(private),
        ..Default::default()
    };
    let mut link = connector()
        .open(&target(&sshd), &cred, &LinkRequest::exec("echo key-ok"))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("key-ok"));
    assert_eq!(out.exit, Some(0));
}

#[tokio::test]
async fn keyboard_interactive_answers_password_prompt() {
    let sshd = TestSshd::start(SshdOptions {
        keyboard_interactive: true,
        ..Default::default()
    })
    .unwrap();
    let mut link = connector()
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("echo kbd-ok"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.stdout, b"kbd-ok\n");
}

#[tokio::test]
async fn wrong_password_is_auth_failed_without_the_secret() {
    let sshd = password_sshd();
    let secret = "Wr0ng-Secret-77";
    let cred = DeviceCredential {
        password: Some(secret.into()),
        ..password_cred()
    };
    let err = connector()
        .open(&target(&sshd), &cred, &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::AuthFailed { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}"), format!("{cred:?}")] {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
    assert!(err.to_string().contains("password"), "{err}");
}

#[tokio::test]
async fn unreachable_and_silent_devices_fail_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut t = Target {
        name: "gone".into(),
        address: format!("127.0.0.1:{port}"),
        host_key: None,
        legacy_algorithms: false,
    };
    let quick = connector().with_timeouts(Duration::from_millis(500), Duration::from_millis(500));
    let err = quick
        .open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Refused { .. }), "{err:?}");
    assert!(
        err.to_string().contains("gone refused the connection"),
        "{err}"
    );

    // A listener that accepts and never speaks: the handshake timeout fires.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    t.address = silent.local_addr().unwrap().to_string();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let err = quick
        .open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout { .. }), "{err:?}");
    // The configured limit fired, not some longer default.
    let shown = err.to_string();
    assert!(
        shown.starts_with("device gone: SSH handshake") && shown.ends_with("timed out after 0.5 s"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_pinned_host_key_is_refused_loudly() {
    let sshd = password_sshd();
    let dir = testing::TempDir::new("other").unwrap();
    let (_, other) = generate_key(&dir.path().join("k"), "ed25519").unwrap();
    let t = Target {
        host_key: Some(other.clone()),
        ..target(&sshd)
    };
    let err = connector()
        .open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    match &err {
        ConnectError::HostKeyChanged {
            expected_fingerprint,
            got_fingerprint,
            ..
        } => {
            assert_eq!(Some(expected_fingerprint.clone()), fingerprint(&other));
            assert_eq!(
                Some(got_fingerprint.clone()),
                fingerprint(&sshd.host_key_pub)
            );
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("HOST KEY FOR sw1 CHANGED") && msg.contains("refusing to connect"),
        "{msg}"
    );
}

#[tokio::test]
async fn trust_on_first_use_records_then_detects_a_changed_key() {
    let mut sshd = password_sshd();
    let store = Arc::new(MemoryHostKeys::new());
    let conn = SshConnector::new(store.clone());
    let t = Target {
        host_key: None,
        ..target(&sshd)
    };
    let mut link = conn
        .open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap();
    drain(&mut link, Duration::from_secs(10)).await;
    let first = sshd.host_key_pub.clone();
    assert_eq!(
        store
            .get("sw1")
            .await
            .unwrap()
            .as_deref()
            .and_then(fingerprint),
        fingerprint(&first)
    );

    // Same key again: accepted.
    conn.open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap();

    sshd.restart_with_new_host_key().unwrap();
    let err = conn
        .open(&t, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    match err {
        ConnectError::HostKeyChanged {
            expected_fingerprint,
            got_fingerprint,
            ..
        } => {
            assert_eq!(Some(expected_fingerprint), fingerprint(&first));
            assert_eq!(Some(got_fingerprint), fingerprint(&sshd.host_key_pub));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .get("sw1")
            .await
            .unwrap()
            .as_deref()
            .and_then(fingerprint),
        fingerprint(&first)
    );
}

#[tokio::test]
async fn legacy_algorithms_reach_old_gear() {
    let sshd = TestSshd::start(SshdOptions::old_gear()).unwrap();
    let modern = target(&sshd);
    let err = connector()
        .open(&modern, &password_cred(), &LinkRequest::exec("true"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Protocol(_)), "{err:?}");

    let legacy = Target {
        legacy_algorithms: true,
        ..modern
    };
    let mut link = connector()
        .open(
            &legacy,
            &password_cred(),
            &LinkRequest::exec("echo legacy-ok"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.stdout, b"legacy-ok\n");
}

#[test]
fn credential_debug_masks_secrets() {
    let cred = DeviceCredential {
        username: "admin".into(),
        password: Some("hunter2-secret".into()),
        private_key: Some("-----BEGIN OPENSSH PRIVATE KEY-----".into()),
        passphrase: Some("pp-secret".into()),
    };
    let text = format!("{cred:?}");
    assert!(text.contains("admin") && text.contains("***"));
    assert!(
        !text.contains("secret") && !text.contains("BEGIN"),
        "{text}"
    );
}

#[tokio::test]
async fn known_key_type_is_negotiated_when_the_device_has_several() {
    let dir = testing::TempDir::new("keys").unwrap();
    let rsa_path = dir.path().join("rsa_host_key");
    let (_, rsa_pub) = generate_key(&rsa_path, "rsa").unwrap();
    let sshd = TestSshd::start(SshdOptions {
        password: true,
        extra_config: format!("HostKey {}\n", rsa_path.display()),
        ..Default::default()
    })
    .unwrap();
    let store = Arc::new(MemoryHostKeys::new());
    store.put("sw1", &rsa_pub).await.unwrap();
    let conn = SshConnector::new(store);
    // Stored RSA key, device prefers ed25519: the RSA key must be the one checked.
    let t = Target {
        host_key: None,
        ..target(&sshd)
    };
    let mut link = conn
        .open(&t, &password_cred(), &LinkRequest::exec("echo rsa-ok"))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(
        drain(&mut link, Duration::from_secs(10)).await.stdout,
        b"rsa-ok\n"
    );
    // Pinned ed25519 key on the same device works too.
    let mut link = conn
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("echo ed-ok"),
        )
        .await
        .unwrap();
    assert_eq!(
        drain(&mut link, Duration::from_secs(10)).await.stdout,
        b"ed-ok\n"
    );
}
