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

/// A node whose lease lapsed is taken by exactly one other node, with its open sessions
/// closed; a node that keeps renewing is never taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_is_taken_once_with_its_sessions() {
    use crate::store::{NodeLeases, SessionLedger, SessionStart, NODE_LOST};
    use std::time::Duration;
    let url = cluster().database();
    let a = PgStore::open(&url, "node-a").await.unwrap();
    let b = PgStore::open(&url, "node-b").await.unwrap();
    let c = PgStore::open(&url, "node-c").await.unwrap();
    let start = |id: &str| SessionStart {
        id: id.into(),
        user: "alice".into(),
        roles: vec![],
        device: "sw1".into(),
        kind: "ssh".into(),
        source: "127.0.0.1:1".into(),
        recording: None,
    };
    a.start(&start("s-a")).await.unwrap();
    b.start(&start("s-b")).await.unwrap();
    a.renew(Duration::ZERO).await.unwrap();
    b.renew(Duration::from_secs(60)).await.unwrap();
    c.renew(Duration::from_secs(60)).await.unwrap();
    let (by_b, by_c) = tokio::join!(b.reap(), c.reap());
    let mut taken: Vec<_> = by_b.unwrap().into_iter().chain(by_c.unwrap()).collect();
    assert_eq!(taken.len(), 1, "{taken:#?}");
    let lost = taken.pop().unwrap();
    assert_eq!(lost.node, "node-a");
    assert_eq!(lost.sessions.len(), 1);
    assert_eq!(lost.sessions[0].id, "s-a");
    let row = SessionLedger::get(&c, "s-a").await.unwrap().unwrap();
    assert_eq!(row.end_reason.as_deref(), Some(NODE_LOST));
    assert!(SessionLedger::get(&c, "s-b")
        .await
        .unwrap()
        .unwrap()
        .ended
        .is_none());
    assert!(b.reap().await.unwrap().is_empty());
}

/// An unreachable database is named by its URL, never with the password.
#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://oob:s3cret@127.0.0.1:{port}/oobgate");
    let e = PgStore::open(&url, "node-a")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}/oobgate")), "{e}");
    assert!(e.contains("cannot open the store"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
}

/// A network console stays with the node that claimed it while that node's lease holds;
/// once the lease lapses exactly one of two claiming nodes takes it over; a clean stop
/// gives it up at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_has_one_owner_taken_over_once_its_lease_lapses() {
    use crate::store::{ConsoleClaim, NodeLeases};
    use std::time::Duration;
    let url = cluster().database();
    let a = PgStore::open(&url, "node-a").await.unwrap();
    let b = PgStore::open(&url, "node-b").await.unwrap();
    let c = PgStore::open(&url, "node-c").await.unwrap();
    for n in [&a, &b, &c] {
        n.renew(Duration::from_secs(60)).await.unwrap();
    }
    assert_eq!(
        a.claim_console("con1", "127.0.0.1:1").await.unwrap(),
        ConsoleClaim::Ours
    );
    assert_eq!(
        a.claim_console("con1", "127.0.0.1:1").await.unwrap(),
        ConsoleClaim::Ours
    );
    match b.claim_console("con1", "127.0.0.1:2").await.unwrap() {
        ConsoleClaim::Elsewhere(o) => {
            assert_eq!(
                (o.node.as_str(), o.address.as_str()),
                ("node-a", "127.0.0.1:1")
            )
        }
        other => panic!("node b got {other:?}"),
    }
    // Node a stops renewing: b and c claim at once, one of them takes it.
    a.renew(Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (by_b, by_c) = tokio::join!(
        b.claim_console("con1", "127.0.0.1:2"),
        c.claim_console("con1", "127.0.0.1:3")
    );
    let claims = [by_b.unwrap(), by_c.unwrap()];
    let took: Vec<_> = claims
        .iter()
        .filter(|c| matches!(c, ConsoleClaim::TakenOver { from } if from == "node-a"))
        .collect();
    assert_eq!(took.len(), 1, "{claims:?}");
    let owner = &a.console_owners().await.unwrap()[0];
    assert_ne!(owner.node, "node-a");
    assert!(
        claims
            .iter()
            .any(|c| matches!(c, ConsoleClaim::Elsewhere(o) if o.node == owner.node)),
        "{claims:?}"
    );
    // The new owner stops cleanly: the other takes the console at its next claim.
    let (new, other) = if owner.node == "node-b" {
        (&b, &c)
    } else {
        (&c, &b)
    };
    new.release_consoles().await.unwrap();
    assert_eq!(
        other.claim_console("con1", "x").await.unwrap(),
        ConsoleClaim::Ours
    );
}
