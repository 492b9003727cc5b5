//! Schema migrations, tracked by `PRAGMA user_version`. Append new migrations at the end;
//! never edit one that has shipped.

use rusqlite::Connection;

use crate::store::Result;

const MIGRATIONS: &[&str] = &[
    // 1: events (hash chain), chain head, sessions, key-value.
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        user TEXT,
        source TEXT,
        device TEXT,
        action TEXT,
        outcome TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX events_kind ON events(kind);
    CREATE INDEX events_user ON events(user);
    CREATE INDEX events_device ON events(device);
    CREATE TABLE chain_head (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        id INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        roles TEXT NOT NULL,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        started TEXT NOT NULL,
        ended TEXT,
        exit_status INTEGER,
        bytes_in INTEGER NOT NULL DEFAULT 0,
        bytes_out INTEGER NOT NULL DEFAULT 0,
        recording TEXT,
        recording_sha256 TEXT,
        end_reason TEXT
    );
    CREATE INDEX sessions_user ON sessions(user);
    CREATE INDEX sessions_device ON sessions(device);
    CREATE INDEX sessions_started ON sessions(started);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 2: time-bound access requests, their approvals, and the grants they become.
    "CREATE TABLE access_requests (
        id INTEGER PRIMARY KEY,
        requester TEXT NOT NULL,
        roles TEXT NOT NULL,
        target TEXT NOT NULL,
        actions TEXT NOT NULL,
        duration_secs INTEGER NOT NULL,
        reason TEXT NOT NULL,
        ticket TEXT,
        state TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        approvals_needed INTEGER NOT NULL,
        granted_at INTEGER,
        grant_end INTEGER,
        closed_by TEXT,
        close_note TEXT,
        breakglass INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX access_requests_state ON access_requests(state);
    CREATE INDEX access_requests_requester ON access_requests(requester);
    CREATE TABLE access_approvals (
        request_id INTEGER NOT NULL REFERENCES access_requests(id),
        approver TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (request_id, approver)
    );",
];

/// Applies the migrations not yet applied, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > i as i64 {
            // Another process migrated meanwhile.
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
