//! The Redfish client against the stand-in BMC (`src/redfish/fake_bmc.py`), the one mock:
//! sushy-emulator offers no SessionService and no LogServices, keeps a `Once` boot
//! override as `Continuous`, and completes its firmware task at once, so these cases have
//! no real peer. The stand-in journals every request, so each test checks what the client
//! really sent.

use std::sync::Arc;
use std::time::Duration;

use oobgate::redfish::testing::{FakeBmc, FakeTask};
use oobgate::redfish::{
    BootPersistence, BootTarget, Client, MemoryPins, RedfishError, ResetKind, TaskProgress, TaskRef,
};

async fn connect(bmc: &FakeBmc) -> Client {
    Client::connect(bmc.endpoint("srv30"), Arc::new(MemoryPins::new()))
        .await
        .expect("connect")
}

fn requests(bmc: &FakeBmc, method: &str, path_start: &str) -> Vec<serde_json::Value> {
    bmc.journal()
        .into_iter()
        .filter(|r| r["method"] == method && r["path"].as_str().unwrap().starts_with(path_start))
        .collect()
}

#[tokio::test]
async fn session_login_uses_the_token_and_deletes_the_session_at_the_end() {
    let bmc = FakeBmc::start(FakeTask::Progress, true);
    let c = connect(&bmc).await;
    assert!(c.uses_session());
    let sys = c.system(None).await.unwrap();
    c.reset(&sys, ResetKind::PowerCycle).await.unwrap();
    c.close().await.unwrap();

    let journal = bmc.journal();
    let logins = requests(&bmc, "POST", "/redfish/v1/SessionService/Sessions");
    assert_eq!(logins.len(), 1, "{journal:#?}");
    assert_eq!(logins[0]["body"]["UserName"], "admin");
    let after_login: Vec<_> = journal
        .iter()
        .skip_while(|r| r["method"] != "POST")
        .skip(1)
        .collect();
    assert!(!after_login.is_empty());
    assert!(
        after_login.iter().all(|r| r["auth"] == "token"),
        "every request after the login carries the session token: {journal:#?}"
    );
    assert!(
        journal.iter().all(|r| r["auth"] != "basic"),
        "the password is never sent as basic auth when sessions are offered"
    );
    let deletes = requests(&bmc, "DELETE", "/redfish/v1/SessionService/Sessions/1");
    assert_eq!(deletes.len(), 1, "{journal:#?}");
    assert_eq!(journal.last().unwrap()["method"], "DELETE");

    // PowerCycle is listed by this BMC, so it is sent as one action.
    let resets = requests(&bmc, "POST", "/redfish/v1/Systems/1/Actions");
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["body"]["ResetType"], "PowerCycle");
}

#[tokio::test]
async fn wrong_password_at_the_session_service_is_authentication_failed() {
    let bmc = FakeBmc::start(FakeTask::Progress, true);
    let mut ep = bmc.endpoint("srv30");
    ep.password = "wrong-one".to_string().into();
    let err = Client::connect(ep, Arc::new(MemoryPins::new()))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, RedfishError::AuthFailed { .. }), "{err}");
    assert!(!format!("{err:?}").contains("wrong-one"));
}

#[tokio::test]
async fn once_boot_override_is_sent_as_once() {
    let bmc = FakeBmc::start(FakeTask::Progress, false);
    let c = connect(&bmc).await;
    assert!(!c.uses_session(), "no SessionService: basic auth");
    let sys = c.system(None).await.unwrap();
    c.set_boot(&sys, BootTarget::Cd, BootPersistence::Once)
        .await
        .unwrap();
    let b = c.boot(&sys).await.unwrap();
    assert_eq!(b.target.as_deref(), Some("Cd"));
    assert_eq!(b.enabled.as_deref(), Some("Once"));
    let patches = requests(&bmc, "PATCH", "/redfish/v1/Systems/1");
    assert_eq!(
        patches[0]["body"],
        serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Cd",
                                    "BootSourceOverrideEnabled": "Once"}})
    );
    assert_eq!(patches[0]["auth"], "basic");
}

#[tokio::test]
async fn event_log_is_newest_first_across_pages() {
    let bmc = FakeBmc::start(FakeTask::Progress, true);
    let c = connect(&bmc).await;
    let sys = c.system(None).await.unwrap();
    let log = c.event_log(&sys, 3).await.unwrap();
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["2", "4", "3"], "{log:#?}");
    assert_eq!(log[0].message, "CPU 1 machine check error");
    assert_eq!(log[0].severity.as_deref(), Some("Critical"));
    assert_eq!(log[0].log, "SEL");
    assert_eq!(
        log[1].message, "Event.1.0.PowerOn",
        "MessageId when no Message"
    );
    assert_eq!(c.event_log(&sys, 10).await.unwrap().len(), 4);
    c.close().await.unwrap();
}

async fn update(
    task: FakeTask,
    deadline: Duration,
) -> (Result<TaskProgress, RedfishError>, Vec<TaskProgress>) {
    let bmc = FakeBmc::start(task, true);
    let c = connect(&bmc).await;
    let sys = c.system(None).await.unwrap();
    let t = c
        .simple_update(
            "https://files.lab/bios.bin",
            std::slice::from_ref(&sys.path),
        )
        .await
        .unwrap()
        .expect("a task");
    let mut seen = Vec::new();
    let r = c
        .follow_task(&t, deadline, Duration::from_millis(100), &mut |p| {
            seen.push(p.clone())
        })
        .await;
    let posts = requests(&bmc, "POST", "/redfish/v1/UpdateService");
    assert_eq!(posts[0]["body"]["ImageURI"], "https://files.lab/bios.bin");
    assert_eq!(posts[0]["body"]["TransferProtocol"], "HTTPS");
    assert_eq!(posts[0]["body"]["Targets"][0], "/redfish/v1/Systems/1");
    c.close().await.unwrap();
    (r, seen)
}

#[tokio::test]
async fn firmware_task_progress_is_reported_to_the_end() {
    let (r, seen) = update(FakeTask::Progress, Duration::from_secs(20)).await;
    let done = r.unwrap();
    assert_eq!(done.state, "Completed");
    let steps: Vec<(String, Option<u32>)> =
        seen.iter().map(|p| (p.state.clone(), p.percent)).collect();
    assert_eq!(
        steps,
        [
            ("New".into(), Some(0)),
            ("Running".into(), Some(50)),
            ("Completed".into(), Some(100))
        ]
    );
    assert_eq!(seen[1].to_string(), "Running 50%: Update 50%");
}

#[tokio::test]
async fn failed_firmware_task_reports_its_messages() {
    let (r, seen) = update(FakeTask::Fail, Duration::from_secs(20)).await;
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::TaskFailed { .. }), "{msg}");
    assert_eq!(
        msg,
        "BMC srv30: task /redfish/v1/TaskService/Tasks/1 ended Exception: Image signature check failed"
    );
    assert_eq!(seen[0].percent, Some(30));
}

#[tokio::test]
async fn firmware_task_that_never_ends_stops_at_the_deadline() {
    let (r, seen) = update(FakeTask::Hang, Duration::from_secs(2)).await;
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::TaskTimeout { .. }), "{msg}");
    assert!(msg.contains("did not finish within 2 s"), "{msg}");
    assert!(
        msg.contains("last seen: Running 10%: Flashing BIOS"),
        "{msg}"
    );
    assert_eq!(seen.len(), 1, "an unchanged task is reported once");
}

#[tokio::test]
async fn unavailable_answers_are_retried_a_bounded_number_of_times_and_4xx_never() {
    let bmc = FakeBmc::start_flaky(FakeTask::Progress, true, 2);
    let c = connect(&bmc).await;
    let sys = c.system(None).await.unwrap();
    assert_eq!(sys.id, "1");
    let gets = requests(&bmc, "GET", "/redfish/v1/Systems");
    let collection = gets
        .iter()
        .filter(|r| r["path"] == "/redfish/v1/Systems")
        .count();
    assert_eq!(collection, 3, "two 503s, then the answer");

    let missing = TaskRef {
        path: "/redfish/v1/TaskService/Tasks/9".into(),
    };
    let err = c.task(&missing).await.unwrap_err();
    assert!(
        matches!(err, RedfishError::Status { status: 404, .. }),
        "{err}"
    );
    assert_eq!(
        requests(&bmc, "GET", "/redfish/v1/TaskService/Tasks/9").len(),
        1
    );
    c.close().await.unwrap();

    let bmc = FakeBmc::start_flaky(FakeTask::Progress, true, 5);
    let mut ep = bmc.endpoint("srv30");
    ep.retries = 1;
    let c = Client::connect(ep, std::sync::Arc::new(MemoryPins::new()))
        .await
        .unwrap();
    let err = c.system(None).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "BMC srv30: GET /redfish/v1/Systems answered 503: busy, try again"
    );
    let collection = requests(&bmc, "GET", "/redfish/v1/Systems").len();
    assert_eq!(collection, 2, "one try and one retry");
    c.close().await.unwrap();
}

/// `what`'s answer, which must come within 30 s.
async fn within<T>(what: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), what)
        .await
        .expect("an answer in time, not a hang")
}

#[tokio::test]
async fn malformed_answers_over_https_are_errors_naming_the_bmc_never_a_crash_or_a_hang() {
    let bmc = FakeBmc::start_mangled(17);
    let c = connect(&bmc).await;
    let (mut refused, mut read) = (0, 0);
    for _ in 0..150 {
        let outcome = match within(c.system(None)).await {
            Ok(sys) => {
                read += 1;
                let power = within(c.power_state(&sys)).await.err();
                let log = within(c.event_log(&sys, 5)).await.err();
                power.or(log)
            }
            Err(e) => Some(e),
        };
        if let Some(e) = outcome {
            refused += 1;
            let msg = e.to_string();
            assert!(msg.contains("srv30"), "{msg}");
            assert!(
                !msg.contains(oobgate::redfish::testing::BMC_PASSWORD),
                "{msg}"
            );
        }
    }
    assert!(
        refused > 100,
        "most damaged answers must be refused: {refused} refused, {read} read"
    );
    // The client is still usable: the stand-in answers, the session is closed.
    let _ = c.close().await;
}
