//! The device link: reconnects, backoff, on-demand open and close, registration.

use std::sync::atomic::Ordering;

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::connect::LinkControl;
use crate::console::log::log_files;
use crate::console::testing::FakeFactory;

#[tokio::test]
async fn dropped_link_reconnects_and_everyone_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv3", true)).unwrap();
    let dev1 = f.device().await;
    let mut alice = Term::new(
        broker
            .attach("srv3", user("alice", true, false))
            .await
            .unwrap(),
    );
    dev1.print("before\r\n").await;
    alice.expect("before").await;
    dev1.lose("cable pulled").await;
    alice
        .expect("link down: connection to device lost: cable pulled, reconnecting")
        .await;
    let mut dev2 = f.device().await;
    alice.expect("[console: link up]").await;
    dev2.print("after\r\n").await;
    alice.expect("after").await;
    alice
        .att
        .input(Bytes::from_static(b"root\r"))
        .await
        .unwrap();
    assert_eq!(dev2.next_control().await, data("root\r"));
    assert_eq!(f.attempts(), 2);
    broker.shutdown().await;

    let (out, markers) = output_of(&log_files(dir.path(), "srv3")[0]);
    assert_eq!(out, b"before\r\nafter\r\n");
    let downs = markers
        .iter()
        .filter(|m| m.starts_with("link down:"))
        .count();
    let ups = markers.iter().filter(|m| *m == "link up").count();
    assert_eq!((downs, ups), (1, 2), "{markers:?}");
}

// The clock is paused and moves only when every task waits: the gaps are exact.
#[tokio::test(start_paused = true)]
async fn failing_factory_backs_off_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    f.fail.store(true, Ordering::SeqCst);
    broker.register(f.spec("srv4", true)).unwrap();
    // Each retry waits the backoff: 50 ms doubling up to the 400 ms cap.
    wait_for("six attempts", || f.attempts() >= 6).await;
    let gaps: Vec<u128> = f.gaps().iter().take(5).map(|g| g.as_millis()).collect();
    assert_eq!(gaps, [50, 100, 200, 400, 400]);
    match broker.status("srv4").unwrap().link {
        LinkState::Down(why) => assert!(why.contains("no route to host"), "{why}"),
        other => panic!("expected down, got {other:?}"),
    }
    f.fail.store(false, Ordering::SeqCst);
    let _dev = f.device().await;
    wait_for("link up", || {
        broker.status("srv4").unwrap().link == LinkState::Up
    })
    .await;
    broker.shutdown().await;
}

// The clock is paused: in the 100 ms below every task has run, so no attempt means
// none will come unasked.
#[tokio::test(start_paused = true)]
async fn on_demand_console_opens_on_attach_and_closes_after_last_detach() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv6", false)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.attempts(), 0);
    assert_eq!(broker.status("srv6").unwrap().link, LinkState::Idle);

    let alice = broker
        .attach("srv6", user("alice", true, false))
        .await
        .unwrap();
    let bob = broker
        .attach("srv6", user("bob", false, false))
        .await
        .unwrap();
    let mut dev = f.device().await;
    wait_for("link up", || {
        broker.status("srv6").unwrap().link == LinkState::Up
    })
    .await;
    alice.detach().await.unwrap();
    drop(bob); // detaches too
    let ctl = dev.next_control().await;
    assert!(matches!(ctl, Some(LinkControl::Close) | None), "{ctl:?}");
    wait_for("idle", || {
        broker.status("srv6").unwrap().link == LinkState::Idle
    })
    .await;
    assert!(broker.status("srv6").unwrap().attached.is_empty());

    let _carol = broker
        .attach("srv6", user("carol", false, false))
        .await
        .unwrap();
    let _dev2 = f.device().await;
    assert_eq!(f.attempts(), 2);
    broker.shutdown().await;
}

#[tokio::test]
async fn registration_rejects_bad_and_duplicate_names() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let f = FakeFactory::new();
    for bad in ["", "../etc", ".hidden", "a/b", "sp ace"] {
        assert!(
            matches!(
                broker.register(f.spec(bad, false)),
                Err(ConsoleError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    broker.register(f.spec("ok-1.a_b", false)).unwrap();
    assert!(matches!(
        broker.register(f.spec("ok-1.a_b", false)),
        Err(ConsoleError::Duplicate(_))
    ));
    assert!(matches!(
        broker.attach("nope", user("a", false, false)).await,
        Err(ConsoleError::UnknownConsole(_))
    ));
    broker.shutdown().await;
    assert!(broker.register(f.spec("late", false)).is_err());
}
