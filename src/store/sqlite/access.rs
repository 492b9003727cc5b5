//! Access requests in sqlite. Every state change runs in an immediate transaction on the
//! store's one connection, so concurrent approve / revoke / cancel calls are serialised
//! and never both succeed on a stale state (other processes included).

use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::store::access::{from_unix, unix};
use crate::store::Transition;
use crate::store::{AccessRequest, AccessTarget, NewRequest, Result, State, StoreError};

const COLUMNS: &str =
    "id, requester, roles, target, actions, duration_secs, reason, ticket, state, \
     created, expires, approvals_needed, granted_at, grant_end, closed_by, close_note, breakglass";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AccessRequest> {
    let roles: String = r.get(2)?;
    let target: String = r.get(3)?;
    let actions: String = r.get(4)?;
    Ok(AccessRequest {
        id: r.get(0)?,
        requester: r.get(1)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        // Stored targets were validated on the way in; a damaged one matches nothing.
        target: AccessTarget::parse_unchecked(&target)
            .unwrap_or(AccessTarget::Device(format!("(invalid target {target:?})"))),
        actions: actions.split(',').filter_map(|a| a.parse().ok()).collect(),
        duration: Duration::from_secs(r.get::<_, i64>(5)?.max(0) as u64),
        reason: r.get(6)?,
        ticket: r.get(7)?,
        state: State::parse(&r.get::<_, String>(8)?),
        created: from_unix(r.get(9)?),
        expires: from_unix(r.get(10)?),
        approvals_needed: r.get::<_, i64>(11)?.max(0) as u32,
        approvers: Vec::new(),
        granted_at: r.get::<_, Option<i64>>(12)?.map(from_unix),
        grant_end: r.get::<_, Option<i64>>(13)?.map(from_unix),
        closed_by: r.get(14)?,
        close_note: r.get(15)?,
        breakglass: r.get::<_, i64>(16)? != 0,
    })
}

fn load_approvers(conn: &Connection, req: &mut AccessRequest) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(
        "SELECT approver FROM access_approvals WHERE request_id = ?1 ORDER BY at, rowid",
    )?;
    req.approvers = st
        .query_map([req.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<AccessRequest> {
    let mut req = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM access_requests WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?
        .ok_or(StoreError::NotFound(id))?;
    load_approvers(conn, &mut req)?;
    Ok(req)
}

/// Stores a new request; a break-glass one is approved at once. Returns it.
pub(super) fn insert(
    conn: &mut Connection,
    new: &NewRequest,
    now: SystemTime,
) -> Result<AccessRequest> {
    {
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
        conn.execute(
            "INSERT INTO access_requests (requester, roles, target, actions, duration_secs, reason,
                ticket, state, created, expires, approvals_needed, granted_at, grant_end, breakglass)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                new.requester,
                new.roles.join(","),
                new.target.to_string(),
                actions.join(","),
                new.duration.as_secs() as i64,
                new.reason,
                new.ticket,
                state.as_str(),
                unix(now),
                unix(new.expires),
                new.approvals_needed as i64,
                granted,
                end,
                new.breakglass as i64,
            ],
        )?;
        get(conn, conn.last_insert_rowid())
    }
}

/// Requests, newest first: of `requester` if given, in `state` if given, at most `limit`.
pub(super) fn list(
    conn: &mut Connection,
    requester: Option<&str>,
    state: Option<State>,
    limit: usize,
) -> Result<Vec<AccessRequest>> {
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_requests
             WHERE (?1 IS NULL OR requester = ?1) AND (?2 IS NULL OR state = ?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let mut v = st
            .query_map(
                params![requester, state.map(State::as_str), limit as i64],
                from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for r in &mut v {
            load_approvers(conn, r)?;
        }
        Ok(v)
    }
}

/// Grants of `user` in force at `now`.
pub(super) fn active_grants(
    conn: &mut Connection,
    user: &str,
    now: SystemTime,
) -> Result<Vec<AccessRequest>> {
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_requests
             WHERE requester = ?1 AND state = 'approved' AND grant_end > ?2 ORDER BY id"
        ))?;
        let v = st
            .query_map(params![user, unix(now)], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}

/// Adds `approver`'s approval to a pending, unexpired request; with enough approvals it
/// becomes a grant from `now`. Returns the request after the change.
pub(super) fn approve(
    conn: &mut Connection,
    id: i64,
    approver: &str,
    now: SystemTime,
) -> Result<AccessRequest> {
    {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let req = get(&tx, id)?;
        crate::store::access::check_approvable(&req, approver, now)?;
        tx.execute(
            "INSERT INTO access_approvals (request_id, approver, at) VALUES (?1, ?2, ?3)",
            params![id, approver, unix(now)],
        )?;
        if req.approvers.len() as u32 + 1 >= req.approvals_needed {
            tx.execute(
                "UPDATE access_requests SET state = 'approved', granted_at = ?2, grant_end = ?3
                 WHERE id = ?1 AND state = 'pending'",
                params![id, unix(now), unix(now + req.duration)],
            )?;
        }
        let after = get(&tx, id)?;
        tx.commit()?;
        Ok(after)
    }
}

/// Applies `t` to request `id`, recording who and why; fails naming the current state
/// otherwise. A grant whose end passed counts as expired.
pub(super) fn close(
    conn: &mut Connection,
    id: i64,
    t: Transition,
    now: SystemTime,
) -> Result<AccessRequest> {
    let Transition {
        from,
        to,
        verb,
        by,
        note,
    } = t;
    {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let req = get(&tx, id)?;
        let lapsed = match req.state {
            State::Pending => req.expires <= now,
            State::Approved => req.grant_end.is_none_or(|e| e <= now),
            _ => false,
        };
        if lapsed || !from.contains(&req.state) {
            let state = if lapsed { State::Expired } else { req.state };
            return Err(StoreError::WrongState { id, state, verb });
        }
        tx.execute(
            "UPDATE access_requests SET state = ?2, closed_by = ?3, close_note = ?4 WHERE id = ?1",
            params![id, to.as_str(), by, note],
        )?;
        let after = get(&tx, id)?;
        tx.commit()?;
        Ok(after)
    }
}

/// Marks pending requests past their expiry and grants past their end as expired;
/// returns them (for the audit log and for ending sessions).
pub(super) fn sweep(conn: &mut Connection, now: SystemTime) -> Result<Vec<AccessRequest>> {
    {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids: Vec<i64> = {
            let mut st = tx.prepare_cached(
                "SELECT id FROM access_requests
                 WHERE (state = 'pending' AND expires <= ?1) OR (state = 'approved' AND grant_end <= ?1)",
            )?;
            let ids = st
                .query_map([unix(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids
        };
        let mut out = Vec::new();
        for id in ids {
            tx.execute(
                "UPDATE access_requests SET state = 'expired' WHERE id = ?1",
                [id],
            )?;
            out.push(get(&tx, id)?);
        }
        tx.commit()?;
        Ok(out)
    }
}
