//! Recordings shipped to a real SeaweedFS: parts while the session runs, the sealed
//! manifest, replay from another node's spool-less store, a bucket that was down, a lost
//! node's recording sealed by another, and a tampered part.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use super::testing::server;
use super::*;
use crate::recording::RecordingHeader;

fn header() -> RecordingHeader {
    RecordingHeader {
        width: 80,
        height: 24,
        title: "alice@sw1".into(),
        term: Some("xterm".into()),
        timestamp: SystemTime::now(),
    }
}

fn node(cfg: &S3Config, spool: &Path, name: &str) -> ObjectRecordings {
    ObjectRecordings::open(cfg, spool.to_path_buf(), name).expect("object recordings")
}

/// Polls `f` for up to 30 s; panics with its last error.
async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> std::result::Result<T, String>) -> T {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > end => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_recording_reaches_the_bucket_and_replays_sealed_from_another_node() {
    let d = tempfile::tempdir().unwrap();
    let cfg = server().config(d.path());
    let a = node(&cfg, &d.path().join("a"), "bastion-a");
    let b = node(&cfg, &d.path().join("b"), "bastion-b");
    let id = "2026-12-03/0a1b";
    let mut rec = a.create(id, header()).await.unwrap();
    rec.output(b"Router> show version\r\n").unwrap();
    // Shipped while it runs: node b, which has no spool copy, reads it back.
    until("node b reads the running recording", async || {
        let bytes = b.raw(id).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&bytes).to_string();
        text.contains("show version").then_some(()).ok_or(text)
    })
    .await;
    // More than a part's worth: several parts.
    let bulk = "x".repeat(200 << 10);
    rec.output(bulk.as_bytes()).unwrap();
    rec.marker("session end: exit 0").unwrap();
    let spool = rec.path().to_path_buf();
    let summary = tokio::task::spawn_blocking(move || rec.finish().unwrap())
        .await
        .unwrap();
    let sealed = until("the manifest", async || {
        fetch::manifest(a.sh.s3.as_ref(), &a.sh.keys(id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no manifest yet".to_string())
    })
    .await;
    assert_eq!(sealed.sha256, summary.sha256);
    assert_eq!(sealed.node, "bastion-a");
    assert!(sealed.parts.len() >= 3, "{sealed:?}");
    until("the spool copy to go", async || {
        (!spool.exists())
            .then_some(())
            .ok_or("still there".to_string())
    })
    .await;
    let bytes = b.raw(id).await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), summary.sha256);
    let replay = b.open(id).await.unwrap();
    assert!(replay.events.iter().any(|e| e.data.ends_with(b"exit 0")));
    // The same from node a, whose spool copy is gone too.
    assert_eq!(a.raw(id).await.unwrap(), bytes);
    let missing = b.raw("2026-12-03/ffff").await.unwrap_err().to_string();
    assert!(
        missing.contains("neither in this node's spool nor in the object store"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_sealed_while_the_bucket_is_down_is_shipped_after_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let good = server().config(d.path());
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = S3Config {
        endpoint: format!("http://127.0.0.1:{dead_port}"),
        ..good.clone()
    };
    let spool = d.path().join("spool");
    let id = "2026-12-03/d0d0";
    let a = node(&down, &spool, "bastion-a");
    let mut rec = a.create(id, header()).await.unwrap();
    rec.output(b"kept in the spool\r\n").unwrap();
    let path = rec.path().to_path_buf();
    let summary = tokio::task::spawn_blocking(move || rec.finish().unwrap())
        .await
        .unwrap();
    a.drain(Duration::from_secs(60)).await;
    assert!(
        path.exists(),
        "the spool copy is never deleted before the upload is confirmed"
    );
    drop(a);

    // The next start, with the bucket back: the retry pass ships it.
    let a = node(&good, &spool, "bastion-a");
    a.start();
    until("the spool to be shipped", async || {
        (!path.exists())
            .then_some(())
            .ok_or("still in the spool".to_string())
    })
    .await;
    let b = node(&good, &d.path().join("b"), "bastion-b");
    let bytes = b.raw(id).await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), summary.sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_nodes_recording_is_sealed_by_another_from_what_reached_the_bucket() {
    let d = tempfile::tempdir().unwrap();
    let cfg = server().config(d.path());
    let a = node(&cfg, &d.path().join("a"), "bastion-a");
    let b = node(&cfg, &d.path().join("b"), "bastion-b");
    let id = "2026-12-03/1057";
    let mut rec = a.create(id, header()).await.unwrap();
    rec.output(b"reload in 5\r\n").unwrap();
    until("the part to reach the bucket", async || {
        let text =
            String::from_utf8_lossy(&b.raw(id).await.map_err(|e| e.to_string())?).to_string();
        text.contains("reload in 5").then_some(()).ok_or(text)
    })
    .await;
    std::mem::forget(rec); // node a dies: its recorder never seals

    let summary = b
        .seal_abandoned(id, "session end: aborted (node lost)")
        .await
        .unwrap();
    let m = fetch::manifest(b.sh.s3.as_ref(), &b.sh.keys(id))
        .await
        .unwrap()
        .expect("sealed");
    assert_eq!(
        (m.sha256.as_str(), m.node.as_str()),
        (summary.sha256.as_str(), "bastion-b")
    );
    let c = node(&cfg, &d.path().join("c"), "bastion-c");
    let rec = c.open(id).await.unwrap();
    let last = rec.events.last().unwrap();
    assert_eq!(last.data, b"session end: aborted (node lost)");
    let mut shown = Vec::new();
    rec.cat(&mut shown).unwrap();
    assert!(String::from_utf8_lossy(&shown).contains("reload in 5"));
    // Sealing it again is refused: the seal stays the first one.
    let again = c.seal_abandoned(id, "x").await.unwrap_err().to_string();
    assert!(again.contains("already sealed by bastion-b"), "{again}");
    let none = c
        .seal_abandoned("2026-12-03/0000", "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(none.contains("no part of recording"), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_part_fails_the_replay_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let cfg = server().config(d.path());
    let a = node(&cfg, &d.path().join("a"), "bastion-a");
    let id = "2026-12-03/7a3e";
    let mut rec = a.create(id, header()).await.unwrap();
    rec.output(b"configure terminal\r\n").unwrap();
    tokio::task::spawn_blocking(move || rec.finish().unwrap())
        .await
        .unwrap();
    assert!(a.drain(Duration::from_secs(30)).await);
    let keys = a.sh.keys(id);
    let m = fetch::manifest(a.sh.s3.as_ref(), &keys)
        .await
        .unwrap()
        .unwrap();
    let first = keys.part(m.parts[0].0);
    let mut bytes =
        a.sh.s3
            .get(&first)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
    bytes[20] ^= 1;
    a.sh.s3.put(&first, PutPayload::from(bytes)).await.unwrap();
    let b = node(&cfg, &d.path().join("b"), "bastion-b");
    let e = b.raw(id).await.unwrap_err().to_string();
    assert!(e.contains("do not have the sealed SHA-256"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_logs_are_shipped_as_they_grow_and_sealed_at_rotation_and_stay_local() {
    let d = tempfile::tempdir().unwrap();
    let cfg = server().config(d.path());
    let a = node(&cfg, &d.path().join("a"), "bastion-a");
    let log_dir = d.path().join("consoles");
    let ship = a.log_shipper(&log_dir);
    let mut log = crate::console::log::ConsoleLog::open(&log_dir, "sw1-con", 64 << 10, 3)
        .unwrap()
        .shipped_by(ship);
    log.output(b"%LINK-3-UPDOWN: Interface Gi0/1, changed state to down\r\n");
    let files = crate::console::log::log_files(&log_dir, "sw1-con");
    let first = files[0].clone();
    let stem = first.file_stem().unwrap().to_string_lossy().to_string();
    let keys = a.sh.keys(&format!("consoles/sw1-con/{stem}.bastion-a"));
    until("the running log's first part", async || {
        let parts = fetch::parts(a.sh.s3.as_ref(), &keys)
            .await
            .map_err(|e| e.to_string())?;
        (!parts.is_empty())
            .then_some(())
            .ok_or("no part yet".to_string())
    })
    .await;
    // Past the file's cap: it rotates, and the full file is sealed in the bucket.
    log.output("y".repeat(70 << 10).as_bytes());
    let m = until("the rotated log's manifest", async || {
        fetch::manifest(a.sh.s3.as_ref(), &keys)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no manifest yet".to_string())
    })
    .await;
    let local = std::fs::read(&first).expect("console logs stay on the node");
    assert_eq!(m.sha256, hex::encode(Sha256::digest(&local)));
    // The marker follows the manifest.
    let marker = first.with_extension("cast.stored");
    until("the shipped marker beside the rotated log", async || {
        marker
            .exists()
            .then_some(())
            .ok_or("no marker yet".to_string())
    })
    .await;
    drop(log);
}
