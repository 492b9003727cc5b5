//! The hash chain: each event's hash covers its fields and its predecessor's hash.
//!
//! `hash = SHA-256(id, ts, kind, user, source, device, action, outcome, detail, prev_hash)`
//! where every field is length-prefixed (and absent fields are tagged), so no two different
//! rows encode alike. An event that names the node that wrote it (several nodes on one
//! chain) has the node appended after `prev_hash`; events without one hash as before. The first event's `prev_hash` is 64 zeros. [`ChainVerifier`] walks
//! stored rows in id order and names the first one that breaks the chain.

use sha2::{Digest, Sha256};

use super::EventRow;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The outcome of verifying a whole chain.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Events checked.
    pub rows_checked: u64,
    /// The first problem found, if any.
    pub first_problem: Option<ChainProblem>,
}

/// Where the chain breaks and why.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The hash of event `id` with these fields, `detail` being the stored JSON text.
pub fn event_hash(row: &EventRow, detail: &str) -> String {
    let mut h = Sha256::new();
    h.update(row.id.to_be_bytes());
    for v in [
        Some(row.ts.as_str()),
        Some(row.kind.as_str()),
        row.user.as_deref(),
        row.source.as_deref(),
        row.device.as_deref(),
        row.action.as_deref(),
        row.outcome.as_deref(),
        Some(detail),
        Some(row.prev_hash.as_str()),
    ] {
        field(&mut h, v);
    }
    if let Some(node) = &row.node {
        field(&mut h, Some(node));
    }
    hex::encode(h.finalize())
}

/// Checks rows fed in id order; the first problem sticks.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_id: i64,
    checked: u64,
    problem: Option<ChainProblem>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_prev: GENESIS.to_string(),
            expected_id: 1,
            checked: 0,
            problem: None,
        }
    }
}

impl ChainVerifier {
    /// Checks the next stored row (`detail` is its JSON text as stored); `false` once a
    /// problem was found, so the caller can stop reading.
    pub fn feed(&mut self, row: &EventRow, detail: &str) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let problem = if row.id != self.expected_id {
            Some((
                self.expected_id,
                format!(
                    "event #{} is missing (deleted?); next is #{}",
                    self.expected_id, row.id
                ),
            ))
        } else if row.prev_hash != self.expected_prev {
            Some((
                row.id,
                "link to the previous event is broken (event inserted, deleted or reordered)"
                    .to_string(),
            ))
        } else if event_hash(row, detail) != row.hash {
            Some((
                row.id,
                "contents changed after it was recorded (hash mismatch)".to_string(),
            ))
        } else {
            None
        };
        if let Some((id, reason)) = problem {
            self.problem = Some(ChainProblem { id, reason });
            return false;
        }
        self.checked += 1;
        self.expected_prev = row.hash.clone();
        self.expected_id += 1;
        true
    }

    /// Ends the walk against the stored head record (`id`, `hash` of the last event
    /// appended), which catches events cut off the end.
    pub fn finish(mut self, head: Option<(i64, String)>) -> VerifyReport {
        let last = self.expected_id - 1;
        if self.problem.is_none() {
            self.problem = match head {
                Some((id, _)) if id > last => Some(ChainProblem {
                    id: last + 1,
                    reason: format!("events #{} to #{id} were cut off the end", last + 1),
                }),
                Some((id, hash)) if id == last && hash != self.expected_prev => {
                    Some(ChainProblem {
                        id,
                        reason: "head record does not match the last event".into(),
                    })
                }
                None if last > 0 => Some(ChainProblem {
                    id: last,
                    reason: "head record is missing".into(),
                }),
                _ => None,
            };
        }
        VerifyReport {
            rows_checked: self.checked,
            first_problem: self.problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, prev: &str, user: &str) -> EventRow {
        let mut r = EventRow {
            id,
            ts: "2026-11-23T10:00:00.000Z".into(),
            kind: "test".into(),
            user: Some(user.into()),
            source: None,
            device: None,
            action: None,
            outcome: None,
            detail: serde_json::json!({}),
            prev_hash: prev.into(),
            hash: String::new(),
            node: None,
        };
        r.hash = event_hash(&r, "{}");
        r
    }

    fn chain(n: i64) -> Vec<EventRow> {
        let mut rows: Vec<EventRow> = Vec::new();
        for id in 1..=n {
            let prev = rows
                .last()
                .map(|r| r.hash.clone())
                .unwrap_or(GENESIS.into());
            rows.push(row(id, &prev, &format!("u{id}")));
        }
        rows
    }

    fn verify(rows: &[EventRow], head: Option<(i64, String)>) -> VerifyReport {
        let mut v = ChainVerifier::default();
        for r in rows {
            if !v.feed(r, "{}") {
                break;
            }
        }
        v.finish(head)
    }

    #[test]
    fn a_field_absent_and_a_field_empty_hash_differently() {
        let mut a = row(1, GENESIS, "x");
        a.user = None;
        let mut b = a.clone();
        b.user = Some(String::new());
        assert_ne!(event_hash(&a, "{}"), event_hash(&b, "{}"));
    }

    #[test]
    fn each_kind_of_break_names_its_event() {
        let rows = chain(4);
        let head = Some((4, rows[3].hash.clone()));
        assert!(verify(&rows, head.clone()).first_problem.is_none());
        let mut edited = rows.clone();
        edited[1].user = Some("mallory".into());
        assert_eq!(verify(&edited, head.clone()).first_problem.unwrap().id, 2);
        let missing: Vec<_> = rows.iter().filter(|r| r.id != 2).cloned().collect();
        let p = verify(&missing, head.clone()).first_problem.unwrap();
        assert_eq!(p.id, 2);
        assert!(p.reason.contains("missing"), "{}", p.reason);
        let p = verify(&rows[..3], head).first_problem.unwrap();
        assert!(p.reason.contains("cut off"), "{}", p.reason);
        assert!(verify(&rows, None)
            .first_problem
            .unwrap()
            .reason
            .contains("head"));
    }
}
