//! Access requests in PostgreSQL. Every state change locks the request's row
//! (`SELECT ... FOR UPDATE`) in its transaction, so approve / revoke / cancel calls from
//! any node are serialised and never both succeed on a stale state. A revocation is
//! announced to every node when it commits.

use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::store::access::{from_unix, unix};
use crate::store::{AccessRequest, AccessTarget, NewRequest, Result, State, StoreError};
use crate::store::{Signal, Transition};

const COLUMNS: &str =
    "id, requester, roles, target, actions, duration_secs, reason, ticket, state, \
     created, expires, approvals_needed, granted_at, grant_end, closed_by, close_note, breakglass";

fn from_row(r: &Row) -> AccessRequest {
    let roles: String = r.get(2);
    let target: String = r.get(3);
    let actions: String = r.get(4);
    AccessRequest {
        id: r.get(0),
        requester: r.get(1),
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        // Stored targets were validated on the way in; a damaged one matches nothing.
        target: AccessTarget::parse_unchecked(&target)
            .unwrap_or(AccessTarget::Device(format!("(invalid target {target:?})"))),
        actions: actions.split(',').filter_map(|a| a.parse().ok()).collect(),
        duration: Duration::from_secs(r.get::<_, i64>(5).max(0) as u64),
        reason: r.get(6),
        ticket: r.get(7),
        state: State::parse(r.get(8)),
        created: from_unix(r.get(9)),
        expires: from_unix(r.get(10)),
        approvals_needed: r.get::<_, i64>(11).max(0) as u32,
        approvers: Vec::new(),
        granted_at: r.get::<_, Option<i64>>(12).map(from_unix),
        grant_end: r.get::<_, Option<i64>>(13).map(from_unix),
        closed_by: r.get(14),
        close_note: r.get(15),
        breakglass: r.get(16),
    }
}

async fn with_approvers(c: &impl GenericClient, mut req: AccessRequest) -> Result<AccessRequest> {
    let rows = c
        .query(
            "SELECT approver FROM access_approvals WHERE request_id = $1 ORDER BY at, seq",
            &[&req.id],
        )
        .await?;
    req.approvers = rows.iter().map(|r| r.get(0)).collect();
    Ok(req)
}

async fn get_locked(c: &impl GenericClient, id: i64, lock: bool) -> Result<AccessRequest> {
    let sql = format!(
        "SELECT {COLUMNS} FROM access_requests WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let r = c.query_opt(&sql, &[&id]).await?;
    let req = from_row(&r.ok_or(StoreError::NotFound(id))?);
    with_approvers(c, req).await
}

pub(super) async fn get(c: &impl GenericClient, id: i64) -> Result<AccessRequest> {
    get_locked(c, id, false).await
}

/// Stores a new request; a break-glass one is approved at once. Returns it.
pub(super) async fn insert(
    c: &impl GenericClient,
    new: &NewRequest,
    now: SystemTime,
) -> Result<AccessRequest> {
    let (state, granted, end) = if new.breakglass {
        (
            State::Approved,
            Some(unix(now)),
            Some(unix(now + new.duration)),
        )
    } else {
        (State::Pending, None, None)
    };
    let actions: Vec<&str> = new.actions.iter().map(|a| a.as_str()).collect();
    let r = c
        .query_one(
            "INSERT INTO access_requests (requester, roles, target, actions, duration_secs, reason,
                ticket, state, created, expires, approvals_needed, granted_at, grant_end, breakglass)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            &[
                &new.requester,
                &new.roles.join(","),
                &new.target.to_string(),
                &actions.join(","),
                &(new.duration.as_secs() as i64),
                &new.reason,
                &new.ticket,
                &state.as_str(),
                &unix(now),
                &unix(new.expires),
                &(new.approvals_needed as i64),
                &granted,
                &end,
                &new.breakglass,
            ],
        )
        .await?;
    get(c, r.get(0)).await
}

/// Requests, newest first: of `requester` if given, in `state` if given, at most `limit`.
pub(super) async fn list(
    c: &impl GenericClient,
    requester: Option<&str>,
    state: Option<State>,
    limit: usize,
) -> Result<Vec<AccessRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM access_requests
         WHERE ($1::TEXT IS NULL OR requester = $1) AND ($2::TEXT IS NULL OR state = $2)
         ORDER BY id DESC LIMIT $3"
    );
    let rows = c
        .query(
            &sql,
            &[&requester, &state.map(State::as_str), &(limit as i64)],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(with_approvers(c, from_row(r)).await?);
    }
    Ok(out)
}

/// Grants of `user` in force at `now`.
pub(super) async fn active_grants(
    c: &impl GenericClient,
    user: &str,
    now: SystemTime,
) -> Result<Vec<AccessRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM access_requests
         WHERE requester = $1 AND state = 'approved' AND grant_end > $2 ORDER BY id"
    );
    let rows = c.query(&sql, &[&user, &unix(now)]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Adds `approver`'s approval to a pending, unexpired request; with enough approvals it
/// becomes a grant from `now`. Returns the request after the change.
pub(super) async fn approve(
    client: &mut deadpool_postgres::Client,
    id: i64,
    approver: &str,
    now: SystemTime,
) -> Result<AccessRequest> {
    let tx = client.transaction().await?;
    let req = get_locked(&tx, id, true).await?;
    crate::store::access::check_approvable(&req, approver, now)?;
    tx.execute(
        "INSERT INTO access_approvals (request_id, approver, at) VALUES ($1, $2, $3)",
        &[&id, &approver, &unix(now)],
    )
    .await?;
    if req.approvers.len() as u32 + 1 >= req.approvals_needed {
        tx.execute(
            "UPDATE access_requests SET state = 'approved', granted_at = $2, grant_end = $3
             WHERE id = $1 AND state = 'pending'",
            &[&id, &unix(now), &unix(now + req.duration)],
        )
        .await?;
    }
    let after = get(&tx, id).await?;
    tx.commit().await?;
    Ok(after)
}

/// Applies `t` to request `id`, recording who and why; fails naming the current state
/// otherwise. A grant whose end passed counts as expired.
pub(super) async fn close(
    client: &mut deadpool_postgres::Client,
    id: i64,
    t: Transition,
    now: SystemTime,
) -> Result<AccessRequest> {
    let tx = client.transaction().await?;
    let req = get_locked(&tx, id, true).await?;
    let lapsed = match req.state {
        State::Pending => req.expires <= now,
        State::Approved => req.grant_end.is_none_or(|e| e <= now),
        _ => false,
    };
    if lapsed || !t.from.contains(&req.state) {
        let state = if lapsed { State::Expired } else { req.state };
        return Err(StoreError::WrongState {
            id,
            state,
            verb: t.verb,
        });
    }
    tx.execute(
        "UPDATE access_requests SET state = $2, closed_by = $3, close_note = $4 WHERE id = $1",
        &[&id, &t.to.as_str(), &t.by, &t.note],
    )
    .await?;
    if t.to == State::Revoked {
        // Sent at commit only: every node ends the sessions this grant authorized.
        let signal = Signal::GrantRevoked {
            grant: id,
            by: t.by.clone(),
            note: t.note.clone(),
        };
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::listen::CHANNEL, &super::listen::payload(&signal)],
        )
        .await?;
    }
    let after = get(&tx, id).await?;
    tx.commit().await?;
    Ok(after)
}

/// Marks pending requests past their expiry and grants past their end as expired;
/// returns them (for the audit log and for ending sessions). Nodes sweeping at once each
/// get the rows they changed, never the same row twice.
pub(super) async fn sweep(
    client: &mut deadpool_postgres::Client,
    now: SystemTime,
) -> Result<Vec<AccessRequest>> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "UPDATE access_requests SET state = 'expired'
             WHERE (state = 'pending' AND expires <= $1) OR (state = 'approved' AND grant_end <= $1)
             RETURNING id",
            &[&unix(now)],
        )
        .await?;
    let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    ids.sort_unstable();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(get(&tx, id).await?);
    }
    tx.commit().await?;
    Ok(out)
}
