//! Audit chain append figures on PostgreSQL, used by `scripts/bench-store`:
//! `pg_bench URL EVENTS WRITERS NODES` appends EVENTS session-like events from WRITERS
//! concurrent tasks spread over NODES stores (each a node of its own: its own connection
//! pool and group-commit task, all on the one shared chain of the empty database at URL),
//! then verifies the whole chain.
//!
//! Prints one line: `events_per_s verify_s`.

use std::sync::Arc;
use std::time::Instant;

use oobgate::audit::Event;
use oobgate::store::{postgres::PgStore, AuditLog};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: pg_bench URL EVENTS WRITERS NODES");
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let writers: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let nodes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let mut stores = Vec::new();
    for n in 0..nodes {
        let store = PgStore::open(&url, &format!("bench-{n}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stores.push(Arc::new(store));
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = stores[(w % nodes) as usize].clone();
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
    let verify_start = Instant::now();
    let report = stores[0].verify().await.expect("verify");
    assert!(
        report.first_problem.is_none() && report.rows_checked == events,
        "the chain does not verify: {report:?}"
    );
    println!(
        "{:.0} {:.2}",
        events as f64 / elapsed,
        verify_start.elapsed().as_secs_f64()
    );
}
