//! The shared search index on a real PostgreSQL: phrases in order and case-insensitive,
//! operators taken as words, filters, the caller's devices, newest first, snippets,
//! deletion, and lines one node added found through another node's handle.

use std::time::Duration;

use super::testing::cluster;
use super::PgStore;
use crate::search::test_data::{at, line, session};
use crate::search::{Query, SearchError, SharedIndex, Stream};

fn all() -> Vec<String> {
    ["sw1", "sw2", "fw1"].map(String::from).to_vec()
}

async fn texts(index: &PgStore, q: &Query, devices: &[String]) -> Vec<String> {
    let hits = index.query(q, devices).await.unwrap();
    hits.into_iter().map(|h| h.line).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_index_finds_phrases_by_every_node_with_filters_and_policy() {
    let url = cluster().database();
    let a = PgStore::open(&url, "node-a").await.unwrap();
    let b = PgStore::open(&url, "node-b").await.unwrap();
    let old = session("s-old", "alice", "sw1", 10);
    let new = session("s-new", "bob", "sw2", 20);
    a.add_lines(
        &old,
        &[
            line(1_000, Stream::Typed, "reload in 5"),
            line(2_000, Stream::Shown, "Proceed with reload in 5? [confirm]"),
            line(2_500, Stream::Shown, "Reload scheduled in 5 minutes"),
            line(3_000, Stream::Shown, "in 5 reload (words out of order)"),
        ],
    )
    .await
    .unwrap();
    b.add_lines(
        &new,
        &[
            line(500, Stream::Shown, "%BGP-5-ADJCHANGE: neighbor 10.0.0.1 Up"),
            line(900, Stream::Typed, "RELOAD IN 5"),
            line(950, Stream::Shown, "nul\0byte \"OR\" NEAR(x) -y"),
        ],
    )
    .await
    .unwrap();

    // Node b finds node a's lines and its own, newest session first, then latest moment.
    let q = Query::new("reload in 5");
    assert_eq!(
        texts(&b, &q, &all()).await,
        [
            "RELOAD IN 5",
            "Proceed with reload in 5? [confirm]",
            "reload in 5"
        ]
    );
    let hits = b.query(&q, &all()).await.unwrap();
    assert_eq!(hits[0].session, new);
    assert_eq!(hits[0].stream, Stream::Typed);
    assert_eq!(hits[0].offset_ms, 900);
    assert_eq!(hits[1].snippet.matches, vec![(13..24)]);
    // Punctuation and operators are separators and words, never syntax.
    assert_eq!(
        texts(&a, &Query::new("bgp-5-adjchange"), &all()).await,
        ["%BGP-5-ADJCHANGE: neighbor 10.0.0.1 Up"]
    );
    assert_eq!(
        texts(&a, &Query::new("\"or\" near(x"), &all()).await,
        ["nul byte \"OR\" NEAR(x) -y"]
    );
    assert!(matches!(
        a.query(&Query::new("*:-"), &all()).await,
        Err(SearchError::EmptyQuery(_))
    ));
    // Filters: user, device, stream, since; and only the devices the caller may see.
    let mut q = Query::new("reload in 5");
    q.user = Some("alice".into());
    assert_eq!(
        texts(&a, &q, &all()).await,
        ["Proceed with reload in 5? [confirm]", "reload in 5"]
    );
    q.stream = Some(Stream::Typed);
    assert_eq!(texts(&a, &q, &all()).await, ["reload in 5"]);
    let mut q = Query::new("reload in 5");
    q.since = Some(at(10) + Duration::from_millis(1_500));
    assert_eq!(
        texts(&a, &q, &all()).await,
        ["RELOAD IN 5", "Proceed with reload in 5? [confirm]"]
    );
    let q = Query::new("reload in 5");
    assert_eq!(
        texts(&a, &q, &["sw1".to_string()]).await,
        ["Proceed with reload in 5? [confirm]", "reload in 5"]
    );
    assert!(texts(&a, &q, &[]).await.is_empty());
    let mut q1 = Query::new("reload in 5");
    q1.limit = 1;
    assert_eq!(texts(&a, &q1, &all()).await, ["RELOAD IN 5"]);
    q1.limit = 0;
    assert!(matches!(
        a.query(&q1, &all()).await,
        Err(SearchError::BadLimit(0))
    ));

    let mut devices = b.devices().await.unwrap();
    devices.sort();
    assert_eq!(devices, ["sw1", "sw2"]);
    assert!(a.delete_session("s-new").await.unwrap());
    assert!(!a.delete_session("s-new").await.unwrap());
    assert_eq!(texts(&b, &Query::new("reload in 5"), &all()).await.len(), 2);
}
