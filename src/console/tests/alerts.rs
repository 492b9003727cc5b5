//! Alerts through the console task: output and reconnects fire, firings are marked in the
//! log and queued without ever holding up the console.

use std::time::Duration;

use super::*;
use crate::console::log::log_files;
use crate::console::testing::FakeFactory;

fn rules(toml_text: &str) -> Vec<AlertRule> {
    let cfg: AlertConfig = toml::from_str(toml_text).unwrap();
    vec![cfg.compile().unwrap()]
}

async fn next_alert(rx: &mut tokio::sync::mpsc::Receiver<ConsoleAlert>) -> ConsoleAlert {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an alert within 5 s")
        .expect("broker alive")
}

#[tokio::test]
async fn output_fires_with_nobody_attached_and_is_marked_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut alerts = broker.take_alerts().unwrap();
    assert!(broker.take_alerts().is_none(), "one taker only");
    let mut f = FakeFactory::new();
    let mut spec = f.spec("srv1", true);
    spec.alerts = rules("name = \"panic\"\nregex = \"Kernel panic\"\nconsoles = [\"srv1\"]\n");
    broker.register(spec).unwrap();
    let dev = f.device().await;
    dev.print("Kernel pa").await;
    dev.print("nic - not syncing\r\n").await;
    let alert = next_alert(&mut alerts).await;
    assert_eq!(alert.console, "srv1");
    assert_eq!(alert.firing.rule, "panic");
    assert_eq!(alert.firing.line, "Kernel panic - not syncing");
    broker.shutdown().await;
    let (out, markers) = output_of(&log_files(dir.path(), "srv1")[0]);
    assert_eq!(out, b"Kernel panic - not syncing\r\n");
    assert!(
        markers.contains(&"alert panic: Kernel panic - not syncing".to_string()),
        "{markers:?}"
    );
}

#[tokio::test]
async fn a_link_that_keeps_reconnecting_fires() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let mut alerts = broker.take_alerts().unwrap();
    let mut f = FakeFactory::new();
    let mut spec = f.spec("sw1", true);
    spec.alerts = rules(
        "name = \"flapping\"\non = \"reconnects\"\nconsoles = [\"sw1\"]\ncount = 2\nwithin = \"1m\"\n",
    );
    broker.register(spec).unwrap();
    f.device().await.lose("cable").await;
    f.device().await.lose("cable").await;
    let _dev3 = f.device().await;
    let alert = next_alert(&mut alerts).await;
    assert_eq!(alert.firing.rule, "flapping");
    assert_eq!(alert.firing.line, "link reconnected 2 times within 1m");
    broker.shutdown().await;
}

#[tokio::test]
async fn an_undrained_alert_queue_never_holds_up_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let broker = ConsoleBroker::new(dir.path().into(), opts());
    let _alerts = broker.take_alerts().unwrap(); // taken, never read
    let mut f = FakeFactory::new();
    let mut spec = f.spec("srv2", true);
    spec.alerts = rules("name = \"any\"\nregex = \"x\"\nconsoles = [\"srv2\"]\nholdoff = \"0s\"\n");
    broker.register(spec).unwrap();
    let dev = f.device().await;
    let mut alice = Term::new(
        broker
            .attach("srv2", user("alice", false, false))
            .await
            .unwrap(),
    );
    for _ in 0..600 {
        dev.print("x\n").await;
    }
    dev.print("still flowing\n").await;
    alice.expect("still flowing").await;
    broker.shutdown().await;
}
