//! SSH connector session tests against a real OpenSSH sshd: pty and resize, EOF,
//! signals, endings, and backpressure from a slow reader.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::{sleep, timeout};

use super::ssh_tests::{connector, password_cred, password_sshd, target};
use super::testing::{drain_link as drain, generate_key, read_link_until, SshdOptions, TestSshd};
use super::*;
use crate::testing::{wait_until, WAIT};

async fn read_until(link: &mut Link, needle: &str) -> String {
    read_link_until(link, needle, Duration::from_secs(10)).await
}

#[tokio::test]
async fn pty_shell_follows_resize() {
    let sshd = password_sshd();
    let mut link = connector()
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::shell(80, 24),
        )
        .await
        .unwrap();
    let send = |s: &'static str| LinkControl::Data(Bytes::from_static(s.as_bytes()));
    link.control.send(send("stty size\n")).await.unwrap();
    read_until(&mut link, "24 80").await;
    link.control
        .send(LinkControl::Resize {
            cols: 132,
            rows: 43,
        })
        .await
        .unwrap();
    link.control.send(send("stty size\n")).await.unwrap();
    read_until(&mut link, "43 132").await;
    link.control.send(send("exit 5\n")).await.unwrap();
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.exit, Some(5));
    assert_eq!(out.end, Some(EndReason::DeviceClosed));
}

#[tokio::test]
async fn stdin_eof_and_signals_reach_the_device() {
    let sshd = password_sshd();
    let conn = connector();
    let mut link = conn
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("cat; echo done"),
        )
        .await
        .unwrap();
    link.control
        .send(LinkControl::Data(Bytes::from_static(b"abc\xff")))
        .await
        .unwrap();
    link.control.send(LinkControl::Eof).await.unwrap();
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.stdout, b"abc\xffdone\n");

    let mut link = conn
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("echo started; exec sleep 30"),
        )
        .await
        .unwrap();
    read_until(&mut link, "started").await;
    link.control
        .send(LinkControl::Signal("TERM".into()))
        .await
        .unwrap();
    let out = drain(&mut link, Duration::from_secs(10)).await;
    assert_eq!(out.signal.as_deref(), Some("TERM"), "{out:?}");
}

#[tokio::test]
async fn device_dying_mid_session_ends_with_a_reason() {
    let sshd = password_sshd();
    let mut link = connector()
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("echo ready; sleep 0.2; kill -9 $PPID; sleep 10"),
        )
        .await
        .unwrap();
    read_until(&mut link, "ready").await;
    let out = drain(&mut link, Duration::from_secs(8)).await;
    match out.end {
        Some(EndReason::Lost(why)) => assert!(!why.is_empty()),
        other => panic!("expected a lost connection, got {other:?}"),
    }
}

#[tokio::test]
async fn local_close_ends_the_link() {
    let sshd = password_sshd();
    let mut link = connector()
        .open(
            &target(&sshd),
            &password_cred(),
            &LinkRequest::exec("sleep 30"),
        )
        .await
        .unwrap();
    link.control.send(LinkControl::Close).await.unwrap();
    let out = drain(&mut link, Duration::from_secs(5)).await;
    assert_eq!(out.end, Some(EndReason::LocalClose));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_makes_the_device_wait() {
    let dir = testing::TempDir::new("flood").unwrap();
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
    const CHUNKS: usize = 800;
    const CHUNK: usize = 65536;
    let progress = dir.path().join("progress");
    let cmd = format!(
        "i=0; while [ $i -lt {CHUNKS} ]; do head -c {CHUNK} /dev/zero || exit 9; i=$((i+1)); echo $i > {p}; done",
        p = progress.display()
    );
    let mut link = connector()
        .open(&target(&sshd), &cred, &LinkRequest::exec(cmd))
        .await
        .unwrap();
    let written = || -> usize {
        std::fs::read_to_string(&progress)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    // Not reading: the device must stall far below the 50 MiB it wants to send. Stalled
    // means no progress for a whole second; a device that never stalls fails the test.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (mut stalled, mut since) = (written(), tokio::time::Instant::now());
    while since.elapsed() < Duration::from_secs(1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "device kept writing while nobody read: {} of {CHUNKS} chunks",
            written()
        );
        sleep(Duration::from_millis(50)).await;
        if written() != stalled {
            (stalled, since) = (written(), tokio::time::Instant::now());
        }
    }
    eprintln!(
        "device stalled after {} KiB of {} KiB",
        (stalled * CHUNK) >> 10,
        (CHUNKS * CHUNK) >> 10
    );
    assert!(
        stalled * CHUNK < 20 << 20,
        "{} MiB left the device before backpressure",
        (stalled * CHUNK) >> 20
    );
    assert!(stalled < CHUNKS);

    let out = timeout(
        Duration::from_secs(60),
        drain(&mut link, Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout.len(), CHUNKS * CHUNK);
    assert_eq!(out.exit, Some(0));
    assert_eq!(written(), CHUNKS);
}

#[tokio::test]
async fn dropping_the_link_closes_the_session() {
    let sshd = password_sshd();
    let dir = testing::TempDir::new("drop").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let marker = dir.path().join("alive");
    let cmd = format!(
        "echo $$ > {m}.pid; i=0; while true; do i=$((i+1)); echo $i > {m}; sleep 0.1; done",
        m = marker.display()
    );
    // With a pty sshd hangs the command up when the session ends (without one the
    // command would only notice on its next write to the closed stdout).
    let req = LinkRequest {
        pty: true,
        ..LinkRequest::exec(cmd)
    };
    let link = connector()
        .open(&target(&sshd), &password_cred(), &req)
        .await
        .unwrap();
    let pid_file = dir.path().join("alive.pid");
    let pid = wait_until("the command running", WAIT, || async {
        match std::fs::read_to_string(&marker) {
            Ok(n) if !n.trim().is_empty() => std::fs::read_to_string(&pid_file)
                .map(|p| p.trim().to_string())
                .map_err(|e| e.to_string()),
            other => Err(format!("marker: {other:?}")),
        }
    })
    .await;
    drop(link);
    // The session goes away, and with it the command (gone, or a zombie nobody reaps).
    wait_until(
        "the command gone after the link was dropped",
        WAIT,
        || async {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => Ok(()),
                Ok(stat)
                    if stat
                        .rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z') =>
                {
                    Ok(())
                }
                Ok(stat) => Err(format!("still running: {stat}")),
            }
        },
    )
    .await;
}
