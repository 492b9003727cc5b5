//! The shared search index in PostgreSQL full text ([`crate::search::SharedIndex`]): a
//! line's words ([`words`]) as a `tsvector` of the `simple` configuration, a query's
//! phrase through `phraseto_tsquery` on the same words, so matching is the embedded
//! index's: those words in that order, case-insensitively, no syntax. Filters and the
//! caller's devices are in the statement; newest first by session start, then offset.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::Client;

use crate::search::shared::{hit, printable, words};
use crate::search::{phrase, Hit, IndexedLine, Query, SearchError, SessionInfo, Stream, MAX_LIMIT};

type Result<T> = std::result::Result<T, SearchError>;

fn shared(what: &'static str) -> impl Fn(tokio_postgres::Error) -> SearchError {
    move |e| SearchError::Shared {
        what,
        why: e.to_string(),
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn stream_code(s: Stream) -> i16 {
    match s {
        Stream::Shown => 0,
        Stream::Typed => 1,
    }
}

/// Adds `lines` of `session` (registered on first use, as indexed by `node`).
pub(super) async fn add_lines(
    c: &mut Client,
    node: &str,
    session: &SessionInfo,
    lines: &[IndexedLine],
) -> Result<()> {
    let tx = c
        .transaction()
        .await
        .map_err(shared("starting a transaction"))?;
    tx.execute(
        "INSERT INTO search_sessions (session, login, device, started_ms, node)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session) DO NOTHING",
        &[
            &session.id,
            &session.user,
            &session.device,
            &unix_ms(session.started_at),
            &node,
        ],
    )
    .await
    .map_err(shared("registering a session"))?;
    if !lines.is_empty() {
        let streams: Vec<i16> = lines.iter().map(|l| stream_code(l.stream)).collect();
        let offsets: Vec<i64> = lines
            .iter()
            .map(|l| i64::try_from(l.offset_ms).unwrap_or(i64::MAX))
            .collect();
        let texts: Vec<String> = lines.iter().map(|l| printable(&l.text)).collect();
        let words: Vec<String> = lines.iter().map(|l| words(&l.text)).collect();
        tx.execute(
            "INSERT INTO search_lines (session, stream, offset_ms, text, words)
             SELECT $1, s, o, t, to_tsvector('simple', w)
             FROM unnest($2::smallint[], $3::bigint[], $4::text[], $5::text[]) AS x(s, o, t, w)",
            &[&session.id, &streams, &offsets, &texts, &words],
        )
        .await
        .map_err(shared("adding lines"))?;
    }
    tx.commit().await.map_err(shared("committing lines"))
}

/// Removes a session and its lines; whether it was indexed.
pub(super) async fn delete_session(c: &Client, session: &str) -> Result<bool> {
    let n = c
        .execute(
            "DELETE FROM search_sessions WHERE session = $1",
            &[&session],
        )
        .await
        .map_err(shared("removing a session"))?;
    Ok(n > 0)
}

/// Every device the index has sessions of.
pub(super) async fn devices(c: &Client) -> Result<Vec<String>> {
    let rows = c
        .query("SELECT DISTINCT device FROM search_sessions", &[])
        .await
        .map_err(shared("listing indexed devices"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The newest hits of `query` on sessions of `devices`.
pub(super) async fn query(c: &Client, query: &Query, devices: &[String]) -> Result<Vec<Hit>> {
    if query.limit == 0 || query.limit > MAX_LIMIT {
        return Err(SearchError::BadLimit(query.limit));
    }
    phrase(&query.text)?;
    let wanted = words(&query.text);
    let since = query.since.map(unix_ms);
    let stream = query.stream.map(stream_code);
    let limit = query.limit as i64;
    let rows = c
        .query(
            "SELECT s.session, s.login, s.device, s.started_ms, l.stream, l.offset_ms, l.text
             FROM search_lines l JOIN search_sessions s ON s.session = l.session
             WHERE l.words @@ phraseto_tsquery('simple', $1)
               AND s.device = ANY($2)
               AND ($3::text IS NULL OR s.login = $3)
               AND ($4::text IS NULL OR s.device = $4)
               AND ($5::bigint IS NULL OR s.started_ms + l.offset_ms >= $5)
               AND ($6::smallint IS NULL OR l.stream = $6)
             ORDER BY s.started_ms DESC, l.offset_ms DESC, l.id DESC
             LIMIT $7",
            &[
                &wanted,
                &devices,
                &query.user,
                &query.device,
                &since,
                &stream,
                &limit,
            ],
        )
        .await
        .map_err(shared("searching"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let started: i64 = r.get(3);
            let session = SessionInfo {
                id: r.get(0),
                user: r.get(1),
                device: r.get(2),
                started_at: UNIX_EPOCH + Duration::from_millis(started.max(0) as u64),
            };
            let stream = if r.get::<_, i16>(4) == 1 {
                Stream::Typed
            } else {
                Stream::Shown
            };
            let offset: i64 = r.get(5);
            hit(session, stream, offset.max(0) as u64, r.get(6), query)
        })
        .collect())
}
