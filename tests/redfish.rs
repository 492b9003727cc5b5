//! The Redfish client against the real sushy-emulator (`--fake` driver, TLS, basic auth
//! from an htpasswd file): power, boot override, virtual media, firmware update, login
//! failures, an unreachable BMC, certificate pinning and learning.

use std::sync::Arc;
use std::time::Duration;

use oobgate::redfish::testing::{FileServer, Sushy, BMC_PASSWORD, BMC_USER};
use oobgate::redfish::{
    BootPersistence, BootTarget, CertPins, Client, Endpoint, MemoryPins, PowerState, RedfishError,
    ResetKind,
};

/// The fake driver applies a power change 1 to 11 s after it is asked.
const POWER_WAIT: Duration = Duration::from_secs(30);

fn pins() -> Arc<MemoryPins> {
    Arc::new(MemoryPins::new())
}

async fn connect(sushy: &Sushy) -> Client {
    Client::connect(sushy.endpoint("srv20"), pins())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nemulator log:\n{}", sushy.log()))
}

#[tokio::test]
async fn power_actions_are_carried_out_and_read_back() {
    let sushy = Sushy::start();
    let c = connect(&sushy).await;
    assert!(!c.uses_session(), "sushy has no SessionService: basic auth");
    let sys = c.system(None).await.unwrap();
    assert_eq!(
        sys.power,
        PowerState::Off,
        "the fake driver starts powered off"
    );

    c.reset(&sys, ResetKind::On).await.unwrap();
    c.wait_power(&sys, &PowerState::On, POWER_WAIT)
        .await
        .unwrap();
    c.reset(&sys, ResetKind::GracefulShutdown).await.unwrap();
    c.wait_power(&sys, &PowerState::Off, POWER_WAIT)
        .await
        .unwrap();
    c.reset(&sys, ResetKind::On).await.unwrap();
    c.wait_power(&sys, &PowerState::On, POWER_WAIT)
        .await
        .unwrap();

    // sushy does not list PowerCycle: ForceOff, wait for Off, then On.
    assert!(!sys.reset_types.iter().any(|t| t == "PowerCycle"));
    c.power_cycle(&sys, POWER_WAIT).await.unwrap();
    c.wait_power(&sys, &PowerState::On, POWER_WAIT)
        .await
        .unwrap();

    c.reset(&sys, ResetKind::ForceRestart).await.unwrap();
    c.wait_power(&sys, &PowerState::On, POWER_WAIT)
        .await
        .unwrap();
    c.reset(&sys, ResetKind::ForceOff).await.unwrap();
    c.wait_power(&sys, &PowerState::Off, POWER_WAIT)
        .await
        .unwrap();
    assert_eq!(c.power_state(&sys).await.unwrap(), PowerState::Off);

    let err = c.reset(&sys, ResetKind::PowerCycle).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not allow ResetType PowerCycle"),
        "{err}"
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn boot_override_is_read_back_and_unknown_targets_refused() {
    let sushy = Sushy::start();
    let c = connect(&sushy).await;
    let sys = c.system(Some("fake")).await.unwrap();
    for (target, how) in [
        (BootTarget::Pxe, BootPersistence::Continuous),
        (BootTarget::Cd, BootPersistence::Once),
        (BootTarget::Hdd, BootPersistence::Once),
    ] {
        c.set_boot(&sys, target, how).await.unwrap();
        let b = c.boot(&sys).await.unwrap();
        // The fake driver keeps every override as Continuous: only the target is checked
        // here; the Once request body is checked against the stand-in BMC.
        assert_eq!(b.target.as_deref(), Some(target.as_str()), "{b:?}");
    }
    let err = c
        .set_boot(&sys, BootTarget::BiosSetup, BootPersistence::Once)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("does not offer boot target BiosSetup") && msg.contains("Pxe"),
        "{msg}"
    );
    assert_eq!(c.boot(&sys).await.unwrap().target.as_deref(), Some("Hdd"));

    let err = c.system(Some("nope")).await.unwrap_err().to_string();
    assert!(
        err.contains("no system \"nope\"") && err.contains("fake"),
        "{err}"
    );
}

#[tokio::test]
async fn virtual_media_insert_status_eject() {
    let files = FileServer::start(&[("rescue.iso", b"ISO9660 pretend image")]);
    let sushy = Sushy::start();
    let c = connect(&sushy).await;
    let sys = c.system(None).await.unwrap();
    let before = c.media_status(&sys).await.unwrap();
    assert!(!before.inserted && before.image.is_none(), "{before:?}");

    let url = format!("{}rescue.iso", files.url);
    c.media_insert(&sys, &url).await.unwrap();
    let st = c.media_status(&sys).await.unwrap();
    assert_eq!(st.id, "Cd");
    assert!(st.inserted, "{st:?}");
    assert_eq!(st.image.as_deref(), Some(url.as_str()));
    assert_eq!(st.write_protected, Some(true));

    c.media_eject(&sys).await.unwrap();
    let st = c.media_status(&sys).await.unwrap();
    assert!(!st.inserted && st.image.is_none(), "{st:?}");

    let err = c
        .media_insert(&sys, &format!("{}missing.iso", files.url))
        .await
        .unwrap_err();
    assert!(matches!(err, RedfishError::Status { .. }), "{err}");
}

#[tokio::test]
async fn firmware_update_errors_and_tasks_are_read_from_the_emulator() {
    let files = FileServer::start(&[("bios.bin", b"firmware image")]);
    let sushy = Sushy::start();
    let c = connect(&sushy).await;
    let sys = c.system(None).await.unwrap();
    // The fake driver keeps no BIOS version, so sushy refuses the update: the BMC's own
    // message reaches the admin.
    let err = c
        .simple_update(
            &format!("{}bios.bin", files.url),
            std::slice::from_ref(&sys.path),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("UpdateService.SimpleUpdate answered 500: Failed fetching BIOS information"),
        "{msg}"
    );
    // sushy's one task resource is a real, completed Task.
    let task = oobgate::redfish::TaskRef {
        path: "/redfish/v1/TaskService/Tasks/42".into(),
    };
    let mut seen = Vec::new();
    let done = c
        .follow_task(
            &task,
            Duration::from_secs(20),
            Duration::from_millis(200),
            &mut |p| seen.push(p.clone()),
        )
        .await
        .unwrap();
    assert_eq!(done.state, "Completed");
    assert_eq!(done.percent, Some(100));
    assert_eq!(seen, vec![done]);
}

#[tokio::test]
async fn wrong_password_is_authentication_failed() {
    let sushy = Sushy::start();
    let mut ep = sushy.endpoint("srv20");
    ep.password = "not-the-password".to_string().into();
    let err = Client::connect(ep, pins()).await.err().expect("refused");
    assert!(matches!(err, RedfishError::AuthFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert_eq!(
        msg,
        "BMC srv20: authentication failed (wrong user name or password)"
    );
    assert!(!format!("{err:?}").contains("not-the-password"));
}

#[tokio::test]
async fn unreachable_bmc_names_the_address() {
    let port = oobgate::redfish::testing::free_port();
    let mut ep = Endpoint::new(
        "srv21",
        &format!("https://127.0.0.1:{port}"),
        BMC_USER,
        BMC_PASSWORD,
    )
    .unwrap();
    ep.timeout = Duration::from_secs(2);
    ep.retries = 1;
    let err = Client::connect(ep, pins()).await.err().expect("no BMC");
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::Unreachable { .. }), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "cannot reach BMC srv21 at https://127.0.0.1:{port}"
        )) && msg.contains("refused"),
        "{msg}"
    );
    assert!(!msg.contains(BMC_PASSWORD));
}

#[tokio::test]
async fn changed_certificate_fails_loudly_with_both_fingerprints() {
    let first = Sushy::start();
    let second = Sushy::start();
    let store = pins();
    let learn =
        |s: &Sushy| Endpoint::new("srv20", &s.address, BMC_USER, BMC_PASSWORD).expect("endpoint");
    Client::connect(learn(&first), store.clone())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    assert_eq!(store.pinned("srv20"), Some(first.cert.fingerprint));

    // The same BMC name now answers with another certificate.
    let err = Client::connect(learn(&second), store.clone())
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        matches!(err, RedfishError::CertificateChanged { .. }),
        "{msg}"
    );
    assert!(
        msg.starts_with("BMC CERTIFICATE FOR srv20 CHANGED"),
        "{msg}"
    );
    assert!(msg.contains(&first.cert.fingerprint.to_string()), "{msg}");
    assert!(msg.contains(&second.cert.fingerprint.to_string()), "{msg}");
    assert_eq!(store.puts(), 1, "a refused certificate is never recorded");

    // A configured pin is held the same way.
    let pinned = learn(&second).pinned(first.cert.fingerprint);
    let err = Client::connect(pinned, pins())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, RedfishError::CertificateChanged { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn certificate_learnt_on_first_use_is_stored_once() {
    let sushy = Sushy::start();
    let store = pins();
    for _ in 0..3 {
        let ep = Endpoint::new("srv20", &sushy.address, BMC_USER, BMC_PASSWORD).unwrap();
        let c = Client::connect(ep, store.clone()).await.unwrap();
        c.system(None).await.unwrap();
        c.close().await.unwrap();
    }
    assert_eq!(store.puts(), 1);
    assert_eq!(
        store.get("srv20").await.unwrap(),
        Some(sushy.cert.fingerprint)
    );
}

#[tokio::test]
async fn bmc_that_never_answers_times_out_naming_the_request() {
    // A socket that accepts and then says nothing, like a hung BMC web server.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let mut ep = Endpoint::new(
        "srv22",
        &format!("https://127.0.0.1:{port}"),
        BMC_USER,
        BMC_PASSWORD,
    )
    .unwrap();
    ep.timeout = Duration::from_millis(500);
    ep.retries = 1;
    let err = Client::connect(ep, pins()).await.err().expect("no answer");
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::Timeout { .. }), "{msg}");
    assert_eq!(
        msg,
        format!(
            "BMC srv22 at https://127.0.0.1:{port} did not answer GET /redfish/v1/ within 0.5 s"
        )
    );
    drop(hung);
}
