//! Audit chain append figures, used by `scripts/bench`: `store_bench EVENTS WRITERS` appends
//! EVENTS session-like events from WRITERS concurrent tasks to a fresh sqlite store on disk
//! (the store's own durability settings: WAL, `synchronous = NORMAL`, group commit), then
//! verifies the whole chain. Meanwhile a 1 ms ticker on the same runtime measures how late
//! it wakes: the store must never block the async runtime.
//!
//! Prints one line: `events_per_s max_tick_lateness_ms verify_s`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oobgate::audit::Event;
use oobgate::store::{sqlite::SqliteStore, AuditLog};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let writers: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile_dir();
    let store = Arc::new(SqliteStore::open(&dir.join("store.db")).expect("open the store"));
    let worst = Arc::new(AtomicU64::new(0));
    let ticker = {
        let worst = worst.clone();
        tokio::spawn(async move {
            let mut next = Instant::now();
            loop {
                next += Duration::from_millis(1);
                tokio::time::sleep_until(next.into()).await;
                let late = Instant::now().saturating_duration_since(next).as_micros() as u64;
                worst.fetch_max(late, Ordering::Relaxed);
            }
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let n = events / writers + u64::from(w < events % writers);
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let ev = Event::new("session.data")
                    .user(format!("user{}", w % 20))
                    .device(format!("sw{}", i % 200))
                    .action("connect")
                    .outcome("ok")
                    .detail(serde_json::json!({ "bytes_out": i * 97, "writer": w }));
                store.append(ev).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    ticker.abort();
    let verify_start = Instant::now();
    let report = store.verify().await.expect("verify");
    assert!(
        report.first_problem.is_none() && report.rows_checked == events,
        "the chain does not verify: {report:?}"
    );
    let verify = verify_start.elapsed().as_secs_f64();
    println!(
        "{:.0} {:.2} {:.2}",
        events as f64 / elapsed,
        worst.load(Ordering::Relaxed) as f64 / 1000.0,
        verify
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oobgate-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
