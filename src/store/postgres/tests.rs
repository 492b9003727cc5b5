//! The store suite on PostgreSQL (a private cluster), and what only several nodes on one
//! database can show.

use std::sync::Arc;

use super::testing::cluster;
use super::PgStore;
use crate::audit::Event;
use crate::store::{AuditLog, Stores};

async fn fresh() -> Stores {
    let url = cluster().database();
    let store = Arc::new(PgStore::open(&url, "node-a").await.unwrap());
    Stores::with_postgres(
        store,
        tempfile::tempdir().unwrap().keep().join("recordings"),
    )
}

crate::store_suite!(fresh());

/// Two nodes appending at once build one chain; every event names the node that wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_to_one_chain() {
    let url = cluster().database();
    let a = PgStore::open(&url, "node-a").await.unwrap();
    let b = PgStore::open(&url, "node-b").await.unwrap();
    let tasks: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .flat_map(|s| (0..4).map(move |t| (s.clone(), t)))
        .map(|(s, t)| {
            tokio::spawn(async move {
                for i in 0..50 {
                    s.append(Event::new("c").detail(serde_json::json!([t, i])))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let report = b.verify().await.unwrap();
    assert_eq!(report.rows_checked, 400);
    assert!(report.first_problem.is_none(), "{:?}", report.first_problem);
    let rows = a.after(0, 1000).await.unwrap();
    let by = |n: &str| rows.iter().filter(|r| r.node.as_deref() == Some(n)).count();
    assert_eq!((by("node-a"), by("node-b")), (200, 200));
}

/// A row edited in the database is named by verify, from any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_row_or_node_is_named() {
    let url = cluster().database();
    let a = PgStore::open(&url, "node-a").await.unwrap();
    for i in 0..5 {
        a.append(Event::new("t").detail(serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
    a.execute("UPDATE events SET node = 'node-x' WHERE id = 4")
        .await
        .unwrap();
    let b = PgStore::open(&url, "node-b").await.unwrap();
    let p = b.verify().await.unwrap().first_problem.unwrap();
    assert_eq!(p.id, 4);
    assert!(p.reason.contains("hash mismatch"), "{}", p.reason);
}
