//! The store suite on sqlite, and the tampering only sqlite's raw rows can show.

use std::sync::Arc;

use super::SqliteStore;
use crate::audit::Event;
use crate::store::{AuditLog, Stores};

async fn fresh() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    Stores::with_sqlite(store, dir.keep().join("recordings"))
}

crate::store_suite!(fresh());

async fn store_with(n: usize) -> SqliteStore {
    let s = SqliteStore::open_in_memory().unwrap();
    for i in 0..n {
        s.append(
            Event::new("test")
                .user(format!("u{i}"))
                .detail(serde_json::json!({ "i": i })),
        )
        .await
        .unwrap();
    }
    s
}

async fn exec(s: &SqliteStore, sql: &'static str) {
    s.with_connection(move |c| c.execute_batch(sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_edited_row_is_named() {
    let s = store_with(5).await;
    exec(&s, "UPDATE events SET detail = '{\"i\":99}' WHERE id = 3").await;
    let p = s.verify().await.unwrap().first_problem.unwrap();
    assert_eq!(p.id, 3);
    assert!(p.reason.contains("hash mismatch"), "{}", p.reason);
}

#[tokio::test]
async fn deleted_middle_and_last_rows_are_detected() {
    let s = store_with(5).await;
    exec(&s, "DELETE FROM events WHERE id = 2").await;
    let p = s.verify().await.unwrap().first_problem.unwrap();
    assert_eq!(p.id, 2);
    assert!(p.reason.contains("#2 is missing"), "{}", p.reason);
    let s = store_with(5).await;
    exec(&s, "DELETE FROM events WHERE id = 5").await;
    let p = s.verify().await.unwrap().first_problem.unwrap();
    assert!(p.reason.contains("cut off"), "{}", p.reason);
    // Appending after the cut does not hide it.
    s.append(Event::new("later")).await.unwrap();
    assert!(s.verify().await.unwrap().first_problem.is_some());
}

#[tokio::test]
async fn an_inserted_row_breaks_the_next_link() {
    let s = store_with(4).await;
    // Shift ids 3.. up and put a forged event with a valid-looking hash at 3.
    exec(
        &s,
        "UPDATE events SET id = id + 10 WHERE id >= 3;
         UPDATE events SET id = id - 9 WHERE id >= 13;
         INSERT INTO events (id, ts, kind, detail, prev_hash, hash)
            SELECT 3, ts, 'forged', '{}', hash, hash FROM events WHERE id = 2;",
    )
    .await;
    let p = s.verify().await.unwrap().first_problem.unwrap();
    assert_eq!(p.id, 3, "{}", p.reason);
}

#[tokio::test]
async fn a_rehashed_row_still_breaks_the_link_after_it() {
    let s = store_with(4).await;
    exec(&s, "UPDATE events SET user = 'mallory' WHERE id = 2").await;
    let rows = s.tail(10).await.unwrap();
    let fixed = crate::audit::event_hash(&rows[1], "{\"i\":1}");
    s.with_connection(move |c| c.execute("UPDATE events SET hash = ?1 WHERE id = 2", [fixed]))
        .await
        .unwrap();
    assert_eq!(s.verify().await.unwrap().first_problem.unwrap().id, 3);
}

#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oobgate.db");
    let s = SqliteStore::open(&db).unwrap();
    s.append(Event::new("x")).await.unwrap();
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
