//! Short-lived tokens in PostgreSQL: one row per token, its end in Unix milliseconds as
//! the issuing node's clock put it; lapsed rows are deleted when the next token is kept.

use std::time::SystemTime;

use deadpool_postgres::Client;

use crate::store::{Result, TokenKey};

fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) async fn put(
    c: &Client,
    kind: &str,
    key: TokenKey,
    value: &str,
    until: SystemTime,
) -> Result<()> {
    let now = millis(SystemTime::now());
    c.execute("DELETE FROM tokens WHERE until_ms <= $1", &[&now])
        .await?;
    c.execute(
        "INSERT INTO tokens (kind, key, value, until_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value,
             until_ms = excluded.until_ms",
        &[&kind, &key.as_slice(), &value, &millis(until)],
    )
    .await?;
    Ok(())
}

pub(super) async fn take(c: &Client, kind: &str, key: TokenKey) -> Result<Option<String>> {
    let row = c
        .query_opt(
            "DELETE FROM tokens WHERE kind = $1 AND key = $2 RETURNING value, until_ms",
            &[&kind, &key.as_slice()],
        )
        .await?;
    let now = millis(SystemTime::now());
    Ok(row.filter(|r| r.get::<_, i64>(1) > now).map(|r| r.get(0)))
}

pub(super) async fn get(c: &Client, kind: &str, key: TokenKey) -> Result<Option<String>> {
    let row = c
        .query_opt(
            "SELECT value FROM tokens WHERE kind = $1 AND key = $2 AND until_ms > $3",
            &[&kind, &key.as_slice(), &millis(SystemTime::now())],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub(super) async fn remove(c: &Client, kind: &str, key: TokenKey) -> Result<()> {
    c.execute(
        "DELETE FROM tokens WHERE kind = $1 AND key = $2",
        &[&kind, &key.as_slice()],
    )
    .await?;
    Ok(())
}
