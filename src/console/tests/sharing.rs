//! Attaching, the shared output, the write lock and breaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::console::log::log_files;
use crate::console::testing::FakeFactory;

#[tokio::test]
async fn backlog_replay_and_log_hold_output_printed_while_nobody_watched() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv1", true)).unwrap();
    let dev = f.device().await;
    let boot = "BIOS POST ok\r\n1\r\n2\r\nlogin: ";
    dev.print(boot).await;
    let st = || broker.status("srv1").unwrap();
    wait_for("output logged", || st().bytes_logged == boot.len() as u64).await;
    assert_eq!(st().link, LinkState::Up);

    let mut t = Term::new(
        broker
            .attach("srv1", user("alice", true, false))
            .await
            .unwrap(),
    );
    let backlog = t.att.output.recv().await.unwrap();
    assert_eq!(backlog, boot.as_bytes());
    t.expect("attached to srv1 with write access, link up")
        .await;
    assert_eq!(&t.att.replay_last(2)[..], b"2\r\nlogin: ");
    assert_eq!(
        broker.list()[0].attached,
        vec![AttachedUser {
            user: "alice".into(),
            writer: true
        }]
    );

    broker.shutdown().await;
    t.expect("console shut down by the bastion").await;
    assert!(
        t.att.output.recv().await.is_none(),
        "output ends at shutdown"
    );
    let files = log_files(dir.path(), "srv1");
    assert_eq!(files.len(), 1);
    let (out, markers) = output_of(&files[0]);
    assert_eq!(out, boot.as_bytes());
    assert_eq!(
        markers,
        [
            "console registered",
            "link up",
            "attach alice, with write access",
            "console stopped"
        ]
    );
}

#[tokio::test]
async fn attachers_share_output_and_only_the_writer_types() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("sw1", true)).unwrap();
    let mut dev = f.device().await;
    let mut alice = Term::new(
        broker
            .attach("sw1", user("alice", true, false))
            .await
            .unwrap(),
    );
    let mut bob = Term::new(
        broker
            .attach("sw1", user("bob", true, false))
            .await
            .unwrap(),
    );
    let mut carol = Term::new(
        broker
            .attach("sw1", user("carol", false, false))
            .await
            .unwrap(),
    );
    bob.expect("attached to sw1 read-only").await;
    alice.expect("bob joined, read-only").await;
    alice.expect("carol joined, read-only").await;

    dev.print("sw1# ").await;
    for t in [&mut alice, &mut bob, &mut carol] {
        t.expect("sw1# ").await;
    }
    alice
        .att
        .input(Bytes::from_static(b"show ver\r"))
        .await
        .unwrap();
    assert_eq!(dev.next_control().await, data("show ver\r"));

    bob.att
        .input(Bytes::from_static(b"reload\r"))
        .await
        .unwrap();
    bob.expect("read-only, Ctrl-] t to ask for write").await;
    bob.att.input(Bytes::from_static(b"y\r")).await.unwrap();
    carol.att.input(Bytes::from_static(b"x")).await.unwrap();
    carol.expect("read-only, your input is dropped").await;
    alice
        .att
        .input(Bytes::from_static(b"exit\r"))
        .await
        .unwrap();
    // Nothing of bob's or carol's got through before alice's next keystrokes.
    assert_eq!(dev.next_control().await, data("exit\r"));
    assert!(!bob.quiet().await.contains("read-only"), "told only once");
    broker.shutdown().await;
}

#[tokio::test]
async fn write_lock_moves_by_request_release_and_force_with_notices() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv2", true)).unwrap();
    let mut dev = f.device().await;
    let mut alice = Term::new(
        broker
            .attach("srv2", user("alice", true, false))
            .await
            .unwrap(),
    );
    let mut bob = Term::new(
        broker
            .attach("srv2", user("bob", true, false))
            .await
            .unwrap(),
    );
    let mut root = Term::new(
        broker
            .attach("srv2", user("root", true, true))
            .await
            .unwrap(),
    );

    let asked = bob.att.request_write().await.unwrap();
    assert_eq!(
        asked,
        WriteRequest::Asked {
            holder: "alice".into()
        }
    );
    alice.expect("bob asks for write access").await;
    assert_eq!(
        alice.att.request_write().await.unwrap(),
        WriteRequest::AlreadyHeld
    );
    alice.att.release_write().await.unwrap();
    for t in [&mut alice, &mut bob, &mut root] {
        t.expect("alice released write access").await;
    }
    assert_eq!(
        bob.att.request_write().await.unwrap(),
        WriteRequest::Granted
    );
    for t in [&mut alice, &mut bob, &mut root] {
        t.expect("bob has write access").await;
    }
    let who = root.att.who().await.unwrap();
    assert_eq!(
        who.iter()
            .map(|u| (u.user.as_str(), u.writer))
            .collect::<Vec<_>>(),
        [("alice", false), ("bob", true), ("root", false)]
    );

    assert!(matches!(
        alice.att.force_write().await,
        Err(ConsoleError::NotPermitted { .. })
    ));
    assert!(matches!(
        alice.att.release_write().await,
        Err(ConsoleError::NotWriter(_))
    ));
    root.att.force_write().await.unwrap();
    bob.expect("root took write access from you, you are read-only now")
        .await;
    alice.expect("root has write access").await;

    bob.att.input(Bytes::from_static(b"nope")).await.unwrap();
    bob.expect("read-only").await;
    root.att.input(Bytes::from_static(b"yes")).await.unwrap();
    assert_eq!(dev.next_control().await, data("yes"));

    root.att.detach().await.unwrap();
    alice.expect("root left, write access is free").await;
    let st = broker.status("srv2").unwrap();
    assert!(st.attached.iter().all(|u| !u.writer));
    assert_eq!(st.attached.len(), 2);
    broker.shutdown().await;

    let (_, markers) = output_of(&log_files(dir.path(), "srv2")[0]);
    for m in [
        "write lock released by alice",
        "write lock granted to bob",
        "write lock forced by root",
        "detach root",
    ] {
        assert!(markers.iter().any(|x| x == m), "{m} in {markers:?}");
    }
}

#[tokio::test]
async fn break_needs_the_write_lock_and_a_capable_backend() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    let breaks = Arc::new(AtomicUsize::new(0));
    let b2 = breaks.clone();
    let mut spec = f.spec("srv7", true);
    spec.send_break = Some(Arc::new(
        move || -> BoxFuture<'static, crate::connect::Result<()>> {
            b2.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        },
    ));
    broker.register(spec).unwrap();
    broker.register(f.spec("srv8", true)).unwrap();
    let _dev = f.device().await;
    let _dev2 = f.device().await;
    wait_for("links up", || {
        broker.list().iter().all(|s| s.link == LinkState::Up)
    })
    .await;

    let alice = broker
        .attach("srv7", user("alice", true, false))
        .await
        .unwrap();
    let mut bob = Term::new(
        broker
            .attach("srv7", user("bob", false, false))
            .await
            .unwrap(),
    );
    assert!(matches!(
        bob.att.send_break().await,
        Err(ConsoleError::NotWriter(_))
    ));
    alice.send_break().await.unwrap();
    assert_eq!(breaks.load(Ordering::SeqCst), 1);
    bob.expect("alice sent a break").await;

    let carol = broker
        .attach("srv8", user("carol", true, false))
        .await
        .unwrap();
    let err = carol.send_break().await.unwrap_err();
    assert!(matches!(err, ConsoleError::BreakUnsupported));
    assert_eq!(err.to_string(), "this console cannot send a break");
    broker.shutdown().await;
}

#[tokio::test]
async fn input_sent_just_before_dropping_an_attachment_still_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv10", true)).unwrap();
    let mut dev = f.device().await;
    let alice = broker
        .attach("srv10", user("alice", true, false))
        .await
        .unwrap();
    alice.input(Bytes::from_static(b"exit\r")).await.unwrap();
    drop(alice);
    assert_eq!(dev.next_control().await, data("exit\r"));
    wait_for("detached", || {
        broker.status("srv10").unwrap().attached.is_empty()
    })
    .await;
    broker.shutdown().await;
}
