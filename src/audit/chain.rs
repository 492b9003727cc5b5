//! The hash chain: appending an event and verifying the whole log.
//!
//! `hash = SHA-256(id, ts, kind, user, source, device, action, outcome, detail, prev_hash)`
//! where every field is length-prefixed (and absent fields are tagged), so no two different
//! rows encode alike. The first event's `prev_hash` is 64 zeros.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::event::{select, EventRow};
use super::{now_rfc3339, Event, Result};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The outcome of [`super::AuditStore::verify`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Events checked.
    pub rows_checked: u64,
    /// The first problem found, if any.
    pub first_problem: Option<ChainProblem>,
}

/// Where the chain breaks and why.
#[derive(Debug, Clone)]
pub struct ChainProblem {
    /// The event id at which the problem shows.
    pub id: i64,
    /// What is wrong.
    pub reason: String,
}

fn field(h: &mut Sha256, v: Option<&str>) {
    match v {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn compute(
    id: i64,
    ts: &str,
    kind: &str,
    user: Option<&str>,
    source: Option<&str>,
    device: Option<&str>,
    action: Option<&str>,
    outcome: Option<&str>,
    detail: &str,
    prev: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(id.to_be_bytes());
    for v in [
        Some(ts),
        Some(kind),
        user,
        source,
        device,
        action,
        outcome,
        Some(detail),
        Some(prev),
    ] {
        field(&mut h, v);
    }
    hex::encode(h.finalize())
}

fn row_hash(r: &EventRow, detail: &str) -> String {
    compute(
        r.id,
        &r.ts,
        &r.kind,
        r.user.as_deref(),
        r.source.as_deref(),
        r.device.as_deref(),
        r.action.as_deref(),
        r.outcome.as_deref(),
        detail,
        &r.prev_hash,
    )
}

/// Appends one event in an immediate transaction (safe across processes).
pub fn append(conn: &mut Connection, ev: Event) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let head: Option<i64> = tx
        .query_row("SELECT id FROM chain_head WHERE one = 1", [], |r| r.get(0))
        .optional()?;
    let (last_id, prev) = last.unwrap_or((0, GENESIS.to_string()));
    // Never reuse ids of events cut off the end: verify must keep seeing the gap.
    let id = last_id.max(head.unwrap_or(0)) + 1;
    let ts = now_rfc3339();
    let detail = serde_json::to_string(&ev.detail).unwrap_or_else(|_| "{}".into());
    let hash = compute(
        id,
        &ts,
        &ev.kind,
        ev.user.as_deref(),
        ev.source.as_deref(),
        ev.device.as_deref(),
        ev.action.as_deref(),
        ev.outcome.as_deref(),
        &detail,
        &prev,
    );
    tx.execute(
        "INSERT INTO events (id, ts, kind, user, source, device, action, outcome, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            id, ts, ev.kind, ev.user, ev.source, ev.device, ev.action, ev.outcome, detail, prev, hash
        ],
    )?;
    tx.execute(
        "INSERT INTO chain_head (one, id, hash) VALUES (1, ?1, ?2)
         ON CONFLICT(one) DO UPDATE SET id = excluded.id, hash = excluded.hash",
        rusqlite::params![id, hash],
    )?;
    tx.commit()?;
    Ok(id)
}

/// Walks the chain from the first event, reporting the first inconsistency.
pub fn verify(conn: &Connection) -> Result<VerifyReport> {
    let mut checked = 0u64;
    let mut expected_prev = GENESIS.to_string();
    let mut expected_id = 1i64;
    let mut last = 0i64;
    let problem = |id: i64, reason: String, checked: u64| VerifyReport {
        rows_checked: checked,
        first_problem: Some(ChainProblem { id, reason }),
    };
    loop {
        let batch = select(
            conn,
            "WHERE id > ?1 ORDER BY id LIMIT 1000",
            rusqlite::params![last],
        )?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            if r.id != expected_id {
                return Ok(problem(
                    expected_id,
                    format!(
                        "event #{expected_id} is missing (deleted?); next is #{}",
                        r.id
                    ),
                    checked,
                ));
            }
            if r.prev_hash != expected_prev {
                return Ok(problem(
                    r.id,
                    "link to the previous event is broken (event inserted, deleted or reordered)"
                        .into(),
                    checked,
                ));
            }
            let detail: String =
                conn.query_row("SELECT detail FROM events WHERE id = ?1", [r.id], |x| {
                    x.get(0)
                })?;
            if row_hash(r, &detail) != r.hash {
                return Ok(problem(
                    r.id,
                    "contents changed after it was recorded (hash mismatch)".into(),
                    checked,
                ));
            }
            checked += 1;
            expected_prev = r.hash.clone();
            expected_id += 1;
            last = r.id;
        }
    }
    let head: Option<(i64, String)> = conn
        .query_row("SELECT id, hash FROM chain_head WHERE one = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match head {
        Some((id, _)) if id > last => Ok(problem(
            last + 1,
            format!("events #{} to #{id} were cut off the end", last + 1),
            checked,
        )),
        Some((id, hash)) if id == last && hash != expected_prev => Ok(problem(
            id,
            "head record does not match the last event".into(),
            checked,
        )),
        None if last > 0 => Ok(problem(last, "head record is missing".into(), checked)),
        _ => Ok(VerifyReport {
            rows_checked: checked,
            first_problem: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::AuditStore;
    use super::*;

    fn store_with(n: usize) -> AuditStore {
        let s = AuditStore::open_in_memory().unwrap();
        for i in 0..n {
            s.record(
                Event::new("test")
                    .user(format!("u{i}"))
                    .detail(serde_json::json!({ "i": i })),
            )
            .unwrap();
        }
        s
    }

    fn exec(s: &AuditStore, sql: &str) {
        s.lock().execute_batch(sql).unwrap();
    }

    #[test]
    fn intact_chain_verifies() {
        let s = store_with(5);
        let r = s.verify().unwrap();
        assert_eq!(r.rows_checked, 5);
        assert!(r.first_problem.is_none(), "{:?}", r.first_problem);
    }

    #[test]
    fn edited_row_is_named() {
        let s = store_with(5);
        exec(&s, "UPDATE events SET detail = '{\"i\":99}' WHERE id = 3");
        let p = s.verify().unwrap().first_problem.unwrap();
        assert_eq!(p.id, 3);
        assert!(p.reason.contains("hash mismatch"));
    }

    #[test]
    fn deleted_middle_and_last_rows_are_detected() {
        let s = store_with(5);
        exec(&s, "DELETE FROM events WHERE id = 2");
        assert_eq!(s.verify().unwrap().first_problem.unwrap().id, 2);
        let s = store_with(5);
        exec(&s, "DELETE FROM events WHERE id = 5");
        let p = s.verify().unwrap().first_problem.unwrap();
        assert!(p.reason.contains("cut off"), "{}", p.reason);
        // Appending after the cut does not hide it.
        s.record(Event::new("later")).unwrap();
        assert!(s.verify().unwrap().first_problem.is_some());
    }

    #[test]
    fn rehashed_row_still_breaks_the_link() {
        let s = store_with(4);
        // An attacker who recomputes one row's hash breaks the next row's link.
        exec(&s, "UPDATE events SET user = 'mallory' WHERE id = 2");
        let rows = s.tail(10).unwrap();
        let fixed = row_hash(&rows[1], "{\"i\":1}");
        exec(
            &s,
            &format!("UPDATE events SET hash = '{fixed}' WHERE id = 2"),
        );
        assert_eq!(s.verify().unwrap().first_problem.unwrap().id, 3);
    }

    #[test]
    fn concurrent_writers_keep_one_chain() {
        let s = AuditStore::open_in_memory().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        s.record(Event::new("c").detail(serde_json::json!([t, i])))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = s.verify().unwrap();
        assert_eq!(r.rows_checked, 400);
        assert!(r.first_problem.is_none());
    }
}
