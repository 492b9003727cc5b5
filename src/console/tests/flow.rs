//! Flow control: slow readers, a device that stops taking input, idle memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::connect::LinkControl;
use crate::console::log::log_files;
use crate::console::testing::FakeFactory;

#[tokio::test]
async fn never_reading_attacher_loses_only_its_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts();
    let budget = o.attach_queue_bytes;
    let broker = ConsoleBroker::new(dir.path().into(), o);
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv5", true)).unwrap();
    let dev = f.device().await;
    let mut slow = Term::new(
        broker
            .attach("srv5", user("slow", false, false))
            .await
            .unwrap(),
    );
    let mut fast = broker
        .attach("srv5", user("fast", false, false))
        .await
        .unwrap();

    let got = Arc::new(AtomicU64::new(0));
    let got2 = got.clone();
    let reader = tokio::spawn(async move {
        let mut text = Vec::new();
        while let Some(b) = fast.output.recv().await {
            got2.fetch_add(
                b.iter().filter(|c| **c == b'x').count() as u64,
                Ordering::SeqCst,
            );
            if !b.contains(&b'x') {
                text.extend_from_slice(&b);
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    });

    const CHUNK: usize = 4096;
    const CHUNKS: usize = 1024;
    let chunk = vec![b'x'; CHUNK];
    let flood = async {
        for i in 0..CHUNKS {
            dev.print(&chunk).await;
            if i % 16 == 15 {
                // Keep the fast reader's queue from filling, so it must get everything.
                let want = ((i + 1) * CHUNK) as u64;
                while got.load(Ordering::SeqCst) < want {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("the link reader was never blocked by the slow attacher");
    let total = (CHUNK * CHUNKS) as u64;
    assert_eq!(got.load(Ordering::SeqCst), total);
    assert!(
        slow.att.output.queued_bytes() <= budget,
        "slow queue is bounded"
    );
    assert_eq!(broker.status("srv5").unwrap().bytes_logged, total);

    while slow.att.output.try_recv().is_some() {}
    dev.print("tail\r\n").await;
    let seen = slow.expect("tail").await;
    assert!(
        seen.contains("bytes skipped, you were too slow"),
        "{seen:?}"
    );
    broker.shutdown().await;
    let fast_text = reader.await.unwrap();
    assert!(!fast_text.contains("skipped"), "{fast_text}");

    // 4 MiB through 1 MiB files, 3 kept: rotated and capped.
    let files = log_files(dir.path(), "srv5");
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        assert!(std::fs::metadata(&file).unwrap().len() < 1024 * 1024 + 2 * CHUNK as u64);
    }
}

#[tokio::test]
async fn input_is_bounded_when_the_device_stops_taking_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut f = FakeFactory::new();
    broker.register(f.spec("srv9", true)).unwrap();
    let mut dev = f.device().await;
    wait_for("link up", || {
        broker.status("srv9").unwrap().link == LinkState::Up
    })
    .await;
    let mut alice = Term::new(
        broker
            .attach("srv9", user("alice", true, false))
            .await
            .unwrap(),
    );
    // The device reads nothing: 32 messages fit the link, 64 KiB wait in the console.
    for _ in 0..200 {
        alice
            .att
            .input(Bytes::from(vec![b'k'; 1024]))
            .await
            .unwrap();
    }
    alice
        .expect("the device is not taking input, some was dropped")
        .await;
    assert!(
        !alice.quiet().await.contains("not taking input"),
        "told once"
    );
    let mut taken = 0;
    while let Ok(Some(LinkControl::Data(b))) =
        tokio::time::timeout(Duration::from_millis(200), dev.control.recv()).await
    {
        taken += b.len();
    }
    assert_eq!(taken, 32 * 1024 + 64 * 1024);
    broker.shutdown().await;
}

/// Many idle consoles with production options: every link comes up, everything printed
/// while nobody watches is logged, and what each keeps for the next attach is bounded by
/// its ring (the oldest output falls off). Memory per console is measured by
/// `scripts/bench-consoles`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_consoles_log_everything_and_keep_only_their_ring() {
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let opts = BrokerOptions::default();
    let ring = opts.ring_bytes;
    let broker = ConsoleBroker::new(dir.path().into(), opts);
    let mut f = FakeFactory::new();
    for i in 0..N {
        broker
            .register(f.spec(&format!("lazy{i:03}"), false))
            .unwrap();
    }
    let mut devices = Vec::with_capacity(N);
    for i in 0..N {
        broker
            .register(f.spec(&format!("idle{i:03}"), true))
            .unwrap();
        devices.push(f.device().await);
    }
    wait_for("all links up", || {
        broker
            .list()
            .iter()
            .all(|s| !s.always_on || s.link == LinkState::Up)
    })
    .await;
    assert!(broker
        .list()
        .iter()
        .all(|s| s.always_on || s.link != LinkState::Up));

    let screen = vec![b'.'; 4096];
    let printed = (b"FIRST-MARK".len() + ring + b"LAST-MARK".len()) as u64;
    for dev in &devices {
        dev.print("FIRST-MARK").await;
        for _ in 0..ring / screen.len() {
            dev.print(&screen).await;
        }
        dev.print("LAST-MARK").await;
    }
    wait_for("all output logged", || {
        broker
            .list()
            .iter()
            .all(|s| !s.always_on || s.bytes_logged == printed)
    })
    .await;
    let mut late = Term::new(
        broker
            .attach("idle123", user("late", false, false))
            .await
            .unwrap(),
    );
    let backlog = late.expect("LAST-MARK").await;
    assert!(!backlog.contains("FIRST-MARK"), "the ring kept too much");
    let kept = backlog.bytes().filter(|b| *b == b'.').count();
    assert!(
        kept > ring / 2 && kept <= ring,
        "{kept} bytes of backlog for a {ring}-byte ring"
    );
    broker.shutdown().await;
}
