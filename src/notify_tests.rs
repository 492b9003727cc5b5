//! The receiving end is a small HTTP/1.1 listener written here: no real chat or
//! ticketing server exists on this machine to stand in for one.

use std::os::unix::fs::PermissionsExt;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc as tmpsc;

use super::*;

/// Accepts requests, answers each with the next status of `statuses` (then 200), and
/// reports `(headers, body)` of every request.
async fn receiver(statuses: Vec<u16>) -> (String, tmpsc::UnboundedReceiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tmpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let head = text[..i].to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        break (head, text[i + 4..i + 4 + len].to_string());
                    }
                }
            };
            let status = statuses.next().unwrap_or(200);
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
            let _ = tx.send((head, body));
        }
    });
    (url, rx)
}

fn config(url: &str, secret: Option<PathBuf>) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        timeout: Duration::from_secs(5),
        retries: 3,
        secret_file: secret,
    }
}

#[tokio::test]
async fn events_arrive_as_signed_json() {
    let (url, mut rx) = receiver(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "s3cret-key\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let n = Notifier::new(Some(&config(&url, Some(secret))), "bastion.mgmt").unwrap();
    n.send(
        "access.request",
        serde_json::json!({"request": 42, "requester": "bob", "kind": "not overridden"}),
    );
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("post /hook"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "access.request");
    assert_eq!(v["request"], 42);
    assert_eq!(v["requester"], "bob");
    assert_eq!(v["bastion"], "bastion.mgmt");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    let sig = head
        .lines()
        .find_map(|l| l.strip_prefix("x-oobgate-signature:"))
        .unwrap()
        .trim()
        .to_string();
    // Computed apart from the product: `openssl dgst -sha256 -hmac KEY` over the body.
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "s3cret-key", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (scripts/test installs it)");
    std::io::Write::write_all(&mut openssl.stdin.take().unwrap(), body.as_bytes()).unwrap();
    let out = openssl.wait_with_output().unwrap();
    let expected = String::from_utf8(out.stdout).unwrap();
    let expected = expected.split_whitespace().next().unwrap();
    assert_eq!(expected.len(), 64, "{expected}");
    assert_eq!(sig, format!("sha256={expected}"));
    assert!(!head.contains("s3cret-key") && !body.contains("s3cret-key"));
}

#[tokio::test]
async fn failed_deliveries_are_retried_in_order() {
    let (url, mut rx) = receiver(vec![500, 503]).await;
    let n = Notifier::new(Some(&config(&url, None)), "b").unwrap();
    n.send("first", serde_json::json!({}));
    n.send("second", serde_json::json!({}));
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let (_, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        kinds.push(v["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["first", "first", "first", "second"]);
}

#[tokio::test]
async fn an_event_whose_retries_run_out_is_dropped_with_a_warning_and_the_next_goes_on() {
    let (log, _guard) = crate::testing::capture_log();
    // Four failures: the first try and its three retries.
    let (url, mut rx) = receiver(vec![500, 502, 503, 500]).await;
    let n = Notifier::new(Some(&config(&url, None)), "b").unwrap();
    n.send("doomed", serde_json::json!({}));
    n.send("next", serde_json::json!({}));
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("next") {
        let (_, body) = tokio::time::timeout(crate::testing::WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {kinds:?}"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        kinds.push(v["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["doomed", "doomed", "doomed", "doomed", "next"]);
    let text = log.text();
    assert!(
        text.contains("webhook delivery failed, event dropped") && text.contains("attempts=4"),
        "{text}"
    );
}

#[tokio::test]
async fn a_flood_never_blocks_and_the_overflow_is_dropped() {
    let (log, _guard) = crate::testing::capture_log();
    let (url, mut rx) = receiver(vec![]).await;
    let n = Notifier::new(Some(&config(&url, None)), "b").unwrap();
    // Far more than the queue holds, faster than any delivery (the delivery task shares
    // this thread): `send` returns every time and drops what does not fit, loudly.
    let total = QUEUE + 500;
    for i in 0..total {
        n.send("flood", serde_json::json!({ "i": i }));
    }
    let warned = log
        .text()
        .matches("webhook queue full or stopped: event dropped")
        .count();
    assert_eq!(warned, total - QUEUE, "drops logged");
    // What was queued arrives in order, then an event sent once there is room again;
    // the overflow never does.
    let mut delivered = Vec::new();
    loop {
        let (_, body) = tokio::time::timeout(crate::testing::WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} deliveries", delivered.len()))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["kind"] == "last" {
            break;
        }
        if delivered.is_empty() {
            n.send("last", serde_json::json!({}));
        }
        delivered.push(v["i"].as_u64().unwrap() as usize);
    }
    let expected: Vec<usize> = (0..QUEUE).collect();
    assert_eq!(delivered, expected);
    Notifier::disabled().send("nothing", serde_json::json!({}));
}

#[tokio::test]
async fn bad_webhook_settings_are_named() {
    let e = Notifier::new(Some(&config("ftp://example/", None)), "b").unwrap_err();
    assert!(e.to_string().contains("webhook.url"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("open.secret");
    std::fs::write(&secret, "x").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Notifier::new(Some(&config("http://127.0.0.1:1/", Some(secret))), "b").unwrap_err();
    assert!(e.to_string().contains("mode 0644"), "{e}");
}
