//! Schema migrations in PostgreSQL, tracked in `schema_version`. Nodes starting together
//! migrate one at a time (an advisory lock held by the migrating transaction). Append new
//! migrations at the end; never edit one that has shipped.

use deadpool_postgres::Client;

use crate::audit::GENESIS;
use crate::store::Result;

/// The advisory lock key of migrations (any constant, the same on every node).
const MIGRATION_LOCK: i64 = 0x006f_6f62_6761_7465;

/// The migrations in order; the same tables as the embedded store, plus the node columns.
fn migrations() -> Vec<String> {
    vec![
        // 1: the audit chain, sessions, key-value, access requests and approvals.
        format!(
            "CREATE TABLE events (
                id BIGINT PRIMARY KEY,
                ts TEXT NOT NULL,
                kind TEXT NOT NULL,
                \"user\" TEXT,
                source TEXT,
                device TEXT,
                action TEXT,
                outcome TEXT,
                detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                node TEXT
            );
            CREATE INDEX events_kind ON events(kind);
            CREATE INDEX events_user ON events(\"user\");
            CREATE INDEX events_device ON events(device);
            CREATE TABLE chain_head (
                one INT PRIMARY KEY CHECK (one = 1),
                id BIGINT NOT NULL,
                hash TEXT NOT NULL
            );
            INSERT INTO chain_head (one, id, hash) VALUES (1, 0, '{GENESIS}');
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                \"user\" TEXT NOT NULL,
                roles TEXT NOT NULL,
                device TEXT NOT NULL,
                kind TEXT NOT NULL,
                source TEXT NOT NULL,
                started TEXT NOT NULL,
                ended TEXT,
                exit_status BIGINT,
                bytes_in BIGINT NOT NULL DEFAULT 0,
                bytes_out BIGINT NOT NULL DEFAULT 0,
                recording TEXT,
                recording_sha256 TEXT,
                end_reason TEXT,
                node TEXT NOT NULL
            );
            CREATE INDEX sessions_user ON sessions(\"user\");
            CREATE INDEX sessions_device ON sessions(device);
            CREATE INDEX sessions_started ON sessions(started);
            CREATE INDEX sessions_open ON sessions(node) WHERE ended IS NULL;
            CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE access_requests (
                id BIGSERIAL PRIMARY KEY,
                requester TEXT NOT NULL,
                roles TEXT NOT NULL,
                target TEXT NOT NULL,
                actions TEXT NOT NULL,
                duration_secs BIGINT NOT NULL,
                reason TEXT NOT NULL,
                ticket TEXT,
                state TEXT NOT NULL,
                created BIGINT NOT NULL,
                expires BIGINT NOT NULL,
                approvals_needed BIGINT NOT NULL,
                granted_at BIGINT,
                grant_end BIGINT,
                closed_by TEXT,
                close_note TEXT,
                breakglass BOOLEAN NOT NULL DEFAULT FALSE
            );
            CREATE INDEX access_requests_state ON access_requests(state);
            CREATE INDEX access_requests_requester ON access_requests(requester);
            CREATE TABLE access_approvals (
                seq BIGSERIAL,
                request_id BIGINT NOT NULL REFERENCES access_requests(id),
                approver TEXT NOT NULL,
                at BIGINT NOT NULL,
                PRIMARY KEY (request_id, approver)
            );"
        ),
        // 2: node leases.
        "CREATE TABLE nodes (
            name TEXT PRIMARY KEY,
            lease_until TIMESTAMPTZ NOT NULL,
            renewed TIMESTAMPTZ NOT NULL
        );"
        .to_string(),
        // 3: certificates revoked by some node's revocation list.
        "CREATE TABLE revocations (
            kind TEXT NOT NULL CHECK (kind IN ('serial', 'key-id')),
            value TEXT NOT NULL,
            node TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (kind, value)
        );"
        .to_string(),
        // 4: one-time web links and web logins, seen by every node.
        "CREATE TABLE tokens (
            kind TEXT NOT NULL,
            key BYTEA NOT NULL,
            value TEXT NOT NULL,
            until_ms BIGINT NOT NULL,
            PRIMARY KEY (kind, key)
        );"
        .to_string(),
        // 5: the shared search index: sessions, and their lines with the words as a
        // tsvector ('simple': lowercased, no stemming, no stop words) under a GIN index.
        "CREATE TABLE search_sessions (
            session TEXT PRIMARY KEY,
            login TEXT NOT NULL,
            device TEXT NOT NULL,
            started_ms BIGINT NOT NULL,
            node TEXT NOT NULL
        );
        CREATE INDEX search_sessions_device ON search_sessions(device);
        CREATE TABLE search_lines (
            id BIGSERIAL PRIMARY KEY,
            session TEXT NOT NULL REFERENCES search_sessions(session) ON DELETE CASCADE,
            stream SMALLINT NOT NULL,
            offset_ms BIGINT NOT NULL,
            text TEXT NOT NULL,
            words TSVECTOR NOT NULL
        );
        CREATE INDEX search_lines_words ON search_lines USING GIN (words);
        CREATE INDEX search_lines_session ON search_lines(session);"
            .to_string(),
        // 6: the keys every node of the set must hold (the CA keys), as the first node
        // to start shared them.
        "CREATE TABLE node_keys (
            name TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            node TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL DEFAULT now()
        );"
        .to_string(),
        // 7: which node carries each network console.
        "CREATE TABLE console_owners (
            console TEXT PRIMARY KEY,
            node TEXT NOT NULL,
            address TEXT NOT NULL,
            since TIMESTAMPTZ NOT NULL DEFAULT now()
        );"
        .to_string(),
    ]
}

/// Applies the migrations not yet applied, in one transaction.
pub(super) async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let all = migrations();
    for sql in all.iter().skip(current.max(0) as usize) {
        tx.batch_execute(sql).await?;
    }
    let latest = all.len() as i64;
    if latest > current {
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&latest],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
